"""One error model: services raise DomainErrors carrying their field and kind; the API's one exception
handler (annotator.web.errors) turns them into JSON, the same way for every endpoint."""
from typing import ClassVar

import pytest

from annotator.domain.categories import LabelError, validate_label
from annotator.domain.errors import CONFLICT, INVALID, NOT_FOUND, DomainError
from annotator.faces.services import face_set_reviewed_label
from annotator.models import Annotation
from annotator.queue import services as queue_services
from annotator.web.errors import exception_handle
from reviews.evaluation import SuggesterNotFound
from reviews.services import DecisionError
from tests.project_helpers import set_policy
from tests.queue.test_queue import client_for, make_face, next_faces, submit
from tests.review_factories import answer


@pytest.fixture
def no_blind_no_gold(db):
    return set_policy(blind_share=0.0, gold_share=0.0)


class _Invalid(DomainError):
    kind = INVALID


class _NotFound(DomainError):
    kind = NOT_FOUND


class _Conflict(DomainError):
    kind = CONFLICT


class _View:
    error_field_names: ClassVar[dict] = {"row": "row_id"}


@pytest.mark.parametrize("kind, status", [(_Invalid, 400), (_NotFound, 404), (_Conflict, 409)])
def test_each_kind_has_its_status_and_the_field_is_the_key(kind, status):
    response = exception_handle(kind("is wrong", field="thing"), {"view": None})
    assert (response.status_code, response.data) == (status, {"thing": ["is wrong"]})


@pytest.mark.parametrize("kind, status, body", [
    (_Invalid, 400, {"non_field_errors": ["is wrong"]}),
    (_NotFound, 404, {"detail": "is wrong"}),
    (_Conflict, 409, {"detail": "is wrong"}),
])
def test_an_error_without_a_field_gets_drfs_shape_for_its_kind(kind, status, body):
    response = exception_handle(kind("is wrong"), {"view": None})
    assert (response.status_code, response.data) == (status, body)


def test_a_view_renames_a_services_field_to_its_input():
    assert exception_handle(_Invalid("gone", field="row"), {"view": _View()}).data == {"row_id": ["gone"]}
    assert exception_handle(_Invalid("bad", field="other"), {"view": _View()}).data == {"other": ["bad"]}


def test_other_exceptions_are_left_to_drf():
    assert exception_handle(ValueError("not ours"), {"view": None}) is None


def test_a_kind_without_a_status_is_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match="kind"):
        type("Teapot", (DomainError,), {"kind": "teapot"})


def test_the_services_errors_are_domain_errors_that_know_no_http():
    for error in (LabelError, DecisionError, SuggesterNotFound, queue_services.QueueError, queue_services.NoSuchFace,
                  queue_services.NoSuchAnswer, queue_services.AlreadyAnswered, queue_services.NotClaimed, queue_services.KeyReused,
                  queue_services.ReviewDecided, queue_services.TooOldToChange, queue_services.OutsideRegion):
        assert issubclass(error, DomainError) and not hasattr(error, "status"), error
    # Callers that catch the builtin kinds still do (imports, commands).
    assert issubclass(LabelError, ValueError) and issubclass(SuggesterNotFound, LookupError)


def test_a_label_error_carries_its_field_and_reads_alone_with_it():
    with pytest.raises(LabelError) as info:
        validate_label(1, 0.2, 1.5)
    assert (info.value.field, info.value.message) == ("arousal", "1.5 is outside [-1, 1]")
    assert str(info.value) == "arousal: 1.5 is outside [-1, 1]"


@pytest.mark.django_db
def test_a_label_errors_field_reaches_the_queue_apis_body(no_blind_no_gold, annotator_user):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    response = submit(client, face.id, 11, 0.0, 0.0)
    assert (response.status_code, response.json()) == (400, {"category": ["11 is not a category (0-10)"]})
    response = submit(client, face.id, 1, 0.2, 1.5)
    assert (response.status_code, response.json()) == (400, {"arousal": ["1.5 is outside [-1, 1]"]})
    assert not Annotation.objects.exists()


@pytest.mark.django_db
def test_queue_refusals_without_a_field(no_blind_no_gold, annotator_user, second_annotator):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    url = f"/api/annotations/{submit(client, face.id).json()['id']}/"
    body = {"category": 2, "valence": -0.5, "arousal": -0.3}
    other = client_for(second_annotator).patch(url, body, content_type="application/json")
    assert (other.status_code, other.json()) == (404, {"detail": "No such answer of yours."})
    face_set_reviewed_label(face_id=face.id, category=3, valence=0.2, arousal=0.8)
    decided = client.patch(url, body, content_type="application/json")
    assert (decided.status_code, decided.json()) == (
        409, {"detail": "A reviewer has decided this face; the answer can no longer change."})


@pytest.mark.django_db
def test_a_label_errors_field_reaches_the_review_apis_body(reviewer_user, annotator_user, second_annotator):
    face, other_face = make_face(1), make_face(2)
    client = client_for(reviewer_user)
    url = f"/api/review/faces/{face.id}/decision/"
    response = client.post(url, {"category": 3, "valence": 1.5, "arousal": 0}, content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"valence": ["1.5 is outside [-1, 1]"]})
    # decision_make's `annotation` is this input's annotation_id
    elsewhere = answer(other_face, annotator_user, 1, 0.5, 0.2)
    response = client.post(url, {"category": 1, "valence": 0.5, "arousal": 0.2, "source": "annotation",
                                 "annotation_id": elsewhere.id}, content_type="application/json")
    assert (response.status_code, response.json()) == (
        400, {"annotation_id": [f"{elsewhere.id} is an answer for face {other_face.id}, not {face.id}"]})
    response = client.get("/api/review/evaluation/", {"model": "nope:3"})
    assert (response.status_code, response.json()) == (400, {"model": ["no suggester nope version 3"]})
