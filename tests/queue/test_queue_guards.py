"""What the queue API lets in: only answers to faces the annotator holds, the same refusals for gold
and ordinary faces, time spent and points within bounds, one answer per client key."""
import math
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from annotator.models import Annotation, Face, Suggester, Suggestion
from annotator.queue import services as queue_services
from reviews.models import Decision, GoldItem
from reviews.services import gold_mark
from tests.queue.test_queue import MINE, RELEASE, client_for, make_face, make_suggestion, next_faces, policy, submit  # noqa: F401


def claim(client, face):
    """Claim exactly this face (the queue hands out the highest priority first)."""
    Face.objects.filter(pk=face.pk).update(queue_priority=1e9)
    ids = [f["id"] for f in next_faces(client)]
    Face.objects.filter(pk=face.pk).update(queue_priority=0)
    assert ids == [face.pk]


@pytest.mark.django_db
def test_an_answer_for_a_face_never_claimed_is_refused_and_nothing_stored(policy, annotator_user):
    face = make_face(1)
    response = submit(client_for(annotator_user), face.id)
    assert response.status_code == 409
    assert "no claim on face" in response.json()["face"][0]
    assert not Annotation.objects.exists() and Face.objects.get(pk=face.pk).answer_count == 0


@pytest.mark.django_db
def test_a_skipped_or_lapsed_claim_is_not_enough_but_a_retry_of_a_stored_answer_is(
    policy, annotator_user, monkeypatch
):
    client = client_for(annotator_user)
    skipped, lapsed, answered = make_face(1), make_face(2), make_face(3)
    claim(client, skipped)
    assert client.post(RELEASE, {"face": skipped.id}, content_type="application/json").status_code == 204
    assert submit(client, skipped.id).status_code == 409

    claim(client, answered)
    key = uuid.uuid4()
    assert submit(client, answered.id, key=key).status_code == 201
    claim(client, lapsed)
    later = timezone.now() + timedelta(seconds=policy.CLAIM_LEASE_SECONDS + 1)
    monkeypatch.setattr(queue_services, "_now", lambda: later)
    assert submit(client, lapsed.id).status_code == 409  # the face has room, but the lease ran out
    retry = submit(client, answered.id, key=key)  # its claim ended with the answer: still idempotent
    assert retry.status_code == 200
    assert list(Annotation.objects.values_list("face_id", flat=True)) == [answered.id]


def _body(response):
    return response.status_code, response.content


@pytest.mark.django_db
def test_every_refusal_reads_the_same_for_a_gold_face_and_an_ordinary_one(policy, annotator_user, second_annotator):
    """Whatever an annotator sends, nothing in the answer tells a gold face from another (face ids aside)."""
    gold, plain = make_face(1), make_face(2)
    for face in (gold, plain):
        make_suggestion(face)
    # Both complete: the other annotator answered each once (the probe of the report: a wrong
    # suggestion id sent to a complete face without a claim). Marked gold after: the queue hands a
    # gold face out through the gold share only.
    other = client_for(second_annotator)
    for face in (gold, plain):
        claim(other, face)
        assert submit(other, face.id).status_code == 201
    gold_mark(face=gold, category=1, valence=0.6, arousal=0.3, by=None)
    me = client_for(annotator_user)

    def probes(face):
        key = uuid.uuid4()
        return [
            submit(me, face.id, suggestion=wrong_id),  # no claim, wrong suggestion
            submit(me, face.id),  # no claim
            submit(me, face.id, 1, 0.9, 0.9),  # outside the circle
            submit(me, face.id, seconds_spent=1e308),
            submit(me, face.id, key=key),
            submit(me, face.id, key=key),
        ]

    elsewhere = make_face(3)  # a suggestion of neither face, sent to both
    wrong_id = Suggestion.objects.create(face=elsewhere, suggester=Suggester.objects.create(name="m", version="1"),
                                         probabilities=[0.1] * 11, category=2, confidence=0.1,
                                         valence=-0.5, arousal=-0.2).id
    answers = {}
    for face in (gold, plain):
        answers[face.id] = [_body(r) for r in probes(face)]
    swap = lambda body: body.replace(str(gold.id).encode(), b"N").replace(str(plain.id).encode(), b"N")  # noqa: E731
    assert [(s, swap(b)) for s, b in answers[gold.id]] == [(s, swap(b)) for s, b in answers[plain.id]]
    assert [s for s, _ in answers[gold.id]] == [409, 409, 400, 400, 409, 409]

    # Holding a claim on each (gold faces are handed out even when full): the same again.
    policy.GOLD_SHARE = 1.0
    assert [f["id"] for f in next_faces(me)] == [gold.id]
    policy.GOLD_SHARE = 0.0
    Face.objects.filter(pk=plain.pk).update(required_annotations=2)
    assert [f["id"] for f in next_faces(me, holding=[gold.id])] == [plain.id]
    held = {face.id: [_body(submit(me, face.id, suggestion=wrong_id)),
                      _body(submit(me, face.id, 1, 0.9, 0.9))] for face in (gold, plain)}
    assert [(s, swap(b)) for s, b in held[gold.id]] == [(s, swap(b)) for s, b in held[plain.id]]
    assert [s for s, _ in held[gold.id]] == [409, 400]
    assert Annotation.objects.filter(annotator=annotator_user).count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("seconds", [1e308, 3600.5, -1, float("inf")])
