"""The calibration round and the gate to the real queue: gold faces only, always blind, feedback after
each answer, qualified once the latest answers score well enough; and what happens with no gold."""
import math
import uuid

import pytest

from annotator.models import Annotation, AnnotatorStanding, CalibrationAnswer, Claim, Face
from annotator.qualification.selectors import standing_of
from reviews.services import gold_mark
from tests.conftest import make_user
from tests.project_helpers import ProjectPolicy, set_policy
from tests.queue.test_queue import NEXT, client_for, make_face, make_suggestion, next_faces, submit

CALIBRATING, QUALIFIED = AnnotatorStanding.State.CALIBRATING, AnnotatorStanding.State.QUALIFIED
HAPPY = (1, 0.6, 0.3)  # the gold faces' reference: Happiness at (0.6, 0.3)


@pytest.fixture
def calibration(settings):
    """A round scored over the latest 2 answers: both right, points within 0.3 on average."""
    set_policy(blind_share=0.0, gold_share=0.0)
    set_policy(queue_order="rare_first")
    set_policy(calibration_faces=2)
    set_policy(calibration_min_accuracy=1.0)
    set_policy(calibration_max_va_distance=0.3)
    set_policy(calibration_without_gold="wait")
    return ProjectPolicy(settings)


def gold_faces(n, start=100):
    faces = []
    for i in range(n):
        face = make_face(start + i, landmarks=[2.0] * 136)
        make_suggestion(face, category=6, valence=-0.5, arousal=0.6)  # a model's answer the round must hide
        gold_mark(face=face, category=HAPPY[0], valence=HAPPY[1], arousal=HAPPY[2], by=None)
        faces.append(face)
    return faces


def answer(client, face_id, category, valence, arousal, key=None):
    response = submit(client, face_id, category, valence, arousal, key=key)
    assert response.status_code in (200, 201), response.content
    return response.json()


def right(client, face_id):
    return answer(client, face_id, *HAPPY)


def wrong(client, face_id):
    return answer(client, face_id, 2, -0.6, -0.3)  # Sadness


@pytest.mark.django_db
def test_a_new_annotator_gets_only_gold_faces_blind_and_sees_the_reference_after_answering(
        calibration, annotator_user):
    g1, g2 = gold_faces(2)
    plain = make_face(1, priority=9.0)
    make_suggestion(plain)
    client = client_for(annotator_user)
    faces = next_faces(client, count=5)
    assert sorted(f["id"] for f in faces) == sorted([g1.id, g2.id])  # no ordinary face, though it ranks first
    assert all(f["suggestion"] is None for f in faces)
    assert all(Claim.objects.get(face_id=f["id"]).calibration for f in faces)

    body = answer(client, g1.id, 1, 0.3, 0.7)
    assert body["id"] is None  # no Annotation: nothing to change with undo
    feedback = body["feedback"]
    assert feedback["calibration"] is True and feedback["correct"] is True and feedback["face"] == g1.id
    assert feedback["reference"] == {"category": 1, "category_name": "Happiness", "valence": 0.6, "arousal": 0.3}
    assert feedback["answer"]["valence"] == 0.3 and feedback["answer"]["arousal"] == 0.7
    assert math.isclose(feedback["va_distance"], 0.5)
    assert feedback["standing"]["state"] == CALIBRATING
    assert feedback["standing"]["calibration"]["answers"] == 1 and feedback["standing"]["calibration"]["needed"] == 2
    # Training, not data: no answer on the face, no count, no claim left.
    assert not Annotation.objects.exists() and Face.objects.get(pk=g1.pk).answer_count == 0
    assert CalibrationAnswer.objects.get().va_distance == feedback["va_distance"]
    assert not Claim.objects.filter(face=g1).exists()


@pytest.mark.django_db
def test_the_round_goes_on_with_new_faces_first_then_repeats_until_the_latest_answers_pass(
        calibration, annotator_user):
    golds = gold_faces(3)
    plain = make_face(1)
    client = client_for(annotator_user)
    seen = []
    for outcome in (wrong, wrong, right):  # latest two: right, wrong -> not yet
        [face] = next_faces(client)
        seen.append(face["id"])
        body = outcome(client, face["id"])
        assert body["feedback"]["standing"]["state"] == CALIBRATING
    assert sorted(seen) == sorted(g.id for g in golds)  # each gold face once before any repeat
    [repeat] = next_faces(client, holding=seen)  # the page lists faces it answered; a round repeats them
    assert repeat["id"] == seen[0]  # the longest unseen first
    body = right(client, repeat["id"])
    assert body["feedback"]["standing"]["state"] == QUALIFIED
    assert body["feedback"]["standing"]["calibration"]["passed"] is True
    standing = standing_of(annotator_user)
    assert standing.state == QUALIFIED and "passed calibration: 2/2" in standing.reason
    assert [f["id"] for f in next_faces(client)] == [plain.id]  # the real queue
    assert not Claim.objects.get(face=plain).calibration
    assert submit(client, plain.id).json()["feedback"] is None


