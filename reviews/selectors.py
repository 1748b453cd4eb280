"""Reads of the review app: the queue, one face's review item and history, and the measures' data.

Everything that runs over all faces aggregates in SQL or fetches flat value rows in one query, so
the pages stay quick with a million faces.
"""
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Optional

import numpy as np
from django.db import connection
from django.db.models import Aggregate, Count, Exists, F, FloatField, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from annotator.domain.categories import CATEGORY_NAMES
from annotator.domain.errors import DomainError
from annotator.models import Annotation, Face, FinalSource, Project, ReviewerRequest, Suggestion
from annotator.suggestions.selectors import suggestion_counting, suggestions_counting
from reviews.models import Decision, Flag, GoldItem


@dataclass(frozen=True)
class QueueFilters:
    """What the reviewer narrowed the queue to; None means any."""

    reason: Optional[str] = None
    category: Optional[int] = None
    annotator_id: Optional[int] = None
    suggester_id: Optional[int] = None
    project: Optional[Project] = None  # one of the reviewer's projects, picked (None: all of theirs)

    def as_query(self) -> dict:
        pairs = {"reason": self.reason, "category": self.category, "annotator": self.annotator_id,
                 "model": self.suggester_id, "project": self.project.slug if self.project else None}
        return {k: v for k, v in pairs.items() if v not in (None, "")}


def scoped(queryset: QuerySet, scope: Optional[set], field: str = "face__project_id") -> QuerySet:
    """Return the rows of `queryset` in the projects of `scope` (a set of project ids, as
    projects.selectors.project_ids_of gives; None: an admin's, every project)."""
    return queryset if scope is None else queryset.filter(**{f"{field}__in": scope})


_UNSET = object()


def _flag_projects(filters: QueueFilters, scope: Optional[set]) -> Optional[set]:
    """The projects the queue's flags are narrowed to (the scope, and the picked project), or None when
    that would keep every flag: no face lies outside them, so the join to the faces is left out (PostgreSQL
    misjudged it at a million faces whose flags' reasons cluster by id: a merge join read 450,000 faces to
    count 200 flags of one reason, 0.7 s). One look-up; a caller reading several queries passes it on."""
    projects = None if scope is None else set(scope)
    if filters.project is not None:
        projects = {filters.project.pk} if projects is None else projects & {filters.project.pk}
    return projects if projects is not None and faces_outside(projects) else None


def _open_flags(filters: QueueFilters, scope: Optional[set], projects=_UNSET) -> QuerySet:
    # A face returned to an annotator, or waiting for one more answer, waits for them, not for a
    # reviewer: it leaves the queue until that answer comes (its flags stay open; the item page
    # still shows and decides it).
    waiting = ReviewerRequest.objects.filter(face_id=OuterRef("face_id"), status=ReviewerRequest.Status.OPEN)
    flags = Flag.objects.filter(status=Flag.Status.OPEN).filter(~Exists(waiting))
    projects = _flag_projects(filters, scope) if projects is _UNSET else projects
    if projects is not None:
        flags = flags.filter(face__project_id__in=projects)
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


# Counts past this many are shown as "200+": an exact count of a million-face queue reads every open
# flag on every page view, and a reviewer needs to know "many", not the exact number (the dashboard
# has the exact figures, per split). Each count stops at the cap, so the page costs the same at 10,000
# faces as at a million.
QUEUE_COUNT_CAP = 200
QUEUE_PAGE = 50


@dataclass(frozen=True)
class QueueCursor:
    """Where a queue page ends: the order key (severity, raised, id) of its last face's leading flag."""

    severity: float
    created_at: datetime
    flag_id: int

    def text(self) -> str:
        return f"{self.severity!r}_{self.created_at.isoformat()}_{self.flag_id}"

    @classmethod
    def parse(cls, text: str) -> "QueueCursor":
        """Read text() back; ValueError for anything else (the caller names the parameter)."""
        parts = text.split("_")
        if len(parts) != 3:
            raise ValueError("not a queue position")
        severity, created_at, flag_id = float(parts[0]), datetime.fromisoformat(parts[1]), int(parts[2])
        if created_at.tzinfo is None or not 0 < flag_id < 2**63 or severity != severity:
            raise ValueError("not a queue position")
        return cls(severity, created_at, flag_id)


