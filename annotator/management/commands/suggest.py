"""Queue model suggestions for the faces that lack one from the active model."""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotator.domain.batching import chunked
from annotator.domain.errors import DomainError
from annotator.projects.selectors import projects_named
from annotator.suggestions.services import (
    faces_lacking_suggestion,
    suggester_active_get_or_create,
    suggester_progress,
    suggestions_compute,
)
from annotator.suggestions.tasks import suggestions_enqueue


class Command(BaseCommand):
    help = "Queue suggestions (model queue) for faces without one from the active model; --now computes them here."

    def add_arguments(self, parser):
        parser.add_argument("--now", action="store_true", help="compute in this process instead of queueing")
        parser.add_argument("--limit", type=int, default=None, help="at most this many faces (per project)")
        parser.add_argument("--project", action="append", default=[],
                            help="project slug (repeat for several; default: every project)")

    def handle(self, *args, now=False, limit=None, project=(), **options):
        try:
            projects = projects_named(project)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        for one in projects:
            self.suggest(one, now=now, limit=limit)

    def suggest(self, project, *, now, limit):
        suggester = suggester_active_get_or_create(project)
        ids = list(faces_lacking_suggestion(suggester=suggester, project=project).values_list("id", flat=True)[:limit])
        size = settings.SUGGEST_TASK_SIZE
        with tqdm(total=len(ids), unit="face", desc=f"{project.slug}: {'suggest' if now else 'queue'} {suggester}") as bar:
            for chunk in chunked(ids, size):
                if now:
                    suggestions_compute(face_ids=chunk, suggester=suggester)
                elif not suggestions_enqueue(face_ids=chunk, suggester_id=suggester.id):
                    self.stderr.write("The broker is unreachable: nothing more queued (is Redis up?).")
                    break
                bar.update(len(chunk))
        done, total = suggester_progress(suggester=suggester, project=project)
        self.stdout.write(f"{project.slug}: {suggester}: {done} of {total} faces have a suggestion")
