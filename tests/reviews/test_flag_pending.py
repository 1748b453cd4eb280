"""Answers' flag checks coalesced: one pending row a face, one drain queued however many answers come,
nothing lost when the broker is down or a drain's worker dies (reviews/pending.py)."""
import json

import pytest
from django.utils import timezone

from annotator import signals
from annotator.config.celery import app
from annotator.domain.categories import HAPPINESS, SADNESS
from annotator.models import Annotation
from reviews.models import Flag, FlagCheck, FlagDrain, FlagPending
from reviews.pending import flags_drain_mark, flags_pending_add, flags_pending_claim, flags_pending_release
from tests.config.test_foundation import make_face
from tests.reviews.test_flags import answer
from tests.suggestions.test_worker import folder_broker as broker_in_folder
from tests.suggestions.test_worker import use_broker


@pytest.fixture
def folder_broker(tmp_path):
    """The filesystem broker in a folder of this test's own; yields a function that lists the queued task names."""
    with broker_in_folder(tmp_path) as queue:
        yield lambda: sorted(json.loads(p.read_text())["headers"]["task"] for p in queue.glob("*.msg"))


def announce(answer_row):
    """What the submit service does on commit."""
    signals.answer_saved.send(sender=Annotation, face_id=answer_row.face_id, annotation_id=answer_row.id)


@pytest.mark.django_db
def test_many_answers_make_one_row_a_face_and_queue_one_drain(data_root, annotator_user, second_annotator,
                                                              folder_broker, settings):
    from reviews.tasks import flags_drain

    faces = [make_face() for _ in range(10)]
    for _ in range(3):  # answers changed twice: 60 answers saved, 10 faces
        for face in faces:
            announce(answer(face, annotator_user, HAPPINESS, 0.6, 0.3))
            announce(answer(face, second_annotator, SADNESS, -0.6, -0.3))
    assert FlagPending.objects.count() == 10
    assert folder_broker() == ["reviews.tasks.flags_drain"]  # not 60 tasks

    settings.FLAG_DRAIN_BATCH_SIZE = 4
    assert flags_drain() == 4  # what the worker runs: it queues the next itself while faces wait
    assert FlagPending.objects.count() == 6
    assert folder_broker() == ["reviews.tasks.flags_drain"] * 2
    assert flags_drain() == 4 and flags_drain() == 2
    assert folder_broker() == ["reviews.tasks.flags_drain"] * 3  # none after the last: nothing waits
    assert not FlagPending.objects.exists()
    for face in faces:
        assert Flag.objects.filter(face=face, reason=Flag.Reason.ANNOTATOR_VS_ANNOTATOR, status=Flag.Status.OPEN).count() == 1
    assert FlagCheck.objects.filter(face__in=faces).count() == 10
    assert flags_drain() == 0  # a drain with nothing pending (a duplicate delivery) does nothing


@pytest.mark.django_db
def test_a_face_answered_during_its_check_stays_pending(data_root):
    face, other = make_face(), make_face()
    flags_pending_add(face_ids=[face.id, other.id])
    claim = flags_pending_claim(size=10)
    assert sorted(claim.face_ids) == sorted([face.id, other.id])
    assert flags_pending_claim(size=10).face_ids == []  # claimed: a second drain takes neither
    flags_pending_add(face_ids=[face.id])  # answered again while the drain checks it
    assert flags_pending_release(claim) == 1
    assert list(FlagPending.objects.values_list("face_id", "claim")) == [(face.id, None)]
    assert flags_pending_claim(size=10).face_ids == [face.id]


@pytest.mark.django_db
def test_a_dead_drains_faces_are_claimed_again_after_the_lease(data_root, settings):
    faces = [make_face() for _ in range(3)]
    flags_pending_add(face_ids=[f.id for f in faces])
    flags_pending_claim(size=10)  # its worker dies: the rows are never released
    assert flags_pending_claim(size=10).face_ids == []
    FlagPending.objects.update(claimed_at=timezone.now() - timezone.timedelta(seconds=settings.FLAG_DRAIN_LEASE_SECONDS + 1))
    assert sorted(flags_pending_claim(size=10).face_ids) == sorted(f.id for f in faces)


@pytest.mark.django_db
def test_one_drain_is_marked_queued_until_it_starts_or_is_taken_for_lost(db, settings):
    from reviews.pending import flags_drain_unmark

    assert flags_drain_mark() is True
    assert flags_drain_mark() is False
    flags_drain_unmark()  # the drain started
    assert flags_drain_mark() is True
    FlagDrain.objects.update(queued_at=timezone.now() - timezone.timedelta(seconds=settings.FLAG_DRAIN_RESEND_SECONDS + 1))
    assert flags_drain_mark() is True  # its message was lost: queued again
    assert FlagDrain.objects.count() == 1


@pytest.mark.django_db
def test_answers_saved_while_the_broker_is_down_wait_in_the_table_and_the_sweep_drains_them(
    data_root, annotator_user, second_annotator, eager_tasks
):
    from reviews.tasks import flags_refresh_stale

    face = make_face()
    app.conf.task_always_eager = False  # sending fails: nothing listens there
    old = app.conf.broker_url, app.conf.broker_transport_options
    use_broker("redis://127.0.0.1:1/0", {})
    try:
        announce(answer(face, annotator_user, HAPPINESS, 0.6, 0.3))
        announce(answer(face, second_annotator, SADNESS, -0.6, -0.3))
    finally:
        use_broker(*old)
        app.conf.task_always_eager = True
    assert FlagPending.objects.filter(face=face).exists()
    assert FlagDrain.objects.get().queued_at is None  # not marked: the next answer queues a drain
    assert not Flag.objects.filter(face=face).exists()

    flags_refresh_stale.delay()  # the periodic sweep (eager here): checks the face, then drains the table
    assert Flag.objects.filter(face=face, reason=Flag.Reason.ANNOTATOR_VS_ANNOTATOR, status=Flag.Status.OPEN).count() == 1
    assert not FlagPending.objects.exists()
