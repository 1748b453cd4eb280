"""Agreement between annotators from sums that add up across blocks of faces (Django-free).

agreement_partial() reduces the answers on a block of faces to a few sums; agreement_merge() adds
partials; agreement_finalize() turns the sums into the measures. metrics.inter_annotator_agreement is
finalize(partial(every answer)), so the dashboard can keep one partial per block of faces and merge
them instead of reading a million faces' answers again.

Every measure depends on the answers only through sums over faces:
- per number of answers m on a face: the faces, the sum over faces of sum_c n_uc^2 (n_uc: answers of
  category c on face u) and the answers per category. Fleiss' kappa (Fleiss 1971, statsmodels'
  formula) needs exactly these for the modal m; Krippendorff's nominal alpha (Krippendorff 2011,
  sec. C) needs them for every m, as D_u = (m^2 - sum_c n_uc^2) / (m - 1) depends on the face only
  through m and that sum;
- per pair of annotators, the confusion matrix of their categories on the faces both answered (kept as
  its nonzero cells: a block seldom fills a pair's 11 x 11): Cohen's kappa, the pairwise and
  per-annotator agreement and the overall confusion come from these;
- per dimension (valence, arousal), the moments of the answer pairs where both carry a point (RMSE,
  CORR, SAGR, CCC with population moments) and of the pairable values (interval alpha), with their
  minimum and maximum: "all values equal" is then exact, not a question of rounding.

A partial holds numpy arrays and plain numbers; `json.dumps(p, default=lambda a: a.tolist())` writes
it, and merge and finalize take the lists back. Its size grows with the pairs of annotators (at most
11 x 11 cells each, never more than the block's answer pairs), not otherwise with the answers:
  version, num_categories, unanimous (shared faces whose answers all name one category);
  raters (m >= 2, ascending), raters_faces, raters_squares, raters_totals (per m, x category);
  pair_cells (lo annotator, hi annotator, lo's category, hi's category), pair_counts;
  valence / arousal: {"pairs": n, sum_x, sum_y, sum_xx, sum_yy, sum_xy, sum_dd, same_sign, min_x, max_x,
  min_y, max_y; "alpha": n, sum, sum_sq, within, min, max} (min and max None where n is 0).
"""
import numpy as np

STATS_VERSION = 1
_PAIR_FIELDS = ("n", "sum_x", "sum_y", "sum_xx", "sum_yy", "sum_xy", "sum_dd", "same_sign")
_ALPHA_FIELDS = ("n", "sum", "sum_sq", "within")
_INT_FIELDS = ("n", "same_sign")


def unit_index(unit_ids):
    """Return (sorted order, unit index of each sorted row, answers per unit) for unit ids."""
    unit_ids = np.asarray(unit_ids)
    order = np.argsort(unit_ids, kind="stable")
    _, inverse, counts = np.unique(unit_ids[order], return_inverse=True, return_counts=True)
    return order, inverse.reshape(-1), counts


def _pairs_of_sorted(order, sorted_units):
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


def answer_pairs(unit_ids):
    """Return index arrays (i, j) of every pair of rows that share a unit, i before j in input order.

    Rows of a unit need not be adjacent. With three answers on a face this gives its three pairs.
    """
    unit_ids = np.asarray(unit_ids)
    order = np.argsort(unit_ids, kind="stable")
    return _pairs_of_sorted(order, unit_ids[order])


def pairable_values(unit_ids, values):
    """Return (unit index, value, values per unit) of the pairable values: not NaN, in a unit with two
    or more such values (the first step of both Krippendorff alphas)."""
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values)
    unit_ids, values = np.asarray(unit_ids)[keep], values[keep]
    if values.size == 0:
        return np.zeros(0, dtype=np.int64), values, np.zeros(0)
    order, unit, m = unit_index(unit_ids)
    pairable = m[unit] >= 2
    unit, vals = unit[pairable], values[order][pairable]
    return unit, vals, np.bincount(unit, minlength=m.size).astype(np.float64)


