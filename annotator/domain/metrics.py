"""Measures of label quality, as the AffectNet paper and seed report them (Django-free).

Library-backed: scikit-learn for the categorical scores and Cohen's kappa, statsmodels for Fleiss'
kappa, the `krippendorff` package for alpha (and, for data too large for its units x values matrix,
Krippendorff's own closed form, checked against the package in the tests).
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


def _units(unit_ids):
    """Return (sorted order, unit index of each sorted row, answers per unit) for unit ids."""
    unit_ids = np.asarray(unit_ids)
    order = np.argsort(unit_ids, kind="stable")
    _, inverse, counts = np.unique(unit_ids[order], return_inverse=True, return_counts=True)
    return order, inverse, counts


def _pairable(unit_ids, values):
    """Return (unit index, value) of the pairable values (not NaN, in a unit with two or more such
    values) and the pairable values per unit; None where alpha is undefined: no pairable value, or
    all of them equal. The shared first step of the nominal and interval alpha."""
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values)
    unit_ids, values = np.asarray(unit_ids)[keep], values[keep]
    if values.size == 0:
        return None
    order, unit, m = _units(unit_ids)
    pairable = m[unit] >= 2
    unit, vals = unit[pairable], values[order][pairable]
    if vals.size == 0 or np.all(vals == vals[0]):
        return None
    return unit, vals, np.bincount(unit, minlength=m.size).astype(np.float64)


def nominal_alpha_units(unit_ids, values) -> float | None:
    """Krippendorff's alpha (nominal) from (unit, value) rows, in O(rows) memory.

    Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", sec. C with the nominal
    metric (delta = 1 for different values): alpha = 1 - (n - 1) * sum_u D_u / (n^2 - sum_c n_c^2),
    where n counts the pairable values (units with two or more), D_u = (m_u^2 - sum_c n_uc^2) / (m_u - 1)
    the ordered pairs of different values within unit u over m_u - 1, and n_c the pairable values of c.
    The `krippendorff` package computes the same from a units x values matrix (tests compare the two);
    this form never builds that matrix, so it stays small for a million faces.
    """
    found = _pairable(unit_ids, values)
    if found is None:
        return None
    unit, vals, m_u = found
    _, val_idx = np.unique(vals, return_inverse=True)
    n = vals.size
    # counts per (unit, value) from a joint key; the sum of their squares per unit
    joint = unit.astype(np.int64) * (val_idx.max() + 1) + val_idx
    joint_keys, joint_counts = np.unique(joint, return_counts=True)
    sq_per_unit = np.bincount(joint_keys // (val_idx.max() + 1), weights=joint_counts.astype(np.float64) ** 2,
                              minlength=m_u.size)
    used = m_u >= 2
    observed = np.sum((m_u[used] ** 2 - sq_per_unit[used]) / (m_u[used] - 1))
    n_c = np.bincount(val_idx).astype(np.float64)
    expected = n * n - np.sum(n_c**2)
    return float(1.0 - (n - 1) * observed / expected)


def interval_alpha_units(unit_ids, values) -> float | None:
    """Krippendorff's alpha (interval) from (unit, value) rows, in O(rows) memory.

    Krippendorff (2011) with the interval metric delta^2 = (c - k)^2. The sum of squared differences
    over the ordered pairs of a set of m values is 2 * (m * sum x^2 - (sum x)^2), so
    alpha = 1 - (n - 1) * sum_u S_u / (m_u - 1) / S, with S_u that sum within unit u and S the same
    over all n pairable values. Checked against the `krippendorff` package in the tests.
    """
    found = _pairable(unit_ids, values)
    if found is None:
        return None
    unit, vals, m_u = found
    n = vals.size
    s1 = np.bincount(unit, weights=vals, minlength=m_u.size)
    s2 = np.bincount(unit, weights=vals**2, minlength=m_u.size)
    used = m_u >= 2
    within = 2.0 * (m_u[used] * s2[used] - s1[used] ** 2) / (m_u[used] - 1)
    total = 2.0 * (n * np.sum(vals**2) - np.sum(vals) ** 2)
    return float(1.0 - (n - 1) * np.sum(within) / total)


def answer_pairs(unit_ids):
    """Return index arrays (i, j) of every pair of rows that share a unit, i before j in input order.

    Rows of a unit need not be adjacent. With three answers on a face this gives its three pairs.
    """
    unit_ids = np.asarray(unit_ids)
    order = np.argsort(unit_ids, kind="stable")
    sorted_units = unit_ids[order]
    firsts, seconds = [], []
    gap = 1
    while gap < sorted_units.size:
        same = sorted_units[gap:] == sorted_units[:-gap]
        if not same.any():
            break
        idx = np.nonzero(same)[0]
        firsts.append(order[idx])
        seconds.append(order[idx + gap])
        gap += 1
    if not firsts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return np.concatenate(firsts), np.concatenate(seconds)


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
    _, unit, m = _units(unit_ids)
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


def _kappa_of_table(table):
    """Cohen's kappa of two raters from their confusion matrix (scikit-learn's cohen_kappa_score, unweighted,
    from the counts); None when they used fewer than two categories between them."""
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    if np.count_nonzero(rows + cols) < 2:
        return None
    n = table.sum()
    observed = np.trace(table) / n
    expected = float(rows @ cols) / (n * n)
    return float((observed - expected) / (1 - expected))


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
    unit_ids = np.asarray(unit_ids)
    annotator_ids = np.asarray(annotator_ids, dtype=np.int64)
    categories = np.asarray(categories, dtype=np.int64)
    valences = np.asarray(valences, dtype=np.float64)
    arousals = np.asarray(arousals, dtype=np.float64)
    _, unit, m = _units(unit_ids)
    shared_units = int(np.count_nonzero(m >= 2))
    i, j = answer_pairs(unit_ids)
    same = categories[i] == categories[j]

    # A face agrees when none of its pairs disagree.
    order = np.argsort(unit_ids, kind="stable")
    unit_of_row = np.empty_like(unit)
    unit_of_row[order] = unit
    disagreeing_units = np.unique(unit_of_row[i[~same]])
    percent = (shared_units - disagreeing_units.size) / shared_units if shared_units else None

    # Cohen's kappa for each pair of annotators, the lower id always as the first rater.
    a_lo = np.minimum(annotator_ids[i], annotator_ids[j])
    a_hi = np.maximum(annotator_ids[i], annotator_ids[j])
    swap = annotator_ids[i] > annotator_ids[j]
    first = np.where(swap, categories[j], categories[i])
    second = np.where(swap, categories[i], categories[j])
    pairs = []
    if i.size:
        keys = np.stack([a_lo, a_hi], axis=1)
        uniq, group = np.unique(keys, axis=0, return_inverse=True)
        group = group.reshape(-1)
        # Every pair of annotators' confusion matrix at once (one pass over the answer pairs, not one
        # mask per pair of annotators): [pair of annotators, first's category, second's category].
        k = int(max(first.max(), second.max())) + 1
        tables = np.bincount((group * k + first) * k + second, minlength=len(uniq) * k * k).reshape(len(uniq), k, k)
        for g, (lo, hi) in enumerate(uniq.tolist()):
            n = int(tables[g].sum())
            if n < min_pair_items:
                continue
            pairs.append({
                "annotators": (lo, hi),
                "n": n,
                "agreement": float(np.trace(tables[g]) / n),
                "kappa": _kappa_of_table(tables[g]),
            })
    weighted = [(p["kappa"], p["n"]) for p in pairs if p["kappa"] is not None]
    mean_kappa = float(np.average([k for k, _ in weighted], weights=[n for _, n in weighted])) if weighted else None

    per_annotator = {}
    if i.size:
        both = np.concatenate([annotator_ids[i], annotator_ids[j]])
        agree = np.concatenate([same, same]).astype(np.float64)
        ids, inv = np.unique(both, return_inverse=True)
        totals = np.bincount(inv)
        agreed = np.bincount(inv, weights=agree)
        per_annotator = {int(a): {"pairs": int(t), "agreement": float(g / t)} for a, t, g in zip(ids, totals, agreed)}

    confusion = np.zeros((num_categories, num_categories), dtype=np.int64)
    np.add.at(confusion, (categories[i], categories[j]), 1)
    confusion = confusion + confusion.T  # who answered first does not matter: each pair counts both ways

    result = {
        "faces": shared_units,
        "answers": int(np.sum(m[m >= 2])),
        "pairs": int(i.size),
        "categorical": {
            "percent_agreement": percent,
            "pairwise_agreement": float(np.mean(same)) if i.size else None,
            "cohen_kappa_mean": mean_kappa,
            "fleiss": fleiss_kappa(unit_ids, categories, num_categories=num_categories),
            "alpha": nominal_alpha_units(unit_ids, categories.astype(np.float64)),
        },
        "cohen_pairs": pairs,
        "per_annotator": per_annotator,
        "confusion": confusion.tolist(),
    }
    for name, values in (("valence", valences), ("arousal", arousals)):
        with_point = ~np.isnan(values[i]) & ~np.isnan(values[j])
        dims = dimensional_metrics(values[i][with_point], values[j][with_point])
        dims["alpha"] = interval_alpha_units(unit_ids, values)
        result[name] = dims
    return result
