"""python manage.py agreement [--project SLUG] [--split SPLIT ...]"""
from django.core.management.base import BaseCommand, CommandError

from annotator.models import Split
from annotator.projects.selectors import ProjectNeeded, ProjectNotFound, project_named
from reviews.evaluation import agreement, format_agreement


class Command(BaseCommand):
    help = "Print the agreement between annotators on a project's faces answered by two or more, beside AffectNet's numbers."

    def add_arguments(self, parser):
        parser.add_argument("--project", default="", metavar="SLUG",
                            help="Whose faces (needed only when the instance has several projects)")
        parser.add_argument("--split", action="append", choices=Split.values,
                            help="Only faces of this split (repeatable; default: all)")

    def handle(self, *args, project, split, **options):
        try:
            project = project_named(project)
        except (ProjectNeeded, ProjectNotFound) as exc:
            raise CommandError(f"--project: {exc.message}") from None
        self.stdout.write(format_agreement(agreement(splits=split, scope={project.pk})))
