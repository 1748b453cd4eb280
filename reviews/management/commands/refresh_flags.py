"""Re-evaluate flags here (no broker needed): the stale faces, or every face with an answer."""
from django.core.management.base import BaseCommand
from tqdm import tqdm

from annotator.models import Face
from reviews.flagging import faces_flags_evaluate, faces_with_stale_flags


class Command(BaseCommand):
    help = "Re-evaluate face flags; --stale: only faces answered or suggested since their last check."

    def add_arguments(self, parser):
        parser.add_argument("--stale", action="store_true", help="only faces whose flags are stale")

    def handle(self, *args, stale=False, **options):
        if stale:
            ids = list(faces_with_stale_flags())
        else:
            ids = list(Face.objects.filter(annotations__isnull=False).distinct().values_list("id", flat=True))
        faces_flags_evaluate(tqdm(ids, unit="face", desc="flags"))
        self.stdout.write(f"{len(ids)} faces re-evaluated")
