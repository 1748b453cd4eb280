"""The rule that turns answers into a face's final label (Django-free, so it is easy to test)."""
from dataclasses import dataclass
from statistics import fmean
from typing import Iterable, Optional, Sequence

from annotator.domain.categories import has_va


@dataclass(frozen=True)
class Label:
    category: int
    valence: Optional[float]
    arousal: Optional[float]


def agreed_label(answers: Sequence[Label], *, required: int) -> Optional[Label]:
    """Return the answer all annotators agree on, or None.

    Agreement needs at least `required` answers that all name the same category; their
    valence/arousal points are averaged (none for Uncertain and No-Face).
    """
    if not answers or len(answers) < required:
        return None
    categories = {a.category for a in answers}
    if len(categories) != 1:
        return None
    category = categories.pop()
    if not has_va(category):
        return Label(category, None, None)
    return Label(category, fmean(a.valence for a in answers), fmean(a.arousal for a in answers))


def final_label(
    *, decision: Optional[Label], answers: Iterable[Label], required: int, has_open_flag: bool
) -> Optional[Label]:
    """Return a face's final label from its answers: the reviewer's decision, else the agreed answer, else None.

    An open flag withholds the agreed answer until a reviewer decides. (A label that came with an
    import is decided already: services.face_refresh_final_label leaves it as it is.)
    """
    if decision is not None:
        return decision
    if has_open_flag:
        return None
    return agreed_label(list(answers), required=required)