def test_time_spent_outside_zero_to_an_hour_is_refused(policy, annotator_user, seconds):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    body = ('{"face": %d, "category": 1, "valence": 0.5, "arousal": 0.2, "client_key": "%s", "seconds_spent": %s}'
            % (face.id, uuid.uuid4(), "1e999" if math.isinf(seconds) else repr(seconds)))
    response = client.post("/api/annotations/", body, content_type="application/json")
    assert response.status_code == 400 and "seconds_spent" in response.json(), response.content
    assert not Annotation.objects.exists()


@pytest.mark.django_db
def test_changed_answers_add_their_time_up_to_an_hour_and_the_pages_keep_working(policy, annotator_user):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    annotation_id = submit(client, face.id, seconds_spent=3000).json()["id"]
    body = {"category": 1, "valence": 0.5, "arousal": 0.2, "seconds_spent": 3000}
    for _ in range(2):
        assert client.patch(f"/api/annotations/{annotation_id}/", body, content_type="application/json").status_code == 200
    assert Annotation.objects.get().seconds_spent == 3600
    assert client.get(MINE).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("point", [(0.9, 0.9), (-0.8, 0.61), (1.0, 0.01)])
def test_a_point_outside_the_circle_is_refused_everywhere_a_person_places_one(
    policy, annotator_user, reviewer_user, admin_user_role, point
):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    response = submit(client, face.id, 1, *point, outside_region_confirmed=True)
    assert response.status_code == 400
    [message] = response.json()["non_field_errors"]
    assert "valence, arousal" in message and "outside the valence-arousal circle" in message
    assert not Annotation.objects.exists()

    inside = submit(client, face.id, 1, 0.6, 0.3).json()["id"]
    change = client.patch(f"/api/annotations/{inside}/", {"category": 1, "valence": point[0], "arousal": point[1],
                                                          "outside_region_confirmed": True},
                          content_type="application/json")
    assert change.status_code == 400 and (Annotation.objects.get().valence, Annotation.objects.get().arousal) == (0.6, 0.3)

    decision = client_for(reviewer_user).post(f"/api/review/faces/{face.id}/decision/",
                                              {"category": 1, "valence": point[0], "arousal": point[1]},
                                              content_type="application/json")
    assert decision.status_code == 400 and not Decision.objects.exists()
    gold = client_for(admin_user_role).post("/api/review/gold/", {"face_id": face.id, "category": 1,
                                                                   "valence": point[0], "arousal": point[1]},
                                            content_type="application/json")
    assert gold.status_code == 400 and not GoldItem.objects.exists()
    # On the circle's edge is inside (the pages clamp to radius 1).
    edge = (math.cos(0.7), math.sin(0.7))
    assert client_for(admin_user_role).post("/api/review/gold/", {"face_id": face.id, "category": 1,
                                                                   "valence": edge[0], "arousal": edge[1]},
                                            content_type="application/json").status_code == 201


@pytest.mark.django_db
def test_a_reviewer_may_accept_an_imported_answer_whose_point_lies_outside_the_circle(policy, reviewer_user,
                                                                                         annotator_user):
    face = make_face(1)
    imported = Annotation.objects.create(face=face, annotator=annotator_user, category=1, valence=0.9, arousal=0.9,
                                         imported=True)
    response = client_for(reviewer_user).post(
        f"/api/review/faces/{face.id}/decision/",
        {"category": 1, "valence": 0.9, "arousal": 0.9, "source": "annotation", "annotation_id": imported.id},
        content_type="application/json")
    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_a_client_key_stands_for_one_answer(policy, annotator_user):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    key = uuid.uuid4()
    first = submit(client, face.id, 1, 0.5, 0.2, key=key)
    assert first.status_code == 201
    different = submit(client, face.id, 2, -0.5, -0.2, key=key)
    assert different.status_code == 409
    assert "different answer" in different.json()["client_key"][0]
    assert (Annotation.objects.get().category, Annotation.objects.get().valence) == (1, 0.5)
    # After an undo changed it, a late retry of the first send is still recognised as that answer.
    annotation_id = first.json()["id"]
    client.patch(f"/api/annotations/{annotation_id}/", {"category": 3, "valence": 0.1, "arousal": 0.6},
                 content_type="application/json")
    assert submit(client, face.id, 1, 0.5, 0.2, key=key).status_code == 200
    assert Annotation.objects.get().category == 3


@pytest.mark.django_db(transaction=True)
def test_the_migration_brings_stored_times_into_range(policy):
    """Before 0006 time spent had no upper bound: 1e308 twice stored infinity, and every page showing
    the answer failed. Migrating clamps it to an hour."""
    executor = MigrationExecutor(connection)
    executor.migrate([("annotator", "0005_imported_labels_stay_final")])
    apps = executor.loader.project_state([("annotator", "0005_imported_labels_stay_final")]).apps
    User, OldFace, OldAnnotation = (apps.get_model(*m) for m in
                                    (("auth", "User"), ("annotator", "Face"), ("annotator", "Annotation")))
    user = User.objects.create(username="ann")
    for n, seconds in enumerate((float("inf"), 1e308, 12.5)):
        face = OldFace.objects.create(image=f"{n}.jpg", content_hash=str(n))
        OldAnnotation.objects.create(face=face, annotator=user, category=0, valence=0, arousal=0, seconds_spent=seconds)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert sorted(Annotation.objects.values_list("seconds_spent", flat=True)) == [12.5, 3600, 3600]
