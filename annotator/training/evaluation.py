"""Judge a model's predictions against final labels on the seed's own table (Django-free).

The seed (AffectNet) reports, on its validation set, ACC, F1, Cohen's kappa, Krippendorff's alpha,
AUC-PR and AUC for the categories, and RMSE, CORR, SAGR and CCC for valence and arousal. Its
categorical baseline is over the eight expressions 0-7, so that is the default here; pass
labels=range(11) to score all eleven. Valence/arousal are scored on the faces of those labels
that carry a point (never 9 or 10).
"""
from typing import Sequence

import numpy as np

from annotator.domain.categories import has_va
from annotator.domain.metrics import categorical_metrics, dimensional_metrics

EIGHT = tuple(range(8))

# The seed's validation baseline (weighted-loss column for the categories, the best); see
# docs/affectnet-format.md.
SEED_BASELINE = {
    "categorical": {"acc": 0.58, "f1": 0.58, "kappa": 0.51, "alpha": 0.51, "auc_pr": 0.56, "auc": 0.82},
    "valence": {"rmse": 0.37, "corr": 0.66, "sagr": 0.74, "ccc": 0.60},
    "arousal": {"rmse": 0.41, "corr": 0.54, "sagr": 0.65, "ccc": 0.34},
}
# The seed's two tables: (row label, key in the result).
CATEGORICAL_ROWS = (
    ("ACC", "acc"),
    ("F1", "f1"),
    ("KAPPA", "kappa"),
    ("ALPHA", "alpha"),
    ("AUCPR", "auc_pr"),
    ("AUC", "auc"),
)
DIMENSIONAL_ROWS = (("RMSE", "rmse"), ("CORR", "corr"), ("SAGR", "sagr"), ("CCC", "ccc"))


def restricted_probabilities(probabilities, categories: Sequence[int]) -> np.ndarray:
    """Return the probabilities of the given categories only, renormalised per face.

    As a model trained on those categories would answer; a face given no mass on any of them gets
    an even spread rather than a division by 0.
    """
    restricted = np.asarray(probabilities, dtype=np.float64)[:, list(categories)]
    totals = restricted.sum(axis=1, keepdims=True)
    return np.divide(restricted, totals, out=np.full_like(restricted, 1 / len(categories)), where=totals > 0)


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
    restricted = restricted_probabilities(probabilities[keep], categories)
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


def number(value, places: int = 2) -> str:
    """Return a measure as table text: '-' where it could not be computed, no '-0.00'."""
    if value is None:
        return "-"
    text = f"{value:.{places}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def text_table(header: Sequence, rows: Sequence[Sequence]) -> str:
    """Return rows as aligned text: the first column to the left, the others to the right."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i]) for i, cell in enumerate(row))
        for row in [header, *rows]
    )


def seed_tables(table: dict, *, title: str = "this model") -> str:
    """Return the seed's two tables for one model's results, the seed's baseline beside each number."""
    base = SEED_BASELINE
    categorical = [[label, number(table["categorical"][key]), number(base["categorical"][key])]
                   for label, key in CATEGORICAL_ROWS]
    dimensional = [
        [label, number(table["valence"][key]), number(base["valence"][key]),
         number(table["arousal"][key]), number(base["arousal"][key])]
        for label, key in DIMENSIONAL_ROWS
    ]
    return "\n".join([
        "Categorical model:",
        text_table(["", title, "seed baseline"], categorical),
        "",
        f"Dimensional model ({table['valence']['n']} faces with a valence/arousal point):",
        text_table(["", "Valence", "seed", "Arousal", "seed"], dimensional),
    ])


def format_seed_table(table: dict, *, title: str = "this model") -> str:
    """Return an evaluate_predictions() result as the seed's tables, under a line saying what was scored."""
    head = (
        f"Evaluated on {table['categorical']['n']} faces of categories "
        f"{','.join(map(str, table['categories']))} ({table['valence']['n']} with valence/arousal)"
    )
    return f"{head}\n\n{seed_tables(table, title=title)}"
