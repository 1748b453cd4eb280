"""In the real queue a gold face cannot be told from an ordinary blind face: the same payload keys and
shapes, no suggestion, the same submit response and the same refusals (ids aside)."""
import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.models import Claim, Face
from annotator.queue import services as queue_services
from reviews.services import gold_mark
from tests.project_helpers import ProjectPolicy, set_policy
from tests.queue.test_queue import RELEASE, client_for, make_face, make_suggestion, next_faces, submit


@pytest.fixture
def real_queue(settings):
    """Every new face blind; gold slots on demand. Calibration stays off (tests.settings)."""
    set_policy(blind_share=1.0)
    set_policy(gold_share=0.0)
    set_policy(queue_order="rare_first")
    return ProjectPolicy(settings)


def shape(value):
    """The value's structure: dict keys and value types, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", shape(value[0]) if value else None]
    return type(value).__name__


def without_ids(body, *ids):
    """The body as text with the given face ids (and any uuid) replaced, to compare two refusals."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<key>", str(body))
    for pk in ids:
        text = re.sub(rf"\b{pk}\b", "<id>", text)
    return text


def gold_and_plain(n=0):
    """A gold face and an ordinary face, each with landmarks and a model suggestion."""
    gold = make_face(10 + n, landmarks=[1.0] * 136, priority=1.0)
    plain = make_face(20 + n, landmarks=[1.0] * 136, priority=1.0, required=3)  # room for a second annotator
    for face in (gold, plain):
        make_suggestion(face, category=6, valence=-0.5, arousal=0.6)
    gold_mark(face=gold, category=1, valence=0.6, arousal=0.3, by=None)
    return gold, plain


def claim_both(real_queue, client, gold, plain):
    """Hand the annotator both faces: the gold one through a gold slot, the plain one as any face."""
    real_queue.GOLD_SHARE = 1.0
    faces = {f["id"]: f for f in next_faces(client, count=2)}
    real_queue.GOLD_SHARE = 0.0
    assert set(faces) == {gold.id, plain.id}
    assert not any(c.calibration for c in Claim.objects.all())
    return faces[gold.id], faces[plain.id]


@pytest.mark.django_db
def test_a_gold_face_and_a_blind_face_have_the_same_payload(real_queue, annotator_user):
    gold, plain = gold_and_plain()
    client = client_for(annotator_user)
    g, p = claim_both(real_queue, client, gold, plain)
    assert shape(g) == shape(p)
    assert g["suggestion"] is None and p["suggestion"] is None
    assert g["expires_at"] == p["expires_at"] and g["landmarks"] == p["landmarks"]
    assert "gold" not in str(sorted(g)).lower()


@pytest.mark.django_db
def test_gold_faces_are_blind_even_when_ordinary_faces_are_not(real_queue, annotator_user):
    """BLIND_SHARE decides for ordinary faces only; a gold face never shows the model's answer."""
    real_queue.BLIND_SHARE = 0.0
    gold, plain = gold_and_plain()
    g, p = claim_both(real_queue, client_for(annotator_user), gold, plain)
    assert g["suggestion"] is None and p["suggestion"] is not None
    assert Claim.objects.get(face=gold).shown_blind


@pytest.mark.django_db
def test_a_gold_face_is_never_handed_out_as_an_ordinary_face(real_queue, annotator_user):
    """Gold faces come only through the gold share (always blind), not through the ordinary scan."""
    real_queue.BLIND_SHARE = 0.0
    gold, plain = gold_and_plain()
    assert [f["id"] for f in next_faces(client_for(annotator_user), count=5)] == [plain.id]


@pytest.mark.django_db
def test_answers_to_a_gold_face_and_a_blind_face_get_the_same_response(real_queue, annotator_user):
    gold, plain = gold_and_plain()
    client = client_for(annotator_user)
    claim_both(real_queue, client, gold, plain)
    g = submit(client, gold.id, 2, -0.6, -0.3, suggestion=None)
    p = submit(client, plain.id, 2, -0.6, -0.3, suggestion=None)
    assert (g.status_code, p.status_code) == (201, 201)
    assert shape(g.json()) == shape(p.json())
    for key in ("shown_blind", "kept_suggestion", "suggestion", "feedback", "outside_region_confirmed"):
        assert g.json()[key] == p.json()[key], key
    assert g.json()["feedback"] is None


