"""Reads of the console's jobs."""
from annotator.models import Job


def jobs_recent(limit: int = 100):
    """The latest jobs, newest first, with their project and creator."""
    return Job.objects.select_related("project", "created_by").defer("log", "summary")[:limit]


def job_get(job_id: int) -> Job:
    return Job.objects.select_related("project", "created_by").get(id=job_id)


def job_status(job: Job) -> dict:
    """What the pages poll: the job's state, progress and output."""
    return {
        "id": job.id, "kind": job.kind, "kind_label": job.get_kind_display(), "state": job.state,
        "done": job.done, "total": job.total, "percent": job.percent, "cancel_requested": job.cancel_requested,
        "finished": job.finished, "error": job.error, "summary": job.summary, "log": job.log,
        "attempts": job.attempts, "download": bool(job.result_name) and job.state == Job.State.SUCCEEDED,
    }


def jobs_status(ids) -> list[dict]:
    """Progress of several jobs (the list page), without their logs."""
    return [{key: value for key, value in job_status(job).items() if key not in ("log", "summary")}
            for job in Job.objects.filter(id__in=list(ids)[:200])]
