"""Projects in tests: make a suggester a project's active one, and ask whether it is."""
from annotator.models import Project


def activate(suggester, project=None):
    """Make the suggester the active one of the project (default: the default project); return it."""
    project = project or Project.objects.default()
    Project.objects.filter(pk=project.pk).update(active_suggester=suggester)
    return suggester


def active_in(suggester, project=None) -> bool:
    """Return whether the suggester is the active one of the project (default: the default project)."""
    project = project or Project.objects.default()
    return Project.objects.filter(pk=project.pk, active_suggester=suggester).exists()


def policy(project=None, **changes):
    """Set the project's (default: the default project's) labelling policy fields, as a lead would;
    return the project. The settings of the same names are only the defaults of a new project."""
    project = project or Project.objects.default()
    Project.objects.filter(pk=project.pk).update(**changes)
    project.refresh_from_db()
    return project
