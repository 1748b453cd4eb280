"""The suggestion worker with the real parts: Redis, a `celery -A annotator worker` subprocess, the model."""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from annotator import signals
from annotator.config.celery import app
from annotator.domain.categories import HAPPINESS, SADNESS, rarity_priority
from annotator.faces.store import NewFace, faces_store
from annotator.models import Annotation, Face, Suggestion
from annotator.suggestions.services import suggester_active_get_or_create
from reviews.models import Flag, FlagCheck
from tests.conftest import wait_for
from tests.process_helpers import database_url

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DATA = Path(__file__).resolve().parents[1] / "data"
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def roles(transactional_db):
    """The role groups (a data migration makes them; an earlier transactional test's flush drops them)."""
    from django.contrib.auth.models import Group

    for name in ("annotator", "reviewer", "admin"):
        Group.objects.get_or_create(name=name)



def use_broker(url, options=None):
    """Point this process's Celery app (the producer side) at a broker URL, dropping pooled connections."""
    from kombu import pools

    app.conf.broker_url = url
    app.conf.broker_transport_options = {"visibility_timeout": 3} if options is None else options
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def folder_broker(tmp_path):
    """This process's Celery app on the filesystem broker in folders of the test's own; yields the folder
    of queued messages (*.msg) and points the app back at its broker after."""
    folders = {name: tmp_path / name for name in ("queue", "control", "processed")}
    for folder in folders.values():
        folder.mkdir()
    old = app.conf.broker_url, app.conf.broker_transport_options
    use_broker("filesystem://localhost", {
        "data_folder_in": str(folders["queue"]), "data_folder_out": str(folders["queue"]),
        "control_folder": str(folders["control"]), "processed_folder": str(folders["processed"]),
    })
    try:
        yield folders["queue"]
    finally:
        use_broker(*old)


class Worker:
    """A real `celery -A annotator worker` subprocess on both queues, against the test database."""

    def __init__(self, broker_url, log_path, **env):
        self.broker_url, self.log_path, self.extra_env, self.proc = broker_url, log_path, env, None

    def start(self):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "annotator.config.settings",
            "DATABASE_URL": database_url(),
            "REDIS_URL": self.broker_url,
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "CELERY_VISIBILITY_TIMEOUT": "3",
            "SUGGEST_DEVICE": "cpu",
            "LOG_LEVEL": "INFO",
            **self.extra_env,
        }
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", "model,default", "--pool=solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
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

    def output(self, full=False):
        text = Path(self.log_path).read_text(errors="replace")
        return text if full else text[-3000:]


@pytest.fixture
def redis_broker():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()  # messages left by an earlier run would name faces that no longer exist
    old = app.conf.broker_url, app.conf.broker_transport_options
    use_broker(REDIS_URL)
    yield REDIS_URL
    client.flushdb()
    use_broker(*old)


@pytest.fixture
def worker_factory(tmp_path):
    workers = []

    def start(broker_url, **env):
        worker = Worker(broker_url, tmp_path / f"worker{len(workers)}.log", **env).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def photo(name):
    return (DATA / name).read_bytes()


def variants(name, count):
    """Distinct crops (distinct content hashes) of one photo: trailing bytes after JPEG's end marker."""
    data = photo(name)
    return [NewFace(crop_jpeg=data + b"\0" * i, source=f"{name}#{i}") for i in range(count)]


def save_answer(face, user, category, valence, arousal):
    """Store or change one answer and announce it on commit, as the submit service does."""
    with transaction.atomic():
        answer, _ = Annotation.objects.update_or_create(
            face=face, annotator=user, defaults={"category": category, "valence": valence, "arousal": arousal}
        )
        transaction.on_commit(lambda: signals.answer_saved.send(sender=Annotation, face_id=face.id,
                                                                annotation_id=answer.id))
    return answer


