"""Reviewer and annotator talk: return a face with a note, ask one more annotator, the annotator's
feedback page and the overturn rate."""
import re
import uuid

import pytest
from django.test import Client

from annotator.feedback import services as feedback_services
from annotator.models import Annotation, Claim, FinalSource, ReviewerRequest
from reviews.flagging import face_flags_evaluate
from reviews.models import Flag
from reviews.selectors import face_history, overturn_counts
from reviews.services import decision_make
from tests.conftest import make_user
from tests.project_helpers import set_policy
from tests.review_factories import answer, flag, make_face, suggest, suggester

NEXT, SUBMIT = "/api/queue/next/", "/api/annotations/"


def client_for(user):
    c = Client()
    c.force_login(user)
    return c


def next_faces(client, count=1):
    response = client.post(NEXT, {"count": count}, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["faces"]


def submit(client, face_id, category, valence=None, arousal=None, key=None):
    body = {"face": face_id, "category": category, "valence": valence, "arousal": arousal,
            "client_key": str(key or uuid.uuid4())}
    return client.post(SUBMIT, body, content_type="application/json")


def return_face(client, face, annotation, note="Look at the mouth: the corners are down."):
    return client.post(f"/api/review/faces/{face.id}/return/", {"annotation_id": annotation.id, "note": note},
                       content_type="application/json")


@pytest.fixture(autouse=True)
def _policy(db):
    set_policy(blind_share=0.0, gold_share=0.0, queue_order="arrival")


@pytest.fixture
def disputed(data_root, annotator_user, second_annotator):
    """A face two annotators disagree on (Happiness vs Sadness), with an open flag, and later an
    unanswered face that would otherwise be every annotator's next."""
    face = make_face(required=2)
    a1 = answer(face, annotator_user, 1, 0.6, 0.3, seconds_spent=4.0)
    a2 = answer(face, second_annotator, 2, -0.6, -0.3, seconds_spent=6.0)
    flag(face, evidence={"categories": [1, 2]})
    fresh = make_face(required=1)
    return face, a1, a2, fresh


@pytest.mark.django_db
def test_return_with_note_serves_that_face_first_with_the_note_and_the_new_answer_replaces_the_old(
        disputed, annotator_user, reviewer_user):
    face, a1, a2, fresh = disputed
    reviewer = client_for(reviewer_user)
    response = return_face(reviewer, face, a1)
    assert response.status_code == 201, response.content
    assert response.json()["annotator"] == annotator_user.username and response.json()["status"] == "open"
    # It waits for the annotator now, not for a reviewer: out of the review queue, its flag still open.
    queue = reviewer.get("/api/review/queue/").json()
    assert face.id not in [r["face_id"] for r in queue["results"]]
    assert Flag.objects.get(face=face).status == Flag.Status.OPEN

    annotator = client_for(annotator_user)
    [served] = next_faces(annotator)
    assert served["id"] == face.id  # before the fresh face, which is first in the queue's order
    assert served["note"]["text"] == "Look at the mouth: the corners are down."
    assert served["note"]["by"] == reviewer_user.username
    assert served["note"]["your_answer"]["category"] == 1
    # The note stays with the face on a reload of the claims.
    assert next_faces(annotator, count=2)[0]["note"]["text"].startswith("Look at the mouth")

    response = submit(annotator, face.id, 2, -0.5, -0.35)
    assert response.status_code == 201, response.content
    a1.refresh_from_db()
    assert (a1.category, a1.valence, a1.arousal) == (2, -0.5, -0.35)
    assert response.json()["id"] == a1.id
    face.refresh_from_db()
    assert face.answer_count == 2 and Annotation.objects.filter(face=face).count() == 2
    assert a1.history.count() == 2  # the returned answer stays in the history
    ret = ReviewerRequest.objects.get(face=face)
    assert ret.status == ReviewerRequest.Status.ANSWERED and ret.annotation == a1
    assert not Claim.objects.filter(face=face).exists()
    # The re-answer resolves the flag (its cause is gone) and the answers agree: the label is final.
    assert face_flags_evaluate(face_id=face.id) == []
    face.refresh_from_db()
    assert face.final_category == 2 and face.final_source == FinalSource.AGREEMENT
    # Served once: the annotator's next face is the fresh one, without a note.
    [after] = next_faces(annotator)
    assert after["id"] == fresh.id and after["note"] is None
    events = [(e["what"], e["detail"]) for e in face_history(face_id=face.id, with_audit=False)]
    assert (f"returned to {annotator_user.username}", "Look at the mouth: the corners are down.") in events
    assert ("answered again", "Sadness (-0.50, -0.35)") in events


@pytest.mark.django_db
def test_a_re_answer_that_still_disagrees_brings_the_face_back_to_the_review_queue(disputed, annotator_user,
                                                                                   reviewer_user):
    face, a1, _, _ = disputed
    reviewer = client_for(reviewer_user)
    assert return_face(reviewer, face, a1).status_code == 201
    annotator = client_for(annotator_user)
    assert next_faces(annotator)[0]["id"] == face.id
    assert submit(annotator, face.id, 1, 0.7, 0.3).status_code == 201  # keeps Happiness
    assert face_flags_evaluate(face_id=face.id)  # still disagrees: flagged
    assert face.id in [r["face_id"] for r in reviewer.get("/api/review/queue/").json()["results"]]


@pytest.mark.django_db
def test_a_retry_of_the_re_answer_stores_it_once(disputed, annotator_user, reviewer_user):
    face, a1, _, _ = disputed
    assert return_face(client_for(reviewer_user), face, a1).status_code == 201
    annotator = client_for(annotator_user)
    next_faces(annotator)
    key = uuid.uuid4()
    assert submit(annotator, face.id, 2, -0.5, -0.3, key=key).status_code == 201
    assert submit(annotator, face.id, 2, -0.5, -0.3, key=key).status_code == 200
    # Answered again, the face is closed to them like any answered face.
    response = submit(annotator, face.id, 3, 0.2, 0.8)
    assert response.status_code == 409 and "face" in response.json()
    assert Annotation.objects.filter(face=face).count() == 2


@pytest.mark.django_db
def test_the_re_answer_is_the_newest_answer_so_undo_reaches_it(disputed, annotator_user, reviewer_user, settings):
    face, a1, _, _ = disputed
    settings.UNDO_LIMIT = 2
    for _ in range(3):  # answered after the returned one: it is no longer among the latest two
        answer(make_face(required=1), annotator_user, 0, 0.0, 0.0)
    assert return_face(client_for(reviewer_user), face, a1).status_code == 201
    annotator = client_for(annotator_user)
    next_faces(annotator)
    assert submit(annotator, face.id, 2, -0.5, -0.3).status_code == 201
    response = annotator.patch(f"/api/annotations/{a1.id}/", {"category": 4, "valence": -0.4, "arousal": 0.6},
                               content_type="application/json")
    assert response.status_code == 200, response.content
    a1.refresh_from_db()
    assert a1.category == 4


@pytest.mark.django_db
def test_another_annotator_never_sees_the_note(data_root, annotator_user, second_annotator, reviewer_user):
    third = make_user("ann3", "annotator")
    face = make_face(required=3)  # room for a third answer
    a1 = answer(face, annotator_user, 1, 0.6, 0.3)
    answer(face, second_annotator, 2, -0.6, -0.3)
    assert return_face(client_for(reviewer_user), face, a1, note="only for ann1").status_code == 201
    for user in (second_annotator, third):
        for served in next_faces(client_for(user), count=5):
            assert served["note"] is None
    [served] = [f for f in next_faces(client_for(third), count=5) if f["id"] == face.id]
    assert "only for ann1" not in str(served)
    assert next_faces(client_for(annotator_user))[0]["note"]["text"] == "only for ann1"


@pytest.mark.django_db
def test_ask_one_more_raises_required_answers_and_another_annotator_gets_the_face(data_root, annotator_user,
                                                                                   second_annotator, reviewer_user):
    face = make_face(required=1)
    answer(face, annotator_user, 6, -0.5, 0.6)
    face.refresh_from_db()
    assert face.final_category == 6  # one answer was enough
    response = client_for(reviewer_user).post(f"/api/review/faces/{face.id}/one-more/", content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["required_annotations"] == 2 and response.json()["kind"] == "one_more"
    face.refresh_from_db()
    assert face.required_annotations == 2
    assert face.final_category is None  # the label waits for the extra answer
    assert next_faces(client_for(annotator_user)) == []  # not for whoever answered it
    other = client_for(second_annotator)
    [served] = next_faces(other)
    assert served["id"] == face.id and served["note"] is None
    assert submit(other, face.id, 6, -0.45, 0.55).status_code == 201
    request = ReviewerRequest.objects.get(face=face)
    assert request.status == ReviewerRequest.Status.ANSWERED
    assert request.annotation.annotator == second_annotator
    face.refresh_from_db()
    assert face.answer_count == 2 and face.final_category == 6
    events = [e["what"] for e in face_history(face_id=face.id, with_audit=False)]
    assert "asked one more annotator" in events and "one more answer" in events


@pytest.mark.django_db
def test_annotators_and_strangers_cannot_return_or_ask(disputed, annotator_user):
    face, a1, _, _ = disputed
    nobody = make_user("norole")
    for client in (client_for(annotator_user), client_for(nobody), Client()):
        assert return_face(client, face, a1).status_code in (401, 403)
        assert client.post(f"/api/review/faces/{face.id}/one-more/").status_code in (401, 403)
    assert not ReviewerRequest.objects.exists()
    face.refresh_from_db()
    assert face.required_annotations == 2


@pytest.mark.django_db
def test_bad_requests_name_their_field(disputed, reviewer_user, data_root):
    face, a1, a2, fresh = disputed
    c = client_for(reviewer_user)
    response = return_face(c, face, a1, note="   ")
    assert response.status_code == 400 and "note" in response.json()
    other = make_face()
    response = return_face(c, other, a1)  # an answer of another face
    assert response.status_code == 400 and "annotation_id" in response.json()
    response = c.post(f"/api/review/faces/{face.id}/return/", {"annotation_id": "x", "note": "n"},
                      content_type="application/json")
    assert response.status_code == 400 and "annotation_id" in response.json()
    assert return_face(c, face, a1).status_code == 201
    response = return_face(c, face, a1)  # once is enough until they answer
    assert response.status_code == 409 and "annotation_id" in response.json()
    assert c.post("/api/review/faces/999999/one-more/").status_code == 404


@pytest.mark.django_db
def test_a_decision_withdraws_the_return_and_ends_the_reserved_claim(disputed, annotator_user, reviewer_user):
    face, a1, a2, fresh = disputed
    reviewer = client_for(reviewer_user)
    assert return_face(reviewer, face, a1).status_code == 201
    assert reviewer.post(f"/api/review/faces/{face.id}/one-more/").status_code == 201
    annotator = client_for(annotator_user)
    assert next_faces(annotator)[0]["id"] == face.id
    decision_make(face=face, reviewer=reviewer_user, category=2, valence=-0.6, arousal=-0.3)
    assert set(ReviewerRequest.objects.values_list("status", flat=True)) == {ReviewerRequest.Status.WITHDRAWN}
    face.refresh_from_db()
    assert face.required_annotations == 2  # the extra answer is no longer needed
    assert not Claim.objects.filter(face=face, annotator=annotator_user).exists()
    response = submit(annotator, face.id, 2, -0.5, -0.3)
    assert response.status_code == 409
    a1.refresh_from_db()
    assert a1.category == 1
    # A decided face is returned to no one.
    response = return_face(reviewer, face, a1)
    assert response.status_code == 409 and "face" in response.json()
    events = [e["what"] for e in face_history(face_id=face.id, with_audit=False)]
    assert "returned with a note: withdrawn" in events


@pytest.mark.django_db
def test_feedback_page_shows_only_ones_own(disputed, annotator_user, second_annotator, reviewer_user):
    face, a1, a2, fresh = disputed
    feedback_services.face_return(face_id=face.id, annotation_id=a1.id, note="note for ann1", by=reviewer_user)
    feedback_services.face_return(face_id=face.id, annotation_id=a2.id, note="note for ann2", by=reviewer_user)
    other = make_face(required=1)
    answer(other, second_annotator, 3, 0.2, 0.8)
    decision_make(face=other, reviewer=reviewer_user, category=5, valence=-0.7, arousal=0.4)

    mine = client_for(annotator_user).get("/review/me/")
    assert mine.status_code == 200
    text = mine.content.decode()
    assert "note for ann1" in text and "note for ann2" not in text
    assert "Disgust" not in text  # ann2's overturned answer is not on ann1's page
    assert client_for(annotator_user).get(f"/review/me/?annotator={second_annotator.id}").status_code == 403
    theirs = client_for(second_annotator).get("/review/me/").content.decode()
    assert "note for ann2" in theirs and "note for ann1" not in theirs
    assert "Surprise (+0.20, +0.80)" in theirs and "Disgust (-0.70, +0.40)" in theirs  # overturned, both shown
    # A reviewer may open an annotator's page.
    as_reviewer = client_for(reviewer_user).get(f"/review/me/?annotator={second_annotator.id}")
    assert as_reviewer.status_code == 200 and "note for ann2" in as_reviewer.content.decode()
    bad = client_for(reviewer_user).get("/review/me/?annotator=ann2")
    assert bad.status_code == 400 and b"annotator" in bad.content  # names the field
    assert client_for(reviewer_user).get("/review/me/?annotator=999999").status_code == 404
    assert Client().get("/review/me/").status_code == 302  # to the sign-in page
    assert client_for(make_user("norole")).get("/review/me/").status_code == 403


@pytest.mark.django_db
def test_overturn_rate_counts_decisions_of_another_category_over_all_answers(data_root, annotator_user,
                                                                             second_annotator, reviewer_user):
    faces = [make_face(required=1) for _ in range(4)]
    for face in faces:
        answer(face, annotator_user, 1, 0.6, 0.3, seconds_spent=2.0)
    answer(faces[0], second_annotator, 1, 0.5, 0.2)
    # Same category, point moved: reviewed, not overturned. Another category: overturned.
    decision_make(face=faces[0], reviewer=reviewer_user, category=1, valence=0.2, arousal=0.1)
    decision_make(face=faces[1], reviewer=reviewer_user, category=4, valence=-0.6, arousal=0.7)
    counts = overturn_counts()
    assert counts[annotator_user.id] == {"answers": 4, "reviewed": 2, "overturned": 1, "rate": 0.25}
    assert counts[second_annotator.id] == {"answers": 1, "reviewed": 1, "overturned": 0, "rate": 0.0}
    dashboard = client_for(reviewer_user).get("/api/review/dashboard/?refresh=1").json()
    rows = {a["annotator"]: a for a in dashboard["annotators"]}
    assert rows[annotator_user.username]["overturn_rate"] == 0.25
    assert rows[annotator_user.username]["overturned"] == 1
    page = client_for(reviewer_user).get("/review/dashboard/?refresh=1").content.decode()
    assert "25%" in page and "(1 of 4; 2 reviewed)" in page
    assert f'href="/review/me/?annotator={annotator_user.id}"' in page  # each name opens their feedback page
    mine = client_for(annotator_user).get("/review/me/").content.decode()
    assert "(1 of 4 answers; 2 reviewed)" in mine and "25%" in mine


def _numbers_time(page: str) -> str:
    return re.search(r'id="computed-at">As of <time datetime="([^"]+)"', page).group(1)


@pytest.mark.django_db
def test_feedback_numbers_are_kept_with_their_time_and_the_lists_read_on_each_view(data_root, annotator_user,
                                                                                    second_annotator, reviewer_user):
    """The numbers count every answer of the annotator, so the page keeps them a while and shows their time;
    the overturned list beside them is read on every view, and ?refresh=1 computes the numbers now."""
    faces = [make_face(required=1) for _ in range(2)]
    for face in faces:
        answer(face, annotator_user, 1, 0.6, 0.3)
    answer(faces[1], second_annotator, 1, 0.6, 0.3)
    mine = client_for(annotator_user)
    first = mine.get("/review/me/").content.decode()
    assert "(0 of 2 answers; 0 reviewed)" in first and 'href="?refresh=1">Recompute now' in first
    decision_make(face=faces[0], reviewer=reviewer_user, category=4, valence=-0.6, arousal=0.7)
    kept = mine.get("/review/me/").content.decode()
    assert "(0 of 2 answers; 0 reviewed)" in kept and _numbers_time(kept) == _numbers_time(first)
    assert f'<tr data-face="{faces[0].id}">' in kept and "Fear (-0.60, +0.70)" in kept  # the list: as of now
    # Another annotator's numbers are their own, not the ones kept for the first.
    assert "(0 of 1 answers; 0 reviewed)" in client_for(second_annotator).get("/review/me/").content.decode()
    fresh = mine.get("/review/me/?refresh=1").content.decode()
    assert "(1 of 2 answers; 1 reviewed)" in fresh and _numbers_time(fresh) > _numbers_time(first)
    assert "(1 of 2 answers; 1 reviewed)" in mine.get("/review/me/").content.decode()  # the recompute is kept
    # A reviewer's recompute link stays on the annotator they opened.
    theirs = client_for(reviewer_user).get(f"/review/me/?annotator={annotator_user.id}").content.decode()
    assert f'href="?annotator={annotator_user.id}&amp;refresh=1">Recompute now' in theirs


@pytest.mark.django_db
@pytest.mark.parametrize("walk_decisions", [1000, 1], ids=["walk", "from-answers"])
def test_overturned_answers_come_a_page_at_a_time_newest_first(data_root, annotator_user, second_annotator,
                                                              reviewer_user, monkeypatch, walk_decisions):
    """Every overturned answer is reachable through the "Older" links, each once, in the order of the decisions'
    time and then face id (decisions of the same moment split across pages): found by walking the newest
    decisions, or, when those overturn too few of the annotator's answers, from their answers."""
    from datetime import timedelta

    from django.utils import timezone

    from reviews import selectors
    from reviews.models import Decision

    monkeypatch.setattr(selectors, "OVERTURNED_ROWS", 2)
    monkeypatch.setattr(selectors, "WALK_DECISIONS", walk_decisions)
    faces = [make_face(required=1) for _ in range(6)]
    for face in faces:
        answer(face, annotator_user, 1, 0.6, 0.3)
        decision_make(face=face, reviewer=reviewer_user, category=4, valence=-0.6, arousal=0.7)
    # Between them, decisions that overturn none of theirs: on another's answer, or keeping theirs.
    others = [make_face(required=1) for _ in range(5)]
    for i, face in enumerate(others):
        answer(face, second_annotator if i % 2 else annotator_user, 1, 0.6, 0.3)
        decision_make(face=face, reviewer=reviewer_user, category=4 if i % 2 else 1, valence=0.5, arousal=0.3)
    expected = [faces[5], faces[3], faces[2], faces[1], faces[0], faces[4]]
    now = timezone.now()
    for k, face in enumerate(expected):  # 0, 2, 2 (two of the same moment), 6, 8, 10 hours ago
        Decision.objects.filter(face=face).update(decided_at=now - timedelta(hours=2 * (k - (k == 2))))
    for k, face in enumerate(others):  # 1, 5, 7, 9, 11 hours ago: between them
        Decision.objects.filter(face=face).update(decided_at=now - timedelta(hours=2 * k + 1 + 2 * (k > 0)))
    expected = [face.id for face in expected]

    def walk(client, first_url):
        pages, url = [], first_url
        while url:
            page = client.get(url).content.decode()
            pages.append([int(i) for i in re.findall(r'<tr data-face="(\d+)">', page)])
            older = re.search(r'id="overturned-older" href="([^"]+)"', page)
            url = "/review/me/" + older.group(1).replace("&amp;", "&") if older else None
        return pages, page

    pages, last = walk(client_for(annotator_user), "/review/me/")
    assert pages == [expected[0:2], expected[2:4], expected[4:6]]
    assert 'href="?#overturned">Newest</a>' in last
    as_reviewer, _ = walk(client_for(reviewer_user), f"/review/me/?annotator={annotator_user.id}")
    assert as_reviewer == pages  # the reviewer's links stay on the annotator they opened
    for bad in ("yesterday", "12-x", "1-2-3", "9" * 30 + "-1", "2026-12-01T10:00:00_5", "x_5",
                "2026-12-01T10:00:00+00:00_0", "2026-12-01T10:00:00+00:00_" + "9" * 20):
        response = client_for(annotator_user).get("/review/me/", {"before": bad})
        assert response.status_code == 400 and response.content.startswith(b"before:"), bad


@pytest.mark.django_db
def test_feedback_figures_gold_accuracy_and_overturned_list_from_ones_own_answers(data_root, annotator_user,
                                                                                  second_annotator, reviewer_user):
    """The feedback page's figures meet decisions and gold labels by face id: only the annotator's own answers,
    gold correct only in the gold's category, and the overturned list newest decision first."""
    from reviews.selectors import annotator_feedback
    from reviews.services import gold_mark

    faces = [make_face(required=1) for _ in range(5)]
    for face in faces:
        answer(face, annotator_user, 1, 0.6, 0.3)
    answer(faces[3], second_annotator, 2, 0.1, 0.1)
    gold_mark(face=faces[3], category=1, valence=0.5, arousal=0.2, by=reviewer_user)  # theirs right, the other's wrong
    gold_mark(face=faces[4], category=6, valence=-0.5, arousal=0.2, by=reviewer_user)  # theirs wrong
    decision_make(face=faces[0], reviewer=reviewer_user, category=4, valence=-0.6, arousal=0.7)
    decision_make(face=faces[1], reviewer=reviewer_user, category=1, valence=0.1, arousal=0.1)  # point moved only
    decision_make(face=faces[2], reviewer=reviewer_user, category=5, valence=-0.2, arousal=0.4)
    data = annotator_feedback(annotator=annotator_user, scope=None)
    assert (data["answers"], data["reviewed"], data["overturned"]) == (5, 3, 2)
    assert (data["gold_answers"], data["gold_accuracy"]) == (2, 0.5)
    assert [row["face_id"] for row in data["overturned_answers"]] == [faces[2].id, faces[0].id]  # newest first
    assert data["overturned_answers"][1]["by"] == reviewer_user.username
    other = annotator_feedback(annotator=second_annotator, scope=None)
    assert (other["answers"], other["reviewed"], other["gold_answers"], other["gold_accuracy"]) == (1, 0, 1, 0.0)
    assert other["overturned_answers"] == []


@pytest.mark.django_db
def test_a_returned_face_comes_before_gold_and_new_faces_in_the_same_claim(disputed, annotator_user, reviewer_user,
                                                                          settings):
    """Gold faces go anywhere among the new faces; a returned face is first, as its annotator was told."""
    from reviews.services import gold_mark

    face, a1, a2, fresh = disputed
    set_policy(gold_share=1.0)
    gold = make_face(required=1)
    gold_mark(face=gold, category=3, valence=0.2, arousal=0.7, by=reviewer_user)
    assert return_face(client_for(reviewer_user), face, a1).status_code == 201
    for _ in range(5):  # gold's place is random: every draw must leave the returned face first
        Claim.objects.filter(annotator=annotator_user).delete()
        served = [f["id"] for f in next_faces(client_for(annotator_user), count=3)]
        assert served[0] == face.id and set(served) == {face.id, gold.id, fresh.id}, served


@pytest.mark.django_db
@pytest.mark.parametrize("blind", [True, False])
def test_a_returned_face_is_shown_as_the_returned_answer_was_blind_or_with_the_suggestion(
        data_root, annotator_user, second_annotator, reviewer_user, blind):
    face = make_face(required=2)
    suggest(face, suggester(), 1, 0.6, 0.3)
    mine = answer(face, annotator_user, 1, 0.6, 0.3, shown_blind=blind)
    answer(face, second_annotator, 2, -0.6, -0.3)
    assert return_face(client_for(reviewer_user), face, mine).status_code == 201
    [served] = next_faces(client_for(annotator_user))
    assert served["id"] == face.id
    assert (served["suggestion"] is None) is blind
    assert Claim.objects.get(face=face, annotator=annotator_user).shown_blind is blind
