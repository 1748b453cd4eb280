"""95% bootstrap intervals for the evaluation's measures (Django-free, numpy only).

The percentile bootstrap (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13):
draw the faces with replacement as many times as there are faces, recompute the measure, repeat B
times, and take the 2.5th and 97.5th percentiles of the B values. A resample is written as counts
(how often each face was drawn), so each measure is a weighted one over the same faces and B
resamples are a few matrix operations rather than B calls to scikit-learn. With integer counts each
weighted measure equals scikit-learn's on the resample written out (tests/domain/test_bootstrap.py):

- ACC, Cohen's kappa (Cohen 1960: (p_o - p_e) / (1 - p_e)), macro F1 over the classes present and
  Krippendorff's alpha (nominal, model and truth as two coders: the closed form of
  annotator.domain.metrics.nominal_alpha_units) from the weighted confusion matrix;
- AUC (one-vs-rest, Mann-Whitney with ties counted half) and AUC-PR (average precision,
  sum over thresholds of recall gain x precision, as scikit-learn's average_precision_score), both
  averaged over the classes present in the resample;
- RMSE, CORR (Pearson), SAGR and CCC (Lin 1989) from weighted moments.

A measure undefined on a resample (one class only, no spread) is NaN there and left out of its
percentiles; with no finite value the interval is None.
"""
from collections.abc import Iterator

import numpy as np

CATEGORICAL = ("acc", "f1", "kappa", "alpha", "auc_pr", "auc")
DIMENSIONAL = ("rmse", "corr", "sagr", "ccc")
# Cells of one (resamples x faces) block of counts: the block is cut to stay near 32 MB a matrix.
BLOCK_CELLS = 4_000_000


