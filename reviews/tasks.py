"""Review tasks: thin, id-based, idempotent (base: the app's task_cls, annotator.common.tasks.RetryingTask,
which owns the retry policy and the errors worth a retry)."""
from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from reviews.flagging import faces_flags_evaluate, faces_with_stale_flags
from reviews.pending import (
    flags_drain_mark,
    flags_drain_unmark,
    flags_pending_claim,
    flags_pending_release,
    flags_pending_waiting,
)

QUEUE = settings.CELERY_TASK_DEFAULT_QUEUE


@shared_task(name="reviews.tasks.face_flags_refresh", queue_name=QUEUE)
def face_flags_refresh(face_id):
    """Re-evaluate one face's flags. No longer queued per answer (answers go through flags_drain); kept
    so the messages an older release queued still run."""
    return faces_flags_evaluate([face_id])


@shared_task(name="reviews.tasks.flags_drain", queue_name=QUEUE)
def flags_drain():
    """Check the flags of up to FLAG_DRAIN_BATCH_SIZE pending faces (answered since their last check).

    Unmarked first, so answers saved from now on queue the next drain (the other worker process takes it
    while this one checks); queues the next itself when faces are still waiting. See reviews/pending.py.
    """
    flags_drain_unmark()
    claim = flags_pending_claim(size=settings.FLAG_DRAIN_BATCH_SIZE)
    evaluated = faces_flags_evaluate(claim.face_ids)
    flags_pending_release(claim)
    if flags_pending_waiting():
        flags_drain_send()
    return evaluated


def flags_drain_send() -> bool:
    """Queue a drain unless one is queued already; return whether one was sent.

    A broker that is down leaves no drain marked as queued, so the next answer (or the stale sweep) tries again.
    """
    if not flags_drain_mark():
        return False
    if flags_drain.enqueue():
        return True
    flags_drain_unmark()
    return False


@shared_task(name="reviews.tasks.faces_flags_refresh", queue_name=QUEUE)
def faces_flags_refresh(face_ids):
    """Re-evaluate the flags of a batch of faces (those a batch of suggestions reached), 50 faces a
    transaction; a retry after a failure redoes only what is idempotent anyway."""
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
    if not self.sweep_continue(ids, size) and flags_pending_waiting():
        flags_drain_send()  # the last batch: pending rows whose drain was lost (a face checked here is harmless)
    return evaluated


@shared_task(name="reviews.tasks.dashboard_figures_refresh", queue_name=QUEUE)
def dashboard_figures_refresh():
    """Compute every project's dashboard figures again and keep them (periodic, every
    DASHBOARD_CACHE_SECONDS, and queued by a request's recompute that stopped at its time limit): the
    per-block partials stay warm, so a reviewer's "Recompute now" reads only the blocks changed since, and
    the kept figures are never older than about that."""
    from annotator.models import Project
    from reviews.dashboard import FIGURES_QUEUED_KEY, dashboard_cached

    cache.delete(FIGURES_QUEUED_KEY)  # a request that stops at its time limit after this starts queues another
    projects = list(Project.objects.order_by("id"))
    for project in projects:
        dashboard_cached(project=project, refresh=True, intervals_now=True)
    return len(projects)


@shared_task(name="reviews.tasks.block_changes_compact", queue_name=QUEUE, max_retries=1)
def block_changes_compact_task():
    """Fold the dashboard's change log, block by block (periodic): its fingerprints stay as they were, the log
    small (reviews.aggregates.block_changes_compact)."""
    from reviews.aggregates import block_changes_compact

    return block_changes_compact()


@shared_task(name="reviews.tasks.evaluation_intervals_refresh", queue_name=QUEUE)
def evaluation_intervals_refresh(project_id):
    """Compute the project's dashboard figures again with the evaluation's bootstrap intervals of today's val
    faces, and keep them: a recompute in a request showed the intervals of earlier val labels, the bootstrap
    being longer than a page waits (EVALUATION_INLINE_CELLS). The queued mark is cleared first, so a change
    made while this runs queues one more refresh."""
    from annotator.models import Project
    from reviews.dashboard import INTERVALS_QUEUED_KEY, dashboard_cached

    cache.delete(f"{INTERVALS_QUEUED_KEY}:{project_id}")
    project = Project.objects.filter(pk=project_id).first()
    if project is None:  # deleted since
        return None
    data = dashboard_cached(project=project, refresh=True, intervals_now=True)
    return (data["evaluation"] or {}).get("intervals_of")