@pytest.mark.django_db
def test_right_categories_with_points_far_from_the_reference_do_not_pass(calibration, annotator_user):
    gold_faces(2)
    client = client_for(annotator_user)
    for face in next_faces(client, count=2):
        body = answer(client, face["id"], 1, 0.2, 0.0)  # Happiness, 0.5 from the reference point
        assert body["feedback"]["correct"] is True
    assert standing_of(annotator_user).state == CALIBRATING
    for face in next_faces(client, count=2):
        right(client, face["id"])
    assert standing_of(annotator_user).state == QUALIFIED


@pytest.mark.django_db
def test_a_calibration_answer_retried_is_stored_once_and_a_reused_key_is_refused(calibration, annotator_user):
    [g] = gold_faces(1)
    client = client_for(annotator_user)
    next_faces(client)
    key = uuid.uuid4()
    first = submit(client, g.id, *HAPPY, key=key)
    again = submit(client, g.id, *HAPPY, key=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["feedback"] == first.json()["feedback"] and CalibrationAnswer.objects.count() == 1
    other = submit(client, g.id, 2, -0.6, -0.3, key=key)
    assert other.status_code == 409 and "client_key" in other.json()


@pytest.mark.django_db
def test_with_no_gold_face_the_queue_says_the_lead_must_mark_gold_first(calibration, annotator_user):
    make_face(1)
    client = client_for(annotator_user)
    response = client.post(NEXT, {"count": 1}, content_type="application/json")
    assert response.status_code == 409
    assert "no gold face is marked" in response.json()["detail"] and "lead" in response.json()["detail"]
    assert standing_of(annotator_user).state == CALIBRATING
    gold_faces(1)  # once the lead marks gold, the round starts
    [face] = next_faces(client)
    assert Claim.objects.get(face_id=face["id"]).calibration


@pytest.mark.django_db
def test_with_no_gold_face_skip_lets_them_in_marked_as_not_calibrated(calibration, annotator_user):
    calibration.CALIBRATION_WITHOUT_GOLD = "skip"
    plain = make_face(1)
    assert [f["id"] for f in next_faces(client_for(annotator_user))] == [plain.id]
    standing = standing_of(annotator_user)
    assert standing.state == QUALIFIED and standing.calibration_skipped and "no gold" in standing.reason


@pytest.mark.django_db
def test_admins_and_annotators_with_calibration_off_go_straight_to_the_real_queue(calibration, admin_user_role):
    gold_faces(2)
    plain = make_face(1, priority=5.0, required=2)
    assert [f["id"] for f in next_faces(client_for(admin_user_role))] == [plain.id]
    assert standing_of(admin_user_role).state == QUALIFIED
    calibration.CALIBRATION_FACES = 0
    other = make_user("ann9", "annotator")
    assert [f["id"] for f in next_faces(client_for(other))] == [plain.id]
    assert standing_of(other).state == QUALIFIED


@pytest.mark.django_db
def test_gold_faces_answered_in_calibration_are_not_served_as_gold_in_the_real_queue(calibration, annotator_user):
    golds = gold_faces(3)
    client = client_for(annotator_user)
    answered = []
    for _ in range(2):
        [face] = next_faces(client)
        right(client, face["id"])
        answered.append(face["id"])
    assert standing_of(annotator_user).state == QUALIFIED
    calibration.GOLD_SHARE = 1.0
    [unseen] = [g.id for g in golds if g.id not in answered]
    assert [f["id"] for f in next_faces(client, count=3)] == [unseen]


@pytest.mark.django_db(transaction=True)
def test_the_migrations_give_the_core_its_gold_references_and_keep_earlier_annotators_working():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from annotator.models import GoldReference

    executor = MigrationExecutor(connection)
    before = [("annotator", "0007_face_is_gold"), ("reviews", "0004_gold_faces_marked_in_core")]
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    OldFace, OldGoldItem = apps.get_model("annotator", "Face"), apps.get_model("reviews", "GoldItem")
    OldUser, OldAnnotation = apps.get_model("auth", "User"), apps.get_model("annotator", "Annotation")
    gold = OldFace.objects.create(image="a.jpg", content_hash="a", is_gold=True)
    OldGoldItem.objects.create(face=gold, category=1, valence=0.6, arousal=0.3)
    worker = OldUser.objects.create(username="worker")
    OldUser.objects.create(username="newcomer")
    OldAnnotation.objects.create(face=gold, annotator=worker, category=1, valence=0.5, arousal=0.2)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    reference = GoldReference.objects.get()
    assert (reference.face_id, reference.category, reference.valence, reference.arousal) == (gold.pk, 1, 0.6, 0.3)
    assert [(s.user.username, s.state) for s in AnnotatorStanding.objects.all()] == [("worker", QUALIFIED)]


def page_standing(client):
    import json
    import re

    html = client.get("/annotate/").content.decode()
    config = re.search(r'<script id="annotate-config" type="application/json">(.*?)</script>', html, re.S).group(1)
    return json.loads(config)["standing"]


@pytest.mark.django_db
def test_the_annotate_page_says_where_the_annotator_stands(calibration, annotator_user):
    client = client_for(annotator_user)
    standing = page_standing(client)
    assert standing["state"] == CALIBRATING and standing["calibration"]["needed"] == 2
    calibration.CALIBRATION_WITHOUT_GOLD = "skip"  # no gold face: the page already says they are in
    assert page_standing(client)["state"] == QUALIFIED
