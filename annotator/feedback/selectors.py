"""Reads of reviewers' requests that the queue needs: the faces returned to an annotator, and their notes."""
from typing import Iterable, Optional

from annotator.domain.categories import CATEGORY_NAMES
from annotator.models import ReviewerRequest


def _open_returns(annotator):
    return ReviewerRequest.objects.filter(kind=ReviewerRequest.Kind.RETURN, status=ReviewerRequest.Status.OPEN,
                                          annotator=annotator)


def returns_open_for(*, annotator, project, exclude: Iterable[int] = ()) -> list:
    """Return [(face_id, shown_blind)] of the project's faces returned to this annotator and not answered
    again, oldest first, leaving out `exclude`; shown_blind is how the returned answer was given."""
    rows = (_open_returns(annotator).filter(face__project=project).exclude(face_id__in=list(exclude))
            .order_by("created_at", "id"))
    return [(face_id, bool(blind)) for face_id, blind in rows.values_list("face_id", "annotation__shown_blind")]


def return_open(*, face_id: int, annotator) -> Optional[ReviewerRequest]:
    """Return the open return of this face to this annotator, or None."""
    return _open_returns(annotator).filter(face_id=face_id).first()


def return_notes(*, annotator, face_ids: Iterable[int]) -> dict:
    """Return {face_id: note} for those faces that are returned to this annotator: the note, who wrote
    it and when, and the answer it returned. Only the annotator's own: no one else ever sees it."""
    face_ids = list(face_ids)
    if not face_ids:
        return {}
    rows = _open_returns(annotator).filter(face_id__in=face_ids).select_related("requested_by", "annotation")
    notes = {}
    for r in rows:
        a = r.annotation
        notes[r.face_id] = {
            "text": r.note,
            "by": r.requested_by.username if r.requested_by else "",
            "at": r.created_at,
            "your_answer": None if a is None else {
                "category": a.category, "category_name": CATEGORY_NAMES[a.category],
                "valence": a.valence, "arousal": a.arousal,
            },
        }
    return notes
