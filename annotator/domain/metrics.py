"""Measures of label quality, as the AffectNet paper and seed report them (Django-free).

Library-backed: scikit-learn for the categorical scores and Cohen's kappa, statsmodels for Fleiss'
kappa, the `krippendorff` package for alpha (and, for data too large for its units x values matrix,
Krippendorff's own closed form, checked against the package in the tests).
CORR is Pearson's r; SAGR the share of items whose prediction and label have the same sign
(AffectNet paper, sec. 5.2); CCC Lin's concordance correlation coefficient (Lin 1989):
2*cov / (var_x + var_y + (mean_x - mean_y)^2), population moments.
"""
import numpy as np

from annotator.domain.agreement_stats import (
    agreement_finalize,
    agreement_partial,
    interval_alpha_from_sums,
    interval_alpha_sums,
    nominal_alpha_from_sums,
    nominal_alpha_sums,
    unit_index,
)


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
        # Model and truth as two coders of each face; the O(N) form, as a split may hold 300K faces.
        "alpha": nominal_alpha_units(np.tile(np.arange(y_true.size), 2), np.concatenate([y_true, y_pred]).astype(float)),
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


# ---------------------------------------------------------------------------------------------
# Agreement between annotators. The data is one row per answer: the face it belongs to, who gave
# it, and its category / valence / arousal (NaN where the category has none). Faces with fewer
# than two answers carry no information about agreement and are left out.
# ---------------------------------------------------------------------------------------------


def nominal_alpha_units(unit_ids, values) -> float | None:
    """Krippendorff's alpha (nominal) from (unit, value) rows, in O(rows) memory.

    Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", sec. C with the nominal
    metric (delta = 1 for different values): alpha = 1 - (n - 1) * sum_u D_u / (n^2 - sum_c n_c^2),
    where n counts the pairable values (units with two or more), D_u = (m_u^2 - sum_c n_uc^2) / (m_u - 1)
    the ordered pairs of different values within unit u over m_u - 1, and n_c the pairable values of c.
    The `krippendorff` package computes the same from a units x values matrix (tests compare the two);
    this form never builds that matrix, so it stays small for a million faces.
    """
    return nominal_alpha_from_sums(*nominal_alpha_sums(unit_ids, values))


def interval_alpha_units(unit_ids, values) -> float | None:
    """Krippendorff's alpha (interval) from (unit, value) rows, in O(rows) memory.

    Krippendorff (2011) with the interval metric delta^2 = (c - k)^2. The sum of squared differences
    over the ordered pairs of a set of m values is 2 * (m * sum x^2 - (sum x)^2), so
    alpha = 1 - (n - 1) * sum_u S_u / (m_u - 1) / S, with S_u that sum within unit u and S the same
    over all n pairable values. Checked against the `krippendorff` package in the tests.
    """
    return interval_alpha_from_sums(interval_alpha_sums(unit_ids, values))


def fleiss_kappa(unit_ids, categories, *, num_categories: int) -> dict:
    """Fleiss' kappa (Fleiss 1971) via statsmodels, over the faces with the most common number of answers.

    Fleiss' kappa assumes every item was rated the same number of times; faces answered by another
    number of annotators are left out (`n` says how many faces it used, `raters` how many answers each).
    """
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

    unit_ids = np.asarray(unit_ids)
    categories = np.asarray(categories, dtype=np.int64)
    if unit_ids.size == 0:
        return {"kappa": None, "n": 0, "raters": None}
    _, unit, m = unit_index(unit_ids)
    order = np.argsort(unit_ids, kind="stable")
    cats = categories[order]
    multi = m[m >= 2]
    if multi.size == 0:
        return {"kappa": None, "n": 0, "raters": None}
    raters = int(np.bincount(multi).argmax())
    table = np.zeros((m.size, num_categories), dtype=np.int64)
    np.add.at(table, (unit, cats), 1)
    table = table[m == raters]
    margins = table.sum(axis=0)
    if np.count_nonzero(margins) < 2:
        return {"kappa": None, "n": int(table.shape[0]), "raters": raters}
    return {"kappa": float(sm_fleiss_kappa(table, method="fleiss")), "n": int(table.shape[0]), "raters": raters}


def inter_annotator_agreement(unit_ids, annotator_ids, categories, valences, arousals, *, num_categories=11,
                              min_pair_items=2) -> dict:
    """Return the agreement between annotators, the way the AffectNet paper (sec. 3.3) reports it.

    One row per answer. Categorical: percent agreement (share of faces whose answers all name the
    same category; the paper's 60.7% on double-annotated faces), pairwise agreement (share of
    agreeing answer pairs), Cohen's kappa per pair of annotators (scikit-learn) and their mean
    weighted by shared faces, Fleiss' kappa (statsmodels), Krippendorff's alpha (nominal).
    Valence and arousal, each: Krippendorff's alpha (interval) and RMSE, CORR, SAGR, CCC over all
    answer pairs where both carry a point (the earlier answer as x, the later as y). Per annotator:
    answers on shared faces, and the share of their pairs that agree on the category.
    """
    return agreement_finalize(agreement_partial(unit_ids, annotator_ids, categories, valences, arousals,
                                                num_categories=num_categories), min_pair_items=min_pair_items)
