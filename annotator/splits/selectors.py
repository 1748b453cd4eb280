"""Reads of split assignment: the plan (where each face of the chosen set would go) and its preview.

Reads flat value rows into numpy (ids, splits, categories, sources), never model instances: a project
of a million faces is planned in seconds (benchmarks/management/commands/bench_splits.py).
Planning changes nothing; services.splits_apply writes a plan.
"""
import hashlib
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Case, F, IntegerField, Value, When

from annotator.domain.categories import CATEGORY_NAMES, NUM_CATEGORIES
from annotator.domain.errors import DomainError
from annotator.domain.splitting import SharesError, assign, shares_checked
from annotator.models import Face, Project, Split, Suggestion

# The splits faces are assigned to, in this order (a split's index in a plan); AffectNet has these two.
SPLITS = (Split.TRAIN.value, Split.VAL.value)
UNLABELLED = NUM_CATEGORIES  # the stratum of faces with neither a final label nor a suggestion
STRATUM_NAMES = (*CATEGORY_NAMES, "unlabelled")

# Which faces a plan assigns: those not in a split yet, or every face of the project.
FACES_UNASSIGNED, FACES_ALL = "unassigned", "all"
FACE_SETS = {FACES_UNASSIGNED: "faces in no split yet (unassigned)",
             FACES_ALL: "every face (moves faces between train and val too)"}


class SplitPlanError(DomainError, ValueError):
    """Options a plan cannot use; `field` names the option (shares, faces, seed)."""


@dataclass(frozen=True)
class SplitPlan:
    """Where each face of the chosen set goes, and the counts a preview shows."""

    project: Project
    shares: dict  # {split: share}, every split of SPLITS
    faces: str  # FACES_UNASSIGNED or FACES_ALL
    seed: int
    face_ids: np.ndarray = field(repr=False)  # int64, the chosen set in id order
    split_index: np.ndarray = field(repr=False)  # int8 per face: index in SPLITS
    current: np.ndarray = field(repr=False)  # per face: its split now (a string)
    strata: np.ndarray = field(repr=False)  # per face: its category, or UNLABELLED
    pinned: int = 0  # faces that go where the other faces of their photo already are

    @property
    def total(self) -> int:
        return len(self.face_ids)

    @property
    def counts(self) -> dict:
        """{split: faces} of the chosen set after the plan."""
        per = np.bincount(self.split_index, minlength=len(SPLITS)) if self.total else np.zeros(len(SPLITS), int)
        return {name: int(per[i]) for i, name in enumerate(SPLITS)}

    @property
    def changed(self) -> int:
        """Faces whose split the plan changes."""
        return int((self.current != np.asarray(SPLITS, dtype=object)[self.split_index]).sum()) if self.total else 0

    def rows(self) -> list[dict]:
        """Per stratum with faces: its name, faces per split, and each split's share of it."""
        table = np.zeros((len(STRATUM_NAMES), len(SPLITS)), dtype=np.int64)
        np.add.at(table, (self.strata, self.split_index.astype(np.int64)), 1)
        out = []
        for stratum, name in enumerate(STRATUM_NAMES):
            faces = int(table[stratum].sum())
            if faces:
                out.append({"stratum": stratum, "name": name, "faces": faces,
                            "counts": [int(c) for c in table[stratum]],
                            "shares": [float(c) / faces for c in table[stratum]]})
        return out

    @property
    def largest_share_error(self) -> float:
        """The largest gap between a split's share of a category (or of all faces) and the share asked."""
        target = np.asarray([self.shares[s] for s in SPLITS])
        rows = [row["shares"] for row in self.rows()]
        if self.total:
            rows.append([c / self.total for c in self.counts.values()])
        return float(max((np.abs(np.asarray(r) - target).max() for r in rows), default=0.0))

    @property
    def digest(self) -> str:
        """What the preview showed, in short: applying checks the faces and their splits are still these."""
        h = hashlib.sha256()
        for part in (self.face_ids.astype(np.int64), self.split_index.astype(np.int8)):
            h.update(part.tobytes())
        return h.hexdigest()[:20]

    def summary(self) -> dict:
        """The plan's options and counts, as the history keeps them."""
        return {"shares": self.shares, "faces": self.faces, "seed": self.seed, "total": self.total,
                "counts": self.counts, "changed": self.changed, "pinned": self.pinned,
                "largest_share_error": round(self.largest_share_error, 6),
                "per_category": {row["name"]: dict(zip(SPLITS, row["counts"], strict=True)) for row in self.rows()}}


