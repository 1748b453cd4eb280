"""The suggestion tasks: the activation sweep walks every open face in batches, each task queuing the
next; stored faces are announced (faces_stored) and the suggestions queue the model's work."""
import ast
from pathlib import Path

import pytest

from annotator import signals
from annotator.faces.store import NewFace, faces_store
from annotator.models import Project, Suggester, Suggestion
from annotator.projects.services import project_create
from annotator.suggestions import receivers, tasks
from tests.queue.test_queue import make_face
from tests.review_factories import jpeg

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_suggest_missing_reaches_every_open_face_lacking_a_suggestion_in_batches(settings, eager_tasks, monkeypatch):
    settings.SWEEP_BATCH_SIZE = 2
    model = Suggester.objects.create(name="m", version="1")
    lacking = [make_face(n) for n in range(5)]
    final = make_face(5)
    final.final_category, final.final_valence, final.final_arousal = 1, 0.5, 0.5
    final.save(update_fields=["final_category", "final_valence", "final_arousal"])
    suggested = make_face(6)
    Suggestion.objects.create(face=suggested, suggester=model, probabilities=[0.0] * 11, category=1, confidence=1.0,
                              valence=0.5, arousal=0.5)
    # Another project's open face: the task (sent on activation, naming the project) leaves it alone.
    elsewhere = make_face(99)
    elsewhere.project = project_create(slug="other", name="Other")
    elsewhere.save(update_fields=["project"])
    queued = []
    monkeypatch.setattr(tasks, "suggestions_enqueue",
                        lambda *, face_ids, suggester_id: queued.append((list(face_ids), suggester_id)) or 1)

    tasks.suggest_missing.delay(model.pk, project_id=Project.objects.default().pk)

    assert [ids for ids, _ in queued] == [[f.id for f in lacking[:2]], [f.id for f in lacking[2:4]],
                                          [lacking[4].id]]  # one batch a task, never every id at once
    assert {suggester_id for _, suggester_id in queued} == {model.pk}


@pytest.mark.django_db
def test_suggest_missing_for_a_deleted_suggester_does_nothing(eager_tasks, monkeypatch):
    monkeypatch.setattr(tasks, "suggestions_enqueue", lambda **kwargs: pytest.fail("nothing to queue"))
    make_face(1)
    assert tasks.suggest_missing.delay(987654).result == 0


@pytest.mark.django_db
def test_stored_faces_are_announced_on_commit_and_queued_for_suggestions(data_root, monkeypatch,
                                                                         django_capture_on_commit_callbacks):
    queued, announced = [], []
    monkeypatch.setattr(receivers, "suggestions_enqueue", lambda *, face_ids: queued.append(list(face_ids)))
    signals.faces_stored.connect(lambda sender, face_ids, **kw: announced.append(face_ids), weak=False,
                                 dispatch_uid="test.faces_stored")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            faces = faces_store([NewFace(jpeg()), NewFace(jpeg())])
            assert queued == [] and announced == []  # not before the commit: a worker would not see the rows
    finally:
        signals.faces_stored.disconnect(dispatch_uid="test.faces_stored")
    assert queued == announced == [[f.id for f in faces]]


def test_the_intake_does_not_import_the_suggestions():
    """faces/store announces stored faces (faces_stored); it does not know who suggests for them."""
    tree = ast.parse((ROOT / "annotator/faces/store.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name and name.startswith("annotator.suggestions")}


@pytest.mark.django_db
def test_a_failing_receiver_is_logged_and_the_faces_stay_stored(data_root, monkeypatch, caplog,
                                                                django_capture_on_commit_callbacks):
    def broker_down(*, face_ids):
        raise ConnectionError("broker down")

    announced = []
    monkeypatch.setattr(receivers, "suggestions_enqueue", broker_down)
    signals.faces_stored.connect(lambda sender, face_ids, **kw: announced.append(face_ids), weak=False,
                                 dispatch_uid="test.faces_stored")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            faces = faces_store([NewFace(jpeg())])
    finally:
        signals.faces_stored.disconnect(dispatch_uid="test.faces_stored")
    assert announced == [[faces[0].id]]  # the other receiver still ran
    assert faces[0].__class__.objects.filter(pk=faces[0].pk).exists()
    assert "faces_stored receiver" in caplog.text and "broker down" in caplog.text
