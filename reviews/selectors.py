"""Reads of the review app: the queue, one face's review item and history, and the measures' data.

Everything that runs over all faces aggregates in SQL or fetches flat value rows in one query, so
the pages stay quick with a million faces.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet

from annotator.domain.categories import CATEGORY_NAMES
from annotator.models import Annotation, Face, Suggestion
from annotator.suggestions.selectors import suggestion_counting, suggestions_counting
from reviews.models import Decision, Flag, GoldItem


@dataclass(frozen=True)
class QueueFilters:
    """What the reviewer narrowed the queue to; None means any."""

    reason: Optional[str] = None
    category: Optional[int] = None
    annotator_id: Optional[int] = None
    suggester_id: Optional[int] = None

    def as_query(self) -> dict:
        pairs = {"reason": self.reason, "category": self.category, "annotator": self.annotator_id,
                 "model": self.suggester_id}
        return {k: v for k, v in pairs.items() if v not in (None, "")}


def _open_flags(filters: QueueFilters) -> QuerySet:
    flags = Flag.objects.filter(status=Flag.Status.OPEN)
    if filters.reason:
        flags = flags.filter(reason=filters.reason)
    if filters.category is not None:
        flags = flags.filter(
            Exists(Annotation.objects.filter(face_id=OuterRef("face_id"), category=filters.category))
            | Exists(Suggestion.objects.filter(face_id=OuterRef("face_id"), category=filters.category))
        )
    if filters.annotator_id is not None:
        flags = flags.filter(
            Exists(Annotation.objects.filter(face_id=OuterRef("face_id"), annotator_id=filters.annotator_id))
        )
    if filters.suggester_id is not None:
        flags = flags.filter(
            Exists(Suggestion.objects.filter(face_id=OuterRef("face_id"), suggester_id=filters.suggester_id))
        )
    return flags


def review_queue(*, filters: QueueFilters = QueueFilters()) -> QuerySet:
    """Return the flagged faces as rows (face_id, severity, flag_count, since), most severe first.

    A face with several open flags is one row; its severity is that of its most severe flag.
    """
    return (
        _open_flags(filters)
        .values("face_id")
        .annotate(severity=Max("severity"), flag_count=Count("id"), since=Min("created_at"))
        .order_by("-severity", "since", "face_id")
    )


def review_reason_counts(*, filters: QueueFilters = QueueFilters()) -> dict:
    """Return {reason: number of faces with an open flag of that reason} (every reason, zeros too)."""
    counts = {reason: 0 for reason in Flag.Reason.values}
    rows = (
        _open_flags(QueueFilters(None, filters.category, filters.annotator_id, filters.suggester_id))
        .order_by()
        .values("reason")
        .annotate(faces=Count("face_id", distinct=True))
    )
    for row in rows:
        counts[row["reason"]] = row["faces"]
    return counts


def review_next_face_id(*, filters: QueueFilters = QueueFilters(), exclude=()) -> Optional[int]:
    """Return the face the reviewer should see next (the queue's first, skipping `exclude`)."""
    queue = review_queue(filters=filters)
    if exclude:
        queue = queue.exclude(face_id__in=list(exclude))
    row = queue.first()
    return row["face_id"] if row else None


def review_queue_details(face_ids) -> dict:
    """Return, per face id, its open flags and a short summary of its answers and suggestion (3 queries);
    the suggestion is the one that counts (suggestions.selectors.suggestions_counting)."""
    details = {fid: {"flags": [], "answers": [], "suggestion": None} for fid in face_ids}
    for flag in Flag.objects.filter(face_id__in=face_ids, status=Flag.Status.OPEN).values(
        "face_id", "id", "reason", "key", "evidence", "severity", "created_at"
    ):
        flag["reason_label"] = Flag.Reason(flag["reason"]).label
        details[flag["face_id"]]["flags"].append(flag)
    for answer in Annotation.objects.filter(face_id__in=face_ids).order_by("created_at", "id").values(
        "face_id", "annotator__username", "category", "valence", "arousal"
    ):
        answer["category_name"] = CATEGORY_NAMES[answer["category"]]
        details[answer["face_id"]]["answers"].append(answer)
    for face_id, s in suggestions_counting(face_ids).items():
        details[face_id]["suggestion"] = {
            "face_id": face_id, "category": s.category, "category_name": CATEGORY_NAMES[s.category],
            "confidence": s.confidence, "suggester__name": s.suggester.name, "suggester__version": s.suggester.version,
        }
    return details


def _label(category, valence, arousal) -> dict:
    return {"category": category, "category_name": CATEGORY_NAMES[category], "valence": valence, "arousal": arousal}


def face_review_item(*, face_id: int, with_audit: bool) -> dict:
    """Return what the item page shows for one face, as plain data (the page renders it)."""
    face = Face.objects.get(pk=face_id)
    answers = [
        {
            "id": a.id,
            "annotator": a.annotator.username,
            "annotator_id": a.annotator_id,
            **_label(a.category, a.valence, a.arousal),
            "seconds_spent": a.seconds_spent,
            "shown_blind": a.shown_blind,
            "kept_suggestion": a.kept_suggestion,
            "updated_at": a.updated_at.isoformat(),
        }
        for a in face.annotations.select_related("annotator").order_by("created_at", "id")
    ]
    suggestion = suggestion_counting(face.id)
    suggestion_data = None
    if suggestion is not None:
        suggestion_data = {
            "id": suggestion.id,
            "model": f"{suggestion.suggester.name} {suggestion.suggester.version}",
            **_label(suggestion.category, suggestion.valence, suggestion.arousal),
            "confidence": suggestion.confidence,
            "probabilities": [float(p) for p in suggestion.probabilities],
        }
    flags = [
        {"id": f.id, "reason": f.reason, "reason_label": f.get_reason_display(), "evidence": f.evidence,
         "severity": f.severity, "status": f.status, "created_at": f.created_at.isoformat()}
        for f in face.flags.order_by("-severity", "created_at")
    ]
    decision = Decision.objects.filter(face=face).select_related("reviewer").first()
    gold = GoldItem.objects.filter(face=face).first()
    return {
        "id": face.id,
        "image_url": f"/api/faces/{face.id}/image/",
        "split": face.split,
        "landmarks": face.landmarks,
        "answers": answers,
        "suggestion": suggestion_data,
        "flags": flags,
        "decision": None if decision is None else {
            **_label(decision.category, decision.valence, decision.arousal),
            "reviewer": decision.reviewer.username, "source": decision.source,
            "decided_at": decision.decided_at.isoformat(),
        },
        "final": None if face.final_category is None else {
            **_label(face.final_category, face.final_valence, face.final_arousal), "source": face.final_source,
        },
        "gold": None if gold is None else _label(gold.category, gold.valence, gold.arousal),
        "history": face_history(face_id=face.id, with_audit=with_audit),
    }


def face_history(*, face_id: int, with_audit: bool) -> list:
    """Return the face's events, oldest first: flags raised and settled, decisions, and (for admins,
    `with_audit`) every recorded change to its answers, with who made it."""
    events = []
    for f in Flag.objects.filter(face_id=face_id).select_related("closed_by"):
        events.append({"at": f.created_at, "what": "flag raised", "detail": f.get_reason_display(), "by": ""})
        if f.closed_at:
            events.append({"at": f.closed_at, "what": f"flag {f.status}", "detail": f.get_reason_display(),
                           "by": f.closed_by.username if f.closed_by else ""})
    kinds = {"+": "created", "~": "changed", "-": "deleted"}
    for h in Decision.history.filter(face_id=face_id).select_related("history_user", "reviewer"):
        events.append({"at": h.history_date, "what": f"decision {kinds[h.history_type]}",
                       "detail": _describe(h.category, h.valence, h.arousal) + f" ({h.source})",
                       "by": h.reviewer.username if h.reviewer_id else ""})
    if with_audit:
        for h in Annotation.history.filter(face_id=face_id).select_related("history_user", "annotator"):
            events.append({"at": h.history_date, "what": f"answer {kinds[h.history_type]}",
                           "detail": f"{h.annotator.username}: " + _describe(h.category, h.valence, h.arousal),
                           "by": h.history_user.username if h.history_user_id else h.annotator.username})
    events.sort(key=lambda e: e["at"])
    for e in events:
        e["at"] = e["at"].isoformat()
    return events


def _describe(category, valence, arousal) -> str:
    if valence is None:
        return CATEGORY_NAMES[category]
    return f"{CATEGORY_NAMES[category]} ({valence:+.2f}, {arousal:+.2f})"


def agreement_rows(*, splits=None) -> dict:
    """Return the answers on faces with two or more answers as flat arrays (one query, no per-face work).

    In the order the answers were first given (created_at, then id): the measures pair a face's answers
    in row order, the earlier as x. Without an ORDER BY, PostgreSQL returns a changed answer where its
    new row version lies, and the pairs (so CORR and CCC) would turn with each undo.
    """
    shared = Annotation.objects.order_by().values("face_id").annotate(n=Count("id")).filter(n__gte=2).values("face_id")
    rows = Annotation.objects.filter(face_id__in=shared)
    if splits:
        rows = rows.filter(face__split__in=list(splits))
    data = list(rows.order_by("created_at", "id").values_list("face_id", "annotator_id", "category", "valence",
                                                              "arousal"))
    if not data:
        return {k: np.zeros(0) for k in ("face", "annotator", "category", "valence", "arousal")}
    arr = np.array(data, dtype=object)
    as_float = lambda col: np.array([np.nan if v is None else v for v in col], dtype=np.float64)  # noqa: E731
    return {
        "face": arr[:, 0].astype(np.int64),
        "annotator": arr[:, 1].astype(np.int64),
        "category": arr[:, 2].astype(np.int64),
        "valence": as_float(arr[:, 3]),
        "arousal": as_float(arr[:, 4]),
    }


def gold_accuracy() -> dict:
    """Return {annotator_id: {"answers", "correct", "accuracy"}} over their answers on gold faces."""
    rows = (
        Annotation.objects.filter(face__gold__isnull=False)
        .order_by()
        .values("annotator_id")
        .annotate(answers=Count("id"), correct=Count("id", filter=Q(category=F("face__gold__category"))))
    )
    return {
        r["annotator_id"]: {"answers": r["answers"], "correct": r["correct"], "accuracy": r["correct"] / r["answers"]}
        for r in rows
    }

