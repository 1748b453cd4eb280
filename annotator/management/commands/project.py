"""manage.py project list | create | set | members: projects for a lab without the admin pages.

Every change goes through annotator.projects.services, as the admin's does: a policy change applies
to the faces not yet finished and is kept in the project's history.
"""
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from annotator.domain.errors import DomainError
from annotator.models import Project
from annotator.projects.policy import POLICY_FIELDS
from annotator.projects.selectors import project_named, projects_overview
from annotator.projects.services import (
    project_create,
    project_members_add,
    project_members_remove,
    project_policy_update,
)

# What `set` may change besides the policy (the active suggester: add_suggester/train_suggester
# --activate --project, or the admin, which queue its suggestions).
SETTABLE = ("name", "description", *POLICY_FIELDS)
TRUE, FALSE = {"1", "true", "yes", "on", "t", "y"}, {"0", "false", "no", "off", "f", "n"}


def _option(field: str) -> str:
    return "--" + field.replace("_", "-")


def _value(field: str, text: str):
    """Return the text as the model field's value, or fail naming the field."""
    model_field = Project._meta.get_field(field)
    if model_field.get_internal_type() == "BooleanField":
        if text.strip().lower() in TRUE | FALSE:
            return text.strip().lower() in TRUE
        raise CommandError(f"{field}: {text!r} is not true or false")
    try:
        return model_field.to_python(text)
    except ValidationError as exc:
        raise CommandError(f"{field}: {'; '.join(exc.messages)} (got {text!r})") from None


def _project(slug: str) -> Project:
    try:
        return project_named(slug)
    except DomainError as exc:
        raise CommandError(str(exc)) from None


class Command(BaseCommand):
    help = (
        "Projects without the admin pages. list: the projects side by side; create SLUG --name ... "
        "[--annotators-per-face N ...]; set SLUG field=value ... (a policy change applies to faces not yet "
        "finished and is kept in the project's history); members SLUG [--add USER ...] [--remove USER ...]."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="list|create|set|members")
        sub.add_parser("list", help="the projects, their faces, members and policy")
        create = sub.add_parser("create", help="a new project (policy: today's settings unless given)")
        create.add_argument("slug")
        create.add_argument("--name", default="", help="(default: the slug)")
        create.add_argument("--description", default="")
        create.add_argument("--guidelines-from", default="", metavar="SLUG",
                            help="copy this project's current guidelines (default: the oldest project's)")
        for field in POLICY_FIELDS:
            model_field = Project._meta.get_field(field)
            choices = f" ({', '.join(v for v, _ in model_field.choices)})" if model_field.choices else ""
            create.add_argument(_option(field), dest=field, default=None, metavar="VALUE",
                                help=f"{model_field.help_text or field}{choices}")
        change = sub.add_parser("set", help="change settings: field=value ...")
        change.add_argument("slug")
        change.add_argument("changes", nargs="+", metavar="field=value",
                            help=f"one of: {', '.join(SETTABLE)}")
        members = sub.add_parser("members", help="list, add or remove members")
        members.add_argument("slug")
        members.add_argument("--add", nargs="+", default=[], metavar="USER")
        members.add_argument("--remove", nargs="+", default=[], metavar="USER")

    def handle(self, *args, action, **options):
        getattr(self, f"do_{action}")(**options)

    def do_list(self, **options):
        projects = projects_overview().select_related("active_suggester")
        self.stdout.write(f"{'slug':<20} {'faces':>9} {'final':>9} {'flagged':>7} {'members':>7} {'answers 24h':>11}  "
                          f"{'per face':>8} {'overlap':>7} {'blind':>5} {'gold':>5} {'export':<6} active suggester")
        for p in projects:
            self.stdout.write(
                f"{p.slug:<20} {p.face_count:>9} {p.final_count:>9} {p.flagged_count:>7} {p.member_count:>7} "
                f"{p.answers_24h:>11}  {p.annotators_per_face:>8} {p.overlap_share:>7.2f} {p.blind_share:>5.2f} "
                f"{p.gold_share:>5.2f} {p.export_categories:<6} {p.active_suggester or '-'}"
            )

    def do_create(self, *, slug, name, description, guidelines_from, **options):
        policy = {field: _value(field, options[field]) for field in POLICY_FIELDS if options.get(field) is not None}
        source = _project(guidelines_from) if guidelines_from else None
        try:
            project = project_create(slug=slug, name=name, description=description, guidelines_from=source,
                                     **policy)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"created project {project.slug} ({project.name})")
        self._show(project)

    def do_set(self, *, slug, changes, **options):
        project = _project(slug)
        values = {}
        for change in changes:
            field, equals, text = change.partition("=")
            field = field.strip().replace("-", "_")
            if not equals:
                raise CommandError(f"{change!r}: write field=value")
            if field not in SETTABLE:
                raise CommandError(f"{field}: not a setting of a project (one of: {', '.join(SETTABLE)})")
            values[field] = _value(field, text)
        try:
            project = project_policy_update(project=project, **values)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"changed {project.slug}: " + ", ".join(f"{k}={getattr(project, k)}" for k in values))

    def do_members(self, *, slug, add, remove, **options):
        project = _project(slug)
        users = get_user_model().objects
        named = {}
        for username in [*add, *remove]:
            user = users.filter(username=username).first()
            if user is None:
                raise CommandError(f"no user {username!r} (nothing changed)")
            named[username] = user
        added = project_members_add(project=project, users=[named[u] for u in add]) if add else 0
        removed = project_members_remove(project=project, users=[named[u] for u in remove]) if remove else 0
        if add or remove:
            self.stdout.write(f"{project.slug}: {added} added, {removed} removed")
        members = users.filter(project_memberships__project=project).order_by("username")
        self.stdout.write(f"{project.slug} members: " + (", ".join(u.username for u in members) or "none"))

    def _show(self, project):
        for field in POLICY_FIELDS:
            self.stdout.write(f"  {field} = {getattr(project, field)}")

