"""Reads of projects: which projects a user works in, and which one a request or a command means."""
from datetime import timedelta
from typing import Optional

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotator.domain.errors import INVALID, NOT_FOUND, DomainError
from annotator.models import Annotation, Face, Project, ProjectMembership
from annotator.web.roles import is_admin


class ProjectNotFound(DomainError):
    """No project of that slug, or one the user does not work in (the two read the same)."""

    kind = NOT_FOUND


class ProjectNeeded(DomainError):
    """The instance has several projects and the request or command named none."""

    kind = INVALID


def projects_of(user):
    """Return the projects the user works in (an admin: every project), in id order."""
    if is_admin(user):
        return Project.objects.order_by("id")
    return Project.objects.filter(memberships__user=user).order_by("id")


def project_ids_of(user) -> Optional[set]:
    """Return the ids of the user's projects, or None for an admin (every project: filter nothing)."""
    if is_admin(user):
        return None
    return set(ProjectMembership.objects.filter(user=user).values_list("project_id", flat=True))


def user_in_project(user, project_id: int) -> bool:
    """Return whether the user works in the project (an admin works in all)."""
    return is_admin(user) or ProjectMembership.objects.filter(user=user, project_id=project_id).exists()


def faces_of(user, queryset=None):
    """Return the faces (of `queryset`, default all) in the user's projects."""
    queryset = Face.objects.all() if queryset is None else queryset
    ids = project_ids_of(user)
    return queryset if ids is None else queryset.filter(project_id__in=ids)


def face_visible_to(user, face_id: int) -> bool:
    """Return whether the face exists and is in one of the user's projects."""
    return faces_of(user, Face.objects.filter(pk=face_id)).exists()


def _choose(projects, slug: Optional[str], what: str) -> Project:
    if slug:
        project = projects.filter(slug=slug).first()
        if project is None:
            raise ProjectNotFound(f"no project {slug!r}{what}", field="project")
        return project
    first_two = list(projects[:2])
    if len(first_two) == 1:
        return first_two[0]
    if not first_two:
        raise ProjectNotFound(f"no project{what}", field="project")
    slugs = ", ".join(projects.values_list("slug", flat=True))
    raise ProjectNeeded(f"choose a project ({slugs})", field="project")


def project_for_user(user, slug: Optional[str] = None) -> Project:
    """Return the user's project named by slug, or their only one when slug is empty.

    Raises ProjectNotFound (also for a project the user does not work in) or ProjectNeeded."""
    return _choose(projects_of(user), slug, " of yours")


def project_named(slug: Optional[str] = None) -> Project:
    """Return the project of that slug, or the only project when slug is empty (commands: --project).
    An instance with no project at all (a flushed database) has the default one, as a migrated one does."""
    if not slug and not Project.objects.exists():
        return Project.objects.default()
    return _choose(Project.objects.order_by("id"), slug, "")


def projects_named(slugs) -> list:
    """Return the projects of these slugs (all of them in the instance when none is given)."""
    if not slugs:
        return list(Project.objects.order_by("id"))
    return [project_named(slug) for slug in slugs]


def _per_project(queryset, condition=None):
    """The count of queryset's rows of the outer project (one subquery, grouped; 0 when none)."""
    counted = (queryset.filter(condition or Q()).order_by().values("project_id")
               .annotate(n=Count("pk")).values("n"))
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def projects_overview(queryset=None):
    """Return the projects (default: all) side by side, each annotated with face_count, final_count
    (faces with a final label), flagged_count (faces with an open flag), member_count and answers_24h
    (answers given in the last 24 hours, imported ones not counted): one query, a grouped subquery per
    figure, never a query per project."""
    queryset = Project.objects.order_by("id") if queryset is None else queryset
    since = timezone.now() - timedelta(hours=24)
    answers = (Annotation.objects.filter(face__project_id=OuterRef("pk"), imported=False, created_at__gte=since)
               .order_by().values("face__project_id").annotate(n=Count("pk")).values("n"))
    faces = Face.objects.filter(project_id=OuterRef("pk"))
    return queryset.annotate(
        face_count=_per_project(faces),
        final_count=_per_project(faces, Q(final_category__isnull=False)),
        flagged_count=_per_project(faces, Q(needs_review=True)),
        member_count=_per_project(ProjectMembership.objects.filter(project_id=OuterRef("pk"))),
        answers_24h=Coalesce(Subquery(answers, output_field=IntegerField()), 0),
    )
