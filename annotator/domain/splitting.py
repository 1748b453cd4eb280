"""Dividing faces into splits by shares, stratified by category and grouped by source photo (Django-free).

Why not scikit-learn's StratifiedGroupKFold: its folds are 1/k each (a 85/15 split needs k=20 folds
of which 3 are merged), and it places groups one at a time in a Python loop that tries every fold,
which takes minutes at a million faces (benchmarks: bench_splits prints both). GroupShuffleSplit
draws groups, not faces, and ignores the categories. What is done here instead, in a few numpy passes:

1. each group (the faces cut from one photo) gets the stratum most of its faces have;
2. the groups are put in one row, stratum after stratum, in a random order within each (a seeded
   generator: the same seed and the same faces give the same result), and cut like systematic
   sampling: a group goes to the first split whose running count (its cumulative share times the
   faces so far, plus a random offset) ticks over at the group's middle face.

So every stratum, and all faces together, are cut by the shares to within a face for faces alone in
their photo (AffectNet's case); a photo's faces go where most of them would, so a category whose
faces share photos with others' is off by a few faces; a group never straddles two splits, and a
group pinned to a split (some of its faces are in a split already) keeps its faces together there.
Exact for two splits (train/val, this app's); with more, a later split may take a little more.
"""
from dataclasses import dataclass

import numpy as np

from annotator.domain.errors import DomainError


class SharesError(DomainError, ValueError):
    """Shares that cannot be used: unknown split, out of [0, 1], not summing to 1. `field` is "shares"."""


def shares_parse(text: str, splits: tuple[str, ...]) -> dict[str, float]:
    """Return {split: share} from "train=0.9,val=0.1" (or "train=90,val=10": percentages when they sum to
    100); refuse anything else naming the field "shares" and the split at fault."""
    shares = {}
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise SharesError(f"{part!r} is not SPLIT=SHARE (e.g. train=0.9,val=0.1)", field="shares")
        try:
            shares[name] = float(value)
        except ValueError:
            raise SharesError(f"{name}: {value.strip()!r} is not a number", field="shares") from None
    if shares and abs(sum(shares.values()) - 100) < 1e-6:
        shares = {k: v / 100 for k, v in shares.items()}
    return shares_checked(shares, splits)


def shares_checked(shares: dict[str, float], splits: tuple[str, ...]) -> dict[str, float]:
    """Return the shares in the order of `splits` (the ones given), or refuse them naming the split."""
    if not shares:
        raise SharesError(f"give a share for at least one of {', '.join(splits)} (e.g. train=0.9,val=0.1)",
                          field="shares")
    for name, share in shares.items():
        if name not in splits:
            raise SharesError(f"{name!r} is not a split; the splits are {', '.join(splits)}", field="shares")
        if not np.isfinite(share) or not 0 <= share <= 1:
            raise SharesError(f"{name}: {share:g} is not between 0 and 1", field="shares")
    total = sum(shares.values())
    if abs(total - 1) > 1e-6:
        raise SharesError(f"the shares add up to {total:g}, not 1 (or 100)", field="shares")
    return {name: float(shares[name]) for name in splits if name in shares}


@dataclass(frozen=True)
class Assignment:
    """Where each face goes: `split_index[i]` indexes the shares' splits for the i-th face given."""

    split_index: np.ndarray  # int8, one per face
    pinned: int  # faces that went where their group's earlier faces are


def assign(strata: np.ndarray, groups: np.ndarray, shares: list[float], *, seed: int,
           pinned_split: np.ndarray | None = None) -> Assignment:
    """Return the split of each face (see the module's doc).

    strata, groups: one small int per face (any values; a group's faces may be of several strata).
    shares: one per split, summing to 1. pinned_split: per face, the split index its group must go to,
    or -1 (a group is pinned when any of its faces is; its first pin wins).
    """
    n = len(strata)
    if len(groups) != n or (pinned_split is not None and len(pinned_split) != n):
        raise ValueError("strata, groups and pinned_split need one value per face")
    result = np.full(n, -1, dtype=np.int8)
    if n == 0:
        return Assignment(result, 0)
    group_ids, group_of_face = np.unique(groups, return_inverse=True)
    group_count = len(group_ids)
    group_size = np.bincount(group_of_face, minlength=group_count)

    # 1. The stratum most of a group's faces have (ties: the smallest stratum value).
    stratum_ids, stratum_of_face = np.unique(strata, return_inverse=True)
    pair = group_of_face.astype(np.int64) * len(stratum_ids) + stratum_of_face
    pairs, pair_counts = np.unique(pair, return_counts=True)
    pair_group, pair_stratum = pairs // len(stratum_ids), pairs % len(stratum_ids)
    order = np.lexsort((pair_stratum, -pair_counts, pair_group))  # per group: most faces, then lowest stratum
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair_group[order][1:] != pair_group[order][:-1]
    group_stratum = np.empty(group_count, dtype=np.int64)
    group_stratum[pair_group[order][first]] = pair_stratum[order][first]

    # Groups pinned by faces already in a split go there whole.
    group_pin = np.full(group_count, -1, dtype=np.int64)
    if pinned_split is not None:
        pinned_faces = np.flatnonzero(pinned_split >= 0)
        # Reversed, so that the first pinned face of a group is written last and wins.
        group_pin[group_of_face[pinned_faces[::-1]]] = pinned_split[pinned_faces[::-1]]
    free = group_pin < 0

    # 2. The free groups in one row, stratum after stratum, in a random order within each; then cut like
    # systematic sampling: a group goes to the first split whose running count (the split's cumulative
    # share of the faces so far, plus a random offset) ticks over at the group's middle face. So each
    # stratum, and all faces, are cut by the shares up to one face (and half a group at a boundary).
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(group_count)
    shuffled = shuffled[free[shuffled]]
    by_stratum = shuffled[np.argsort(group_stratum[shuffled], kind="stable")]
    sizes = group_size[by_stratum]
    middle = np.cumsum(sizes) - sizes / 2
    offset = rng.random()
    bounds = np.minimum(np.cumsum(np.asarray(shares, dtype=float)), 1.0)
    bounds[-1] = 1.0  # the last split takes whatever no earlier split claimed
    ticks = (np.floor(bounds[:, None] * (middle + 0.5) + offset)
             - np.floor(bounds[:, None] * (middle - 0.5) + offset)) >= 1
    group_split = np.array(group_pin)
    group_split[by_stratum] = np.argmax(ticks, axis=0)
    result[:] = group_split[group_of_face]
    return Assignment(result, int(group_size[~free].sum()))
