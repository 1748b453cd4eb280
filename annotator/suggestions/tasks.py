"""Celery tasks of the suggestions: thin, id-based, idempotent (base: annotator.common.tasks.RetryingTask).

Names are pinned to those the tasks had in annotator/tasks.py, so messages already queued still run.
"""
import logging
from collections.abc import Sequence

from celery import shared_task
from django.conf import settings

from annotator.domain.batching import chunked
from annotator.models import Project, Suggester, Suggestion
from annotator.suggestions.services import (
    faces_lacking_suggestion,
    faces_reprioritise,
    suggestions_compute,
)

logger = logging.getLogger(__name__)


@shared_task(name="annotator.tasks.suggest_faces", queue_name=settings.CELERY_MODEL_QUEUE, bind=True)
def suggest_faces(self, face_ids, suggester_id=None):
    """Compute the suggester's (else each face's project's active one's) suggestions for the faces that lack one."""
    if suggester_id is None:
        suggester = None
    else:
        try:
            suggester = Suggester.objects.get(pk=suggester_id)
        except Suggester.DoesNotExist:  # deleted since it was queued: nothing to do, no retry
            logger.warning("suggester %s is gone; %d faces not suggested", suggester_id, len(face_ids))
            return 0
    return len(suggestions_compute(face_ids=face_ids, suggester=suggester))


def suggestions_enqueue(*, face_ids: Sequence[int], suggester_id: int | None = None) -> int:
    """Queue model tasks for the faces, SUGGEST_TASK_SIZE a task; return how many tasks were sent.

    A broker that is down is logged, not raised: the faces stay without a suggestion, and
    `manage.py suggest` queues them again.
    """
    sent = 0
    for chunk in chunked(face_ids, settings.SUGGEST_TASK_SIZE):
        if not suggest_faces.enqueue(chunk, suggester_id):
            break
        sent += 1
    return sent


@shared_task(name="annotator.tasks.suggest_missing", queue_name=settings.CELERY_TASK_DEFAULT_QUEUE, bind=True)
def suggest_missing(self, suggester_id, after=0, project_id=None):
    """Queue model tasks for the not-yet-final faces that lack this suggester's suggestion (on activation):
    the project's, or (no project) those of every project it is active in.

    SWEEP_BATCH_SIZE faces a task, by id after `after`; each task queues the next until none remain.
    """
    try:
        suggester = Suggester.objects.get(pk=suggester_id)
    except Suggester.DoesNotExist:
        return 0
    project = Project.objects.filter(pk=project_id).first() if project_id is not None else None
    if project_id is not None and project is None:
        return 0  # deleted since
    size = settings.SWEEP_BATCH_SIZE
    ids = list(faces_lacking_suggestion(suggester=suggester, project=project)
               .filter(final_category__isnull=True, id__gt=after).values_list("id", flat=True)[:size])
    sent = suggestions_enqueue(face_ids=ids, suggester_id=suggester_id)
    self.sweep_continue(ids, size, suggester_id=suggester_id, project_id=project_id)
    return sent


@shared_task(name="annotator.tasks.faces_reprioritise", queue_name=settings.CELERY_TASK_DEFAULT_QUEUE, bind=True)
def faces_reprioritise_sweep(self, suggester_id, after=0, project_id=None):
    """Recompute the queue priority of the not-yet-final faces this suggester suggested for (on activation,
    with QUEUE_ACTIVE_LEARNING): SWEEP_BATCH_SIZE faces a task, by id after `after`, each task queuing the next."""
    size = settings.SWEEP_BATCH_SIZE
    suggestions = Suggestion.objects.filter(suggester_id=suggester_id, face__final_category__isnull=True,
                                            face_id__gt=after)
    if project_id is not None:
        suggestions = suggestions.filter(face__project_id=project_id)
    ids = list(suggestions.order_by("face_id").values_list("face_id", flat=True)[:size])
    updated = faces_reprioritise(suggester_id=suggester_id, face_ids=ids)
    self.sweep_continue(ids, size, suggester_id=suggester_id, project_id=project_id)
    return updated
