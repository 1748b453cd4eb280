"""Projects in tests: make a suggester a project's active one, and ask whether it is."""
from annotator.models import POLICY_SETTINGS, Project


def activate(suggester, project=None):
    """Make the suggester the active one of the project (default: the default project); return it."""
    project = project or Project.objects.default()
    Project.objects.filter(pk=project.pk).update(active_suggester=suggester)
    return suggester


def active_in(suggester, project=None) -> bool:
    """Return whether the suggester is the active one of the project (default: the default project)."""
    project = project or Project.objects.default()
    return Project.objects.filter(pk=project.pk, active_suggester=suggester).exists()


def set_policy(project=None, **changes):
    """Set the project's (default: the default project's) labelling policy fields, as a lead would;
    return the project. The settings of the same names are only the defaults of a new project."""
    project = project or Project.objects.default()
    Project.objects.filter(pk=project.pk).update(**changes)
    project.refresh_from_db()
    return project


class ProjectPolicy:
    """Stands in for pytest-django's `settings` fixture in tests that change the labelling policy:
    a policy name (BLIND_SHARE, CALIBRATION_FACES, ...) sets the default project's field, as a lead
    would; any other name is a setting."""

    def __init__(self, settings, project=None):
        object.__setattr__(self, "_settings", settings)
        object.__setattr__(self, "_project", project)
        object.__setattr__(self, "_fields", {name: field for field, name in POLICY_SETTINGS.items()})

    def __setattr__(self, name, value):
        field = self._fields.get(name)
        if field is None:
            setattr(self._settings, name, value)
        else:
            set_policy(self._project, **{field: value})

    def __getattr__(self, name):
        field = self._fields.get(name)
        if field is None:
            return getattr(self._settings, name)
        return getattr(Project.objects.get(pk=(self._project or Project.objects.default()).pk), field)
