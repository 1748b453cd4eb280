"""The photo upload page's job: the request stored the files (default storage, uploads/<job id>/), a
worker on the jobs queue imports them here and deletes them once the job ends (a worker that died leaves
them for the run that takes the job over)."""
from celery import shared_task
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import CommandError

from annotator.common.progress import progress_bar
from annotator.jobs.runner import JobRun
from annotator.jobs.tasks import job_execute
from annotator.models import Job
from annotator.photos.upload import photos_upload


def uploads_delete(job: Job) -> None:
    """Remove the job's stored upload files (those that are still there)."""
    for stored in job.options.get("files", []):
        default_storage.delete(stored["stored"])
    try:  # the job's folder, on a file system (object stores have none)
        default_storage.delete(f"uploads/job-{job.id}")
    except OSError:
        pass


def _upload_body(job: Job, run: JobRun) -> dict:
    options = job.options
    opened = []
    try:
        for stored in options.get("files", []):
            upload = default_storage.open(stored["stored"], "rb")
            upload.name = stored["name"]  # the name the user gave: messages and sources name it
            opened.append(upload)
        bar = progress_bar(unit="photo", desc="photos", disable=True)
        no_face_as_candidates = bool(options.get("no_face_as_candidates"))
        summary = photos_upload(files=opened, split=options.get("split", "unassigned"),
                                no_face_as_candidates=no_face_as_candidates, refused=options.get("refused", []),
                                project=job.project, progress=bar.update)
    finally:
        for upload in opened:
            upload.close()
        uploads_delete(job)
    if summary.warning:
        run.stderr.write(f"warning: {summary.warning}\n")
    for message in summary.bad:
        run.stderr.write(f"bad: {message}\n")
    suffix = " (stored as a No-Face candidate)" if no_face_as_candidates else ""
    for name in summary.no_face:
        run.stdout.write(f"no face: {name}{suffix}\n")
    run.stdout.write(summary.line(no_face_as_candidates) + "\n")
    if summary.bad_count:  # as import_images: the rest was imported, the job says some was not
        raise CommandError(f"{summary.bad_count} file(s) skipped as bad input (listed above); the rest was imported")
    return {}


@shared_task(name="annotator.tasks.photo_upload_run", queue_name=settings.CELERY_JOBS_QUEUE, max_retries=3)
def photo_upload_run(job_id: int) -> None:
    """Import the photos and zips of an upload job."""
    job_execute(job_id, _upload_body)
