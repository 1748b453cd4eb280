"""Review tasks: thin, id-based, idempotent (base: the app's task_cls, annotator.common.tasks.RetryingTask,
which owns the retry policy and the errors worth a retry)."""
from celery import shared_task
from django.conf import settings

from reviews.flagging import faces_flags_evaluate, faces_with_stale_flags

QUEUE = settings.CELERY_TASK_DEFAULT_QUEUE


@shared_task(name="reviews.tasks.face_flags_refresh", queue_name=QUEUE)
def face_flags_refresh(face_id):
    """Re-evaluate one face's flags (an answer was saved)."""
    return faces_flags_evaluate([face_id])


@shared_task(name="reviews.tasks.faces_flags_refresh", queue_name=QUEUE)
def faces_flags_refresh(face_ids):
    """Re-evaluate the flags of a batch of faces (those a batch of suggestions reached); each face is
    its own transaction, so a retry after a failure redoes only what is idempotent anyway."""
    return faces_flags_evaluate(face_ids)


# Five retries: beat sends it again within minutes anyway.
@shared_task(name="reviews.tasks.flags_refresh_stale", queue_name=QUEUE, bind=True, max_retries=5)
def flags_refresh_stale(self, after=0):
    """Evaluate the faces whose flags are older than their latest answer or suggestion (periodic).

    SWEEP_BATCH_SIZE faces a task, by id after `after`; each task queues the next until none remain.
    """
    size = settings.SWEEP_BATCH_SIZE
    ids = list(faces_with_stale_flags().filter(id__gt=after)[:size])
    evaluated = faces_flags_evaluate(ids)
    self.sweep_continue(ids, size)
    return evaluated


@shared_task(name="reviews.tasks.dashboard_figures_refresh", queue_name=QUEUE)
def dashboard_figures_refresh():
    """Compute every project's dashboard figures again and keep them (periodic, every
    DASHBOARD_CACHE_SECONDS): the per-block partials stay warm, so a reviewer's "Recompute now" reads
    only the blocks changed since, and the kept figures are never older than about that."""
    from annotator.models import Project
    from reviews.dashboard import dashboard_cached

    projects = list(Project.objects.order_by("id"))
    for project in projects:
        dashboard_cached(project=project, refresh=True)
    return len(projects)
