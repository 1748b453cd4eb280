"""The annotation queue and its API: leases, overlap, order, idempotent submits, undo, roles, privacy."""
import hashlib
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from annotator import signals
from annotator.faces import services
from annotator.models import Annotation, Claim, Face, Project, ProjectMembership, Suggester, Suggestion
from annotator.queue import services as queue_services
from reviews.services import gold_mark
from tests.project_helpers import ProjectPolicy, activate, set_policy

NEXT, RELEASE, SUBMIT, MINE = "/api/queue/next/", "/api/queue/release/", "/api/annotations/", "/api/annotations/mine/"


def make_face(n, *, required=1, priority=0.0, landmarks=None):
    """A face row; the queue never opens the image, so no file is written."""
    digest = hashlib.sha256(f"queue-face-{n}".encode()).hexdigest()
    return Face.objects.create(
        content_hash=digest, image=f"faces/{digest}.jpg", required_annotations=required,
        queue_priority=priority, landmarks=landmarks,
    )


def make_suggestion(face, category=1, valence=0.6, arousal=0.3, confidence=0.8):
    suggester = activate(Suggester.objects.get_or_create(name="test-model", version="1")[0])
    return Suggestion.objects.create(
        face=face, suggester=suggester, probabilities=[0.0] * 11, category=category, confidence=confidence,
        valence=valence, arousal=arousal,
    )


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def next_faces(client, count=1, holding=()):
    response = client.post(NEXT, {"count": count, "holding": list(holding)}, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["faces"]


def submit(client, face_id, category=1, valence=0.5, arousal=0.2, key=None, **extra):
    body = {"face": face_id, "category": category, "valence": valence, "arousal": arousal,
            "client_key": str(key or uuid.uuid4()), **extra}
    return client.post(SUBMIT, body, content_type="application/json")


@pytest.fixture
def policy(settings):
    set_policy(blind_share=0.0)
    set_policy(gold_share=0.0)
    set_policy(queue_order="rare_first")
    return ProjectPolicy(settings)


@pytest.mark.django_db
def test_next_gives_an_unanswered_face_with_its_suggestion(policy, annotator_user):
    face = make_face(1, landmarks=[1.0] * 136)
    suggestion = make_suggestion(face, category=7, valence=-0.4, arousal=0.2)
    [item] = next_faces(client_for(annotator_user))
    assert item["id"] == face.id
    assert item["image_url"] == f"/api/faces/{face.id}/image/"
    assert item["landmarks"] == [1.0] * 136
    assert item["suggestion"]["id"] == suggestion.id and item["suggestion"]["category"] == 7
    assert Claim.objects.get(face=face, annotator=annotator_user).expires_at > timezone.now()


@pytest.mark.django_db
def test_order_rare_first_or_arrival(policy, annotator_user):
    common, rare, middle = make_face(1, priority=0.0), make_face(2, priority=3.4), make_face(3, priority=1.0)
    client = client_for(annotator_user)
    assert [f["id"] for f in next_faces(client, count=3)] == [rare.id, middle.id, common.id]
    Claim.objects.all().delete()
    policy.QUEUE_ORDER = "arrival"
    assert [f["id"] for f in next_faces(client, count=3)] == [common.id, rare.id, middle.id]


@pytest.mark.django_db
def test_a_face_goes_to_no_more_annotators_than_it_needs(policy, annotator_user, second_annotator, admin_user_role):
    single, double = make_face(1, required=1, priority=2), make_face(2, required=2, priority=1)
    first, second, third = client_for(annotator_user), client_for(second_annotator), client_for(admin_user_role)
    assert {f["id"] for f in next_faces(first, count=5)} == {single.id, double.id}
    assert [f["id"] for f in next_faces(second, count=5)] == [double.id]
    assert next_faces(third, count=5) == []


@pytest.mark.django_db
def test_abandoned_claim_returns_to_the_queue_after_the_lease(policy, annotator_user, second_annotator, monkeypatch):
    face = make_face(1)
    assert [f["id"] for f in next_faces(client_for(annotator_user))] == [face.id]
    other = client_for(second_annotator)
    assert next_faces(other) == []
    later = timezone.now() + timedelta(seconds=policy.CLAIM_LEASE_SECONDS + 1)
    monkeypatch.setattr(queue_services, "_now", lambda: later)
    assert [f["id"] for f in next_faces(other)] == [face.id]
    # The first annotator's lease lapsed and the face is taken: a late answer is refused, not stored twice.
    response = submit(client_for(annotator_user), face.id)
    assert response.status_code == 409 and "face" in response.json()
    assert Annotation.objects.count() == 0


@pytest.mark.django_db
def test_claims_of_an_annotator_who_never_returns_are_swept_one_lease_after_they_lapse(
    policy, annotator_user, second_annotator, monkeypatch
):
    from annotator.queue.tasks import claims_delete_forgotten

    faces = [make_face(n) for n in range(1, 4)]
    next_faces(client_for(annotator_user), count=2)  # then goes away for good
    lease = timedelta(seconds=policy.CLAIM_LEASE_SECONDS)
    start = timezone.now()
    monkeypatch.setattr(queue_services, "_now", lambda: start + lease / 2)
    next_faces(client_for(second_annotator), count=1)  # claimed half a lease later
    assert Claim.objects.count() == 3

    monkeypatch.setattr(queue_services, "_now", lambda: start + lease * 1.9)
    assert claims_delete_forgotten() == 0  # lapsed, but remembered for one more lease (a skip stays skipped)
    monkeypatch.setattr(queue_services, "_now", lambda: start + lease * 2 + timedelta(seconds=1))
    assert claims_delete_forgotten() == 2
    assert list(Claim.objects.values_list("annotator_id", flat=True)) == [second_annotator.id]
    assert Face.objects.count() == len(faces)  # only the leases go


@pytest.mark.django_db
def test_own_live_claims_come_back_first_and_holding_is_respected(policy, annotator_user):
    faces = [make_face(i, priority=10 - i) for i in range(4)]
    client = client_for(annotator_user)
    first = [f["id"] for f in next_faces(client, count=2)]
    assert first == [faces[0].id, faces[1].id]
    assert [f["id"] for f in next_faces(client, count=2)] == first  # a page reload gets the same faces
    assert [f["id"] for f in next_faces(client, count=2, holding=first)] == [faces[2].id, faces[3].id]


@pytest.mark.django_db
def test_skip_hands_the_face_to_others_not_back_to_me(policy, annotator_user, second_annotator):
    face = make_face(1, priority=1)
    other_face = make_face(2)
    client = client_for(annotator_user)
    assert next_faces(client)[0]["id"] == face.id
    assert client.post(RELEASE, {"face": face.id}, content_type="application/json").status_code == 204
    assert [f["id"] for f in next_faces(client, holding=[])] == [other_face.id]
    assert [f["id"] for f in next_faces(client_for(second_annotator))] == [face.id]


@pytest.mark.django_db
def test_submit_is_idempotent_and_records_what_was_shown(policy, annotator_user):
    face = make_face(1)
    suggestion = make_suggestion(face, category=1, valence=0.6, arousal=0.3)
    client = client_for(annotator_user)
    next_faces(client)
    key = uuid.uuid4()
    first = submit(client, face.id, 1, 0.61, 0.29, key=key, suggestion=suggestion.id, seconds_spent=2.5)
    again = submit(client, face.id, 1, 0.61, 0.29, key=key, suggestion=suggestion.id, seconds_spent=2.5)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    annotation = Annotation.objects.get()
    assert annotation.suggestion == suggestion and annotation.kept_suggestion is True
    assert annotation.shown_blind is False and annotation.seconds_spent == 2.5
    face.refresh_from_db()
    assert face.answer_count == 1 and face.final_category == 1  # one answer needed: it is final
    assert not Claim.objects.exists()
    # A second answer to the same face under a new key is refused: change the answer instead.
    assert submit(client, face.id, 2, -0.5, -0.3).status_code == 409
    # A key is one answer: reused for another face, it is refused and stores nothing.
    other = make_face(2)
    reused = submit(client, other.id, 1, 0.5, 0.2, key=key)
    assert reused.status_code == 409 and "client_key" in reused.json()
    assert Annotation.objects.count() == 1


@pytest.mark.django_db
def test_changed_suggestion_is_not_kept(policy, annotator_user):
    face = make_face(1)
    suggestion = make_suggestion(face, category=1, valence=0.6, arousal=0.3)
    client = client_for(annotator_user)
    next_faces(client)
    assert submit(client, face.id, 1, 0.4, 0.3, suggestion=suggestion.id).status_code == 201
    assert Annotation.objects.get().kept_suggestion is False


@pytest.mark.django_db
def test_blind_faces_come_without_suggestion_and_are_recorded(policy, annotator_user):
    policy.BLIND_SHARE = 1.0
    face = make_face(1)
    suggestion = make_suggestion(face)
    client = client_for(annotator_user)
    assert next_faces(client)[0]["suggestion"] is None
    # Even if a client claims to have shown the suggestion, a blind claim records none.
    assert submit(client, face.id, 1, 0.5, 0.2, suggestion=suggestion.id).status_code == 201
    annotation = Annotation.objects.get()
    assert annotation.shown_blind is True and annotation.suggestion is None and annotation.kept_suggestion is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, field",
    [
        ({"category": 11, "valence": 0.0, "arousal": 0.0}, "category"),
        ({"category": 1, "valence": None, "arousal": 0.2}, "valence"),
        ({"category": 1, "valence": 0.2, "arousal": 1.5}, "arousal"),
        ({"category": 10, "valence": 0.3, "arousal": None}, "valence"),
        ({"category": "happy", "valence": 0.3, "arousal": 0.1}, "category"),
    ],
)
def test_bad_answers_get_a_field_error_and_store_nothing(policy, annotator_user, body, field):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    response = client.post(SUBMIT, {"face": face.id, "client_key": str(uuid.uuid4()), **body},
                           content_type="application/json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Annotation.objects.exists()
    assert Face.objects.get().answer_count == 0


@pytest.mark.django_db
def test_no_face_stores_no_valence_arousal(policy, annotator_user):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    assert submit(client, face.id, 10, None, None).status_code == 201
    annotation = Annotation.objects.get()
    assert (annotation.category, annotation.valence, annotation.arousal) == (10, None, None)


@pytest.mark.django_db
def test_point_outside_the_region_needs_confirming(policy, annotator_user):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    refused = submit(client, face.id, 1, -0.8, -0.5)  # Happiness, unpleasant and calm
    assert refused.status_code == 400 and "outside_region_confirmed" in refused.json()
    assert submit(client, face.id, 1, -0.8, -0.5, outside_region_confirmed=True).status_code == 201
    assert Annotation.objects.get().outside_region_confirmed is True


@pytest.mark.django_db
def test_undo_changes_own_answer_until_a_reviewer_decides(policy, annotator_user, second_annotator, reviewer_user):
    face = make_face(1)
    client = client_for(annotator_user)
    next_faces(client)
    annotation_id = submit(client, face.id, 1, 0.5, 0.2).json()["id"]
    url = f"/api/annotations/{annotation_id}/"
    changed = client.patch(url, {"category": 2, "valence": -0.5, "arousal": -0.3}, content_type="application/json")
    assert changed.status_code == 200 and changed.json()["category"] == 2
    annotation = Annotation.objects.get()
    assert (annotation.category, annotation.valence) == (2, -0.5)
    assert [h.category for h in annotation.history.order_by("history_date")] == [1, 2]
    assert Face.objects.get().final_category == 2
    # Nobody else can change it, and it looks as if it did not exist.
    other = client_for(second_annotator).patch(url, {"category": 0, "valence": 0, "arousal": 0},
                                               content_type="application/json")
    assert other.status_code == 404
    services.face_set_reviewed_label(face_id=face.id, category=3, valence=0.2, arousal=0.8)
    late = client.patch(url, {"category": 1, "valence": 0.5, "arousal": 0.2}, content_type="application/json")
    assert late.status_code == 409
    assert Annotation.objects.get().category == 2


@pytest.mark.django_db
def test_only_the_latest_answers_can_change(policy, annotator_user):
    policy.UNDO_LIMIT = 2
    faces = [make_face(i) for i in range(3)]
    client = client_for(annotator_user)
    next_faces(client, count=3)
    ids = [submit(client, f.id, 0, 0.0, 0.0).json()["id"] for f in faces]
    body = {"category": 8, "valence": 0.1, "arousal": 0.1}
    assert client.patch(f"/api/annotations/{ids[0]}/", body, content_type="application/json").status_code == 409
    assert client.patch(f"/api/annotations/{ids[2]}/", body, content_type="application/json").status_code == 200


@pytest.mark.django_db
def test_an_annotator_never_sees_another_annotators_answer(policy, annotator_user, second_annotator):
    face = make_face(1, required=2)
    first, second = client_for(annotator_user), client_for(second_annotator)
    next_faces(first)
    submit(first, face.id, 7, -0.41, 0.23)
    [item] = next_faces(second)
    assert item["id"] == face.id
    assert "annotations" not in item and "-0.41" not in str(item) and "0.23" not in str(item)
    assert item["suggestion"] is None
    assert second.get(MINE).json() == []
    page = second.get("/annotate/").content.decode()
    assert "-0.41" not in page
    submit(second, face.id, 3, 0.2, 0.7)
    mine = second.get(MINE).json()
    assert [(a["face"], a["category"]) for a in mine] == [(face.id, 3)]


@pytest.mark.django_db
def test_gold_faces_are_mixed_in_even_when_full(policy, annotator_user, second_annotator):
    policy.GOLD_SHARE = 1.0
    gold_face, plain = make_face(1), make_face(2, priority=5)
    gold_mark(face=gold_face, category=1, valence=0.6, arousal=0.3, by=None)
    first = client_for(annotator_user)
    assert [f["id"] for f in next_faces(first)] == [gold_face.id]
    assert submit(first, gold_face.id, 1, 0.6, 0.3).status_code == 201
    # The gold face has its one answer, yet the next annotator is measured on it too.
    assert [f["id"] for f in next_faces(client_for(second_annotator))] == [gold_face.id]
    assert [f["id"] for f in next_faces(first)] == [plain.id]  # never twice to the same annotator


@pytest.mark.django_db(transaction=True)
def test_answer_saved_is_sent_after_commit_and_a_failing_receiver_loses_nothing(settings, annotator_user):
    set_policy(blind_share=0.0, gold_share=0.0)
    face = make_face(1)
    received = []

    def broken_broker(sender, face_id, annotation_id, **kwargs):
        received.append((face_id, annotation_id))
        raise ConnectionError("broker down")

    signals.answer_saved.connect(broken_broker)
    try:
        client = client_for(annotator_user)
        next_faces(client)
        response = submit(client, face.id, 1, 0.5, 0.2)
        assert response.status_code == 201
        annotation_id = response.json()["id"]
        assert received == [(face.id, annotation_id)]
        assert Annotation.objects.filter(pk=annotation_id).exists()
        client.patch(f"/api/annotations/{annotation_id}/", {"category": 0, "valence": 0, "arousal": 0},
                     content_type="application/json")
        assert received == [(face.id, annotation_id)] * 2
    finally:
        signals.answer_saved.disconnect(broken_broker)


ENDPOINTS = [
    ("post", NEXT, {"count": 1}),
    ("post", RELEASE, {"face": 1}),
    ("post", SUBMIT, {}),
    ("get", MINE, None),
    ("patch", "/api/annotations/{annotation}/", {"category": 10}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("method, url, body", ENDPOINTS)
@pytest.mark.parametrize("role, allowed", [(None, False), ("reviewer", False), ("annotator", True), ("admin", True)])
def test_each_role_on_each_endpoint(policy, request, method, url, body, role, allowed, annotator_user):
    face = make_face(1)
    users = {"reviewer": "reviewer_user", "annotator": "annotator_user", "admin": "admin_user_role"}
    client = Client()
    user = None
    if role:
        user = request.getfixturevalue(users[role])
        client.force_login(user)
    owner = user if allowed else annotator_user
    annotation = Annotation.objects.create(face=face, annotator=owner, category=10)
    kwargs = {"content_type": "application/json"} if body is not None else {}
    if url == SUBMIT:
        body = {"face": face.id, "category": 10, "client_key": str(uuid.uuid4())}
    if url == RELEASE:
        body = {"face": face.id}  # an id that names no face is a 404
    response = getattr(client, method)(url.format(annotation=annotation.id), body, **kwargs)
    if allowed:
        assert response.status_code in (200, 201, 204, 409), response.content
    else:
        assert response.status_code == 403, response.content


@pytest.mark.django_db
@pytest.mark.parametrize("role, status", [("reviewer", 403), ("annotator", 200), ("admin", 200)])
def test_annotate_page_by_role(request, role, status):
    user = request.getfixturevalue({"reviewer": "reviewer_user", "annotator": "annotator_user",
                                    "admin": "admin_user_role"}[role])
    assert client_for(user).get("/annotate/").status_code == status


@pytest.mark.django_db
def test_annotate_page_needs_login():
    response = Client().get("/annotate/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
def test_queue_endpoints_are_in_the_openapi_schema(annotator_user):
    schema = client_for(annotator_user).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for path in (NEXT, RELEASE, SUBMIT, MINE, "/api/annotations/{annotation_id}/"):
        assert path in schema["paths"], path


@pytest.mark.django_db
def test_claim_query_reads_the_open_faces_index(policy, annotator_user):
    """The claim scan must not read the whole face table (checked with the database's own plan)."""
    if connection.vendor != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL (DATABASE_URL); SQLite plans differ")
    for i in range(200):
        make_face(i, priority=i % 7)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotator_face")
        cursor.execute("SET enable_seqscan = off")  # small tables favour a scan; ask what the index path is
    sql, params = queue_services.lock_candidates_sql(annotator_id=annotator_user.pk, project=Project.objects.default(),
                                                      now=timezone.now(), limit=3, exclude=[1])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "face_queue_open_rare" in plan, plan


@pytest.mark.django_db
def test_faces_held_by_others_do_not_hide_the_rest_of_the_queue(policy, annotator_user, django_user_model):
    """Many annotators each holding several faces at the head of the queue: the next one still gets faces."""
    faces = [make_face(i, priority=100 - i) for i in range(40)]
    for n in range(8):
        holder = django_user_model.objects.create_user(f"holder{n}")
        ProjectMembership.objects.create(project=Project.objects.default(), user=holder)
        queue_services.queue_claim(annotator=holder, count=4)
    got = [f["id"] for f in next_faces(client_for(annotator_user), count=4)]
    assert got == [f.id for f in faces[32:36]]
