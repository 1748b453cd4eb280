"""The seed's tables: a suggester against final labels (evaluate), and annotators against each other
(agreement), with AffectNet's published numbers beside them.

evaluate_suggester() works for any Suggester row, so the training side can evaluate the model it
just recorded; format_evaluation() / format_agreement() turn the results into the printed tables.
"""
from typing import Optional

import numpy as np

from annotator.domain.categories import NUM_CATEGORIES
from annotator.training.evaluation import DIMENSIONAL_ROWS, number, restricted_probabilities, seed_tables, text_table
from annotator.domain.metrics import categorical_metrics, dimensional_metrics, inter_annotator_agreement
from annotator.models import Face, Suggester, Suggestion
# The evaluate command and the API take these from here; suggestions.selectors owns them.
from annotator.suggestions.selectors import SuggesterNotFound, suggester_by_spec  # noqa: F401

from reviews.selectors import agreement_rows

# The AffectNet paper's agreement between two annotators (sec. 3.3 and table 3 of Mollahosseini
# et al. 2017).
PAPER_AGREEMENT = {
    "categorical": {"percent_agreement": 0.607},
    "valence": {"rmse": 0.34},
    "arousal": {"rmse": 0.36},
}


def evaluate_suggester(suggester: Suggester, split: Optional[str] = "val", categories=None) -> dict:
    """Compare a suggester's suggestions with the final labels of a split (None: every split).

    Categorical measures use every face with a final label and a suggestion; valence/arousal use
    those whose final category carries a point. Faces with a final label but no suggestion from this
    model are counted in `missing`. With `categories` (e.g. 0-7, the seed's eight-label setting),
    only faces whose final label is one of them count, and the model chooses among them only (its
    probabilities for those categories, renormalised).
    """
    labels = list(range(NUM_CATEGORIES)) if categories is None else sorted(categories)
    faces = Face.objects.filter(final_category__in=labels)
    if split:
        faces = faces.filter(split=split)
    rows = Suggestion.objects.filter(suggester=suggester, face__in=faces).values_list(
        "face__final_category", "face__final_valence", "face__final_arousal", "probabilities", "valence", "arousal"
    )
    truth, probs, true_v, pred_v, true_a, pred_a = [], [], [], [], [], []
    for category, valence, arousal, probabilities, s_valence, s_arousal in rows.iterator(chunk_size=5000):
        truth.append(category)
        probs.append(probabilities)
        if valence is not None and s_valence is not None:
            true_v.append(valence), pred_v.append(s_valence), true_a.append(arousal), pred_a.append(s_arousal)
    total = faces.count()
    probabilities = restricted_probabilities(np.asarray(probs, dtype=np.float64).reshape(-1, NUM_CATEGORIES), labels)
    return {
        "model": f"{suggester.name}:{suggester.version}",
        "split": split or "all",
        "categories": labels,
        "faces": total,
        "missing": total - len(truth),
        "categorical": categorical_metrics(truth, probabilities, labels=labels),
        "valence": dimensional_metrics(true_v, pred_v),
        "arousal": dimensional_metrics(true_a, pred_a),
    }


def agreement(*, splits=None) -> dict:
    """Return the agreement between annotators on faces with two or more answers."""
    from django.contrib.auth import get_user_model

    rows = agreement_rows(splits=splits)
    result = inter_annotator_agreement(rows["face"], rows["annotator"], rows["category"], rows["valence"],
                                       rows["arousal"], num_categories=NUM_CATEGORIES)
    ids = np.unique(rows["annotator"]).tolist()
    result["names"] = dict(get_user_model().objects.filter(id__in=ids).values_list("id", "username"))
    return result


def _ranges(values) -> str:
    values = list(values)
    if values and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ",".join(map(str, values))


def format_evaluation(result: dict) -> str:
    """Return the seed's two tables for one model, the seed's baseline beside each number."""
    c = result["categorical"]
    head = (
        f"Model {result['model']} on split {result['split']}: {c['n']} faces with a final label and a suggestion"
        f" ({result['missing']} without one), categories {_ranges(result.get('categories', []))}"
    )
    return f"{head}\n\n{seed_tables(result)}"


def format_agreement(result: dict) -> str:
    """Return the agreement tables, the AffectNet paper's numbers beside ours where it gives them."""
    c, paper = result["categorical"], PAPER_AGREEMENT
    fleiss = c["fleiss"]
    lines = [
        f"Agreement between annotators: {result['faces']} faces with two or more answers "
        f"({result['answers']} answers, {result['pairs']} answer pairs)",
        "",
        "Categorical:",
        text_table(["", "this data", "AffectNet paper"], [
            ["percent agreement (all answers same)", number(c["percent_agreement"], 3),
             number(paper["categorical"]["percent_agreement"], 3)],
            ["pairwise agreement", number(c["pairwise_agreement"]), "-"],
            ["Cohen's kappa (pairs, weighted mean)", number(c["cohen_kappa_mean"]), "-"],
            [f"Fleiss' kappa ({fleiss['n']} faces x {fleiss['raters'] or 0})", number(fleiss["kappa"]), "-"],
            ["Krippendorff's alpha (nominal)", number(c["alpha"]), "-"],
        ]),
        "",
        "Dimensional (pairs where both answers carry a point):",
        text_table(["", "Valence", "paper", "Arousal", "paper"], [
            [label, number(result["valence"][key]), number(paper["valence"].get(key)),
             number(result["arousal"][key]), number(paper["arousal"].get(key))]
            for label, key in (*DIMENSIONAL_ROWS, ("ALPHA (interval)", "alpha"))
        ]),
    ]
    names = result.get("names", {})
    if result["cohen_pairs"]:
        lines += ["", "Cohen's kappa per pair of annotators:",
                  text_table(["annotators", "faces", "agreement", "kappa"],
                             [[" / ".join(names.get(a, str(a)) for a in p["annotators"]), p["n"],
                               number(p["agreement"]), number(p["kappa"])] for p in result["cohen_pairs"]])]
    return "\n".join(lines)