@pytest.mark.django_db
def test_refusals_read_the_same_for_a_gold_face_and_an_ordinary_face(real_queue, annotator_user, second_annotator):
    gold, plain = gold_and_plain()
    client = client_for(annotator_user)

    def both(call):
        results = [call(gold.id), call(plain.id)]
        assert results[0].status_code == results[1].status_code, results
        if results[0].status_code >= 400:  # a refusal: the same words, ids aside
            bodies = [without_ids(r.content.decode(), gold.id, plain.id) for r in results]
            assert bodies[0] == bodies[1]
        elif results[0].content:  # a stored answer: the same keys and shapes (ids and times differ)
            assert shape(results[0].json()) == shape(results[1].json())
        return results[0]

    # Not held: never handed to this annotator.
    assert both(lambda pk: submit(client, pk)).status_code == 409
    # Release of a face not held: a no-op either way.
    assert both(lambda pk: client.post(RELEASE, {"face": pk}, content_type="application/json")).status_code == 204
    claim_both(real_queue, client, gold, plain)
    # A point outside the region, unconfirmed; a suggestion id that is none of the face's; then answers.
    assert both(lambda pk: submit(client, pk, 1, -0.9, -0.4)).status_code == 400
    assert both(lambda pk: submit(client, pk, suggestion=999_999)).status_code == 409  # no suggestion of the face
    keys = {gold.id: uuid.uuid4(), plain.id: uuid.uuid4()}
    assert both(lambda pk: submit(client, pk, key=keys[pk])).status_code == 201
    # A retry; the same key with another answer; another key for an answered face.
    assert both(lambda pk: submit(client, pk, key=keys[pk])).status_code == 200
    assert both(lambda pk: submit(client, pk, 3, 0.1, 0.5, key=keys[pk])).status_code == 409
    assert both(lambda pk: submit(client, pk)).status_code == 409
    # After a release: not held any more.
    other = client_for(second_annotator)
    claim_both(real_queue, other, gold, plain)
    for pk in (gold.id, plain.id):
        queue_services.queue_release(annotator=second_annotator, face_id=pk)
    assert both(lambda pk: submit(other, pk)).status_code == 409


@pytest.mark.django_db
def test_with_gold_feedback_on_a_gold_answer_is_followed_by_its_reference(real_queue, annotator_user):
    real_queue.GOLD_FEEDBACK = True
    gold, plain = gold_and_plain()
    client = client_for(annotator_user)
    claim_both(real_queue, client, gold, plain)
    feedback = submit(client, gold.id, 1, 0.6, 0.3).json()["feedback"]
    assert feedback["calibration"] is False and feedback["correct"] is True and feedback["va_distance"] == 0.0
    assert submit(client, plain.id).json()["feedback"] is None


@pytest.mark.django_db
def test_gold_slots_take_one_pick_and_one_insert_whatever_their_number(real_queue, annotator_user,
                                                                       django_assert_max_num_queries):
    """queue_claim runs for every face shown: 8 gold slots cost what 1 does, not a pick and an insert each."""
    gold = [make_face(100 + n, landmarks=[1.0] * 136) for n in range(10)]
    for face in gold:
        gold_mark(face=face, category=1, valence=0.6, arousal=0.3, by=None)
    queue_services.queue_claim(annotator=annotator_user, count=0)  # the standing exists from here on
    real_queue.GOLD_SHARE = 1.0
    with django_assert_max_num_queries(12):
        claimed = queue_services.queue_claim(annotator=annotator_user, count=8)
    assert len(claimed) == 8 and len({c.face_id for c in claimed}) == 8
    assert {c.face_id for c in claimed} <= {f.id for f in gold}
    assert all(c.claim.shown_blind and c.claim.pk for c in claimed)
    assert Claim.objects.filter(annotator=annotator_user, shown_blind=True).count() == 8


@pytest.mark.django_db
def test_two_tabs_picking_the_same_gold_face_share_one_claim_not_a_500(real_queue, annotator_user, monkeypatch):
    """Gold picks lock no row: the annotator's other tab may claim the picked face between the pick and
    the insert (PostgreSQL). Played here in order: the insert must not fail on one_claim_per_face_and_annotator."""
    gold, _ = gold_and_plain()
    client = client_for(annotator_user)
    next_faces(client, count=1, holding=[f.pk for f in Face.objects.all()])  # the standing exists from here on
    real_pick = queue_services._pick_gold

    def pick_while_the_other_tab_claims(**kwargs):
        picked = real_pick(**kwargs)
        for pk in picked:
            Claim.objects.create(face_id=pk, annotator=annotator_user, shown_blind=True,
                                 expires_at=timezone.now() + timedelta(minutes=5))
        return picked

    monkeypatch.setattr(queue_services, "_pick_gold", pick_while_the_other_tab_claims)
    real_queue.GOLD_SHARE = 1.0
    Claim.objects.filter(annotator=annotator_user).delete()
    faces = next_faces(client, count=1)
    assert [f["id"] for f in faces] == [gold.id]
    assert faces[0]["suggestion"] is None
    assert Claim.objects.filter(annotator=annotator_user, face=gold).count() == 1
