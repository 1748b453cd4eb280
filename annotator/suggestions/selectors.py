"""Reads of model suggestions: which model is active, and which suggestion counts for a face.

One rule for "the suggestion of a face" (the active model's, else the latest), so the suggestion an
annotator is shown, the one flags compare answers with, and the one reviewers see are the same row.
Reads never create anything: with no active model there is simply none.
"""
from collections.abc import Iterable

from annotator.domain.errors import DomainError
from annotator.models import Suggester, Suggestion


class SuggesterNotFound(DomainError, LookupError):
    """No suggester of that name and version (or none is active): bad input, the field `model`."""


def suggester_active() -> Suggester | None:
    """Return the active suggester, or None when no model is active."""
    return Suggester.objects.filter(is_active=True).first()


def suggester_by_spec(spec: str | None) -> Suggester:
    """Return the suggester named "NAME:VERSION", or the active one when spec is empty."""
    if not spec:
        suggester = suggester_active()
        if suggester is None:
            raise SuggesterNotFound("no suggester is active; name one with --model NAME:VERSION", field="model")
        return suggester
    name, sep, version = spec.rpartition(":")
    if not sep or not name or not version:
        raise SuggesterNotFound(f"{spec!r} is not NAME:VERSION", field="model")
    try:
        return Suggester.objects.get(name=name, version=version)
    except Suggester.DoesNotExist:
        raise SuggesterNotFound(f"no suggester {name} version {version}", field="model") from None


def suggestions_counting(face_ids: Iterable[int]) -> dict[int, Suggestion]:
    """Return {face_id: Suggestion} for the suggestion that counts: the active model's, else the latest.

    A face no model has suggested for is absent. The active model may not have reached a face yet
    (it was activated after the face was suggested for): the latest other suggestion stands in, the
    same one for the annotator, the flags and the reviewer.
    """
    chosen = {}
    rows = (
        Suggestion.objects.filter(face_id__in=list(face_ids))
        .select_related("suggester")
        .order_by("face_id", "-suggester__is_active", "-created_at", "-id")
    )
    for suggestion in rows:
        chosen.setdefault(suggestion.face_id, suggestion)
    return chosen


def suggestion_counting(face_id: int) -> Suggestion | None:
    """Return the suggestion that counts for one face (see suggestions_counting), or None."""
    return suggestions_counting([face_id]).get(face_id)
