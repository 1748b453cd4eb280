"""Flag evaluation: each cause, its evidence, idempotence, automatic closing, the stale sweep."""
import pytest
from django.core.management import call_command
from django.utils import timezone

from annotator.domain.categories import ANGER, HAPPINESS, SADNESS
from annotator.models import Annotation, Face, Suggestion
from annotator.suggestions.services import suggester_active_get_or_create
from reviews.flagging import face_flags_evaluate, faces_with_stale_flags
from reviews.models import Flag, FlagCheck, GoldItem
from tests.config.test_foundation import make_face


def model_says(face, category, probability, valence=0.6, arousal=0.25):
    probs = [0.0] * 11
    probs[category] = probability
    probs[0] = 1 - probability
    return Suggestion.objects.create(face=face, suggester=suggester_active_get_or_create(), probabilities=probs,
                                     category=category, confidence=probability, valence=valence, arousal=arousal)


def answer(face, user, category, valence, arousal):
    a, _ = Annotation.objects.update_or_create(
        face=face, annotator=user, defaults={"category": category, "valence": valence, "arousal": arousal})
    return a


def open_flags(face, reason=None):
    qs = Flag.objects.filter(face=face, status=Flag.Status.OPEN)
    return list(qs.filter(reason=reason) if reason else qs)


@pytest.mark.django_db
def test_model_flag_needs_a_confident_model(data_root, annotator_user, settings):
    settings.FLAG_MODEL_MIN_PROBABILITY = 0.8
    settings.FLAG_MODEL_VA_DISTANCE = 5  # category only
    face = make_face()
    model_says(face, HAPPINESS, 0.7)
    answer(face, annotator_user, SADNESS, -0.6, -0.3)
    face_flags_evaluate(face_id=face.id)
    assert not open_flags(face, Flag.Reason.ANNOTATOR_VS_MODEL)
    settings.FLAG_MODEL_MIN_PROBABILITY = 0.6
    face_flags_evaluate(face_id=face.id)
    [flag] = open_flags(face, Flag.Reason.ANNOTATOR_VS_MODEL)
    assert flag.evidence["suggestion"]["probability"] == pytest.approx(0.7)
    assert flag.evidence["category_differs"] is True


@pytest.mark.django_db
def test_model_flag_on_va_distance_alone(data_root, annotator_user, settings):
    settings.FLAG_MODEL_VA_DISTANCE = 0.5
    face = make_face()
    model_says(face, HAPPINESS, 0.9, valence=0.8, arousal=0.0)
    answer(face, annotator_user, HAPPINESS, 0.1, 0.0)
    face_flags_evaluate(face_id=face.id)
    [flag] = open_flags(face, Flag.Reason.ANNOTATOR_VS_MODEL)
    assert flag.evidence["category_differs"] is False
    assert flag.evidence["va_distance"] == pytest.approx(0.7)


@pytest.mark.django_db
def test_annotators_disagree_then_agree(data_root, annotator_user, second_annotator, settings):
    settings.FLAG_VA_DISTANCE = 0.5
    face = make_face(required_annotations=2)
    a = answer(face, annotator_user, HAPPINESS, 0.6, 0.3)
    b = answer(face, second_annotator, ANGER, -0.5, 0.6)
    face_flags_evaluate(face_id=face.id)
    face_flags_evaluate(face_id=face.id)  # idempotent: still one flag
    [flag] = open_flags(face, Flag.Reason.ANNOTATOR_VS_ANNOTATOR)
    assert flag.key == f"annotations:{a.id}:{b.id}"
    assert [x["category"] for x in flag.evidence["answers"]] == [HAPPINESS, ANGER]
    assert Face.objects.get(id=face.id).needs_review
    assert Face.objects.get(id=face.id).final_category is None

    answer(face, second_annotator, HAPPINESS, 0.5, 0.2)
    face_flags_evaluate(face_id=face.id)
    flag.refresh_from_db()
    assert flag.status == Flag.Status.CLOSED and flag.closed_at is not None
    face.refresh_from_db()
    assert not face.needs_review and face.final_category == HAPPINESS  # the agreed label is final now

    answer(face, second_annotator, HAPPINESS, -0.4, 0.3)  # same category, points 1.0 apart
    face_flags_evaluate(face_id=face.id)
    [flag] = open_flags(face, Flag.Reason.ANNOTATOR_VS_ANNOTATOR)
    assert flag.evidence["category_differs"] is False and flag.evidence["va_distance"] == pytest.approx(1.0)


