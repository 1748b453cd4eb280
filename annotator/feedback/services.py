"""Writes of reviewers' requests: return a face to its annotator with a note, ask one more annotator,
and close requests when the answer comes or a reviewer decides.

The review app calls the first two (after its own role check); the queue calls the closing ones as
it stores answers; a decision withdraws what is still open. The queue serves a returned face to its
annotator before new faces (annotator.queue.services.queue_claim), shows the note with it, and takes
the annotator's next answer to it as a replacement of the returned one.
"""
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from annotator.domain.errors import CONFLICT, INVALID, NOT_FOUND, DomainError
from annotator.faces.services import face_refresh_final_label
from annotator.models import Annotation, Claim, Face, FinalSource, ReviewerRequest

NOTE_MAX_CHARS = 2000
# A face asked for more answers than this is a face for a decision, not another opinion.
MAX_REQUIRED_ANNOTATIONS = 20


class RequestError(DomainError):
    """A request about a face that cannot be made in the state the face is in."""

    kind = CONFLICT


class RequestInvalid(RequestError):
    """A request whose input is wrong (no note, an answer of another face)."""

    kind = INVALID


class NoSuchFace(RequestError):
    kind = NOT_FOUND


def _locked_face(face_id: int) -> Face:
    face = Face.objects.select_for_update().filter(pk=face_id).first()
    if face is None:
        raise NoSuchFace(f"There is no face {face_id}.", field="face")
    if face.final_source == FinalSource.REVIEW:
        raise RequestError("A reviewer has decided this face; its answers can no longer change.", field="face")
    return face


@transaction.atomic
def face_return(*, face_id: int, annotation_id: int, note: str, by) -> ReviewerRequest:
    """Return a face to the annotator of one of its answers, with a note for them.

    Their answer stays (and counts) until they answer again; the queue serves them the face before
    new ones, with the note, and that answer replaces the returned one. A face returned to the same
    annotator and not answered yet cannot be returned to them again.
    """
    note = (note or "").strip()
    if not note:
        raise RequestInvalid("Write a note: it tells the annotator what to look at again.", field="note")
    if len(note) > NOTE_MAX_CHARS:
        raise RequestInvalid(f"A note has at most {NOTE_MAX_CHARS} characters ({len(note)} given).", field="note")
    face = _locked_face(face_id)
    annotation = Annotation.objects.filter(pk=annotation_id, face=face).select_related("annotator").first()
    if annotation is None:
        raise RequestInvalid(f"{annotation_id} is not an answer for face {face.pk}.", field="annotation")
    if annotation.imported:
        raise RequestError("An imported label has no annotator here to return it to.", field="annotation")
    try:
        # The constraint one_open_return_per_face_and_annotator decides, not a check before the insert:
        # two reviewers returning the face at once both pass such a check. The savepoint keeps the
        # transaction usable after the refused insert.
        with transaction.atomic():
            return ReviewerRequest.objects.create(
                face=face, kind=ReviewerRequest.Kind.RETURN, annotator=annotation.annotator, annotation=annotation,
                note=note, requested_by=by,
            )
    except IntegrityError:
        open_return = ReviewerRequest.objects.filter(face=face, annotator=annotation.annotator,
                                                     kind=ReviewerRequest.Kind.RETURN,
                                                     status=ReviewerRequest.Status.OPEN)
        if not open_return.exists():
            raise
        raise RequestError(f"Face {face.pk} is already returned to {annotation.annotator.username}, who has not "
                           "answered it again yet.", field="annotation") from None


@transaction.atomic
def face_ask_one_more(*, face_id: int, by) -> ReviewerRequest:
    """Make the face need one more answer (required_annotations + 1): it returns to the queue for
    someone who has not answered it. Its agreed label, if any, waits for that answer."""
    face = _locked_face(face_id)
    if face.required_annotations >= MAX_REQUIRED_ANNOTATIONS:
        raise RequestError(f"Face {face.pk} already needs {face.required_annotations} answers; decide it.",
                           field="face")
    Face.objects.filter(pk=face.pk).update(required_annotations=F("required_annotations") + 1)
    request = ReviewerRequest.objects.create(face=face, kind=ReviewerRequest.Kind.ONE_MORE, requested_by=by)
    face_refresh_final_label(face_id=face.pk)
    return request


def _close(requests, status) -> int:
    return requests.update(status=status, closed_at=timezone.now())


def return_answered(*, request: ReviewerRequest, annotation: Annotation) -> None:
    """Close a return (or a ONE_MORE request) with the answer that settles it (call it where that answer is stored)."""
    request.annotation = annotation
    request.status = ReviewerRequest.Status.ANSWERED
    request.closed_at = timezone.now()
    request.save(update_fields=["annotation", "status", "closed_at"])


def one_more_answered(*, face_id: int, annotation: Annotation) -> bool:
    """Close the face's oldest open ONE_MORE request with this new answer; return whether there was one."""
    request = (ReviewerRequest.objects.filter(face_id=face_id, kind=ReviewerRequest.Kind.ONE_MORE,
                                              status=ReviewerRequest.Status.OPEN).order_by("created_at", "id").first())
    if request is None:
        return False
    return_answered(request=request, annotation=annotation)
    return True


@transaction.atomic
def requests_withdraw(*, face_id: int) -> int:
    """Withdraw the face's open requests (a reviewer decided it); return how many.

    A returned face leaves its annotator's queue (the claim reserved for it ends); an extra answer
    not given yet is no longer needed.
    """
    requests = ReviewerRequest.objects.filter(face_id=face_id, status=ReviewerRequest.Status.OPEN)
    returned_to = list(requests.filter(kind=ReviewerRequest.Kind.RETURN).values_list("annotator_id", flat=True))
    one_more = requests.filter(kind=ReviewerRequest.Kind.ONE_MORE).count()
    if returned_to:
        Claim.objects.filter(face_id=face_id, annotator_id__in=returned_to).delete()
    for _ in range(one_more):
        Face.objects.filter(pk=face_id, answer_count__lt=F("required_annotations"), required_annotations__gt=1).update(
            required_annotations=F("required_annotations") - 1)
    return _close(requests, ReviewerRequest.Status.WITHDRAWN)
