"""Task events, with the real parts: a `celery -A annotator worker` subprocess on Redis sends them, and Celery's
event receiver (what Flower and `celery events` use) reads them from the same Redis database."""
import os
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings

from annotator.config.celery import app
from tests.conftest import wait_for
from tests.process_helpers import database_url
from tests.suggestions.test_worker import redis_broker  # noqa: F401  (fixture: the test Redis, flushed)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


class EventLog:
    """Celery's event receiver in a thread, keeping every event it gets by type."""

    def __init__(self):
        self.events = defaultdict(list)
        self.connection = app.connection_for_read()
        self.receiver = app.events.Receiver(self.connection, handlers={"*": self.keep})
        self.thread = threading.Thread(target=self.receiver.capture, kwargs={"limit": None, "timeout": None},
                                       daemon=True)

    def keep(self, event):
        self.events[event["type"]].append(event)

    def of(self, kind, **fields):
        return [e for e in self.events[kind] if all(e.get(k) == v for k, v in fields.items())]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.receiver.should_stop = True
        self.thread.join(10)
        self.connection.release()


@pytest.fixture
def events_worker(redis_broker, tmp_path):  # noqa: F811
    """A worker on the default queue, as a deployment starts it (no --without-heartbeat: its heartbeats are
    events too)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "annotator.config.settings", "DATABASE_URL": database_url(),
           "REDIS_URL": redis_broker, "MEDIA_ROOT": str(settings.MEDIA_ROOT), "VAR_DIR": str(tmp_path / "var"),
           "LOG_LEVEL": "INFO"}
    log_path = tmp_path / "worker.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", settings.CELERY_TASK_DEFAULT_QUEUE,
             "--concurrency", "1", "-n", "events@%h", "-l", "info"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield proc, log_path
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_a_worker_sends_task_events_that_a_receiver_on_the_broker_reads(events_worker):
    from reviews.tasks import flags_refresh_stale

    proc, log_path = events_worker
    assert app.conf.worker_send_task_events and app.conf.task_send_sent_event
    with EventLog() as log:
        try:
            # The receiver is consuming, and the worker is up, once its first heartbeat arrives.
            wait_for(lambda: log.of("worker-heartbeat") or log.of("worker-online"), 90, "the worker's first event")
        except AssertionError:
            raise AssertionError(log_path.read_text()[-3000:]) from None
        result = flags_refresh_stale.apply_async()
        wait_for(lambda: log.of("task-succeeded", uuid=result.id), 60, "task-succeeded from the worker")

    [sent] = log.of("task-sent", uuid=result.id)  # from this process, the producer
    assert sent["name"] == "reviews.tasks.flags_refresh_stale" and sent["queue"] == settings.CELERY_TASK_DEFAULT_QUEUE
    for kind in ("task-received", "task-started", "task-succeeded"):
        [event] = log.of(kind, uuid=result.id)
        assert event["hostname"].startswith("events@"), event
    assert log.of("task-received", uuid=result.id)[0]["name"] == "reviews.tasks.flags_refresh_stale"
    assert proc.poll() is None


def flower_get(url, auth=None):
    """(status, JSON body or None) of a GET to Flower, with basic auth "user:password" if given."""
    import base64
    import json
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except OSError:
        return None, None


def test_flower_asks_for_its_password_and_shows_the_workers_tasks(events_worker, tmp_path):
    """The README's Flower command (on a free port instead of 5555), with FLOWER_BASIC_AUTH as compose sets it."""
    from reviews.tasks import flags_refresh_stale
    from tests.config.test_quickstart import free_port

    proc, log_path = events_worker
    port, auth = free_port(), "lead:flower-test-password"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "annotator.config.settings", "DATABASE_URL": database_url(),
           "REDIS_URL": app.conf.broker_url, "VAR_DIR": str(tmp_path / "flower-var"), "FLOWER_BASIC_AUTH": auth}
    with open(tmp_path / "flower.log", "wb") as log:
        flower = subprocess.Popen([sys.executable, "-m", "celery", "-A", "annotator", "flower", f"--port={port}",
                                   "--address=127.0.0.1"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for(lambda: flower_get(f"{base}/api/workers", auth)[0] == 200, 90, "Flower")
        except AssertionError:
            raise AssertionError((tmp_path / "flower.log").read_text()[-3000:]) from None
        assert flower_get(f"{base}/api/workers")[0] == 401
        assert flower_get(f"{base}/api/workers", "lead:wrong")[0] == 401
        workers = wait_for(lambda: flower_get(f"{base}/api/workers?refresh=1", auth)[1], 60, "Flower's workers")
        assert any(name.startswith("events@") for name in workers), workers
        result = flags_refresh_stale.apply_async()
        task = wait_for(lambda: (flower_get(f"{base}/api/task/info/{result.id}", auth)[1] or {}).get("state")
                        == "SUCCESS", 60, "the task's success in Flower")
        assert task
    finally:
        flower.terminate()
        try:
            flower.wait(15)
        except subprocess.TimeoutExpired:
            flower.kill()
            flower.wait(5)