def test_imported_faces_get_suggestions_and_a_disagreeing_answer_is_flagged(
    data_root, redis_broker, worker_factory, annotator_user
):
    worker = worker_factory(redis_broker)
    suggester = suggester_active_get_or_create()
    faces = faces_store([NewFace(crop_jpeg=photo(n), source=n) for n in
                         ("smiling_obama_224.jpg", "biden_224.jpg", "speaking_obama_224.jpg")])
    ids = [f.id for f in faces]

    def all_suggested():
        return Suggestion.objects.filter(face_id__in=ids, suggester=suggester).count() == 3

    try:
        wait_for(all_suggested, 90, "suggestions from the worker")
    except AssertionError:
        raise AssertionError(worker.output()) from None
    smiling = Suggestion.objects.get(face_id=ids[0], suggester=suggester)
    assert smiling.category == HAPPINESS and smiling.confidence >= 0.6
    assert len(smiling.probabilities) == 11 and smiling.valence > 0
    for s in Suggestion.objects.filter(face_id__in=ids):
        assert Face.objects.get(id=s.face_id).queue_priority == pytest.approx(rarity_priority(s.category))

    # The annotator says Sadness where the model is sure of Happiness: a flag with its evidence.
    face = Face.objects.get(id=ids[0])
    answer = save_answer(face, annotator_user, SADNESS, -0.6, -0.3)
    flag = wait_for(lambda: Flag.objects.filter(face=face, reason=Flag.Reason.ANNOTATOR_VS_MODEL,
                                                status=Flag.Status.OPEN).first(), 30, "a model flag")
    assert flag.evidence["answer"]["annotation_id"] == answer.id
    assert flag.evidence["answer"]["category"] == SADNESS
    assert flag.evidence["suggestion"]["category"] == HAPPINESS
    assert flag.evidence["suggestion"]["probability"] >= settings.FLAG_MODEL_MIN_PROBABILITY
    assert flag.evidence["va_distance"] > 1.0
    wait_for(lambda: Face.objects.get(id=face.id).needs_review, 10, "needs_review")

    # The answer changes to agree: the flag's cause is gone and it closes by itself.
    save_answer(face, annotator_user, HAPPINESS, 0.6, 0.3)
    wait_for(lambda: Flag.objects.get(id=flag.id).status == Flag.Status.CLOSED, 30, "the flag to close")
    wait_for(lambda: not Face.objects.get(id=face.id).needs_review, 10, "needs_review cleared")
    assert Suggestion.objects.filter(face_id__in=ids).count() == 3  # nothing stored twice


def test_killed_worker_loses_no_face_and_stores_none_twice(data_root, redis_broker, worker_factory, settings):
    settings.SUGGEST_TASK_SIZE = 150  # one task for all faces: the kill lands inside it
    suggester = suggester_active_get_or_create()
    worker = worker_factory(redis_broker, SUGGEST_BATCH_SIZE="2", SUGGEST_DECODE_THREADS="1")
    faces = faces_store(variants("biden_224.jpg", 150))
    ids = [f.id for f in faces]
    done = lambda: Suggestion.objects.filter(suggester=suggester, face_id__in=ids).count()  # noqa: E731
    try:
        wait_for(lambda: done() >= 4, 90, "the first batches")
    except AssertionError:
        raise AssertionError(worker.output()) from None
    worker.kill9()
    at_kill = done()
    assert 0 < at_kill < len(ids), f"the kill should land mid-task ({at_kill} of {len(ids)} stored)"

    worker_factory(redis_broker, SUGGEST_BATCH_SIZE="16")  # the unacknowledged task is delivered again
    wait_for(lambda: done() == len(ids), 120, "every face suggested after the restart")
    assert Suggestion.objects.filter(suggester=suggester).count() == len(ids)
    assert set(Suggestion.objects.filter(suggester=suggester).values_list("face_id", flat=True)) == set(ids)


