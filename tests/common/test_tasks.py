"""The one task base: every task retries the same errors the same way, names its queue where it is
defined, and a broker that is down is logged after the commit, never raised."""
import base64
import json
import logging
import subprocess
import sys

import pytest
from django.conf import settings

from annotator.common.tasks import TRANSIENT, RetryingTask, task_send_on_commit
from annotator.config.celery import app
from reviews.tasks import face_flags_refresh
from tests.suggestions.test_worker import folder_broker, use_broker

# Pinned: queued messages and the beat schedule name them, so a move must not rename them.
PINNED = {
    "annotator.tasks.suggest_faces": settings.CELERY_MODEL_QUEUE,
    "annotator.tasks.suggest_missing": "default",
    "annotator.tasks.faces_reprioritise": "default",
    "annotator.tasks.claims_delete_forgotten": "default",
    "annotator.tasks.job_run": settings.CELERY_JOBS_QUEUE,
    "annotator.tasks.photo_upload_run": settings.CELERY_JOBS_QUEUE,
    "annotator.tasks.jobs_requeue_stale": settings.CELERY_JOBS_QUEUE,
    "reviews.tasks.face_flags_refresh": "default",
    "reviews.tasks.faces_flags_refresh": "default",
    "reviews.tasks.flags_refresh_stale": "default",
    "reviews.tasks.flags_drain": "default",
    "reviews.tasks.dashboard_figures_refresh": "default",
    "reviews.tasks.evaluation_intervals_refresh": "default",
    "reviews.tasks.block_changes_compact": "default",
}


def project_tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_has_the_one_retry_policy_its_pinned_name_and_its_queue():
    tasks = project_tasks()
    assert set(tasks) == set(PINNED)
    for name, task in tasks.items():
        assert isinstance(task, RetryingTask), name
        assert task.autoretry_for == TRANSIENT and task.acks_late and task.retry_backoff, name
        assert task.queue_name == PINNED[name], name
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= set(tasks)
    assert not hasattr(settings, "CELERY_TASK_ROUTES")  # no table of names to keep in step with the tasks


def test_a_task_reaches_the_queue_it_names_through_the_broker(tmp_path):
    from annotator.suggestions.tasks import suggest_faces

    with folder_broker(tmp_path) as queue:
        suggest_faces.delay([1, 2], None)
        face_flags_refresh.delay(1)
    queues = {}
    for path in queue.glob("*.msg"):
        message = json.loads(path.read_text())
        queues[message["headers"]["task"]] = message["properties"]["delivery_info"]["routing_key"]
        assert json.loads(base64.b64decode(message["body"]))[0] in ([[1, 2], None], [1])
    assert queues == {"annotator.tasks.suggest_faces": "model", "reviews.tasks.face_flags_refresh": "default"}


@pytest.mark.django_db
def test_a_broker_that_is_down_is_logged_after_the_commit_never_raised(django_capture_on_commit_callbacks, caplog):
    old = app.conf.broker_url, app.conf.broker_transport_options
    use_broker("redis://127.0.0.1:1/0", {})  # nothing listens there
    try:
        with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True) as callbacks:
            face_flags_refresh.delay_on_commit(7)
            task_send_on_commit("reviews.tasks.faces_flags_refresh", face_ids=[7])
            assert not caplog.records  # nothing is sent before the commit
        assert face_flags_refresh.enqueue(7) is False
    finally:
        use_broker(*old)
    assert len(callbacks) == 2
    warnings = [r.getMessage() for r in caplog.records if "could not queue" in r.getMessage()]
    assert len(warnings) == 3 and "reviews.tasks.face_flags_refresh (broker down?)" in warnings[0]
    assert "reviews.tasks.faces_flags_refresh (broker down?)" in warnings[1]


def test_a_fresh_worker_process_finds_every_task_module():
    """What a worker imports by itself (autodiscovery, no test module having imported the tasks): every
    tasks.py under annotator/ and reviews/ is found, so every pinned name is served."""
    code = ("import django, json; django.setup()\n"
            "from annotator.config.celery import app\n"
            "app.loader.import_default_modules()\n"
            "print(json.dumps(sorted(n for n in app.tasks if not n.startswith('celery.'))))")
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == sorted(PINNED)
