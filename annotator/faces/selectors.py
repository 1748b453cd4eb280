"""Reads of the core's data."""
from typing import Optional

from annotator.domain.labels import Label
from annotator.models import Face


def face_final_label(face: Face) -> Optional[Label]:
    """Return the face's final label (reviewer's decision, else agreed answer), or None."""
    if face.final_category is None:
        return None
    return Label(face.final_category, face.final_valence, face.final_arousal)


def faces_with_final_label(*, splits=None, projects=None):
    """Return the faces that have a final label, in id order (for export, training and evaluation): of
    the projects given (Project rows or ids), or of every project."""
    qs = Face.objects.filter(final_category__isnull=False)
    if projects is not None:
        qs = qs.filter(project__in=list(projects))
    if splits is not None:
        qs = qs.filter(split__in=list(splits))
    return qs.order_by("id")
