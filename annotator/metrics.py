"""Measures of label quality, as the AffectNet paper and seed report them (Django-free).

Library-backed: scikit-learn for the categorical scores, the `krippendorff` package for alpha.
CORR is Pearson's r; SAGR the share of items whose prediction and label have the same sign
(AffectNet paper, sec. 5.2); CCC Lin's concordance correlation coefficient (Lin 1989):
2*cov / (var_x + var_y + (mean_x - mean_y)^2), population moments.
"""
import numpy as np


def dimensional_metrics(y_true, y_pred) -> dict:
    """Return RMSE, CORR, SAGR and CCC for one dimension (valence or arousal)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-d and of the same length")
    n = y_true.size
    if n == 0:
        return {"rmse": None, "corr": None, "sagr": None, "ccc": None, "n": 0}
    rmse = float(np.sqrt(np.mean((y_true - y_pred) ** 2)))
    sagr = float(np.mean(np.sign(y_true) == np.sign(y_pred)))
    if n < 2 or np.std(y_true) == 0 or np.std(y_pred) == 0:
        corr = None
    else:
        corr = float(np.corrcoef(y_true, y_pred)[0, 1])
    mean_t, mean_p = y_true.mean(), y_pred.mean()
    cov = np.mean((y_true - mean_t) * (y_pred - mean_p))
    denom = y_true.var() + y_pred.var() + (mean_t - mean_p) ** 2
    ccc = float(2 * cov / denom) if denom > 0 else None
    return {"rmse": rmse, "corr": corr, "sagr": sagr, "ccc": ccc, "n": int(n)}


def categorical_metrics(y_true, probabilities, *, labels) -> dict:
    """Return ACC, F1 (macro), Cohen's kappa, Krippendorff's alpha, AUC-PR and AUC (macro, one-vs-rest).

    y_true: int (N,); probabilities: float (N, K) with columns in the order of `labels`.
    AUC-PR and AUC average over the labels present in y_true (a class with no positives has none).
    """
    from sklearn.metrics import accuracy_score, average_precision_score, cohen_kappa_score, f1_score, roc_auc_score

    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = list(labels)
    if y_true.size == 0:
        return {k: None for k in ("acc", "f1", "kappa", "alpha", "auc_pr", "auc")} | {"n": 0}
    y_pred = np.asarray(labels)[probabilities.argmax(axis=1)]
    result = {
        "acc": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0)),
        "kappa": float(cohen_kappa_score(y_true, y_pred)) if len(set(y_true) | set(y_pred)) > 1 else None,
        "alpha": nominal_alpha(np.vstack([y_true, y_pred])),
        "n": int(y_true.size),
    }
    present = [i for i, label in enumerate(labels) if np.any(y_true == label)]
    onehot = (y_true[:, None] == np.asarray(labels)[None, :]).astype(int)
    if len(present) >= 2:
        result["auc_pr"] = float(np.mean([average_precision_score(onehot[:, i], probabilities[:, i]) for i in present]))
        result["auc"] = float(np.mean([roc_auc_score(onehot[:, i], probabilities[:, i]) for i in present]))
    else:
        result["auc_pr"] = result["auc"] = None
    return result


def nominal_alpha(reliability_data) -> float | None:
    """Krippendorff's alpha (nominal) over coders x items; NaN marks a missing answer."""
    import krippendorff

    data = np.asarray(reliability_data, dtype=np.float64)
    values = data[~np.isnan(data)]
    if values.size == 0 or len(np.unique(values)) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def interval_alpha(reliability_data) -> float | None:
    """Krippendorff's alpha (interval) over coders x items; NaN marks a missing answer."""
    import krippendorff

    data = np.asarray(reliability_data, dtype=np.float64)
    values = data[~np.isnan(data)]
    if values.size == 0 or np.all(values == values[0]):
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="interval"))