def _suggested_categories(project: Project, face_ids: np.ndarray) -> dict:
    """{face id: category} of the suggestion that counts (the active model's, else the latest; the rule of
    suggestions.selectors.suggestions_counting), for the faces given, as flat rows."""
    if not len(face_ids):
        return {}
    rows = (Suggestion.objects.filter(face__project=project, face__final_category__isnull=True)
            .annotate(of_active=Case(When(suggester_id=F("face__project__active_suggester_id"), then=Value(1)),
                                     default=Value(0), output_field=IntegerField()))
            .order_by("face_id", "-of_active", "-created_at", "-id")
            .values_list("face_id", "category"))
    wanted = set(face_ids.tolist())
    chosen = {}
    for face_id, category in rows.iterator(chunk_size=20000):
        if face_id in wanted and face_id not in chosen:
            chosen[face_id] = category
    return chosen


def split_plan(project: Project, shares: dict, *, faces: str = FACES_UNASSIGNED, seed: int = 0) -> SplitPlan:
    """Plan the splits of the project's chosen faces (see domain.splitting); nothing is written.

    Stratified by the final label's category, else the suggestion's, else "unlabelled"; grouped by the
    face's source (the photo it was cut from: faces of one photo share it; an AffectNet image is one
    face); a face with no source is a group alone. With faces="unassigned", a new face of a photo whose
    other faces are in a split already goes to that split.
    """
    shares = shares_checked(shares, SPLITS)
    shares = {name: shares.get(name, 0.0) for name in SPLITS}
    if faces not in FACE_SETS:
        raise SplitPlanError(f"{faces!r} is not one of {', '.join(FACE_SETS)}", field="faces")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise SplitPlanError(f"{seed!r} is not a whole number from 0 to {2**32 - 1}", field="seed")
    rows = Face.objects.filter(project=project).order_by("id").values_list("id", "split", "final_category", "source")
    ids, current, categories, group_codes = [], [], [], []
    codes: dict[str, int] = {}
    for face_id, split, category, source in rows.iterator(chunk_size=20000):
        ids.append(face_id)
        current.append(split)
        categories.append(UNLABELLED if category is None else category)
        # A face with no source is a group of its own (a code no source can have).
        group_codes.append(codes.setdefault(source, len(codes)) if source else -face_id)
    ids = np.asarray(ids, dtype=np.int64)
    current = np.asarray(current, dtype=object)
    strata = np.asarray(categories, dtype=np.int64)
    groups = np.asarray(group_codes, dtype=np.int64)
    chosen = current == Split.UNASSIGNED if faces == FACES_UNASSIGNED else np.ones(len(ids), dtype=bool)

    unlabelled = chosen & (strata == UNLABELLED)
    if unlabelled.any():
        suggested = _suggested_categories(project, ids[unlabelled])
        if suggested:
            where = np.flatnonzero(unlabelled)
            strata[where] = [suggested.get(int(i), UNLABELLED) for i in ids[where]]

    pinned_split = None
    if faces == FACES_UNASSIGNED and (~chosen).any():
        # The split each photo already has faces in (a photo split across both keeps the first seen).
        placed = ~chosen & np.isin(current, SPLITS)
        pin_of_group = {}
        for group, split in zip(groups[placed].tolist(), current[placed].tolist(), strict=True):
            pin_of_group.setdefault(group, SPLITS.index(split))
        if pin_of_group:
            pinned_split = np.asarray([pin_of_group.get(g, -1) for g in groups[chosen].tolist()], dtype=np.int64)

    result = assign(strata[chosen], groups[chosen], [shares[s] for s in SPLITS], seed=seed,
                    pinned_split=pinned_split)
    return SplitPlan(project=project, shares=shares, faces=faces, seed=seed, face_ids=ids[chosen],
                     split_index=result.split_index, current=current[chosen], strata=strata[chosen],
                     pinned=result.pinned)


__all__ = ["FACE_SETS", "FACES_ALL", "FACES_UNASSIGNED", "SPLITS", "STRATUM_NAMES", "SharesError", "SplitPlan",
           "SplitPlanError", "split_plan"]
