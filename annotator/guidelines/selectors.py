"""Reads of a project's guidelines: the current set, the set at a version, whether a user has read them."""
from dataclasses import dataclass
from typing import Optional

from django.db.models import Max
from django.urls import reverse

from annotator.domain.categories import CATEGORY_NAMES
from annotator.models import Guideline, GuidelineReading
from annotator.projects.selectors import project_named


@dataclass(frozen=True)
class GuidelineSet:
    """The guidelines in force at one set version: each category's latest row with version <= it."""

    version: Optional[int]  # None: no guideline at all
    by_category: dict  # category -> Guideline


def guideline_version_current(project=None) -> Optional[int]:
    """Return the project's (None: the only project's) current guideline set version (None when it has no guidelines)."""
    project = project or project_named()
    return Guideline.objects.filter(project=project).aggregate(v=Max("version"))["v"]


def guidelines_at(*, project=None, version: Optional[int] = None) -> GuidelineSet:
    """Return the project's (None: the only project's) guideline set at `version` (the current one when None)."""
    project = project or project_named()
    rows = Guideline.objects.filter(project=project)
    if version is not None:
        rows = rows.filter(version__lte=version)
    by_category = {}
    for row in rows.order_by("category", "-version"):
        by_category.setdefault(row.category, row)  # the first of each category is its latest
    if not by_category:
        return GuidelineSet(version=None, by_category={})
    if version is None:
        version = max(g.version for g in by_category.values())
    return GuidelineSet(version=version, by_category=by_category)


def guidelines_for_page(guideline_set: GuidelineSet) -> list:
    """Return the set as plain data for the pages, in category order:
    [{category, name, definition, not_this, examples: [image urls]}]."""
    return [
        {
            "category": category,
            "name": CATEGORY_NAMES[category],
            "definition": g.definition,
            "not_this": g.not_this,
            "examples": [reverse("face-image", args=[face_id]) for face_id in g.example_face_ids],
        }
        for category, g in sorted(guideline_set.by_category.items())
    ]


def guidelines_read_by(user, project=None) -> bool:
    """Return whether the user has dismissed the project's guidelines overlay (of any version) before."""
    return GuidelineReading.objects.filter(user=user, project=project or project_named()).exists()
