"""Which suggestion counts for a face: one rule (the active model's, else the latest) for the
annotator, the flags and the reviewer; and reading it creates nothing."""
import pytest

from annotator.domain.categories import HAPPINESS, SADNESS
from annotator.models import Annotation, Suggester
from annotator.suggestions.selectors import suggester_active, suggestions_counting
from reviews.flagging import face_flags_evaluate
from reviews.models import Flag
from reviews.selectors import face_review_item, review_queue_details
from tests.project_helpers import set_policy
from tests.queue.test_queue import client_for, make_face, next_faces, submit
from tests.review_factories import suggest, suggester


@pytest.fixture
def queue_settings(settings):
    """No blind or gold draws unless a test asks (as tests.queue.test_queue's policy)."""
    set_policy(blind_share=0.0, gold_share=0.0)
    set_policy(queue_order="rare_first")
    return settings


@pytest.mark.django_db
def test_the_flags_compare_with_the_suggestion_the_annotator_was_shown(queue_settings, annotator_user):
    """The active model has not reached this face yet; an older model has: that one is shown, and
    the flags compare the answer with it (not with nothing)."""
    queue_settings.FLAG_MODEL_MIN_PROBABILITY = 0.6
    face = make_face(1)
    older = suggest(face, suggester("older", "1", active=False), HAPPINESS, 0.6, 0.25, confidence=0.9)
    suggester("newer", "2", active=True)

    client = client_for(annotator_user)
    [item] = next_faces(client)
    assert item["suggestion"]["id"] == older.id
    assert submit(client, face.id, SADNESS, -0.6, -0.3, suggestion=older.id).status_code == 201
    assert Annotation.objects.get(face=face).suggestion_id == older.id

    face_flags_evaluate(face_id=face.id)
    [flag] = Flag.objects.filter(face=face, reason=Flag.Reason.ANNOTATOR_VS_MODEL, status=Flag.Status.OPEN)
    assert flag.evidence["suggestion"]["suggestion_id"] == older.id
    # The reviewer sees the same suggestion, on the item page and in the queue.
    assert face_review_item(face_id=face.id, with_audit=False)["suggestion"]["id"] == older.id
    assert review_queue_details([face.id])[face.id]["suggestion"]["suggester__name"] == "older"


@pytest.mark.django_db
def test_the_active_models_suggestion_counts_over_a_later_one():
    face = make_face(1)
    active = suggest(face, suggester("active", "1", active=True), HAPPINESS, 0.6, 0.25)
    suggest(face, suggester("later", "1", active=False), SADNESS, -0.6, -0.3)
    assert suggestions_counting([face.id]) == {face.id: active}


@pytest.mark.django_db
def test_reading_suggestions_creates_no_model(queue_settings, annotator_user):
    """With no model active, the reads (queue, flags, review pages) find none and make none."""
    face = make_face(1)
    client = client_for(annotator_user)
    [item] = next_faces(client)
    assert item["suggestion"] is None
    assert submit(client, face.id, HAPPINESS, 0.6, 0.25).status_code == 201
    face_flags_evaluate(face_id=face.id)
    assert face_review_item(face_id=face.id, with_audit=False)["suggestion"] is None
    assert suggester_active() is None and not Suggester.objects.exists()