@pytest.mark.django_db
def test_point_outside_region_and_gold_mismatch(data_root, annotator_user):
    face = make_face()
    GoldItem.objects.create(face=face, category=SADNESS, valence=-0.6, arousal=-0.3)
    a = answer(face, annotator_user, HAPPINESS, -0.8, -0.6)
    face_flags_evaluate(face_id=face.id)
    [outside] = open_flags(face, Flag.Reason.OUTSIDE_REGION)
    assert outside.evidence["answer"]["point"] == [-0.8, -0.6]
    [gold] = open_flags(face, Flag.Reason.GOLD_MISMATCH)
    assert gold.evidence["gold"]["category"] == SADNESS and gold.key == f"annotation:{a.id}"

    answer(face, annotator_user, SADNESS, -0.6, -0.3)
    face_flags_evaluate(face_id=face.id)
    assert not open_flags(face)


@pytest.mark.django_db
def test_resolved_flag_is_not_reopened_for_the_same_answers(data_root, annotator_user, second_annotator):
    face = make_face(required_annotations=2)
    answer(face, annotator_user, HAPPINESS, 0.6, 0.3)
    answer(face, second_annotator, SADNESS, -0.6, -0.3)
    [flag] = face_flags_evaluate(face_id=face.id)
    Flag.objects.filter(id=flag.id).update(status=Flag.Status.RESOLVED)
    assert face_flags_evaluate(face_id=face.id) == []


@pytest.mark.django_db
def test_stale_sweep_finds_faces_answered_since_their_check(data_root, annotator_user):
    checked, fresh, unanswered = make_face(), make_face(), make_face()
    answer(checked, annotator_user, HAPPINESS, 0.6, 0.3)
    answer(fresh, annotator_user, SADNESS, -0.6, -0.3)
    face_flags_evaluate(face_id=checked.id)
    assert list(faces_with_stale_flags()) == [fresh.id]
    # The answer changes after the check (the check's time moved back stands for the later change).
    FlagCheck.objects.filter(face=checked).update(checked_at=timezone.now() - timezone.timedelta(seconds=5))
    assert list(faces_with_stale_flags()) == [checked.id, fresh.id]
    call_command("refresh_flags", "--stale")
    assert list(faces_with_stale_flags()) == []
    assert unanswered.id not in list(faces_with_stale_flags())


@pytest.mark.django_db
def test_the_stale_sweep_task_reaches_every_stale_face_a_batch_at_a_time(data_root, annotator_user, settings,
                                                                         eager_tasks):
    from reviews.tasks import flags_refresh_stale

    settings.SWEEP_BATCH_SIZE = 2  # five stale faces: three tasks, each queuing the next
    faces = [make_face() for _ in range(5)]
    for face in faces:
        answer(face, annotator_user, HAPPINESS, 0.6, 0.3)
    assert list(faces_with_stale_flags()) == [f.id for f in faces]
    flags_refresh_stale.delay()
    assert list(faces_with_stale_flags()) == []
    assert FlagCheck.objects.filter(face__in=faces).count() == 5


@pytest.mark.django_db
def test_a_batch_of_faces_is_evaluated_face_by_face_skipping_those_deleted_since(data_root, annotator_user):
    from reviews.flagging import faces_flags_evaluate

    kept, gone = make_face(), make_face()
    answer(kept, annotator_user, HAPPINESS, 0.6, 0.3)
    gone_id = gone.id
    gone.delete()
    assert faces_flags_evaluate([gone_id, kept.id]) == 1
    assert FlagCheck.objects.filter(face=kept).exists()


@pytest.mark.django_db
def test_a_face_whose_check_fails_does_not_stop_the_others_of_its_chunk(data_root, annotator_user, caplog):
    from reviews.flagging import faces_flags_evaluate

    faces = [make_face() for _ in range(3)]
    for face in faces:
        answer(face, annotator_user, HAPPINESS, 0.6, 0.3)
    broken = faces[1]
    Suggestion.objects.create(face=broken, suggester=suggester_active_get_or_create(), probabilities=[],
                              category=HAPPINESS, confidence=0.9, valence=0.6, arousal=0.3)  # bad data: no probabilities
    assert faces_flags_evaluate([f.id for f in faces]) == 2
    assert set(FlagCheck.objects.values_list("face_id", flat=True)) == {faces[0].id, faces[2].id}
    assert f"the flag check of face {broken.id} failed" in caplog.text
    assert list(faces_with_stale_flags()) == [broken.id]  # the sweep tries it again