def resample_counts(n: int, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield (b, n) float blocks of draw counts, resamples rows in all; each row sums to n."""
    block = max(1, min(resamples, BLOCK_CELLS // max(1, n)))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        draws = rng.integers(0, n, size=(b, n))
        flat = (np.arange(b)[:, None] * n + draws).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)
        done += b


def _groups(keys: np.ndarray):
    """Return (order that sorts keys, start of each run of equal keys in that order, the distinct keys)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return order, starts, sorted_keys[starts]


def _sum_runs(rows: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum the rows (faces x resamples, already in key order) within each run of equal keys."""
    return rows if starts.size == rows.shape[0] else np.add.reduceat(rows, starts, axis=0)


def _divide(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return np.divide(a, b, out=np.full(a.shape, np.nan), where=b != 0)


def _ranking_scores(columns, order, starts, positive_sorted):
    """Return (AUC, average precision) per resample for one class; NaN without both kinds of face.

    columns: (n, b) counts, faces by row; order/starts: the faces sorted by this class's score
    (ascending), with runs of tied scores; positive_sorted: whether each face, in that order, is of it.
    """
    ranked = columns[order]
    # (b, groups), ascending scores, tied faces summed together; prefix sums run along rows.
    everyone = np.ascontiguousarray(_sum_runs(ranked, starts).T)
    pos = np.ascontiguousarray(_sum_runs(ranked * positive_sorted[:, None], starts).T)
    neg = everyone - pos
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    # AUC: each positive beats the negatives scored lower, and ties with those scored the same by half.
    up_to_neg = np.cumsum(neg, axis=1)
    auc = _divide(np.sum(pos * up_to_neg, axis=1) - 0.5 * np.sum(pos * neg, axis=1), total_pos * total_neg)
    # Average precision: at each threshold from the top, the precision of the faces scored at least
    # that high, weighted by the positives (recall) it adds. Counts are whole: max(., 1) only spares 0/0.
    at_least_pos = total_pos[:, None] - np.cumsum(pos, axis=1) + pos
    at_least = everyone.sum(axis=1)[:, None] - up_to_neg - np.cumsum(pos, axis=1) + everyone
    ap = _divide(np.sum(pos * at_least_pos / np.maximum(at_least, 1), axis=1), total_pos)
    auc[total_neg == 0] = np.nan
    return auc, ap


class _Categorical:
    """What every block of resamples shares: the confusion cells' keys and each class's score order."""

    def __init__(self, true_index, probabilities):
        self.true_index = np.asarray(true_index, dtype=np.int64)
        self.probabilities = np.asarray(probabilities, dtype=np.float64)
        self.n_classes = self.probabilities.shape[1]
        predicted = self.probabilities.argmax(axis=1)
        self.cells = _groups(self.true_index * self.n_classes + predicted)
        self.ranks = {}
        for k in np.unique(self.true_index):
            order, starts, _ = _groups(self.probabilities[:, k])
            self.ranks[int(k)] = (order, starts, (self.true_index == k)[order].astype(np.float64))

    def __call__(self, weights) -> dict:
        columns = np.ascontiguousarray(weights.T)  # faces by row: gathers and sums run along rows
        b, k_classes = weights.shape[0], self.n_classes
        order, starts, keys = self.cells
        confusion = np.zeros((k_classes * k_classes, b))
        confusion[keys] = _sum_runs(columns[order], starts)
        confusion = confusion.T.reshape(b, k_classes, k_classes)
        total = confusion.sum(axis=(1, 2))
        hits = np.trace(confusion, axis1=1, axis2=2)
        rows, cols = confusion.sum(axis=2), confusion.sum(axis=1)
        p_observed = _divide(hits, total)
        p_expected = _divide(np.sum(rows * cols, axis=1), total**2)
        kappa = _divide(p_observed - p_expected, 1 - p_expected)
        present = rows > 0
        diagonal = np.diagonal(confusion, axis1=1, axis2=2)
        f1_class = np.nan_to_num(_divide(2 * diagonal, rows + cols))
        f1 = _divide(np.sum(f1_class * present, axis=1), present.sum(axis=1))
        coded = rows + cols  # values per category, model and truth each coding every face once
        pairable = 2 * total
        alpha = 1 - _divide((pairable - 1) * 2 * (total - hits), pairable**2 - np.sum(coded**2, axis=1))
        auc_sum, ap_sum = np.zeros(b), np.zeros(b)
        for k, (k_order, k_starts, positive) in self.ranks.items():
            auc_k, ap_k = _ranking_scores(columns, k_order, k_starts, positive)
            here = present[:, k]
            auc_sum += np.where(here, np.nan_to_num(auc_k), 0.0)
            ap_sum += np.where(here, np.nan_to_num(ap_k), 0.0)
        n_present = present.sum(axis=1)
        ranked = n_present >= 2  # as metrics.categorical_metrics: AUCs need two classes present
        return {
            "acc": p_observed,
            "f1": f1,
            "kappa": kappa,
            "alpha": alpha,
            "auc_pr": np.where(ranked, _divide(ap_sum, n_present), np.nan),
            "auc": np.where(ranked, _divide(auc_sum, n_present), np.nan),
        }


def categorical_resampled(weights, true_index, probabilities) -> dict:
    """Return {measure: (b,) values} for weighted resamples (b, n) of a categorical evaluation.

    true_index: (n,) the true class of each face as a column of probabilities (n, K).
    """
    return _Categorical(true_index, probabilities)(weights)


def dimensional_resampled(weights, y_true, y_pred) -> dict:
    """Return {measure: (b,) values} for weighted resamples of one dimension (valence or arousal)."""
    total = weights.sum(axis=1)

    def mean(values):
        return _divide(weights @ values, total)

    rmse = np.sqrt(mean((y_true - y_pred) ** 2))
    sagr = mean((np.sign(y_true) == np.sign(y_pred)).astype(np.float64))
    mean_t, mean_p = mean(y_true), mean(y_pred)
    var_t = mean(y_true**2) - mean_t**2
    var_p = mean(y_pred**2) - mean_p**2
    cov = mean(y_true * y_pred) - mean_t * mean_p
    # Round-off can leave a constant resample's variance at 1e-17 instead of 0.
    flat_t = var_t <= 1e-12 * np.maximum(1.0, mean_t**2)
    flat_p = var_p <= 1e-12 * np.maximum(1.0, mean_p**2)
    corr = np.where(flat_t | flat_p, np.nan, _divide(cov, np.sqrt(np.abs(var_t * var_p))))
    ccc = _divide(2 * cov, var_t + var_p + (mean_t - mean_p) ** 2)
    return {"rmse": rmse, "corr": corr, "sagr": sagr, "ccc": ccc}


def percentile_interval(values: np.ndarray, level: float = 0.95):
    """Return [low, high], the central `level` of the finite values, or None when there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


def _intervals(draw, n, resamples, seed, names) -> dict:
    if n == 0 or resamples <= 0:
        return {name: None for name in names}
    rng = np.random.default_rng(seed)
    parts = [draw(weights) for weights in resample_counts(n, resamples, rng)]
    return {name: percentile_interval(np.concatenate([p[name] for p in parts])) for name in names}


def categorical_intervals(true_index, probabilities, *, resamples: int = 1000, seed: int = 0) -> dict:
    """Return {measure: [low, high] or None}: 95% percentile-bootstrap intervals of the categorical
    measures (seeded: the same data and seed give the same intervals)."""
    if len(true_index) == 0:
        return {name: None for name in CATEGORICAL}
    prepared = _Categorical(true_index, probabilities)
    return _intervals(prepared, prepared.true_index.size, resamples, seed, CATEGORICAL)


def dimensional_intervals(y_true, y_pred, *, resamples: int = 1000, seed: int = 0) -> dict:
    """Return {measure: [low, high] or None} for one dimension, as categorical_intervals."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return _intervals(lambda w: dimensional_resampled(w, y_true, y_pred), y_true.size, resamples, seed, DIMENSIONAL)
