"""Writes of the console's jobs: create and queue, cancel, claim a run, write progress, finish, and the
sweep that runs again a job whose worker died.

A run claims its job (job_claim) before it does anything: a second delivery of the same message (Redis
delivers an unacknowledged one again after the visibility timeout, acks_late) finds the job running with a
fresh heartbeat, or finished, and does nothing. A job whose heartbeat stopped (its worker was killed) is
run again, since every kind is safe to redo: imports skip the faces they stored before, an export writes
beside its destination and replaces it only at the end, an upload keeps its files in storage until the job
ends, a split assignment writes in one transaction and plans again (a run after one that committed finds
its preview stale, or nothing left to change). After JOB_MAX_ATTEMPTS runs it is failed, with that reason.
"""
import logging
from datetime import timedelta
from typing import Optional

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotator.models import Job

logger = logging.getLogger(__name__)

JOB_RUN_TASK = "annotator.tasks.job_run"
PHOTO_UPLOAD_TASK = "annotator.tasks.photo_upload_run"


def job_task_name(kind: str) -> str:
    return PHOTO_UPLOAD_TASK if kind == Job.Kind.PHOTO_UPLOAD else JOB_RUN_TASK


def job_send(job_id: int, kind: str) -> bool:
    """Queue the job's task on the jobs queue now; return whether it was sent."""
    name = job_task_name(kind)
    try:
        task = current_app.tasks.get(name)
        if task is not None:
            task.apply_async(kwargs={"job_id": job_id}, queue=settings.CELERY_JOBS_QUEUE)
        else:
            current_app.send_task(name, kwargs={"job_id": job_id}, queue=settings.CELERY_JOBS_QUEUE)
    except Exception as exc:  # noqa: BLE001  (kombu/redis raise many types when the broker is unreachable)
        logger.warning("could not queue job %s (broker down?): %r", job_id, exc)
        Job.objects.filter(id=job_id, state=Job.State.QUEUED).update(
            state=Job.State.FAILED, finished_at=timezone.now(),
            error=f"could not be queued (the broker is unreachable: {exc}); start it again")
        return False
    return True


def job_create(*, kind: str, options: dict, user, project=None) -> Job:
    """Store a queued job and send it to the jobs queue once the transaction commits."""
    job = Job.objects.create(kind=kind, options=options, project=project,
                             created_by=user if user and user.is_authenticated else None)
    transaction.on_commit(lambda: job_send(job.id, kind))
    return job


def job_cancel(job: Job) -> bool:
    """Ask a job to stop; return whether it was still running or queued. A queued job ends at once; a
    running one at its next progress step (a second or so), keeping what it stored."""
    if job.finished:
        return False
    Job.objects.filter(id=job.id).update(cancel_requested=True)
    Job.objects.filter(id=job.id, state=Job.State.QUEUED).update(
        state=Job.State.CANCELLED, finished_at=timezone.now(), summary="cancelled before it started")
    return True


def _stale_before():
    return timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)


def job_claim(job_id: int) -> Optional[Job]:
    """Start a run of the job: return it (attempts counted, heartbeat now) or None when there is nothing
    to run (finished, cancelled, or running elsewhere with a fresh heartbeat)."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(id=job_id).first()
        if job is None or job.finished:
            return None
        if job.state == Job.State.RUNNING and job.heartbeat_at and job.heartbeat_at >= _stale_before():
            return None
        if job.cancel_requested:
            job.state, job.finished_at, job.summary = Job.State.CANCELLED, now, job.summary or "cancelled"
            job.save(update_fields=["state", "finished_at", "summary"])
            return None
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            job.state, job.finished_at = Job.State.FAILED, now
            job.error = f"its worker stopped {job.attempts} times while running it (JOB_MAX_ATTEMPTS); not run again"
            job.save(update_fields=["state", "finished_at", "error"])
            return None
        if job.state == Job.State.RUNNING:  # the worker of the last run died
            job.log += (f"\n--- run {job.attempts + 1}: the worker of run {job.attempts} stopped (no heartbeat since "
                        f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S}); started again, what was stored is kept ---\n")
        job.state, job.attempts, job.heartbeat_at = Job.State.RUNNING, job.attempts + 1, now
        job.started_at = job.started_at or now
        job.save(update_fields=["state", "attempts", "heartbeat_at", "started_at", "log"])
        return job


def job_progress_write(job_id: int, attempt: int, **fields) -> Optional[bool]:
    """Write a run's progress and heartbeat; return whether its cancel was asked for (None when this run
    no longer owns the job: a later run took it over)."""
    written = Job.objects.filter(id=job_id, attempts=attempt, state=Job.State.RUNNING).update(
        heartbeat_at=timezone.now(), **fields)
    if not written:
        return None
    return Job.objects.filter(id=job_id).values_list("cancel_requested", flat=True).first()


def job_finish(job_id: int, attempt: int, state: str, **fields) -> bool:
    """End a run: its final state and output (ignored when a later run took the job over)."""
    return bool(Job.objects.filter(id=job_id, attempts=attempt).exclude(state__in=Job.FINISHED).update(
        state=state, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields))


def jobs_requeue_stale() -> list[int]:
    """Send again every running job whose heartbeat stopped (its worker died); return their ids. The run
    that gets it claims it (job_claim), and fails it once JOB_MAX_ATTEMPTS runs have been started."""
    stale = list(Job.objects.filter(state=Job.State.RUNNING, heartbeat_at__lt=_stale_before())
                 .values_list("id", "kind"))
    for job_id, kind in stale:
        logger.warning("job %s: no heartbeat for %ss (its worker died?); sending it again",
                       job_id, settings.JOB_STALE_SECONDS)
        job_send(job_id, kind)
    return [job_id for job_id, _ in stale]
