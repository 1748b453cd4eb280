"""The zero-setup broker (kombu's filesystem transport, what quickstart runs): an import queues work in
batches, and a real worker drains it."""
import base64
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from annotator.config.celery import app
from annotator.models import Face
from reviews.models import FlagCheck
from tests.affectnet_helpers import write_face
from tests.conftest import wait_for
from tests.suggestions.test_worker import Worker, use_broker

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def embedded_broker(tmp_path):
    """A filesystem broker in this test's own folder (VAR_DIR/broker, as the settings lay it out)."""
    var_dir = tmp_path / "var"
    folders = {name: var_dir / "broker" / name for name in ("queue", "control", "processed")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    old = app.conf.broker_url, app.conf.broker_transport_options
    use_broker("filesystem://localhost", {
        "data_folder_in": str(folders["queue"]), "data_folder_out": str(folders["queue"]),
        "control_folder": str(folders["control"]), "processed_folder": str(folders["processed"]),
        "store_processed": False,
    })
    yield var_dir, folders["queue"]
    use_broker(*old)


def queued_tasks(folder: Path) -> list:
    """Return (task name, args) of every message waiting in the broker's folder."""
    tasks = []
    for path in folder.glob("*.msg"):
        message = json.loads(path.read_text())
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], args))
    return tasks


def import_labelled(root: Path, count: int):
    for i in range(1, count + 1):
        write_face(root / "train_set", i, category=1 + i % 7, valence=0.3, arousal=0.2)
    call_command("import_affectnet", str(root), "--labels", "annotations", "--no-progress", stdout=io.StringIO())


def test_an_import_queues_its_flag_refreshes_per_batch_not_per_face(data_root, embedded_broker, settings):
    """300 labelled faces queued 300 flag refreshes, one a face; the broker drained one a second."""
    _, queue = embedded_broker
    import_labelled(data_root / "release", 300)
    call_command("suggest", "--now", stdout=io.StringIO(), stderr=io.StringIO())  # batches of SUGGEST_BATCH_SIZE

    tasks = queued_tasks(queue)
    by_name = {}
    for name, args in tasks:
        by_name.setdefault(name, []).append(args)
    assert "reviews.tasks.face_flags_refresh" not in by_name  # no task per face
    flag_batches = by_name["reviews.tasks.faces_flags_refresh"]
    assert sorted(sum((args[0] for args in flag_batches), [])) == sorted(Face.objects.values_list("id", flat=True))
    assert len(flag_batches) == -(-300 // settings.SUGGEST_BATCH_SIZE)
    assert len(by_name["annotator.tasks.suggest_faces"]) == -(-300 // settings.SUGGEST_TASK_SIZE)
    assert len(tasks) <= 300 // 32  # O(N / batch) in all


@pytest.mark.worker
def test_a_worker_on_the_embedded_broker_suggests_and_flags_an_import(data_root, embedded_broker, tmp_path):
    var_dir, _ = embedded_broker
    worker = Worker("", tmp_path / "worker.log", VAR_DIR=str(var_dir)).start()  # REDIS_URL empty: the folder
    try:
        import_labelled(data_root / "release", 130)
        wait_for(lambda: FlagCheck.objects.count() == 130, 240, "every face suggested and flag-checked")
    except AssertionError:
        raise AssertionError(worker.output()) from None
    finally:
        worker.stop()
    log = (tmp_path / "worker.log").read_text()
    assert log.count("reviews.tasks.faces_flags_refresh[") >= 3 and "reviews.tasks.face_flags_refresh[" not in log
