"""Writes of projects: create one, change its policy (applied to faces not yet finished, kept in its
history), add and remove members."""
from typing import Iterable, Optional

from django.core.exceptions import ValidationError
from django.db import transaction

from annotator.domain.batching import chunked
from annotator.domain.categories import parse_categories
from annotator.domain.errors import DomainError
from annotator.domain.overlap import required_annotations
from annotator.faces.services import face_refresh_final_label
from annotator.models import Face, Guideline, Project, ProjectMembership, guidelines_install_defaults
from annotator.projects.policy import POLICY_FIELDS, REQUIREMENT_FIELDS, project_policy_defaults


class ProjectError(DomainError):
    """A project or policy the tool cannot store; `field` names the setting at fault."""


def _validate(project: Project) -> None:
    try:
        parse_categories(project.export_categories)
    except ValueError as exc:
        raise ProjectError(str(exc).replace("--categories: ", ""), field="export_categories") from None
    try:
        project.full_clean(exclude=["active_suggester"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ProjectError("; ".join(messages), field=None if field == "__all__" else field) from None


def project_default() -> Project:
    """Return the "default" project, made with today's settings where it is missing."""
    return Project.objects.default()


@transaction.atomic
def project_create(*, slug: str, name: str = "", guidelines_from: Optional[Project] = None, by=None,
                   **policy) -> Project:
    """Create a project with the policy given over today's settings; its guidelines start as a copy of
    the current set of `guidelines_from` (by default the oldest project's), without example faces (those
    are another project's faces)."""
    unknown = set(policy) - set(POLICY_FIELDS) - {"description", "active_suggester"}
    if unknown:
        raise ProjectError(f"no policy setting {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    project = Project(slug=slug, name=name or slug, **{**project_policy_defaults(), **policy})
    _validate(project)
    if Project.objects.filter(slug=slug).exists():
        raise ProjectError(f"a project {slug!r} exists already", field="slug")
    project._history_user = by
    project.save()
    source = guidelines_from or Project.objects.exclude(pk=project.pk).order_by("id").first()
    if source is None:
        guidelines_install_defaults(project)
    else:
        latest = {}  # each category's latest row: the source's current set
        for g in Guideline.objects.filter(project=source).order_by("category", "-version"):
            latest.setdefault(g.category, g)
        Guideline.objects.bulk_create([
            Guideline(project=project, category=g.category, version=1, definition=g.definition,
                      not_this=g.not_this, example_face_ids=[], created_by=by)
            for g in latest.values()
        ])
    return project


@transaction.atomic
def project_policy_update(*, project: Project, by=None, **changes) -> Project:
    """Change the project's policy; return it. The change is kept in the project's history (who, when,
    what) and applies to faces not yet finished: those without a final label get the new number of
    answers needed (never fewer than they have). Finished faces keep theirs."""
    unknown = set(changes) - set(POLICY_FIELDS) - {"name", "description", "active_suggester"}
    if unknown:
        raise ProjectError(f"no policy setting {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    project = Project.objects.select_for_update().get(pk=project.pk)
    before = {name: getattr(project, name) for name in REQUIREMENT_FIELDS}
    for name, value in changes.items():
        setattr(project, name, value)
    _validate(project)
    project._history_user = by
    project.save()
    if any(before[name] != getattr(project, name) for name in REQUIREMENT_FIELDS):
        faces_requirements_apply(project=project)
    return project


def faces_requirements_apply(*, project: Project, batch_size: int = 5000) -> int:
    """Give the project's unfinished faces (no final label, not gold) the number of answers its policy
    asks for now, but never fewer than they have; return how many changed. A face that now has all
    the answers it needs gets its final label at once (as if its last answer had just come in)."""
    unfinished = (Face.objects.filter(project=project, final_category__isnull=True, is_gold=False)
                  .order_by("id").values_list("id", "content_hash", "required_annotations", "answer_count"))
    changed = 0
    for rows in chunked(unfinished.iterator(chunk_size=batch_size), batch_size):
        by_need, complete = {}, []
        for face_id, content_hash, needed, answers in rows:
            new = max(answers, required_annotations(content_hash, annotators_per_face=project.annotators_per_face,
                                                    overlap_share=project.overlap_share))
            if new != needed:
                by_need.setdefault(new, []).append(face_id)
                if answers and answers >= new:
                    complete.append(face_id)
        for need, ids in by_need.items():
            changed += Face.objects.filter(pk__in=ids, answer_count__lte=need).update(required_annotations=need)
        for face_id in complete:
            face_refresh_final_label(face_id=face_id)
    return changed


def project_members_add(*, project: Project, users: Iterable) -> int:
    """Add users to the project (those in it already stay); return how many were added."""
    users = list(users)
    before = ProjectMembership.objects.filter(project=project).count()
    ProjectMembership.objects.bulk_create([ProjectMembership(project=project, user=u) for u in users],
                                          ignore_conflicts=True)
    return ProjectMembership.objects.filter(project=project).count() - before


def project_members_remove(*, project: Project, users: Iterable) -> int:
    """Take users out of the project; their answers stay. Return how many were removed."""
    deleted, _ = ProjectMembership.objects.filter(project=project, user__in=list(users)).delete()
    return deleted
