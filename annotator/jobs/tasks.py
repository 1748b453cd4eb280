"""The console's jobs on the `jobs` queue: each kind runs the same management command as the terminal
(so its log holds the same lines), with progress and cancel through annotator.common.progress.
Photo uploads run in annotator.photos.tasks, through the same JobRun."""
import logging
import os
import tempfile
import zipfile
from pathlib import Path

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.common.paths import PathNotAllowed, data_root_path
from annotator.common.progress import JobCancelled, progress_bar
from annotator.jobs.runner import JobRun
from annotator.jobs.services import job_claim, jobs_requeue_stale
from annotator.models import Job

logger = logging.getLogger(__name__)


def chosen_path(option: dict) -> str:
    """The absolute path of a {"root": index, "path": relative} option, checked again here."""
    return str(data_root_path(option["root"], option.get("path", "")))


def command_call(job: Job) -> tuple[str, list, dict]:
    """The management command a job runs: its name, arguments and options (as on the terminal)."""
    options, kind = job.options, job.kind
    common = {"project": job.project.slug if job.project else "", "no_progress": True}
    if options.get("workers"):
        common["workers"] = int(options["workers"])
    if kind in (Job.Kind.AFFECTNET_IMPORT, Job.Kind.CSV_IMPORT):
        common.update(labels=options.get("labels", "annotations"), split=options.get("split") or None)
        if options.get("user"):
            common["user"] = options["user"]
        if kind == Job.Kind.AFFECTNET_IMPORT:
            return "import_affectnet", [chosen_path(options["folder"])], common
        return "import_affectnet_csv", [chosen_path(options["csv"])], {**common, "images": chosen_path(options["images"])}
    if kind == Job.Kind.PHOTOS_IMPORT:
        return "import_images", [chosen_path(options["folder"])], {
            **common, "split": options.get("split") or "unassigned",
            "no_face_as_candidates": bool(options.get("no_face_as_candidates"))}
    if kind == Job.Kind.EXPORT_AFFECTNET:
        return "export_affectnet", [chosen_path(options["out"])], {
            **common, "categories": options.get("categories") or None, "split": options.get("splits") or None,
            "csv": bool(options.get("csv")), "answers": bool(options.get("answers")),
            "names": bool(options.get("names")), "force": bool(options.get("force"))}
    if kind == Job.Kind.ASSIGN_SPLITS:  # the plan the lead previewed, refused if the faces changed since
        return "assign_splits", [], {
            "project": common["project"], "shares": options["shares"], "faces": options["faces"],
            "seed": int(options["seed"]), "expect_digest": options["digest"], "by": options.get("by") or None}
    raise ValueError(f"job {job.id}: kind {kind!r} is not run by a command")


def export_zip(job: Job, run: JobRun, folder: Path) -> str:
    """Zip a finished export folder into default storage (exports/job-<id>/<folder>.zip), through the
    storage API only (S3 too); return the stored name. A cancel here leaves no zip behind."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    tmp_dir = Path(settings.VAR_DIR) / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(suffix=".zip", dir=tmp_dir)
    os.close(handle)
    try:
        bar = progress_bar(total=len(files), unit="file", desc="zip", disable=True)
        with zipfile.ZipFile(tmp_name, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
                bar.update(1)
        with open(tmp_name, "rb") as data:
            stored = default_storage.save(f"exports/job-{job.id}/{folder.name}.zip", File(data))
    finally:
        os.unlink(tmp_name)
    run.stdout.write(f"zipped {len(files)} files into {stored} ({default_storage.size(stored)} bytes)\n")
    return stored


def job_execute(job_id: int, body) -> None:
    """Claim the job and run body(job, run) -> extra fields of the finished row, recording how it ended."""
    job = job_claim(job_id)
    if job is None:
        logger.info("job %s: nothing to run (finished, cancelled or running elsewhere)", job_id)
        return
    run = JobRun(job)
    try:
        with run.running():
            fields = body(job, run) or {}
    except JobCancelled:
        run.stderr.write(f"cancelled after {run.done} of {run.total or '?'}; what was stored before is kept\n")
        run.finish(Job.State.CANCELLED)
    except (CommandError, PathNotAllowed) as exc:
        run.finish(Job.State.FAILED, error=str(exc))
    except Exception as exc:  # noqa: BLE001  (a bug or bad data: the job says so; the worker goes on)
        logger.exception("job %s failed", job_id)
        run.finish(Job.State.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        run.finish(Job.State.SUCCEEDED, **fields)


def command_line(name: str, args: list, options: dict) -> str:
    """The command as typed on a terminal, for the job's log (the options given, flags without a value)."""
    words = ["manage.py", name, *map(str, args)]
    for key, value in options.items():
        if value is None or value is False or value == "" or value == []:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            words.append(flag)
        else:
            words += [flag, *map(str, value if isinstance(value, list | tuple) else [value])]
    return "$ " + " ".join(words)


def _command_body(job: Job, run: JobRun) -> dict:
    name, args, options = command_call(job)
    run.stderr.write(command_line(name, args, options) + "\n")
    call_command(name, *args, **options, stdout=run.stdout, stderr=run.stderr)
    if job.kind == Job.Kind.EXPORT_AFFECTNET:
        return {"result_name": export_zip(job, run, Path(args[0]))}
    return {}


@shared_task(name="annotator.tasks.job_run", queue_name=settings.CELERY_JOBS_QUEUE, max_retries=3)
def job_run(job_id: int) -> None:
    """Run a console job of a command's kind (import or export)."""
    job_execute(job_id, _command_body)


@shared_task(name="annotator.tasks.jobs_requeue_stale", queue_name=settings.CELERY_JOBS_QUEUE, max_retries=1)
def jobs_requeue_stale_task() -> None:
    """Send again the jobs whose worker died (beat, every JOB_SWEEP_SECONDS)."""
    jobs_requeue_stale()


@worker_ready.connect
def _requeue_on_worker_start(sender=None, **kwargs):
    """A worker, once started, has the jobs of a worker that died (it may be this one, restarted) sent
    again, instead of waiting for beat (the sweep goes to the jobs queue, whichever worker sends it)."""
    try:
        jobs_requeue_stale_task.apply_async(queue=settings.CELERY_JOBS_QUEUE)
    except Exception as exc:  # noqa: BLE001  (the broker is down: beat's sweep comes later)
        logger.warning("could not queue the stale-jobs sweep: %r", exc)
