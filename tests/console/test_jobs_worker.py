"""Console jobs with the real parts: Redis, a `celery -A annotator worker -Q jobs` subprocess, the test
database. A cancelled import keeps the batches it stored, each whole; a worker killed with SIGKILL
mid-import leaves the job `running` with a stale heartbeat, and the next worker's start sends it again:
it finishes, every face stored once."""
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotator.models import Annotation, Face, Job
from tests.conftest import make_user, wait_for
from tests.console.jobs_helpers import JobsWorker, labelled_folder
from tests.suggestions.test_worker import redis_broker, use_broker  # noqa: F401  (fixture; the producer side)

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FACES = 600
BATCH = 5  # IMPORT_BATCH_SIZE of the worker (tests/console/jobs_helpers.py)


@pytest.fixture
def workers(tmp_path, redis_broker):
    started = []

    def start():
        worker = JobsWorker(tmp_path, redis_broker).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def lead_client(data_root):
    client = Client()
    client.force_login(make_user("lead", "admin"))
    labelled_folder(data_root / "src", FACES)
    return client


def import_start(client) -> Job:
    response = client.post("/console/jobs/import/", {"kind": "affectnet_import", "project": "default", "root": 0,
                                                     "folder": "src", "labels": "annotations"})
    assert response.status_code == 302, response.content.decode()[-2000:]
    return Job.objects.latest("id")


def job_when(job_id, predicate, timeout, what, worker):
    def check():
        job = Job.objects.get(id=job_id)
        return job if predicate(job) else None
    try:
        return wait_for(check, timeout=timeout, what=what, interval=0.05)
    except AssertionError:
        raise AssertionError(f"{what}: {Job.objects.get(id=job_id).__dict__}\n{worker.output()}") from None


def assert_whole_batches():
    """Every stored face has its answer and final label; whole batches only (each commits at once)."""
    faces = Face.objects.count()
    assert Annotation.objects.count() == faces
    assert not Face.objects.filter(final_category__isnull=True).exists()
    assert Face.objects.values("content_hash").distinct().count() == faces
    return faces


def test_a_cancelled_import_keeps_what_it_stored_and_nothing_half(lead_client, workers):
    worker = workers()
    job = import_start(lead_client)
    job_when(job.id, lambda j: j.state == "running" and j.done >= 40, 60, "the import under way", worker)
    assert lead_client.post(f"/console/jobs/{job.id}/cancel/").status_code == 302
    job = job_when(job.id, lambda j: j.finished, 30, "the job to end", worker)
    assert job.state == Job.State.CANCELLED, (job.error, job.log)
    stored = assert_whole_batches()
    assert 0 < stored < FACES and stored % BATCH == 0, stored
    assert "cancelled after" in job.log and "what was stored before is kept" in job.log
    # The same import again: the faces stored before are skipped, the rest stored.
    again = import_start(lead_client)
    again = job_when(again.id, lambda j: j.finished, 120, "the second import", worker)
    assert again.state == Job.State.SUCCEEDED, (again.error, again.log)
    assert assert_whole_batches() == FACES
    assert f"imported {FACES - stored} faces" in again.summary and f"already present {stored}" in again.summary


def test_a_job_whose_worker_was_killed_runs_again_on_the_next_worker(lead_client, workers):
    first = workers()
    job = import_start(lead_client)
    job_when(job.id, lambda j: j.state == "running" and j.done >= 40, 60, "the import under way", first)
    first.kill9()
    killed = Job.objects.get(id=job.id)
    assert killed.state == Job.State.RUNNING and killed.attempts == 1
    stored = assert_whole_batches()
    assert 0 < stored < FACES
    # Its heartbeat goes stale (JOB_STALE_SECONDS=2 in the worker's environment); the broker would give the
    # message back only after CELERY_VISIBILITY_TIMEOUT (an hour): the next worker's start sends it again.
    wait_for(lambda: Job.objects.get(id=job.id).heartbeat_at < timezone.now() - timedelta(seconds=2.5),
             timeout=10, what="a stale heartbeat")
    second = workers()
    job = job_when(job.id, lambda j: j.finished, 180, "the job run again", second)
    assert job.state == Job.State.SUCCEEDED, (job.error, job.log, second.output())
    assert job.attempts == 2 and "started again, what was stored is kept" in job.log
    assert assert_whole_batches() == FACES
    time.sleep(0.5)
    assert Job.objects.get(id=job.id).state == Job.State.SUCCEEDED
