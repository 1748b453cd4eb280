"""Judge a model against final labels on the seed's own table (Django-free, torch-free).

The one path: labels and a model's predictions for the same faces go into evaluate_predictions.
samples_evaluate runs a model on labelled crops first (the trainer's validation, a reloaded
checkpoint); annotator.training.selectors.suggester_evaluate reads a suggester's stored suggestions
instead. The tables' text and the seed's baseline are in annotator.domain.evaluation_tables.

The seed's categorical baseline is over the eight expressions 0-7, so that is the default here;
pass categories=range(11) to score all eleven. Valence/arousal are scored on the faces of those
labels that carry a point (never 9 or 10). Every measure comes with its n and a 95% bootstrap
interval (annotator.domain.bootstrap, seeded), and a part whose n is under min_n is marked as not
meaningful.
"""
from collections.abc import Callable, Sequence

import numpy as np

from annotator.domain.batching import chunked
from annotator.domain.bootstrap import categorical_intervals, dimensional_intervals
from annotator.domain.categories import has_va
from annotator.domain.crops import crop_pixels
from annotator.domain.metrics import categorical_metrics, dimensional_metrics
from annotator.suggestions.inference.base import Predictions
from annotator.training.samples import Sample, sample_image

EIGHT = tuple(range(8))


def restricted_probabilities(probabilities, categories: Sequence[int]) -> np.ndarray:
    """Return the probabilities of the given categories only, renormalised per face.

    As a model trained on those categories would answer; a face given no mass on any of them gets
    an even spread rather than a division by 0.
    """
    restricted = np.asarray(probabilities, dtype=np.float64)[:, list(categories)]
    totals = restricted.sum(axis=1, keepdims=True)
    return np.divide(restricted, totals, out=np.full_like(restricted, 1 / len(categories)), where=totals > 0)


def evaluate_predictions(labels: Sequence, predictions, *, categories: Sequence[int] = EIGHT,
                         resamples: int = 1000, seed: int = 0, min_n: int = 0) -> dict:
    """Return the seed's table for predictions against final labels.

    labels: one (category, valence, arousal) per face (valence/arousal None for 9 and 10).
    predictions: an annotator.suggestions.inference.base.Predictions for the same faces, in the same
    order; a valence/arousal of NaN means the prediction has no point (a stored suggestion of 9 or 10),
    and that face is left out of the valence/arousal measures.
    categories: the categories scored; faces labelled outside them are left out, and the model's
    probabilities are restricted to them and renormalised (as a model trained on them would answer).
    resamples, seed: the bootstrap behind "intervals" ({part: {measure: [low, high] or None}}).
    min_n: "meaningful" ({part: bool}) says whether the part's n reaches it.
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
        "faces": len(labels),
        "categorical": categorical_metrics(true_category[keep], restricted, labels=categories),
        "resamples": resamples,
        "min_n": min_n,
    }
    column = {category: index for index, category in enumerate(categories)}
    intervals = {"categorical": categorical_intervals([column[c] for c in true_category[keep]], restricted,
                                                      resamples=resamples, seed=seed)}
    predicted = {dimension: np.asarray(getattr(predictions, dimension), dtype=np.float64)
                 for dimension in ("valence", "arousal")}
    with_va = np.array([keep[i] and has_va(int(label[0])) and label[1] is not None for i, label in enumerate(labels)],
                       dtype=bool)
    with_va &= np.isfinite(predicted["valence"]) & np.isfinite(predicted["arousal"])
    for index, dimension in ((1, "valence"), (2, "arousal")):
        y_true = np.array([float(label[index]) for label, k in zip(labels, with_va) if k], dtype=np.float64)
        table[dimension] = dimensional_metrics(y_true, predicted[dimension][with_va])
        intervals[dimension] = dimensional_intervals(y_true, predicted[dimension][with_va], resamples=resamples,
                                                     seed=seed)
    table["intervals"] = intervals
    table["meaningful"] = {part: table[part]["n"] >= max(1, min_n) for part in ("categorical", "valence", "arousal")}
    return table


def samples_evaluate(samples: Sequence[Sample], predict: Callable[[np.ndarray], Predictions], *,
                     categories: Sequence[int] = EIGHT, chunk: int = 256, min_n: int = 0) -> dict | None:
    """Run a model on labelled crops; return the seed's table for them, or None when none is in categories.

    predict: uint8 crops (N, 224, 224, 3) -> Predictions, e.g. a loaded suggester's predict or the
    trainer's network. Samples outside categories are left out before the model runs (an 8-class
    network is not asked about No-Face). Crops are decoded a chunk at a time, so a large split never
    sits in memory decoded; an unreadable crop raises TrainingError naming it.
    """
    categories = [int(c) for c in categories]
    samples = [s for s in samples if s.category in categories]
    if not samples:
        return None
    parts = []
    for part in chunked(samples, chunk):
        crops = np.stack([crop_pixels(sample_image(s)) for s in part])
        parts.append(predict(crops))
    predictions = Predictions(
        np.concatenate([p.probabilities for p in parts]),
        np.concatenate([p.valence for p in parts]),
        np.concatenate([p.arousal for p in parts]),
    )
    return evaluate_predictions([(s.category, s.valence, s.arousal) for s in samples], predictions,
                                categories=categories, min_n=min_n)
