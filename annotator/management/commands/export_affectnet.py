"""python manage.py export_affectnet OUT: a project's faces with a final label, in AffectNet's layout."""

from django.core.management.base import BaseCommand, CommandError

from annotator.datasets.exporting import ExportError, affectnet_export
from annotator.management.commands._io_common import add_project_option, command_project, export_categories


class Command(BaseCommand):
    help = (
        "Export every face of the project with a final label to OUT/train_set and OUT/val_set (images/ + annotations/), "
        "with OUT/manifest.json. OUT must lie under DATA_ROOTS; it is written beside and renamed at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("out")
        parser.add_argument(
            "--categories", default=None,
            help="categories to export, e.g. 0-7 for the 8-label release (default: the project's export categories)",
        )
        add_project_option(parser, "the project to export")
        parser.add_argument("--csv", action="store_true", help="also write training.csv / validation.csv")
        parser.add_argument(
            "--force", action="store_true",
            help="replace an earlier export in OUT (refused for a folder export_affectnet did not write)",
        )
        parser.add_argument(
            "--split", nargs="+", choices=["train", "val"], default=None, help="splits to export (default: both)"
        )
        parser.add_argument(
            "--answers", action="store_true",
            help="also write answers.parquet (every answer) and faces.parquet (per face: distribution, V/A mean/std, "
                 "final label, flags); annotators are pseudonymous numbers",
        )
        parser.add_argument("--names", action="store_true", help="with --answers: add the annotators' usernames")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="processes that write the files (default: one per CPU for a large export; 1 writes in this process)",
        )

    def handle(self, *args, **options):
        project = command_project(options["project"])
        if options["names"] and not options["answers"]:
            raise CommandError("--names: only with --answers (the usernames go into answers.parquet)")
        categories = export_categories(options["categories"], project)
        try:
            manifest = affectnet_export(
                out=options["out"],
                project=project,
                categories=categories,
                splits=options["split"],
                csv=options["csv"],
                force=options["force"],
                progress=not options["no_progress"],
                workers=options["workers"],
                answers=options["answers"],
                names=options["names"],
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        for split, counts in manifest["counts"].items():
            self.stdout.write(f"{split}: {counts['total']} faces")
        left = {reason: n for reason, n in manifest["left_out"].items() if n}
        if left:
            self.stdout.write("left out: " + ", ".join(f"{n} ({reason})" for reason, n in left.items()))
        if manifest["exported_with_open_flags"]:
            self.stdout.write(
                f"{manifest['exported_with_open_flags']} exported faces carry open flags "
                "(imported or reviewed labels stay final while a flag about them waits for review)"
            )
        tables = manifest["answer_tables"]
        if tables:
            self.stdout.write(f"answers.parquet: {tables['answers']} answers of {tables['annotators']} annotators; "
                              f"faces.parquet: {tables['faces']} faces")
        self.stdout.write(f"wrote {manifest['total']} faces of {project.slug} to {options['out']}")
