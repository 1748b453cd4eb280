"""Writes of the guidelines: an edit adds a version (old versions stay); a user read them."""
from typing import Iterable, Optional

from django.db import transaction

from annotator.domain.categories import NUM_CATEGORIES
from annotator.domain.errors import DomainError
from annotator.guidelines.selectors import guideline_version_current
from annotator.models import Face, Guideline, GuidelineReading, Project
from annotator.projects.selectors import project_named

# "2-3 example faces" per category; more would crowd the tooltip.
MAX_EXAMPLES = 3


class GuidelineError(DomainError):
    """A guideline the tool cannot store (bad category, empty definition, example faces that will not do)."""


def guideline_examples_check(face_ids: Iterable, *, project=None) -> list:
    """Return the example face ids as a list of ints, or raise GuidelineError (field example_face_ids).

    At most MAX_EXAMPLES distinct faces of the project that exist and are not gold: a gold face shown as an example
    would give its reference label away to everyone measured on it.
    """
    project = project or project_named()
    ids = []
    for raw in face_ids:
        try:
            face_id = int(raw)
        except (TypeError, ValueError):
            raise GuidelineError(f"{raw!r} is not a face id", field="example_face_ids") from None
        if face_id < 1:
            raise GuidelineError(f"{face_id} is not a face id", field="example_face_ids")
        if face_id not in ids:
            ids.append(face_id)
    if len(ids) > MAX_EXAMPLES:
        raise GuidelineError(f"at most {MAX_EXAMPLES} example faces, got {len(ids)}", field="example_face_ids")
    found = dict(Face.objects.filter(pk__in=ids, project=project).values_list("pk", "is_gold"))
    missing = [i for i in ids if i not in found]
    if missing:
        raise GuidelineError(f"no face {', '.join(map(str, missing))} in project {project.slug}",
                             field="example_face_ids")
    gold = [i for i in ids if found[i]]
    if gold:
        raise GuidelineError(
            f"face {', '.join(map(str, gold))} is a gold item: an example would give its label away",
            field="example_face_ids",
        )
    return ids


def guideline_save(
    *, category: int, definition: str, project=None, not_this: str = "", example_face_ids: Iterable = (), by=None
) -> Guideline:
    """Store a new version of one category's guideline in the project; return it. Nothing is ever
    overwritten.

    The new row takes the project's next guideline set version (the largest so far + 1), so the set
    version recorded on answers changes with every edit.
    """
    if not isinstance(category, int) or not 0 <= category < NUM_CATEGORIES:
        raise GuidelineError(f"{category!r} is not a category (0-{NUM_CATEGORIES - 1})", field="category")
    definition = (definition or "").strip()
    if not definition:
        raise GuidelineError("a guideline needs a definition", field="definition")
    project = project or project_named()
    ids = guideline_examples_check(example_face_ids, project=project)
    with transaction.atomic():
        # Editors one after another: lock the project's row, then read the largest version in a fresh
        # statement, which sees what an editor who held the lock before us committed.
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True).first()
        latest = guideline_version_current(project) or 0
        return Guideline.objects.create(
            project=project, category=category, version=latest + 1, definition=definition, not_this=(not_this or "").strip(),
            example_face_ids=ids, created_by=by,
        )


def guidelines_mark_read(*, user, version: Optional[int], project=None) -> GuidelineReading:
    """Record that the user dismissed the project's (None: the only one's) guidelines overlay of `version` (idempotent)."""
    project = project or project_named()
    if version is None or not Guideline.objects.filter(project=project, version__lte=version).exists():
        raise GuidelineError(f"{version!r} is no guideline version", field="version")
    current = guideline_version_current(project)
    if version > current:
        raise GuidelineError(f"{version} is newer than the current version {current}", field="version")
    reading, _ = GuidelineReading.objects.get_or_create(user=user, project=project, version=version)
    return reading
