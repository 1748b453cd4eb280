"""What the AffectNet import commands share: the --labels/--user/--split/--project options and the summary."""

from django.core.management.base import CommandError

from annotator.common.paths import PathNotAllowed
from annotator.datasets.importing import DEFAULT_IMPORT_USER, ImportLayoutError
from annotator.domain.categories import parse_categories
from annotator.domain.errors import DomainError
from annotator.models import Split
from annotator.projects.selectors import project_named

LAYOUT_ERRORS = (ImportLayoutError, PathNotAllowed)


def add_import_options(parser):
    parser.add_argument(
        "--labels",
        choices=["annotations", "none"],
        default="annotations",
        help="annotations: store each face's label as an answer of --user (default); none: ignore label files",
    )
    parser.add_argument("--user", default=DEFAULT_IMPORT_USER, help="username that holds imported labels")
    parser.add_argument("--split", choices=[s.value for s in Split], help="split for all faces (default: from names)")
    parser.add_argument("--batch-size", type=int, default=None, help="faces per database batch")
    parser.add_argument(
        "--workers", type=int, default=None, help="processes that read and check files (default: one per CPU; 1 reads in this process)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_project_option(parser)


def add_project_option(parser, what="the project the faces go into"):
    parser.add_argument("--project", default="", metavar="SLUG",
                        help=f"{what} (needed when the instance has several; default: its only project)")


def command_project(slug: str):
    """Return the project --project names (the only one when it names none), or fail naming the slugs."""
    try:
        return project_named(slug)
    except DomainError as exc:
        raise CommandError(f"--project: {exc.message}") from None


def export_categories(option, project) -> list:
    """Return the categories an export writes: --categories, else the project's export_categories; a bad
    value fails naming the option, or the project's setting when that is at fault."""
    try:
        return parse_categories(option or project.export_categories)
    except ValueError as exc:
        if option is None:
            raise CommandError(f"project {project.slug}: export_categories: {exc}") from None
        raise CommandError(str(exc)) from None


def import_options(options) -> dict:
    """Return the import functions' keyword arguments from the shared options."""
    return {
        "labels": options["labels"] == "annotations",
        "username": options["user"],
        "split": options["split"],
        "batch_size": options["batch_size"],
        "progress": not options["no_progress"],
        "workers": options["workers"],
        "project": command_project(options["project"]),
    }


def finish(command, report):
    """Print the summary; exit non-zero when any face was skipped."""
    for line in report.lines():
        command.stdout.write(line)
    if report.skipped:
        raise CommandError(f"{len(report.skipped)} face(s) skipped; the rest was imported")
