"""python manage.py import_affectnet PATH: an AffectNet images/annotations folder."""

from django.core.management.base import BaseCommand, CommandError

from annotator.datasets.importing import affectnet_folder_import
from annotator.management.commands._io_common import LAYOUT_ERRORS, add_import_options, finish, import_options


class Command(BaseCommand):
    help = (
        "Import an AffectNet folder: PATH/train_set and PATH/val_set, or one split's images/ + annotations/. "
        "PATH must lie under DATA_ROOTS. Exits non-zero when any face was skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        add_import_options(parser)

    def handle(self, *args, **options):
        try:
            report = affectnet_folder_import(
                path=options["path"],
                **import_options(options),
            )
        except LAYOUT_ERRORS as exc:
            raise CommandError(str(exc)) from None
        finish(self, report)
