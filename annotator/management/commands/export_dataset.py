"""python manage.py export_dataset OUT --format hf|imagefolder: the exported faces for ML tools."""

from django.core.management.base import BaseCommand, CommandError

from annotator.datasets.dataset_export import FORMATS, dataset_export
from annotator.datasets.exporting import ExportError
from annotator.datasets.formats.hf_dataset import SHARD_SIZE
from annotator.management.commands._io_common import add_project_option, command_project, export_categories


class Command(BaseCommand):
    help = (
        "Export the faces export_affectnet would write (a final label, train or val) as a Hugging Face dataset "
        "(--format hf: Parquet shards with datasets Features and a dataset card) or as train/ and val/ folders per "
        "class (--format imagefolder, for torchvision's ImageFolder), with OUT/manifest.json. OUT must lie under "
        "DATA_ROOTS; it is written beside and renamed at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("out")
        parser.add_argument("--format", choices=FORMATS, required=True, help="hf or imagefolder")
        parser.add_argument("--categories", default=None,
                            help="categories to export, e.g. 0-7 (default: the project's export categories)")
        add_project_option(parser, "the project to export")
        parser.add_argument(
            "--split", nargs="+", choices=["train", "val"], default=None, help="splits to export (default: both)"
        )
        parser.add_argument(
            "--force", action="store_true",
            help="replace an earlier export in OUT (refused for a folder export_dataset did not write)",
        )
        parser.add_argument("--shard-size", type=int, default=SHARD_SIZE, help="hf: faces per Parquet shard")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument("--workers", type=int, default=None, help="processes that read the stored crops")

    def handle(self, *args, **options):
        project = command_project(options["project"])
        categories = export_categories(options["categories"], project)
        try:
            manifest = dataset_export(
                out=options["out"],
                layout=options["format"],
                categories=categories,
                splits=options["split"],
                force=options["force"],
                progress=not options["no_progress"],
                workers=options["workers"],
                shard_size=options["shard_size"],
                project=project,
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        for split, counts in manifest["counts"].items():
            self.stdout.write(f"{split}: {counts['total']} faces")
        left = {reason: n for reason, n in manifest["left_out"].items() if n}
        if left:
            self.stdout.write("left out: " + ", ".join(f"{n} ({reason})" for reason, n in left.items()))
        self.stdout.write(f"wrote {manifest['total']} faces of {project.slug} to {options['out']} ({options['format']})")
