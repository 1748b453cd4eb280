"""Judge a model's predictions against final labels on the seed's own table (Django-free).

The seed (AffectNet) reports, on its validation set, ACC, F1, Cohen's kappa, Krippendorff's alpha,
AUC-PR and AUC for the categories, and RMSE, CORR, SAGR and CCC for valence and arousal. Its
categorical baseline is over the eight expressions 0-7, so that is the default here; pass
labels=range(11) to score all eleven. Valence/arousal are scored on the faces of those labels
that carry a point (never 9 or 10).
"""
from typing import Sequence

import numpy as np

from .categories import has_va
from .metrics import categorical_metrics, dimensional_metrics

EIGHT = tuple(range(8))

# The seed's baseline (weighted-loss column for the categories); see docs/affectnet-format.md.
SEED_BASELINE = {
    "categorical": {"acc": 0.58, "f1": 0.58, "kappa": 0.51, "alpha": 0.51, "auc_pr": 0.56, "auc": 0.82},
    "valence": {"rmse": 0.37, "corr": 0.66, "sagr": 0.74, "ccc": 0.60},
    "arousal": {"rmse": 0.41, "corr": 0.54, "sagr": 0.65, "ccc": 0.34},
}
_ROWS = (
    ("categorical", "acc", "ACC"),
    ("categorical", "f1", "F1"),
    ("categorical", "kappa", "kappa"),
    ("categorical", "alpha", "alpha"),
    ("categorical", "auc_pr", "AUC-PR"),
    ("categorical", "auc", "AUC"),
    ("valence", "rmse", "valence RMSE"),
    ("valence", "corr", "valence CORR"),
    ("valence", "sagr", "valence SAGR"),
    ("valence", "ccc", "valence CCC"),
    ("arousal", "rmse", "arousal RMSE"),
    ("arousal", "corr", "arousal CORR"),
    ("arousal", "sagr", "arousal SAGR"),
    ("arousal", "ccc", "arousal CCC"),
)


def evaluate_predictions(labels: Sequence, predictions, *, categories: Sequence[int] = EIGHT) -> dict:
    """Return the seed's table for predictions against final labels.

    labels: one (category, valence, arousal) per face (valence/arousal None for 9 and 10).
    predictions: an annotator.inference.base.Predictions for the same faces, in the same order.
    categories: the categories scored; faces labelled outside them are left out, and the model's
    probabilities are restricted to them and renormalised (as a model trained on them would answer).
    """
    categories = [int(c) for c in categories]
    probabilities = np.asarray(predictions.probabilities, dtype=np.float64)
    if len(labels) != probabilities.shape[0]:
        raise ValueError(f"{len(labels)} labels but {probabilities.shape[0]} predictions")
    true_category = np.array([int(label[0]) for label in labels], dtype=np.int64)
    keep = np.isin(true_category, categories)
    restricted = probabilities[keep][:, categories]
    totals = restricted.sum(axis=1, keepdims=True)
    # A model that gives these categories no mass at all: spread it evenly rather than divide by 0.
    restricted = np.where(totals > 0, restricted / np.where(totals > 0, totals, 1), 1.0 / len(categories))
    table = {
        "categories": categories,
        "faces": int(len(labels)),
        "categorical": categorical_metrics(true_category[keep], restricted, labels=categories),
    }
    with_va = np.array([keep[i] and has_va(int(label[0])) for i, label in enumerate(labels)], dtype=bool)
    for index, dimension in ((1, "valence"), (2, "arousal")):
        y_true = np.array([float(label[index]) for label, k in zip(labels, with_va) if k], dtype=np.float64)
        y_pred = np.asarray(getattr(predictions, dimension), dtype=np.float64)[with_va]
        table[dimension] = dimensional_metrics(y_true, y_pred)
    return table


def _cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_seed_table(table: dict, *, title: str = "this model") -> str:
    """Return the table as text: one row per measure, this model's number beside the seed's."""
    width = max(len(title), 10)
    lines = [
        f"Evaluated on {table['categorical']['n']} faces of categories "
        f"{','.join(map(str, table['categories']))} ({table['valence']['n']} with valence/arousal)",
        f"{'measure':<14} {title:>{width}} {'seed':>6}",
        f"{'-' * 14} {'-' * width} {'-' * 6}",
    ]
    for part, key, label in _ROWS:
        lines.append(f"{label:<14} {_cell(table[part].get(key)):>{width}} {SEED_BASELINE[part][key]:>6.2f}")
    return "\n".join(lines)
