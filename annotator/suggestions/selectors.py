"""Reads of model suggestions: which model is active in a project, and which suggestion counts for a face.

One rule for "the suggestion of a face" (the active model's, else the latest), so the suggestion an
annotator is shown, the one flags compare answers with, and the one reviewers see are the same row.
Reads never create anything: with no active model there is simply none.
"""
from collections.abc import Iterable

from django.db.models import Case, F, IntegerField, Value, When

from annotator.domain.errors import DomainError
from annotator.models import Suggester, Suggestion
from annotator.projects.selectors import project_named


class SuggesterNotFound(DomainError, LookupError):
    """No suggester of that name and version (or none is active): bad input, the field `model`."""


def suggester_active(project=None) -> Suggester | None:
    """Return the project's (None: the only project's) active suggester, or None when it has none."""
    project = project or project_named()
    return Suggester.objects.filter(active_in_projects=project).first()


def suggester_by_spec(spec: str | None, project=None) -> Suggester:
    """Return the suggester named "NAME:VERSION", or the project's active one when spec is empty."""
    if not spec:
        suggester = suggester_active(project) if project is not None else None
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
    """Return {face_id: Suggestion} for the suggestion that counts: the face's project's active model's,
    else the latest.

    A face no model has suggested for is absent. The active model may not have reached a face yet
    (it was activated after the face was suggested for): the latest other suggestion stands in, the
    same one for the annotator, the flags and the reviewer.
    """
    chosen = {}
    rows = (
        Suggestion.objects.filter(face_id__in=list(face_ids))
        .select_related("suggester")
        .annotate(of_active=Case(When(suggester_id=F("face__project__active_suggester_id"), then=Value(1)),
                                 default=Value(0), output_field=IntegerField()))
        .order_by("face_id", "-of_active", "-created_at", "-id")
    )
    for suggestion in rows:
        chosen.setdefault(suggestion.face_id, suggestion)
    return chosen


def suggestion_counting(face_id: int) -> Suggestion | None:
    """Return the suggestion that counts for one face (see suggestions_counting), or None."""
    return suggestions_counting([face_id]).get(face_id)