def test_a_dead_workers_batch_goes_to_a_running_worker_at_the_visibility_timeout(
    data_root, redis_broker, worker_factory, settings
):
    """Redelivery comes CELERY_RESTORE_SECONDS after CELERY_VISIBILITY_TIMEOUT at most, also to a worker
    that was already running (kombu's own sweep of a running worker came up to 100 s late)."""
    # One task for all faces, one face a forward pass: the first worker is still inside it when the
    # second has started (a few seconds) and the kill comes.
    faces = 800
    settings.SUGGEST_TASK_SIZE = faces
    visibility, restore = 8, 1
    timing = {"CELERY_VISIBILITY_TIMEOUT": str(visibility), "CELERY_RESTORE_SECONDS": str(restore),
              "SUGGEST_BATCH_SIZE": "1", "SUGGEST_DECODE_THREADS": "1"}
    suggester = suggester_active_get_or_create()
    first = worker_factory(redis_broker, **timing)
    ids = [f.id for f in faces_store(variants("biden_224.jpg", faces))]
    done = lambda: Suggestion.objects.filter(suggester=suggester, face_id__in=ids).count()  # noqa: E731
    try:
        wait_for(lambda: done() >= 2, 90, "the first batches")
    except AssertionError:
        raise AssertionError(first.output()) from None
    second = worker_factory(redis_broker, **timing)  # running, idle, before the batch's lease runs out
    wait_for(lambda: "ready." in second.output(full=True), 60, "the second worker")
    first.kill9()
    killed_at = datetime.now()
    assert done() < len(ids), "the first worker finished the batch before the kill: nothing to redeliver"
    wait_for(lambda: done() == len(ids), 200, "every face suggested by the second worker")
    received = re.search(r"\[([\d-]+ [\d:,]+): INFO/MainProcess\] Task annotator\.tasks\.suggest_faces\[[^\]]+\] "
                         r"received", second.output(full=True))
    assert received, "the second worker never received the batch:\n" + second.output()
    delay = (datetime.strptime(received.group(1), "%Y-%m-%d %H:%M:%S,%f") - killed_at).total_seconds()
    print(f"redelivered {delay:.1f} s after the kill (visibility timeout {visibility} s, restore sweep {restore} s)")
    # The lease began before the kill, so the batch is due at most `visibility` s after it.
    assert delay <= visibility + restore + 3, f"redelivered {delay:.1f} s after the kill"
    assert Suggestion.objects.filter(suggester=suggester).count() == len(ids)


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own (port 6390), which the test stops and starts again."""
    port = int(os.environ.get("REDIS_OUTAGE_PORT", "6390"))
    redis_server = shutil.which("redis-server")
    assert redis_server, "redis-server is missing (apt-get install redis-server; .ci/run does)"
    cmd = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(tmp_path)]
    state = {"proc": None}

    def start():
        state["proc"] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        wait_for(lambda: _ping(redis.Redis(port=port)), 10, "redis-server")

    def stop():
        state["proc"].terminate()
        state["proc"].wait(10)

    start()
    yield f"redis://127.0.0.1:{port}/0", start, stop
    if state["proc"].poll() is None:
        stop()


def _ping(client):
    try:
        return client.ping()
    except Exception:
        return False


def test_answers_saved_while_redis_is_down_are_flagged_once_it_is_back(
    data_root, own_redis, worker_factory, annotator_user, second_annotator
):
    url, start_redis, stop_redis = own_redis
    old = app.conf.broker_url, app.conf.broker_transport_options
    use_broker(url)
    try:
        stop_redis()
        # Faces and answers arrive while the broker is down: stored, no error raised to the caller.
        faces = faces_store(variants("speaking_obama_224.jpg", 2))
        first = save_answer(faces[0], annotator_user, HAPPINESS, 0.6, 0.3)
        second = save_answer(faces[0], second_annotator, SADNESS, -0.6, -0.3)
        assert Annotation.objects.filter(id__in=[first.id, second.id]).count() == 2
        assert not Flag.objects.exists()

        start_redis()
        worker_factory(url)
        from reviews.tasks import flags_refresh_stale

        flags_refresh_stale.delay()  # what the periodic sweep sends
        flag = wait_for(lambda: Flag.objects.filter(face=faces[0], reason=Flag.Reason.ANNOTATOR_VS_ANNOTATOR,
                                                    status=Flag.Status.OPEN).first(), 60, "the sweep's flag")
        assert {a["annotation_id"] for a in flag.evidence["answers"]} == {first.id, second.id}
        assert flag.evidence["category_differs"] is True
        # And the suggestions lost while Redis was down are queued again by `suggest`.
        from django.core.management import call_command

        call_command("suggest")
        wait_for(lambda: Suggestion.objects.filter(face__in=faces).count() == 2, 90, "suggestions after the outage")
    finally:
        use_broker(*old)


def test_the_stale_sweep_reaches_every_face_through_the_broker_a_batch_a_task(
    data_root, redis_broker, worker_factory, annotator_user
):
    """flags_refresh_stale takes SWEEP_BATCH_SIZE faces and queues itself for the rest: five stale faces,
    batches of two, three tasks through Redis."""
    from reviews.tasks import flags_refresh_stale
    from tests.queue.test_queue import make_face

    faces = [make_face(n) for n in range(5)]  # rows only: nothing queued for them
    for face in faces:
        Annotation.objects.create(face=face, annotator=annotator_user, category=HAPPINESS, valence=0.6, arousal=0.3)
    worker = worker_factory(redis_broker, SWEEP_BATCH_SIZE="2")
    flags_refresh_stale.delay()
    try:
        wait_for(lambda: FlagCheck.objects.filter(face__in=faces).count() == 5, 60, "every stale face checked")
    except AssertionError:
        raise AssertionError(worker.output()) from None
    received = re.findall(r"Task reviews\.tasks\.flags_refresh_stale\[[^\]]+\] received", worker.output(full=True))
    assert len(received) == 3  # 2 + 2 + 1: the last batch is short, so it queues no fourth



def test_a_burst_of_answers_queues_a_drain_or_two_and_every_face_gets_its_flags(
    data_root, redis_broker, worker_factory, annotator_user, second_annotator
):
    """Answers saved as fast as this process can: the flag checks are coalesced. 200 answers with no
    worker running queue one drain, which the worker runs a batch a task; 100 more while it runs never
    hold more than a drain or two in the queue. Every face ends checked after its last answer, flagged
    where its answers disagree."""
    import redis

    from benchmarks.pipeline_load import _queue_depths
    from reviews.flagging import faces_with_stale_flags
    from reviews.models import FlagPending
    from tests.queue.test_queue import make_face

    client = redis.Redis.from_url(redis_broker)
    faces = [make_face(n) for n in range(100)]
    ids = [f.id for f in faces]

    def burst(disagreeing, *, first):
        depths = []
        for face in faces:
            if first:
                save_answer(face, annotator_user, HAPPINESS, 0.6, 0.3)
            if face.id in disagreeing:
                save_answer(face, second_annotator, SADNESS, -0.6, -0.3)
            else:
                save_answer(face, second_annotator, HAPPINESS, 0.5, 0.3)
            depths.append(_queue_depths(client)["default"])
        return depths

    def flagged():
        return set(Flag.objects.filter(face__in=faces, reason=Flag.Reason.ANNOTATOR_VS_ANNOTATOR,
                                       status=Flag.Status.OPEN).values_list("face_id", flat=True))

    def settled(worker):
        try:
            wait_for(lambda: not FlagPending.objects.exists() and not faces_with_stale_flags().filter(id__in=ids).exists(),
                     120, "every pending face checked")
        except AssertionError:
            raise AssertionError(worker.output()) from None

    # 200 answers, no worker yet: one task queued, not 200.
    disagreeing = {face.id for n, face in enumerate(faces) if n % 3 == 0}
    depths = burst(disagreeing, first=True)
    assert max(depths) == 1 and depths[-1] == 1
    assert FlagPending.objects.count() == 100
    worker = worker_factory(redis_broker, FLAG_DRAIN_BATCH_SIZE="40")
    settled(worker)
    log = worker.output(full=True)
    assert len(re.findall(r"Task reviews\.tasks\.flags_drain\[[^\]]+\] received", log)) == 3  # 40 + 40 + 20
    assert "reviews.tasks.face_flags_refresh[" not in log
    assert flagged() == disagreeing

    # 100 answers changed while the worker runs: the queue holds a drain or two at every moment.
    disagreeing = {face.id for n, face in enumerate(faces) if n % 3 == 1}
    depths = burst(disagreeing, first=False)
    settled(worker)
    drains = len(re.findall(r"Task reviews\.tasks\.flags_drain\[[^\]]+\] received", worker.output(full=True)))
    print(f"100 answers with the worker running: {drains - 3} drains, queue depth at most {max(depths)}")
    assert max(depths) <= 2, depths
    assert flagged() == disagreeing
    assert set(Face.objects.filter(id__in=ids, needs_review=True).values_list("id", flat=True)) == disagreeing