@dataclass(frozen=True)
class CappedCount:
    """A count that stops at QUEUE_COUNT_CAP: `capped` says the true number is larger."""

    value: int
    capped: bool

    def __str__(self):
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"


def _leading_flags(filters: QueueFilters, scope: Optional[set]) -> QuerySet:
    """Return one open flag per face of the queue: the face's most severe (then oldest, then lowest id)
    under the filters, in the queue's order.

    The queue is read by walking the open flags' index in this order (flag_open_queue_order) and keeping
    each face's leading flag, so a page costs its own rows, not a GROUP BY over every open flag.
    """
    before = Flag.objects.filter(face_id=OuterRef("face_id"), status=Flag.Status.OPEN).filter(
        Q(severity__gt=OuterRef("severity"))
        | Q(severity=OuterRef("severity"), created_at__lt=OuterRef("created_at"))
        | Q(severity=OuterRef("severity"), created_at=OuterRef("created_at"), id__lt=OuterRef("id"))
    )
    if filters.reason:
        before = before.filter(reason=filters.reason)
    return _open_flags(filters, scope).filter(~Exists(before)).order_by("-severity", "created_at", "id")


def _capped_count(rows: QuerySet) -> CappedCount:
    """Count `rows` (a values_list) up to QUEUE_COUNT_CAP: the database stops at the cap."""
    n = len(rows[:QUEUE_COUNT_CAP + 1])
    return CappedCount(min(n, QUEUE_COUNT_CAP), n > QUEUE_COUNT_CAP)


def review_faces_left(*, scope: Optional[set], filters: QueueFilters = QueueFilters()) -> CappedCount:
    """Return how many faces of the projects in `scope` (None: all) have an open flag under these
    filters (the queue's length), counted up to QUEUE_COUNT_CAP."""
    return _capped_count(_leading_flags(filters, scope).values_list("id"))


def review_queue(*, scope: Optional[set], filters: QueueFilters = QueueFilters(),
                 after: Optional[QueueCursor] = None, offset: int = 0, limit: int = QUEUE_PAGE) -> dict:
    """Return one page of the flagged faces of the projects in `scope` (None: all), most severe first:
    {"rows": [(face_id, severity, flag_count, since)], "next": the cursor after the last row or None}.

    A face with several open flags is one row; its severity is that of its most severe flag, and it
    is placed by that flag (ties by when it was raised). `after` continues from a page's "next"
    (cost: the page's rows, however deep); `offset` skips rows (cost grows with it; the API's old way).
    """
    leading = _leading_flags(filters, scope)
    if after is not None:
        leading = leading.filter(severity__lte=after.severity).filter(  # the first bound lets the index seek
            Q(severity__lt=after.severity)
            | Q(severity=after.severity, created_at__gt=after.created_at)
            | Q(severity=after.severity, created_at=after.created_at, id__gt=after.flag_id)
        )
    page = list(leading.values_list("face_id", "severity", "created_at", "id")[offset:offset + limit + 1])
    more, page = len(page) > limit, page[:limit]
    face_ids = [row[0] for row in page]
    flags = Flag.objects.filter(face_id__in=face_ids, status=Flag.Status.OPEN)
    if filters.reason:
        flags = flags.filter(reason=filters.reason)
    per_face = {r["face_id"]: r for r in flags.order_by().values("face_id").annotate(n=Count("id"), since=Min("created_at"))}
    rows = [{"face_id": fid, "severity": severity, "flag_count": per_face[fid]["n"], "since": per_face[fid]["since"]}
            for fid, severity, _, _ in page]
    last = page[-1] if page else None
    return {"rows": rows, "next": QueueCursor(last[1], last[2], last[3]) if more else None}


