"""python manage.py import_affectnet_csv CSV --images DIR: the full release's CSV layout."""

from django.core.management.base import BaseCommand, CommandError

from annotator.datasets.importing import affectnet_csv_import
from annotator.management.commands._io_common import LAYOUT_ERRORS, add_import_options, finish, import_options


class Command(BaseCommand):
    help = (
        "Import the faces of AffectNet's training.csv / validation.csv: each row's box, expanded by 15% "
        "on each side, is cropped from its image under --images and resized to 224x224. "
        "Exits non-zero when any row was skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv")
        parser.add_argument("--images", required=True, help="folder the CSV's subDirectory_filePath is relative to")
        add_import_options(parser)

    def handle(self, *args, **options):
        try:
            report = affectnet_csv_import(
                csv_path=options["csv"],
                images=options["images"],
                **import_options(options),
            )
        except LAYOUT_ERRORS as exc:
            raise CommandError(str(exc)) from None
        finish(self, report)
