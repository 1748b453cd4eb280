"""Suggestions stored in-process: once per face and model, priority from rarity, the suggest command."""
from pathlib import Path

import pytest
from django.core.management import call_command

from annotator import signals
from annotator.domain.categories import HAPPINESS, rarity_priority
from annotator.faces.store import NewFace, faces_store
from annotator.models import Face, Project, Suggester, Suggestion
from annotator.suggestions.selectors import suggester_active
from annotator.suggestions.services import faces_lacking_suggestion, suggester_active_get_or_create, suggestions_compute
from tests.project_helpers import active_in

DATA = Path(__file__).resolve().parents[1] / "data"


def store_photos():
    names = ("smiling_obama_224.jpg", "biden_224.jpg", "speaking_obama_224.jpg")
    return faces_store([NewFace(crop_jpeg=(DATA / n).read_bytes(), source=n) for n in names])


@pytest.mark.django_db
def test_default_suggester_is_created_once_and_active():
    first = suggester_active_get_or_create()
    assert active_in(first) and first.kind == Suggester.Kind.BUILTIN
    assert suggester_active_get_or_create() == first
    assert Suggester.objects.count() == 1


@pytest.mark.django_db
def test_compute_twice_stores_nothing_twice(data_root, django_capture_on_commit_callbacks):
    faces = store_photos()
    ids = [f.id for f in faces]
    suggester = suggester_active_get_or_create()
    announced = []

    def receiver(sender, face_ids, answered_face_ids, **kwargs):
        announced.append(face_ids)

    signals.suggestions_saved.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert sorted(suggestions_compute(face_ids=ids, batch_size=2)) == sorted(ids)
        with django_capture_on_commit_callbacks(execute=True):
            assert suggestions_compute(face_ids=ids) == []
    finally:
        signals.suggestions_saved.disconnect(receiver)
    # One signal per stored batch (batch_size 2: two batches), none for the second run.
    assert len(announced) == 2 and sorted(sum(announced, [])) == sorted(ids)
    assert Suggestion.objects.filter(suggester=suggester).count() == 3
    smile = Suggestion.objects.get(face_id=ids[0])
    assert smile.category == HAPPINESS
    for s in Suggestion.objects.all():
        assert Face.objects.get(id=s.face_id).queue_priority == pytest.approx(rarity_priority(s.category))
    assert not faces_lacking_suggestion(suggester=suggester).exists()


@pytest.mark.django_db
def test_missing_crop_skips_that_face_only(data_root):
    faces = store_photos()
    Face.objects.filter(id=faces[1].id).update(image="faces/missing.jpg")
    stored = suggestions_compute(face_ids=[f.id for f in faces])
    assert sorted(stored) == sorted([faces[0].id, faces[2].id])


@pytest.mark.django_db
def test_suggest_now_fills_the_gaps_and_reports_progress(data_root, capsys):
    store_photos()
    call_command("suggest", "--now")
    out = capsys.readouterr().out
    assert "3 of 3 faces have a suggestion" in out
    assert Suggestion.objects.count() == 3


@pytest.mark.django_db
def test_admin_shows_suggester_progress(data_root, admin_client):
    store_photos()
    suggester = suggester_active_get_or_create()
    suggestions_compute(face_ids=list(Face.objects.values_list("id", flat=True)[:2]))
    page = admin_client.get("/admin/annotator/suggester/").content.decode()
    assert str(suggester.name) in page and "2 / 3" in page


@pytest.mark.django_db
def test_model_is_loaded_once_per_process():
    from annotator.suggestions.services import suggester_model

    suggester = suggester_active_get_or_create()
    assert suggester_model(suggester) is suggester_model(suggester)


@pytest.mark.django_db
def test_an_onnx_suggester_added_and_activated_serves_suggest(data_root, tmp_path, settings):
    from django.core.management.base import CommandError

    from tests.suggestions.test_inference import export_tiny_onnx

    export_tiny_onnx(tmp_path / "m.onnx", with_va=False)
    # Preprocessing from settings, label order from the row: the row's keys win key by key.
    settings.SUGGEST_ONNX_CONFIG = {"input_size": 64, "labels": [0]}
    labels = '["Neutral","Happiness","Sadness","Surprise","Fear","Disgust","Anger","Contempt"]'
    with pytest.raises(CommandError, match="1 labels for 8 model outputs"):
        call_command("add_suggester", "tiny", "1", "--path", str(tmp_path / "m.onnx"))
    call_command("add_suggester", "tiny", "1", "--path", str(tmp_path / "m.onnx"),
                 "--config", f'{{"labels": {labels}}}', "--activate")
    faces = store_photos()
    call_command("suggest", "--now")
    active = suggester_active()
    assert (active.name, active.version, active.kind) == ("tiny", "1", "onnx")
    assert Suggestion.objects.filter(suggester=active).count() == len(faces)
    assert Project.objects.exclude(active_suggester=None).count() == 1


def test_model_tasks_go_to_the_model_queue_and_flags_to_default():
    from django.db import OperationalError

    from annotator.config.celery import app
    from annotator.suggestions.tasks import suggest_faces
    from reviews.tasks import face_flags_refresh

    app.loader.import_default_modules()
    # As apply_async routes: with the task (the queue it names where it is defined).
    route = app.amqp.router.route({}, "annotator.tasks.suggest_faces", task_type=suggest_faces)
    assert route["queue"].name == "model"
    assert app.amqp.router.route({}, "reviews.tasks.face_flags_refresh",
                                 task_type=face_flags_refresh)["queue"].name == "default"
    assert suggest_faces.acks_late and OperationalError in suggest_faces.autoretry_for
    assert face_flags_refresh.acks_late
    assert app.conf.worker_prefetch_multiplier == 1


@pytest.mark.django_db
def test_a_deleted_suggester_is_not_retried(data_root):
    from annotator.suggestions.tasks import suggest_faces

    faces = store_photos()
    result = suggest_faces.apply(args=([f.id for f in faces], 987654))
    assert result.successful() and result.result == 0
    assert not Suggestion.objects.exists()