def faces_waiting(*, scope: Optional[set], project: Optional[Project] = None, limit: int = 50) -> list:
    """Return the open requests (faces returned to an annotator or waiting for one more answer) of the
    projects in `scope` (and `project`, when picked), oldest first: they are out of the queue meanwhile,
    and listed so that none is forgotten."""
    rows = scoped(ReviewerRequest.objects.filter(status=ReviewerRequest.Status.OPEN), scope)
    if project is not None:
        rows = rows.filter(face__project_id=project.pk)
    rows = (rows.select_related("annotator", "requested_by").order_by("created_at", "id")[:limit])
    return [{"face_id": r.face_id, "kind": r.kind, "annotator": r.annotator.username if r.annotator else None,
             "by": r.requested_by.username if r.requested_by else "", "created_at": r.created_at} for r in rows]


def review_reason_counts(*, scope: Optional[set], filters: QueueFilters = QueueFilters()) -> dict:
    """Return {reason: number of faces with an open flag of that reason} (every reason, zeros too),
    each counted up to QUEUE_COUNT_CAP (a CappedCount)."""
    projects = _flag_projects(filters, scope)  # the same for every reason: looked up once
    return {
        reason: _capped_count(_open_flags(
            QueueFilters(reason, filters.category, filters.annotator_id, filters.suggester_id, filters.project),
            scope, projects).order_by().values_list("face_id").distinct())
        for reason in Flag.Reason.values
    }


def review_next_face_id(*, scope: Optional[set], filters: QueueFilters = QueueFilters(), exclude=()) -> Optional[int]:
    """Return the face the reviewer should see next (the queue's first, skipping `exclude`)."""
    queue = _leading_flags(filters, scope)
    if exclude:
        queue = queue.exclude(face_id__in=list(exclude))
    return queue.values_list("face_id", flat=True).first()


