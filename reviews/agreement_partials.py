"""Stand-in for annotator.domain.metrics' agreement_partial / agreement_merge / agreement_finalize
(branch i-iaa): a partial is the rows themselves, merging concatenates them, finalizing computes
inter_annotator_agreement over them. Exact (the same rows in the same per-face order), not yet cheap."""
import numpy as np

from annotator.domain.metrics import inter_annotator_agreement

_COLUMNS = ("unit_ids", "annotator_ids", "categories", "valences", "arousals")


def agreement_partial(unit_ids, annotator_ids, categories, valences, arousals, *, num_categories=11) -> dict:
    return {"num_categories": num_categories, **dict(zip(_COLUMNS, (
        np.asarray(unit_ids, dtype=np.int64), np.asarray(annotator_ids, dtype=np.int64),
        np.asarray(categories, dtype=np.int64), np.asarray(valences, dtype=np.float64),
        np.asarray(arousals, dtype=np.float64))))}


def agreement_merge(partials) -> dict:
    partials = list(partials)
    if not partials:
        return agreement_partial([], [], [], [], [])
    return {"num_categories": partials[0]["num_categories"],
            **{c: np.concatenate([p[c] for p in partials]) for c in _COLUMNS}}


def agreement_finalize(stats, *, min_pair_items=2) -> dict:
    return inter_annotator_agreement(*(stats[c] for c in _COLUMNS), num_categories=stats["num_categories"],
                                     min_pair_items=min_pair_items)