def nominal_alpha_sums(unit_ids, values) -> tuple:
    """Return (n, sum_u D_u, n_c per distinct value) of the pairable values (Krippendorff 2011, sec. C):
    n the pairable values, D_u = (m_u^2 - sum_c n_uc^2) / (m_u - 1) the ordered pairs of different
    values within unit u over m_u - 1, n_c the pairable values equal to c."""
    unit, vals, m_u = pairable_values(unit_ids, values)
    if vals.size == 0:
        return 0, 0.0, np.zeros(0)
    _, val_idx = np.unique(vals, return_inverse=True)
    width = int(val_idx.max()) + 1
    # counts per (unit, value) from a joint key; the sum of their squares per unit
    joint_keys, joint_counts = np.unique(unit.astype(np.int64) * width + val_idx, return_counts=True)
    sq_per_unit = np.bincount(joint_keys // width, weights=joint_counts.astype(np.float64) ** 2, minlength=m_u.size)
    used = m_u >= 2
    observed = float(np.sum((m_u[used] ** 2 - sq_per_unit[used]) / (m_u[used] - 1)))
    return int(vals.size), observed, np.bincount(val_idx).astype(np.float64)


def nominal_alpha_from_sums(n, observed, value_counts) -> float | None:
    """Krippendorff's alpha (nominal) = 1 - (n - 1) * sum_u D_u / (n^2 - sum_c n_c^2); None where it is
    undefined: no pairable value, or all of them equal."""
    value_counts = np.asarray(value_counts, dtype=np.float64)
    if n == 0 or np.count_nonzero(value_counts) < 2:
        return None
    expected = float(n) * n - float(np.sum(value_counts**2))
    return float(1.0 - (n - 1) * observed / expected)


def _empty_alpha_sums() -> dict:
    return {"n": 0, "sum": 0.0, "sum_sq": 0.0, "within": 0.0, "min": None, "max": None}


def interval_alpha_sums(unit_ids, values) -> dict:
    """Return the sums interval alpha needs over the pairable values: n, sum x, sum x^2, the within-unit
    term sum_u 2 * (m_u * sum x^2 - (sum x)^2) / (m_u - 1), and the smallest and largest value."""
    unit, vals, m_u = pairable_values(unit_ids, values)
    if vals.size == 0:
        return _empty_alpha_sums()
    s1 = np.bincount(unit, weights=vals, minlength=m_u.size)
    s2 = np.bincount(unit, weights=vals**2, minlength=m_u.size)
    used = m_u >= 2
    within = 2.0 * (m_u[used] * s2[used] - s1[used] ** 2) / (m_u[used] - 1)
    return {"n": int(vals.size), "sum": float(np.sum(vals)), "sum_sq": float(np.sum(vals**2)),
            "within": float(np.sum(within)), "min": float(vals.min()), "max": float(vals.max())}


def interval_alpha_from_sums(sums: dict) -> float | None:
    """Krippendorff's alpha (interval, delta^2 = (c - k)^2). The squared differences over the ordered
    pairs of m values sum to 2 * (m * sum x^2 - (sum x)^2), so alpha = 1 - (n - 1) * within / total with
    total that sum over all n pairable values. None where undefined: no pairable value, or all equal."""
    n = sums["n"]
    if n == 0 or sums["min"] == sums["max"]:
        return None
    total = 2.0 * (n * sums["sum_sq"] - sums["sum"] ** 2)
    return float(1.0 - (n - 1) * sums["within"] / total)


def _pair_sums(x, y) -> dict:
    """The moments of the pairs (x, y) that dimensional_from_sums needs."""
    if x.size == 0:
        return {f: 0 if f in _INT_FIELDS else 0.0 for f in _PAIR_FIELDS} | dict.fromkeys(
            ("min_x", "max_x", "min_y", "max_y"))
    return {"n": int(x.size), "sum_x": float(np.sum(x)), "sum_y": float(np.sum(y)), "sum_xx": float(np.sum(x * x)),
            "sum_yy": float(np.sum(y * y)), "sum_xy": float(np.sum(x * y)), "sum_dd": float(np.sum((x - y) ** 2)),
            "same_sign": int(np.count_nonzero(np.sign(x) == np.sign(y))),
            "min_x": float(x.min()), "max_x": float(x.max()), "min_y": float(y.min()), "max_y": float(y.max())}


def dimensional_from_sums(s: dict) -> dict:
    """RMSE, CORR, SAGR and CCC (metrics.dimensional_metrics, population moments) from pair sums.

    CORR is None with fewer than two pairs or a constant side, CCC None when its denominator
    var_x + var_y + (mean_x - mean_y)^2 is zero (every x and y the same value): both told from the
    minimum and maximum, exactly.
    """
    n = s["n"]
    if n == 0:
        return {"rmse": None, "corr": None, "sagr": None, "ccc": None, "n": 0}
    mean_x, mean_y = s["sum_x"] / n, s["sum_y"] / n
    var_x = max(s["sum_xx"] / n - mean_x**2, 0.0)
    var_y = max(s["sum_yy"] / n - mean_y**2, 0.0)
    cov = s["sum_xy"] / n - mean_x * mean_y
    constant_x, constant_y = s["min_x"] == s["max_x"], s["min_y"] == s["max_y"]
    if n < 2 or constant_x or constant_y or var_x == 0 or var_y == 0:
        corr = None
    else:
        corr = float(np.clip(cov / np.sqrt(var_x * var_y), -1.0, 1.0))
    denom = var_x + var_y + (mean_x - mean_y) ** 2
    all_equal = constant_x and constant_y and s["min_x"] == s["min_y"]
    ccc = float(2 * cov / denom) if not all_equal and denom > 0 else None
    return {"rmse": float(np.sqrt(s["sum_dd"] / n)), "corr": corr, "sagr": float(s["same_sign"] / n), "ccc": ccc,
            "n": int(n)}


def kappas_of_tables(tables) -> list:
    """Cohen's kappa of two raters from each of their confusion matrices (P, K, K) (scikit-learn's
    cohen_kappa_score, unweighted, from the counts); None where they used fewer than two categories
    between them."""
    rows, cols = tables.sum(axis=2), tables.sum(axis=1)
    defined = np.count_nonzero(rows + cols, axis=1) >= 2
    n = np.maximum(rows.sum(axis=1), 1).astype(np.float64)
    observed = np.trace(tables, axis1=1, axis2=2) / n
    expected = np.sum(rows * cols, axis=1) / (n * n)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - expected) / (1 - expected)
    return [float(x) if ok else None for x, ok in zip(kappa.tolist(), defined.tolist())]


