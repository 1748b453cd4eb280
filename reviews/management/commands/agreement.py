"""python manage.py agreement [--split SPLIT ...]"""
from django.core.management.base import BaseCommand

from annotator.models import Split
from reviews.evaluation import agreement, format_agreement


class Command(BaseCommand):
    help = "Print the agreement between annotators on faces answered by two or more, beside AffectNet's numbers."

    def add_arguments(self, parser):
        parser.add_argument("--split", action="append", choices=Split.values,
                            help="Only faces of this split (repeatable; default: all)")

    def handle(self, *args, split, **options):
        self.stdout.write(format_agreement(agreement(splits=split)))
