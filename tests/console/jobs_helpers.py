"""Shared by the console job tests: a labelled AffectNet folder, and a real worker on the jobs queue."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.affectnet_helpers import write_face
from tests.process_helpers import manage_env

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")


def labelled_folder(folder: Path, faces: int, *, first_id: int = 1) -> Path:
    """An AffectNet folder of `faces` labelled faces (every fifth in val_set)."""
    for face_id in range(first_id, first_id + faces):
        split = "val" if face_id % 5 == 0 else "train"
        category = face_id % 8
        write_face(folder / f"{split}_set", face_id, category=category, valence=0.25, arousal=-0.5)
    return folder


class JobsWorker:
    """A real `celery -A annotator worker -Q jobs` subprocess against the test database and Redis."""

    def __init__(self, tmp_path: Path, broker_url: str, **env):
        self.log_path = tmp_path / f"jobs-worker-{os.getpid()}-{id(self)}.log"
        self.env = manage_env(tmp_path, REDIS_URL=broker_url, LOG_LEVEL="INFO", JOB_HEARTBEAT_SECONDS="0.2",
                              JOB_STALE_SECONDS="2", CELERY_VISIBILITY_TIMEOUT="3600", IMPORT_BATCH_SIZE="5", **env)
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", settings.CELERY_JOBS_QUEUE,
             "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def jobs_inline(settings, django_capture_on_commit_callbacks):
    """Returns post(client, url, data, **extra): the POST, then the job it started run here (its task's
    body, called as the worker calls it, inside the test's transaction), then the job's page.
    No heartbeat meanwhile: its thread's own connection would not see the test's uncommitted job."""
    from annotator.jobs.tasks import job_run
    from annotator.models import Job
    from annotator.photos.tasks import photo_upload_run

    settings.JOB_HEARTBEAT_SECONDS = 3600

    def post(client, url, data, follow=True, **extra):
        with django_capture_on_commit_callbacks(execute=False):  # nothing sent to a broker
            response = client.post(url, data, **extra)
        location = response.get("Location", "") if response.status_code == 302 else ""
        if follow and location.startswith("/console/jobs/"):
            job = Job.objects.get(id=int(location.strip("/").split("/")[-1]))
            (photo_upload_run if job.kind == Job.Kind.PHOTO_UPLOAD else job_run)(job.id)
            return client.get(location)
        return response

    return post


@pytest.fixture
def jobs_worker(tmp_path, redis_broker):
    """A real worker on the jobs queue, this process sending to the same Redis (the test module imports
    redis_broker from tests.suggestions.test_worker beside this fixture)."""
    worker = JobsWorker(tmp_path, redis_broker).start()
    yield worker
    worker.stop()


def job_page_finished(page) -> str:
    """Wait until a job's page shows it finished (its script polls); return its summary, failing unless
    it succeeded."""
    page.wait_for_selector(", ".join(f"#job-state[data-state={s}]" for s in ("succeeded", "failed", "cancelled")),
                           timeout=90_000)
    assert page.inner_text("#job-state") == "succeeded", page.inner_text("#job")
    return page.inner_text("#job-summary")