def _column(name, values, dtype):
    array = np.asarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"agreement_partial: {name} must be 1-d, not of shape {array.shape}")
    return array


def agreement_partial(unit_ids, annotator_ids, categories, valences, arousals, *, num_categories=11) -> dict:
    """Return the additive statistics of these answers (one row per answer), for agreement_merge.

    Every answer of a face must be in the same call (a block holds whole faces), in the order the
    answers were given: a face's earlier answer is x in the valence/arousal pairs.
    """
    unit_ids = np.asarray(unit_ids)
    if unit_ids.ndim != 1:
        raise ValueError(f"agreement_partial: unit_ids must be 1-d, not of shape {unit_ids.shape}")
    columns = {"annotator_ids": _column("annotator_ids", annotator_ids, np.int64),
               "categories": _column("categories", categories, np.int64),
               "valences": _column("valences", valences, np.float64),
               "arousals": _column("arousals", arousals, np.float64)}
    for name, column in columns.items():
        if column.size != unit_ids.size:
            raise ValueError(f"agreement_partial: {name} has {column.size} rows, unit_ids {unit_ids.size}")
    annotator_ids, categories = columns["annotator_ids"], columns["categories"]
    k = int(num_categories)
    if categories.size and (categories.min() < 0 or categories.max() >= k):
        raise ValueError(f"agreement_partial: categories must lie in 0..{k - 1} (num_categories={k}), "
                         f"found {int(categories.min())}..{int(categories.max())}")

    # Per number of answers m: faces, sum over faces of sum_c n_uc^2, answers per category.
    order, unit, m = unit_index(unit_ids)
    per_face = np.bincount(unit * k + categories[order], minlength=m.size * k).reshape(m.size, k)
    shared = m >= 2
    per_face, m_shared = per_face[shared], m[shared]
    raters, which = np.unique(m_shared, return_inverse=True)
    which = which.reshape(-1)
    squares = np.bincount(which, weights=np.sum(per_face**2, axis=1), minlength=raters.size)
    totals = np.bincount((which[:, None] * k + np.arange(k)).reshape(-1), weights=per_face.reshape(-1),
                         minlength=raters.size * k).reshape(raters.size, k)

    # Per pair of annotators (the lower id first), the confusion of their categories, as its nonzero cells.
    i, j = _pairs_of_sorted(order, unit_ids[order])
    swap = annotator_ids[i] > annotator_ids[j]
    cells, cell_counts = _sum_cells(np.where(swap, annotator_ids[j], annotator_ids[i]),
                                    np.where(swap, annotator_ids[i], annotator_ids[j]),
                                    np.where(swap, categories[j], categories[i]),
                                    np.where(swap, categories[i], categories[j]), None, k)

    result = {
        "version": STATS_VERSION,
        "num_categories": k,
        "unanimous": int(np.count_nonzero(per_face.max(axis=1, initial=0) == m_shared)),
        "raters": raters.astype(np.int64),
        "raters_faces": np.bincount(which, minlength=raters.size).astype(np.int64),
        "raters_squares": squares.astype(np.int64),
        "raters_totals": totals.astype(np.int64),
        "pair_cells": cells,
        "pair_counts": cell_counts,
    }
    for name, values in (("valence", columns["valences"]), ("arousal", columns["arousals"])):
        with_point = ~np.isnan(values[i]) & ~np.isnan(values[j])
        result[name] = {"pairs": _pair_sums(values[i][with_point], values[j][with_point]),
                        "alpha": interval_alpha_sums(unit_ids, values)}
    return result


