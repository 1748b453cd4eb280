"""Reads of the core's data."""
from typing import Optional

from annotator.domain.labels import Label
from annotator.models import Face


def face_final_label(face: Face) -> Optional[Label]:
    """Return the face's final label (reviewer's decision, else agreed answer), or None."""
    if face.final_category is None:
        return None
    return Label(face.final_category, face.final_valence, face.final_arousal)


def faces_with_final_label(*, splits=None):
    """Return the faces that have a final label, in id order (for export and evaluation)."""
    qs = Face.objects.filter(final_category__isnull=False)
    if splits is not None:
        qs = qs.filter(split__in=list(splits))
    return qs.order_by("id")
