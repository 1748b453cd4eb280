"""The data model's invariants: constraints hold on every path, roles exist, the final-label rule."""
import hashlib

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from annotator.common.paths import PathNotAllowed, allowed_path
from annotator.domain.labels import Label, agreed_label, final_label
from annotator.faces import services
from annotator.models import Annotation, Face, FinalSource


def make_face(**fields):
    data = fields.pop("data", b"jpeg-bytes-" + str(Face.objects.count()).encode())
    face = Face(content_hash=hashlib.sha256(data).hexdigest(), **fields)
    face.image.save(f"{face.content_hash}.jpg", ContentFile(data), save=False)
    face.save()
    return face


@pytest.mark.django_db
def test_roles_exist_as_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= {"annotator", "reviewer", "admin"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "category, valence, arousal",
    [(11, 0.0, 0.0), (-1, 0.0, 0.0), (1, 1.5, 0.0), (1, 0.0, -1.01), (9, 0.2, 0.1), (10, None, 0.0), (3, None, None)],
)
def test_database_refuses_impossible_answers(data_root, annotator_user, category, valence, arousal):
    face = make_face()
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(face=face, annotator=annotator_user, category=category, valence=valence, arousal=arousal)


@pytest.mark.django_db
def test_one_answer_per_face_and_annotator(data_root, annotator_user):
    face = make_face()
    Annotation.objects.create(face=face, annotator=annotator_user, category=10)
    with pytest.raises(IntegrityError), transaction.atomic():
        Annotation.objects.create(face=face, annotator=annotator_user, category=1, valence=0.5, arousal=0.2)


@pytest.mark.django_db
def test_same_crop_is_never_stored_twice(data_root):
    make_face(data=b"same")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_face(data=b"same")


def test_agreement_averages_points_and_needs_enough_answers():
    a, b = Label(1, 0.4, 0.2), Label(1, 0.6, 0.0)
    assert agreed_label([a, b], required=2) == Label(1, 0.5, 0.1)
    assert agreed_label([a], required=2) is None
    assert agreed_label([a, Label(2, -0.5, 0.1)], required=2) is None
    assert agreed_label([Label(10, None, None)] * 2, required=2) == Label(10, None, None)


def test_decision_outranks_answers_and_open_flag_withholds():
    answers = [Label(1, 0.5, 0.5)]
    decision = Label(3, 0.1, 0.9)
    assert final_label(decision=decision, answers=answers, required=1, has_open_flag=True) == decision
    assert final_label(decision=None, answers=answers, required=1, has_open_flag=True) is None
    assert final_label(decision=None, answers=answers, required=1, has_open_flag=False) == answers[0]


@pytest.mark.django_db
def test_final_label_follows_answers_flags_and_review(data_root, annotator_user, second_annotator):
    face = make_face(required_annotations=2)
    Annotation.objects.create(face=face, annotator=annotator_user, category=1, valence=0.2, arousal=0.4)
    assert services.face_refresh_final_label(face_id=face.id).final_category is None  # one of two answers
    Annotation.objects.create(face=face, annotator=second_annotator, category=1, valence=0.4, arousal=0.0)
    face = services.face_refresh_final_label(face_id=face.id)
    assert (face.final_category, face.final_source) == (1, FinalSource.AGREEMENT)
    assert face.final_valence == pytest.approx(0.3) and face.final_arousal == pytest.approx(0.2)
    assert services.face_set_needs_review(face_id=face.id, needs_review=True).final_category is None
    face = services.face_set_reviewed_label(face_id=face.id, category=10, valence=-2, arousal=-2)
    assert (face.final_category, face.final_valence, face.final_source) == (10, None, FinalSource.REVIEW)


def test_paths_outside_data_roots_are_refused(tmp_path, settings):
    settings.DATA_ROOTS = [tmp_path / "allowed"]
    (tmp_path / "allowed").mkdir()
    assert allowed_path(tmp_path / "allowed" / "x") == (tmp_path / "allowed" / "x").resolve()
    with pytest.raises(PathNotAllowed, match="outside"):
        allowed_path(tmp_path / "allowed" / ".." / "elsewhere")