def _unique_inverse(values):
    """np.unique(values, return_inverse=True) by a sort and a binary search: faster than its argsort."""
    distinct = np.unique(values)
    return distinct, np.searchsorted(distinct, values)


def _pair_index(lo, hi):
    """Return (distinct (lo, hi) pairs in order, the pair of each row): one sort of int64 keys, not
    np.unique(axis=0)."""
    ids = np.unique(np.concatenate([lo, hi]))
    keys, group = _unique_inverse(np.searchsorted(ids, lo) * ids.size + np.searchsorted(ids, hi))
    return np.stack([ids[keys // ids.size], ids[keys % ids.size]], axis=1).reshape(-1, 2), group


def _sum_cells(lo, hi, first, second, counts, k):
    """Return the distinct cells (lo annotator, hi annotator, lo's category, hi's category), sorted, and
    their summed counts (one each where counts is None)."""
    pairs, group = _pair_index(lo, hi)
    keys, inverse = _unique_inverse((group * k + first) * k + second)
    total = np.bincount(inverse, minlength=keys.size) if counts is None else np.bincount(
        inverse, weights=counts, minlength=keys.size)
    pair, cell = keys // (k * k), keys % (k * k)
    cells = np.concatenate([pairs[pair], np.stack([cell // k, cell % k], axis=1)], axis=1).reshape(-1, 4)
    return cells.astype(np.int64), total.astype(np.int64)


def _group_sum(keys, *columns):
    """Return (distinct keys, each column summed per key): keys (N,) or (N, 2), columns with N rows."""
    distinct, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    out = []
    for column in columns:
        total = np.zeros((distinct.shape[0],) + column.shape[1:], dtype=column.dtype)
        np.add.at(total, inverse, column)
        out.append(total)
    return distinct, *out


def _extreme(pick, a, b):
    if a is None:
        return b
    return a if b is None else pick(a, b)


def _merge_sums(parts, fields, extremes) -> dict:
    merged = {f: sum(p[f] for p in parts) for f in fields}
    for name in extremes:
        pick = min if name.startswith("min") else max
        value = None
        for p in parts:
            value = _extreme(pick, value, p[name])
        merged[name] = value
    return merged


def agreement_merge(partials) -> dict:
    """Return the sum of agreement partials (of disjoint blocks of faces), itself a partial: associative
    and, but for the rounding of float sums, independent of the order."""
    partials = list(partials)
    if not partials:
        raise ValueError("agreement_merge: no partials to merge")
    k = partials[0]["num_categories"]
    for p in partials:
        if p.get("version") != STATS_VERSION or p["num_categories"] != k:
            raise ValueError(f"agreement_merge: partials of another version or num_categories "
                             f"({p.get('version')}, {p['num_categories']}; expected {STATS_VERSION}, {k})")

    def cat(name, shape):
        return np.concatenate([np.asarray(p[name], dtype=np.int64).reshape(shape) for p in partials])

    raters, faces, squares, totals = _group_sum(cat("raters", (-1,)), cat("raters_faces", (-1,)),
                                                cat("raters_squares", (-1,)), cat("raters_totals", (-1, k)))
    cells = cat("pair_cells", (-1, 4))
    cells, cell_counts = _sum_cells(cells[:, 0], cells[:, 1], cells[:, 2], cells[:, 3], cat("pair_counts", (-1,)), k)
    merged = {
        "version": STATS_VERSION, "num_categories": k,
        "unanimous": sum(int(p["unanimous"]) for p in partials),
        "raters": raters, "raters_faces": faces, "raters_squares": squares, "raters_totals": totals,
        "pair_cells": cells, "pair_counts": cell_counts,
    }
    for name in ("valence", "arousal"):
        merged[name] = {
            "pairs": _merge_sums([p[name]["pairs"] for p in partials], _PAIR_FIELDS, ("min_x", "max_x", "min_y", "max_y")),
            "alpha": _merge_sums([p[name]["alpha"] for p in partials], _ALPHA_FIELDS, ("min", "max")),
        }
    return merged


def agreement_finalize(stats: dict, *, min_pair_items=2) -> dict:
    """Return the agreement measures (metrics.inter_annotator_agreement's dict) from a partial or a merge
    of partials. Cohen's kappa is listed for the pairs of annotators with min_pair_items shared faces or more."""
    k = int(stats["num_categories"])
    raters = np.asarray(stats["raters"], dtype=np.int64).reshape(-1)
    raters_faces = np.asarray(stats["raters_faces"], dtype=np.int64).reshape(-1)
    raters_squares = np.asarray(stats["raters_squares"], dtype=np.int64).reshape(-1)
    raters_totals = np.asarray(stats["raters_totals"], dtype=np.int64).reshape(-1, k)
    cells = np.asarray(stats["pair_cells"], dtype=np.int64).reshape(-1, 4)
    cell_counts = np.asarray(stats["pair_counts"], dtype=np.int64).reshape(-1)
    annotator_pairs, group = _pair_index(cells[:, 0], cells[:, 1])
    tables = np.bincount((group * k + cells[:, 2]) * k + cells[:, 3], weights=cell_counts,
                         minlength=annotator_pairs.shape[0] * k * k).astype(np.int64).reshape(-1, k, k)

    faces = int(raters_faces.sum())
    pair_n = tables.sum(axis=(1, 2))
    pair_agree = np.trace(tables, axis1=1, axis2=2)
    n_pairs = int(pair_n.sum())

    kappas = kappas_of_tables(tables)
    cohen = [{"annotators": (lo, hi), "n": n, "agreement": float(agree / n), "kappa": kappa}
             for (lo, hi), n, agree, kappa in zip(annotator_pairs.tolist(), pair_n.tolist(), pair_agree.tolist(), kappas)
             if n >= min_pair_items]
    weighted = [(p["kappa"], p["n"]) for p in cohen if p["kappa"] is not None]
    mean_kappa = float(np.average([w for w, _ in weighted], weights=[n for _, n in weighted])) if weighted else None

    # Each pair counts for both its annotators (twice for one, were both answers theirs).
    per_annotator = {}
    if n_pairs:
        ids, pairs_of, agreed = _group_sum(annotator_pairs.T.reshape(-1), np.concatenate([pair_n, pair_n]),
                                           np.concatenate([pair_agree, pair_agree]))
        per_annotator = {int(a): {"pairs": int(t), "agreement": float(g / t)} for a, t, g in zip(ids, pairs_of, agreed)}

    # Who answered first does not matter: each pair counts both ways.
    confusion = tables.sum(axis=0)

    # Krippendorff's nominal alpha over the categories: every answer on a shared face is pairable.
    answers = int(np.sum(raters * raters_faces))
    observed = float(np.sum((raters**2 * raters_faces - raters_squares) / (raters - 1)))
    alpha = nominal_alpha_from_sums(answers, observed, raters_totals.sum(axis=0))

    result = {
        "faces": faces,
        "answers": answers,
        "pairs": n_pairs,
        "categorical": {
            "percent_agreement": int(stats["unanimous"]) / faces if faces else None,
            "pairwise_agreement": float(pair_agree.sum() / n_pairs) if n_pairs else None,
            "cohen_kappa_mean": mean_kappa,
            "fleiss": _fleiss(raters, raters_faces, raters_squares, raters_totals),
            "alpha": alpha,
        },
        "cohen_pairs": cohen,
        "per_annotator": per_annotator,
        "confusion": (confusion + confusion.T).tolist(),
    }
    for name in ("valence", "arousal"):
        dims = dimensional_from_sums(stats[name]["pairs"])
        dims["alpha"] = interval_alpha_from_sums(stats[name]["alpha"])
        result[name] = dims
    return result


def _fleiss(raters, faces, squares, totals) -> dict:
    """Fleiss' kappa (statsmodels' method="fleiss") over the faces with the most common number of answers
    (the smallest such number on a tie, as np.bincount(...).argmax()); metrics.fleiss_kappa is the same
    through statsmodels from the face x category table."""
    if faces.sum() == 0:
        return {"kappa": None, "n": 0, "raters": None}
    g = int(np.argmax(faces))  # raters ascend: the first maximum is the smallest number of answers
    m, n = int(raters[g]), int(faces[g])
    if np.count_nonzero(totals[g]) < 2:
        return {"kappa": None, "n": n, "raters": m}
    p_cat = totals[g] / (n * m)
    p_mean = (squares[g] / n - m) / (m * (m - 1))
    p_exp = float(np.sum(p_cat**2))
    return {"kappa": float((p_mean - p_exp) / (1 - p_exp)), "n": n, "raters": m}
