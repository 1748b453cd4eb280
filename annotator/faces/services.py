"""Writes to the core's data that other parts share: final labels and review state."""
from django.db import transaction
from django.utils import timezone

from annotator.domain.categories import validate_label
from annotator.domain.labels import Label, final_label
from annotator.models import DECIDED_SOURCES, Face, FinalSource


def _store_final(face: Face, label, source: str) -> None:
    if label is None:
        face.final_category = face.final_valence = face.final_arousal = None
        face.final_source = FinalSource.NONE
        face.final_at = None
    else:
        face.final_category, face.final_valence, face.final_arousal = label.category, label.valence, label.arousal
        face.final_source = source
        face.final_at = timezone.now()
    face.save(update_fields=["final_category", "final_valence", "final_arousal", "final_source", "final_at"])


@transaction.atomic
def face_refresh_final_label(*, face_id: int) -> Face:
    """Recompute a face's final label from its answers, unless it was decided already (a reviewer's
    decision, or a label that came with an import): those stay final until a reviewer changes them."""
    face = Face.objects.select_for_update().get(pk=face_id)
    if face.final_source in DECIDED_SOURCES:
        return face
    answers = [Label(c, v, a) for c, v, a in face.annotations.values_list("category", "valence", "arousal")]
    label = final_label(
        decision=None, answers=answers, required=face.required_annotations, has_open_flag=face.needs_review
    )
    _store_final(face, label, FinalSource.AGREEMENT)
    return face


@transaction.atomic
def face_set_reviewed_label(*, face_id: int, category: int, valence, arousal) -> Face:
    """Make a reviewer's decision the face's final label (it outranks the annotators' answers)."""
    category, valence, arousal = validate_label(category, valence, arousal)
    face = Face.objects.select_for_update().get(pk=face_id)
    _store_final(face, Label(category, valence, arousal), FinalSource.REVIEW)
    return face


@transaction.atomic
def face_set_needs_review(*, face_id: int, needs_review: bool) -> Face:
    """Record whether a face has open flags; an open flag withholds an agreed label, never a decided one."""
    Face.objects.filter(pk=face_id).update(needs_review=needs_review)
    return face_refresh_final_label(face_id=face_id)
