"""python manage.py import_dataset PATH: a Hugging Face / Parquet dataset that export_dataset wrote."""

from django.core.management.base import BaseCommand, CommandError

from annotator.datasets.importing import dataset_import
from annotator.management.commands._io_common import LAYOUT_ERRORS, add_import_options, finish, import_options


class Command(BaseCommand):
    help = (
        "Import a dataset in the layout export_dataset --format hf writes: PATH (with data/*.parquet), a folder of "
        ".parquet shards, or one .parquet file, under DATA_ROOTS. Labels become answers of --user, as "
        "import_affectnet does. All or nothing: a bad file, row or value is named and nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        add_import_options(parser)

    def handle(self, *args, **options):
        try:
            report = dataset_import(path=options["path"], **import_options(options))
        except LAYOUT_ERRORS as exc:
            raise CommandError(str(exc)) from None
        finish(self, report)