def review_queue_details(face_ids) -> dict:
    """Return, per face id, its project, open flags and a short summary of its answers and suggestion (4 queries);
    the suggestion is the one that counts (suggestions.selectors.suggestions_counting)."""
    details = {fid: {"flags": [], "answers": [], "suggestion": None, "project": None} for fid in face_ids}
    for face_id, slug, name in Face.objects.filter(id__in=face_ids).values_list("id", "project__slug", "project__name"):
        details[face_id]["project"] = {"slug": slug, "name": name}
    for flag in Flag.objects.filter(face_id__in=face_ids, status=Flag.Status.OPEN).values(
        "face_id", "id", "reason", "key", "evidence", "severity", "created_at"
    ):
        flag["reason_label"] = Flag.Reason(flag["reason"]).label
        details[flag["face_id"]]["flags"].append(flag)
    for answer in Annotation.objects.filter(face_id__in=face_ids).order_by("created_at", "id").values(
        "face_id", "id", "annotator__username", "category", "valence", "arousal"
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
    face = Face.objects.select_related("project").get(pk=face_id)
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
    requests = [
        {"kind": r.kind, "kind_label": r.get_kind_display(), "annotator": r.annotator.username if r.annotator else None,
         "note": r.note, "status": r.status, "by": r.requested_by.username if r.requested_by else "",
         "created_at": r.created_at.isoformat()}
        for r in face.reviewer_requests.select_related("annotator", "requested_by").order_by("created_at", "id")
    ]
    return {
        "id": face.id,
        "project": {"slug": face.project.slug, "name": face.project.name},
        "required_annotations": face.required_annotations,
        "answer_count": face.answer_count,
        "requests": requests,
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
    for r in ReviewerRequest.objects.filter(face_id=face_id).select_related("annotator", "requested_by", "annotation__annotator"):
        by = r.requested_by.username if r.requested_by else ""
        if r.kind == ReviewerRequest.Kind.RETURN:
            events.append({"at": r.created_at, "what": f"returned to {r.annotator.username}", "detail": r.note, "by": by})
        else:
            events.append({"at": r.created_at, "what": "asked one more annotator", "detail": "", "by": by})
        if r.status == ReviewerRequest.Status.ANSWERED:
            who = r.annotation.annotator.username if r.annotation else ""
            what = "answered again" if r.kind == ReviewerRequest.Kind.RETURN else "one more answer"
            detail = _describe(r.annotation.category, r.annotation.valence, r.annotation.arousal) if r.annotation else ""
            events.append({"at": r.closed_at, "what": what, "detail": detail, "by": who})
        elif r.status == ReviewerRequest.Status.WITHDRAWN:
            events.append({"at": r.closed_at, "what": f"{r.get_kind_display()}: withdrawn", "detail": "decided", "by": ""})
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


def agreement_rows(*, splits=None, scope: Optional[set] = None, with_project: bool = False) -> dict:
    """Return the answers on faces with two or more answers as flat arrays (one query, no per-face work).

    In the order the answers were first given (created_at, then id): the measures pair a face's answers
    in row order, the earlier as x. Without an ORDER BY, PostgreSQL returns a changed answer where its
    new row version lies, and the pairs (so CORR and CCC) would turn with each undo.
    Over the faces of the projects in `scope` (None: all); with_project adds each row's "project".
    """
    # The shared faces from the answers' (face, annotator) index alone (an index-only scan, no join to
    # the faces: a face is in one project, so the scope applies to the rows below just as well).
    shared = Annotation.objects.order_by().values("face_id").annotate(n=Count("annotator_id")).filter(n__gte=2).values("face_id")
    rows = scoped(Annotation.objects.filter(face_id__in=shared), scope)
    if splits:
        rows = rows.filter(face__split__in=list(splits))
    columns = ["face_id", "annotator_id", "category", "valence", "arousal"]
    if with_project:
        columns.append("face__project_id")
    data = list(rows.order_by("created_at", "id").values_list(*columns))
    names = ("face", "annotator", "category", "valence", "arousal", "project")[:len(columns)]
    if not data:
        return {k: np.zeros(0) for k in names}
    # Column by column (NumPy reads None as NaN in a float array): no object array of every row.
    columns = list(zip(*data))
    return {name: np.array(column, dtype=np.float64 if name in ("valence", "arousal") else np.int64)
            for name, column in zip(names, columns)}


def gold_accuracy(*, annotator_id: Optional[int] = None, scope: Optional[set] = None) -> dict:
    """Return {annotator_id: {"answers", "correct", "accuracy"}} over their answers on gold faces of
    the projects in `scope` (None: all) (with annotator_id, only theirs: the feedback page needs not
    scan everyone's)."""
    rows = scoped(Annotation.objects.filter(face__gold__isnull=False), scope)
    if annotator_id is not None:
        rows = rows.filter(annotator_id=annotator_id)
    rows = (
        rows.order_by()
        .values("annotator_id")
        .annotate(answers=Count("id"), correct=Count("id", filter=Q(category=F("face__gold__category"))))
    )
    return {
        r["annotator_id"]: {"answers": r["answers"], "correct": r["correct"], "accuracy": r["correct"] / r["answers"]}
        for r in rows
    }



def overturn_counts(*, annotator_id: Optional[int] = None, scope: Optional[set] = None) -> dict:
    """Return {annotator_id: {"answers", "reviewed", "overturned", "rate"}}: of their answers, those on
    faces a reviewer decided, and those where the decision names another category than their answer
    (a point moved within the same category is no overturn). rate = overturned / answers (all their
    answers, so that being reviewed often is not itself a mark against anyone); None with no answers.
    Over the faces of the projects in `scope` (None: all). One aggregate query."""
    rows = scoped(Annotation.objects.order_by(), scope)
    if annotator_id is not None:
        rows = rows.filter(annotator_id=annotator_id)
    decided = Q(face__decision__isnull=False)
    rows = rows.values("annotator_id").annotate(
        answers=Count("id"),
        reviewed=Count("id", filter=decided),
        overturned=Count("id", filter=decided & ~Q(category=F("face__decision__category"))),
    )
    return {
        r["annotator_id"]: {**{k: r[k] for k in ("answers", "reviewed", "overturned")},
                            "rate": r["overturned"] / r["answers"] if r["answers"] else None}
        for r in rows
    }


def seconds_median(*, annotator_id: int, scope: Optional[set] = None) -> Optional[float]:
    """Return the median seconds an annotator spent on a face of the projects in `scope` (None: all);
    None without answers."""
    ordered = scoped(Annotation.objects.filter(annotator_id=annotator_id), scope).order_by("seconds_spent")
    n = ordered.count()
    if not n:
        return None
    middle = list(ordered.values_list("seconds_spent", flat=True)[(n - 1) // 2:n // 2 + 1])
    return sum(middle) / len(middle)


FEEDBACK_ROWS = 100
# The feedback page's overturned answers come a page at a time, newest first (a year's work can hold thousands).
OVERTURNED_ROWS = 25
# How many of the newest decisions the overturned answers' walk reads before it asks the annotator's answers.
WALK_DECISIONS = 2000


def projects_with_faces() -> set:
    """Return the ids of the projects that hold a face: one statement of an index probe a project, each
    with its own id written in (correlated, PostgreSQL plans one scan for every project and reads every
    face to learn that an empty one has none)."""
    ids = [int(pk) for pk in Project.objects.values_list("pk", flat=True)]
    if not ids:
        return set()
    table = connection.ops.quote_name(Face._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(
            f"SELECT {pk} WHERE EXISTS (SELECT 1 FROM {table} WHERE project_id = {pk})" for pk in ids))
        return {row[0] for row in cursor.fetchall()}


def faces_outside(scope: set) -> bool:
    """Return whether any face lies outside the projects of `scope` (an empty project, like the default
    project of a lab that made its own, holds none)."""
    return bool(projects_with_faces() - set(scope))


class PercentileMedian(Aggregate):
    """PostgreSQL's ordered-set median."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _answers_seen(annotator, scope: Optional[set]) -> QuerySet:
    """One annotator's answers on faces of the projects in `scope` (None: all)."""
    mine = Annotation.objects.filter(annotator_id=annotator.pk)
    if scope is not None and faces_outside(scope):  # the join to the faces only when it filters something
        mine = scoped(mine, scope)
    return mine


def feedback_figures(*, annotator, scope: Optional[set]) -> dict:
    """Return one annotator's numbers on faces of the projects in `scope` (None: all): answers, median
    seconds, gold accuracy, and how many of their answers a decision reviewed and overturned.

    Every figure starts from their own answers and meets the decisions and gold labels on face id, not
    through the faces' rows: on PostgreSQL their (annotator, seconds) index carries face and category,
    so no query reads a row per answer. Still a count over all of them (~60,000 an annotator at a million
    answers: ~20 ms), so the page keeps them a while (reviews.dashboard.feedback_figures_cached)."""
    mine = _answers_seen(annotator, scope)
    if connection.vendor == "postgresql":
        figures = mine.aggregate(answers=Count("seconds_spent"), median=PercentileMedian("seconds_spent"))
    else:
        figures = {"answers": mine.count(), "median": seconds_median(annotator_id=annotator.pk, scope=scope)}
    overturning = Exists(Decision.objects.filter(face_id=OuterRef("face_id")).exclude(category=OuterRef("category")))
    decided = mine.filter(face_id__in=Decision.objects.values("face_id"))
    # Counting face_id, not id: the index carries it, so PostgreSQL reads no answer's row.
    figures.update(decided.aggregate(reviewed=Count("face_id"), overturned=Count("face_id", filter=Q(overturning))))
    on_gold = mine.filter(face_id__in=GoldItem.objects.values("face_id")).aggregate(
        answers=Count("face_id"),
        correct=Count("face_id", filter=Q(Exists(GoldItem.objects.filter(face_id=OuterRef("face_id"),
                                                                    category=OuterRef("category"))))))
    return {
        "answers": figures["answers"],
        "median_seconds": figures["median"],
        "gold_answers": on_gold["answers"],
        "gold_accuracy": on_gold["correct"] / on_gold["answers"] if on_gold["answers"] else None,
        "reviewed": figures["reviewed"],
        "overturned": figures["overturned"],
        "overturn_rate": figures["overturned"] / figures["answers"] if figures["answers"] else None,
    }


@dataclass(frozen=True)
class OverturnedCursor:
    """Where a page of overturned answers ends: its last decision's (time, face id), as QueueCursor."""

    decided_at: datetime
    face_id: int

    def text(self) -> str:
        return f"{self.decided_at.isoformat()}_{self.face_id}"

    @classmethod
    def parse(cls, text: str) -> "OverturnedCursor":
        """Read text() back; ValueError for anything else (the caller names the parameter)."""
        parts = text.split("_")
        if len(parts) != 2:
            raise ValueError("not a position among the overturned answers")
        decided_at, face_id = datetime.fromisoformat(parts[0]), int(parts[1])
        if decided_at.tzinfo is None or not 0 < face_id < 2**63:
            raise ValueError("not a position among the overturned answers")
        return cls(decided_at, face_id)


def _overturning_decisions(mine: QuerySet, before: Optional[OverturnedCursor], rows: int) -> list:
    """The newest `rows` decisions (older than `before`) in another category than the answer of `mine` on
    their face, newest first, with their reviewer.

    First among the newest WALK_DECISIONS decisions only: their time index walked newest first, each face
    probed for the answer, stopping at `rows` (~300 decisions for a page of an annotator of 20). An
    annotator whom few decisions overturn would make that walk read every decision (270 ms at 1M for one
    never overturned), so when the newest ones do not fill the page, the page comes from their answers
    instead: a join over all of them with the decisions (~25 ms at 1M)."""
    older = Q()
    if before is not None:
        older = Q(decided_at__lt=before.decided_at) | Q(decided_at=before.decided_at, face_id__lt=before.face_id)
    decisions = Decision.objects.filter(older).select_related("reviewer")
    newest_first = ("-decided_at", "-face_id")
    floor = decisions.order_by(*newest_first).values("decided_at")[WALK_DECISIONS:WALK_DECISIONS + 1]
    no_floor = Value(datetime(1970, 1, 1, tzinfo=dt_timezone.utc))  # fewer decisions than that: every one
    window = decisions.filter(decided_at__gte=Coalesce(Subquery(floor), no_floor))
    overturned_answer = mine.filter(face_id=OuterRef("face_id")).exclude(category=OuterRef("category"))
    found = list(window.filter(Exists(overturned_answer)).order_by(*newest_first)[:rows])
    if len(found) == rows or not floor.exists():  # a full page, or every decision was walked
        return found
    overturning = Exists(Decision.objects.filter(older, face_id=OuterRef("face_id")).exclude(category=OuterRef("category")))
    decided_at = Subquery(Decision.objects.filter(face_id=OuterRef("face_id")).values("decided_at"))
    faces = list(mine.filter(overturning).annotate(decided_at=decided_at).order_by("-decided_at", "-face_id")
                 .values_list("face_id", flat=True)[:rows])
    by_face = decisions.in_bulk(faces, field_name="face_id")
    return [by_face[face_id] for face_id in faces]


def feedback_lists(*, annotator, scope: Optional[set], before: Optional[OverturnedCursor] = None) -> dict:
    """Return what one annotator's feedback page lists, newest first: the notes reviewers returned faces
    with (FEEDBACK_ROWS), and a page of the decisions that overturned their answers (OVERTURNED_ROWS, older
    than `before` when given) with "overturned_older", the next page's OverturnedCursor (None: no older).
    Only their own, and only on faces of the projects in `scope` (None: all).
    The overturned answers: _overturning_decisions(), a screen of rows whatever the number of faces."""
    mine = _answers_seen(annotator, scope)
    notes = [
        {"face_id": r.face_id, "note": r.note, "by": r.requested_by.username if r.requested_by else "",
         "at": r.created_at, "status": r.status, "status_label": r.get_status_display(),
         "answer": None if r.annotation is None else _describe(r.annotation.category, r.annotation.valence,
                                                                r.annotation.arousal)}
        for r in scoped(ReviewerRequest.objects.filter(kind=ReviewerRequest.Kind.RETURN, annotator_id=annotator.pk),
                        scope)
        .select_related("requested_by", "annotation").order_by("-created_at", "-id")[:FEEDBACK_ROWS]
    ]
    decisions = _overturning_decisions(mine, before, OVERTURNED_ROWS + 1)
    last = decisions[OVERTURNED_ROWS - 1] if len(decisions) > OVERTURNED_ROWS else None
    older = OverturnedCursor(last.decided_at, last.face_id) if last else None
    decisions = decisions[:OVERTURNED_ROWS]
    answers = {a.face_id: a for a in mine.filter(face_id__in=[d.face_id for d in decisions])}
    overturned = [
        {"face_id": d.face_id, "answer": _describe(a.category, a.valence, a.arousal),
         "decision": _describe(d.category, d.valence, d.arousal), "by": d.reviewer.username, "at": d.decided_at}
        for d in decisions for a in [answers[d.face_id]]
    ]
    return {"notes": notes, "overturned_answers": overturned, "overturned_older": older}


def annotator_feedback(*, annotator, scope: Optional[set]) -> dict:
    """Return what one annotator's feedback page shows: feedback_figures() and feedback_lists(), all
    computed now."""
    return {**feedback_figures(annotator=annotator, scope=scope), **feedback_lists(annotator=annotator, scope=scope)}


# --- Spot checks: agreed labels drawn at random for a second look (services.spot_checks_add writes them) ---

class SpotCheckError(DomainError, ValueError):
    """A share or count a spot check cannot use; `field` names it (share, count, seed)."""


@dataclass(frozen=True)
class SpotCheckPlan:
    """Which faces a spot check would put into the review queue (nothing written)."""

    project: Project
    eligible: int  # faces final through agreement, not in review
    face_ids: tuple  # the sample, in id order
    share: Optional[float]
    count: Optional[int]
    seed: int

    @property
    def drawn(self) -> int:
        return len(self.face_ids)


def spot_check_candidates(project: Project) -> QuerySet:
    """The project's faces whose final label came from agreeing annotators and that are not in review
    (no open flag), as ids in id order."""
    open_flag = Flag.objects.filter(face_id=OuterRef("pk"), status=Flag.Status.OPEN)
    return (Face.objects.filter(project=project, final_source=FinalSource.AGREEMENT, needs_review=False)
            .filter(~Exists(open_flag)).order_by("id").values_list("id", flat=True))


def spot_check_plan(project: Project, *, share: Optional[float] = None, count: Optional[int] = None,
                    seed: int = 0) -> SpotCheckPlan:
    """Draw the sample: `share` of the candidates (rounded, at least one when there is any) or `count`
    of them (at most all), at random with `seed` (the same seed and candidates give the same faces)."""
    if (share is None) == (count is None):
        raise SpotCheckError("give either a share (0 to 1) or a count of faces", field="share")
    if share is not None and (not isinstance(share, (int, float)) or not 0 < share <= 1):
        raise SpotCheckError(f"{share!r} is not more than 0 and at most 1 (0.05 is 5%)", field="share")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise SpotCheckError(f"{count!r} is not a whole number of at least 1", field="count")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise SpotCheckError(f"{seed!r} is not a whole number from 0 to {2**32 - 1}", field="seed")
    ids = np.fromiter(spot_check_candidates(project).iterator(chunk_size=20000), dtype=np.int64)
    size = min(len(ids), count) if count is not None else (max(1, int(share * len(ids) + 0.5)) if len(ids) else 0)
    sample = np.sort(np.random.default_rng(seed).choice(ids, size=size, replace=False)) if size else ids[:0]
    return SpotCheckPlan(project=project, eligible=len(ids), face_ids=tuple(int(i) for i in sample),
                         share=share, count=count, seed=seed)
