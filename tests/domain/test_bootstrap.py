"""The bootstrap's weighted measures equal the plain ones on each resample written out, and its
intervals are seeded: the same data give the same intervals, and they hold the point estimate."""
import numpy as np
import pytest

from annotator.domain import bootstrap
from annotator.domain.metrics import categorical_metrics, dimensional_metrics
from annotator.suggestions.inference.base import Predictions
from annotator.training.evaluation import evaluate_predictions


def noisy_classifier(n, classes, rng, *, hit=0.6):
    truth = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), truth] += rng.random(n) < hit  # right more often than chance
    logits = np.round(logits, 1)  # ties in the scores, as stored probabilities have
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return truth, probabilities


def test_weighted_categorical_measures_equal_the_plain_ones_on_each_resample():
    rng = np.random.default_rng(4)
    truth, probabilities = noisy_classifier(60, 5, rng)
    counts = next(bootstrap.resample_counts(60, 25, np.random.default_rng(1)))
    assert counts.shape == (25, 60) and np.all(counts.sum(axis=1) == 60)
    weighted = bootstrap.categorical_resampled(counts, truth, probabilities)
    for b in range(25):
        written_out = np.repeat(np.arange(60), counts[b].astype(int))
        plain = categorical_metrics(truth[written_out], probabilities[written_out], labels=range(5))
        for measure in bootstrap.CATEGORICAL:
            assert weighted[measure][b] == pytest.approx(plain[measure], abs=1e-9), (measure, b)


def test_weighted_dimensional_measures_equal_the_plain_ones_on_each_resample():
    rng = np.random.default_rng(5)
    y_true = np.round(rng.uniform(-1, 1, 40), 2)
    y_pred = np.clip(y_true + rng.normal(0, 0.4, 40), -1, 1)
    counts = next(bootstrap.resample_counts(40, 25, np.random.default_rng(2)))
    weighted = bootstrap.dimensional_resampled(counts, y_true, y_pred)
    for b in range(25):
        written_out = np.repeat(np.arange(40), counts[b].astype(int))
        plain = dimensional_metrics(y_true[written_out], y_pred[written_out])
        for measure in bootstrap.DIMENSIONAL:
            assert weighted[measure][b] == pytest.approx(plain[measure], abs=1e-9), (measure, b)


def test_a_measure_undefined_on_a_resample_is_left_out_not_zero():
    # One class only: kappa, alpha and the AUCs are undefined (as metrics.categorical_metrics says None).
    probabilities = np.tile([0.7, 0.3], (10, 1))
    values = bootstrap.categorical_resampled(np.ones((1, 10)), np.zeros(10, dtype=int), probabilities)
    assert values["acc"][0] == 1.0
    assert all(np.isnan(values[m][0]) for m in ("kappa", "alpha", "auc", "auc_pr"))
    assert bootstrap.categorical_intervals(np.zeros(10, dtype=int), probabilities, resamples=50)["kappa"] is None


def test_intervals_are_seeded_and_hold_the_point_estimate():
    rng = np.random.default_rng(6)
    truth, probabilities = noisy_classifier(300, 8, rng)
    probabilities = np.pad(probabilities, ((0, 0), (0, 3)))  # a model's 11 columns
    labels = [(int(c), 0.1 * (c - 4), 0.05 * c) for c in truth]
    va = np.array([0.1 * (c - 4) for c in truth]) + rng.normal(0, 0.2, 300)
    predictions = Predictions(probabilities, va, va * 0.5)
    first = evaluate_predictions(labels, predictions, categories=range(8), resamples=300, seed=7, min_n=30)
    again = evaluate_predictions(labels, predictions, categories=range(8), resamples=300, seed=7, min_n=30)
    assert first["intervals"] == again["intervals"]
    other_seed = evaluate_predictions(labels, predictions, categories=range(8), resamples=300, seed=8)
    assert other_seed["intervals"] != first["intervals"]
    for part, measures in (("categorical", bootstrap.CATEGORICAL), ("valence", bootstrap.DIMENSIONAL),
                           ("arousal", bootstrap.DIMENSIONAL)):
        for measure in measures:
            low, high = first["intervals"][part][measure]
            assert low <= first[part][measure] <= high and low < high, (part, measure)
    assert first["meaningful"] == {"categorical": True, "valence": True, "arousal": True}
    few = evaluate_predictions(labels[:20], Predictions(probabilities[:20], va[:20], va[:20]), categories=range(8),
                               resamples=100, min_n=30)
    assert few["meaningful"] == {"categorical": False, "valence": False, "arousal": False}


def test_a_large_evaluation_is_resampled_in_blocks(monkeypatch):
    monkeypatch.setattr(bootstrap, "BLOCK_CELLS", 200_000)  # as a million faces would be cut
    rng = np.random.default_rng(9)
    truth, probabilities = noisy_classifier(5000, 8, rng)
    blocks = list(bootstrap.resample_counts(5000, 100, np.random.default_rng(0)))
    assert [len(b) for b in blocks] == [40, 40, 20]
    intervals = bootstrap.categorical_intervals(truth, probabilities, resamples=100)
    low, high = intervals["acc"]
    assert high - low < 0.05  # 5000 faces: a narrow interval
