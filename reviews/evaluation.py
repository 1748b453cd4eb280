"""The seed's tables: a suggester against final labels (evaluate), and annotators against each other
(agreement), with AffectNet's published numbers beside them.

evaluate_suggester() works for any Suggester row, so the training side can evaluate the model it
just recorded; format_evaluation() / format_agreement() turn the results into the printed tables.
"""
from typing import Optional

import numpy as np

from annotator.categories import NUM_CATEGORIES
from annotator.metrics import categorical_metrics, dimensional_metrics, inter_annotator_agreement
from annotator.models import Face, Suggester, Suggestion

from .selectors import agreement_rows

# The seed's validation baseline (weighted-loss column, the best) and the AffectNet paper's
# agreement between two annotators (sec. 3.3 and table 3 of Mollahosseini et al. 2017).
SEED_BASELINE = {
    "categorical": {"acc": 0.58, "f1": 0.58, "kappa": 0.51, "alpha": 0.51, "auc_pr": 0.56, "auc": 0.82},
    "valence": {"rmse": 0.37, "corr": 0.66, "sagr": 0.74, "ccc": 0.60},
    "arousal": {"rmse": 0.41, "corr": 0.54, "sagr": 0.65, "ccc": 0.34},
}
PAPER_AGREEMENT = {
    "categorical": {"percent_agreement": 0.607},
    "valence": {"rmse": 0.34},
    "arousal": {"rmse": 0.36},
}
CATEGORICAL_ROWS = (("ACC", "acc"), ("F1", "f1"), ("KAPPA", "kappa"), ("ALPHA", "alpha"), ("AUCPR", "auc_pr"),
                    ("AUC", "auc"))
DIMENSIONAL_ROWS = (("RMSE", "rmse"), ("CORR", "corr"), ("SAGR", "sagr"), ("CCC", "ccc"))


class SuggesterNotFound(LookupError):
    """No suggester of that name and version (or none is active)."""


def suggester_by_spec(spec: Optional[str]) -> Suggester:
    """Return the suggester named "NAME:VERSION", or the active one when spec is empty."""
    if not spec:
        suggester = Suggester.objects.filter(is_active=True).first()
        if suggester is None:
            raise SuggesterNotFound("no suggester is active; name one with --model NAME:VERSION")
        return suggester
    name, sep, version = spec.rpartition(":")
    if not sep or not name or not version:
        raise SuggesterNotFound(f"--model: {spec!r} is not NAME:VERSION")
    try:
        return Suggester.objects.get(name=name, version=version)
    except Suggester.DoesNotExist:
        raise SuggesterNotFound(f"--model: no suggester {name} version {version}") from None


def parse_categories(text: str) -> list:
    """Return the categories of "0-7" or "0,1,2,8" (0-10), or raise ValueError naming the bad part."""
    chosen = set()
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            values = range(int(lo), int(hi) + 1) if sep else [int(lo)]
        except ValueError:
            raise ValueError(f"--categories: {part!r} is not a number or a range like 0-7") from None
        if not values or min(values) < 0 or max(values) >= NUM_CATEGORIES:
            raise ValueError(f"--categories: {part!r} is outside 0-10")
        chosen.update(values)
    return sorted(chosen)


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
    probabilities = np.asarray(probs, dtype=np.float64).reshape(-1, NUM_CATEGORIES)[:, labels]
    sums = probabilities.sum(axis=1, keepdims=True)
    probabilities = np.divide(probabilities, sums, out=np.full_like(probabilities, 1 / len(labels)), where=sums > 0)
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


def _fmt(value, places=2) -> str:
    return "-" if value is None else f"{value:.{places}f}"


def _table(header, rows) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(r))
             for r in [header, *rows]]
    return "\n".join(lines)


def format_evaluation(result: dict) -> str:
    """Return the seed's two tables for one model, the seed's baseline beside each number."""
    c, base = result["categorical"], SEED_BASELINE
    lines = [
        f"Model {result['model']} on split {result['split']}: {c['n']} faces with a final label and a suggestion"
        f" ({result['missing']} without one), categories {_ranges(result.get('categories', []))}",
        "",
        "Categorical model:",
        _table(["", "this model", "seed baseline"],
               [[label, _fmt(c[key]), _fmt(base["categorical"][key])] for label, key in CATEGORICAL_ROWS]),
        "",
        f"Dimensional model ({result['valence']['n']} faces with a valence/arousal point):",
        _table(["", "Valence", "seed", "Arousal", "seed"],
               [[label, _fmt(result["valence"][key]), _fmt(base["valence"][key]),
                 _fmt(result["arousal"][key]), _fmt(base["arousal"][key])] for label, key in DIMENSIONAL_ROWS]),
    ]
    return "\n".join(lines)


def format_agreement(result: dict) -> str:
    """Return the agreement tables, the AffectNet paper's numbers beside ours where it gives them."""
    c, paper = result["categorical"], PAPER_AGREEMENT
    fleiss = c["fleiss"]
    lines = [
        f"Agreement between annotators: {result['faces']} faces with two or more answers "
        f"({result['answers']} answers, {result['pairs']} answer pairs)",
        "",
        "Categorical:",
        _table(["", "this data", "AffectNet paper"], [
            ["percent agreement (all answers same)", _fmt(c["percent_agreement"], 3),
             _fmt(paper["categorical"]["percent_agreement"], 3)],
            ["pairwise agreement", _fmt(c["pairwise_agreement"]), "-"],
            ["Cohen's kappa (pairs, weighted mean)", _fmt(c["cohen_kappa_mean"]), "-"],
            [f"Fleiss' kappa ({fleiss['n']} faces x {fleiss['raters'] or 0})", _fmt(fleiss["kappa"]), "-"],
            ["Krippendorff's alpha (nominal)", _fmt(c["alpha"]), "-"],
        ]),
        "",
        "Dimensional (pairs where both answers carry a point):",
        _table(["", "Valence", "paper", "Arousal", "paper"], [
            [label, _fmt(result["valence"][key]), _fmt(paper["valence"].get(key)),
             _fmt(result["arousal"][key]), _fmt(paper["arousal"].get(key))]
            for label, key in (*DIMENSIONAL_ROWS, ("ALPHA (interval)", "alpha"))
        ]),
    ]
    names = result.get("names", {})
    if result["cohen_pairs"]:
        lines += ["", "Cohen's kappa per pair of annotators:",
                  _table(["annotators", "faces", "agreement", "kappa"],
                         [[" / ".join(names.get(a, str(a)) for a in p["annotators"]), p["n"], _fmt(p["agreement"]),
                           _fmt(p["kappa"])] for p in result["cohen_pairs"]])]
    return "\n".join(lines)
