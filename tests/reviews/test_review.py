"""The review queue, decisions, history, gold items, measures, dashboard and commands."""
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from annotator.domain.categories import NUM_CATEGORIES, has_va
from annotator.domain.labels import Label
from annotator.faces.selectors import face_final_label
from annotator.models import FinalSource
from annotator.training.selectors import suggester_evaluate
from reviews.models import Decision, Flag, GoldItem
from tests.review_factories import answer, flag, make_face, suggest, suggester

PAGES = ["/review/", "/review/face/{id}/", "/review/dashboard/"]
ENDPOINTS = [
    ("get", "/api/review/queue/"),
    ("get", "/api/review/faces/{id}/"),
    ("post", "/api/review/faces/{id}/decision/"),
    ("get", "/api/review/faces/{id}/history/"),
    ("post", "/api/review/gold/"),
    ("delete", "/api/review/gold/{id}/"),
    ("get", "/api/review/agreement/"),
    ("get", "/api/review/evaluation/"),
    ("get", "/api/review/dashboard/"),
]


def client_for(user):
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def disputed(data_root, annotator_user, second_annotator):
    """Two flagged faces: face a (more severe) with two disagreeing answers and a suggestion, face b."""
    model = suggester()
    a = make_face()
    answer(a, annotator_user, 1, 0.6, 0.3, seconds_spent=4.0)
    answer(a, second_annotator, 3, 0.2, 0.8, seconds_spent=6.0, shown_blind=True)
    suggest(a, model, 1, 0.5, 0.2, confidence=0.7)
    flag(a, severity=0.9, evidence={"categories": [1, 3]})
    b = make_face()
    answer(b, annotator_user, 6, -0.6, 0.6)
    suggest(b, model, 0, 0.0, 0.0)
    flag(b, reason=Flag.Reason.ANNOTATOR_VS_MODEL, severity=0.4)
    return a, b


@pytest.mark.django_db
def test_annotators_get_403_on_every_review_page_and_endpoint(disputed, annotator_user):
    face = disputed[0]
    c = client_for(annotator_user)
    for url in PAGES:
        assert c.get(url.format(id=face.id)).status_code == 403, url
    for method, url in ENDPOINTS:
        response = getattr(c, method)(url.format(id=face.id), data={}, content_type="application/json")
        assert response.status_code == 403, (method, url)
    assert not Decision.objects.exists() and not GoldItem.objects.exists()
    anonymous = Client()
    assert anonymous.get("/review/").status_code == 302
    assert anonymous.get("/api/review/queue/").status_code in (401, 403)


@pytest.mark.django_db
def test_reviewers_see_the_pages_but_not_history_or_gold(disputed, reviewer_user):
    face = disputed[0]
    c = client_for(reviewer_user)
    for url in PAGES:
        assert c.get(url.format(id=face.id)).status_code == 200, url
    assert c.get(f"/api/review/faces/{face.id}/history/").status_code == 403
    assert c.post("/api/review/gold/", {"face_id": face.id, "category": 1, "valence": 0, "arousal": 0},
                  content_type="application/json").status_code == 403


@pytest.mark.django_db
def test_queue_is_grouped_per_face_most_severe_first_with_filters_and_counts(disputed, annotator_user,
                                                                              second_annotator, reviewer_user):
    a, b = disputed
    flag(b, reason=Flag.Reason.OUTSIDE_REGION, severity=0.2, key="other")  # b: two flags, still one row
    c = client_for(reviewer_user)
    data = c.get("/api/review/queue/").json()
    assert [r["face_id"] for r in data["results"]] == [a.id, b.id]
    assert data["results"][1]["flag_count"] == 2 and data["results"][1]["severity"] == 0.4
    assert data["count"] == 2
    assert data["reason_counts"] == {"annotator_vs_annotator": 1, "annotator_vs_model": 1, "outside_region": 1,
                                     "gold_mismatch": 0, "imported_label": 0, "spot_check": 0}
    assert data["results"][0]["flags"][0]["evidence"] == {"categories": [1, 3]}
    ids = lambda q: [r["face_id"] for r in c.get("/api/review/queue/", q).json()["results"]]  # noqa: E731
    assert ids({"reason": "annotator_vs_model"}) == [b.id]
    assert ids({"category": 3}) == [a.id]  # only a has an answer of Surprise
    assert ids({"category": 0}) == [b.id]  # b's suggestion is Neutral
    assert ids({"annotator": second_annotator.id}) == [a.id]
    assert ids({"annotator": annotator_user.id}) == [a.id, b.id]
    other = suggester("other", "2", active=False)
    suggest(b, other, 6, -0.5, 0.5)
    assert ids({"model": other.id}) == [b.id]
    assert c.get("/api/review/queue/", {"reason": "nonsense"}).status_code == 400
    page = c.get("/review/", {"reason": "annotator_vs_model"}).content.decode()
    assert f"/review/face/{b.id}/" in page and f"/review/face/{a.id}/" not in page


@pytest.mark.django_db
def test_reviewer_decides_flags_resolve_and_the_final_label_is_the_decision(disputed, reviewer_user):
    a, b = disputed
    chosen = a.annotations.get(category=3)
    c = client_for(reviewer_user)
    item = c.get(f"/api/review/faces/{a.id}/").json()
    assert item["next_face_id"] == b.id and len(item["answers"]) == 2
    assert item["suggestion"]["probabilities"][1] == pytest.approx(0.7)
    response = c.post(f"/api/review/faces/{a.id}/decision/",
                      {"category": 3, "valence": 0.2, "arousal": 0.8, "source": "annotation", "annotation_id": chosen.id},
                      content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["reviewer"] == reviewer_user.username and body["next_face_id"] == b.id
    decision = Decision.objects.get(face=a)
    assert (decision.reviewer, decision.annotation, decision.source) == (reviewer_user, chosen, "annotation")
    flag_row = Flag.objects.get(face=a)
    assert (flag_row.status, flag_row.closed_by, flag_row.closed_at is not None) == ("resolved", reviewer_user, True)
    a.refresh_from_db()
    assert a.needs_review is False and a.final_source == FinalSource.REVIEW
    # what the export writes (annotator.selectors.face_final_label is the export's source)
    assert face_final_label(a) == Label(3, 0.2, 0.8)
    # the queue moved on
    assert [r["face_id"] for r in c.get("/api/review/queue/").json()["results"]] == [b.id]
    # deciding b (the last) leaves nothing next; No-Face takes no point
    response = c.post(f"/api/review/faces/{b.id}/decision/", {"category": 10}, content_type="application/json")
    assert response.status_code == 201 and response.json()["next_face_id"] is None
    b.refresh_from_db()
    assert face_final_label(b) == Label(10, None, None)


@pytest.mark.django_db
def test_bad_decisions_are_refused_naming_the_field(disputed, reviewer_user):
    a, b = disputed
    c = client_for(reviewer_user)
    post = lambda face, data: c.post(f"/api/review/faces/{face.id}/decision/", data, content_type="application/json")  # noqa: E731
    r = post(a, {"category": 3, "valence": 1.5, "arousal": 0})
    assert r.status_code == 400 and "valence" in r.json()
    r = post(a, {"category": 11, "valence": 0, "arousal": 0})
    assert r.status_code == 400 and "category" in r.json()
    other_answer = b.annotations.first()
    r = post(a, {"category": 6, "valence": -0.6, "arousal": 0.6, "source": "annotation", "annotation_id": other_answer.id})
    assert r.status_code == 400 and "annotation_id" in r.json()
    assert post(a, {"category": 1, "valence": 0.1, "arousal": 0.1, "source": "suggestion"}).status_code == 400
    assert not Decision.objects.exists()
    assert Flag.objects.filter(status="open").count() == 2
    a.refresh_from_db()
    assert a.needs_review and a.final_category is None


@pytest.mark.django_db
def test_admins_see_the_audit_history_of_answers_and_decisions(disputed, reviewer_user, admin_user_role):
    a, _ = disputed
    changed = a.annotations.get(category=1)
    changed.category, changed.valence, changed.arousal = 2, -0.5, -0.1
    changed.save()
    client_for(reviewer_user).post(f"/api/review/faces/{a.id}/decision/", {"category": 2, "valence": -0.5, "arousal": -0.1},
                                   content_type="application/json")
    client_for(admin_user_role).post(f"/api/review/faces/{a.id}/decision/", {"category": 2, "valence": -0.4, "arousal": -0.1},
                                     content_type="application/json")
    history = client_for(admin_user_role).get(f"/api/review/faces/{a.id}/history/").json()
    whats = [e["what"] for e in history]
    assert whats.count("answer created") == 2 and whats.count("answer changed") == 1
    assert whats.count("decision created") == 1 and whats.count("decision changed") == 1
    assert {e["by"] for e in history if e["what"].startswith("decision")} == {reviewer_user.username,
                                                                               admin_user_role.username}
    assert any("Sadness (-0.50, -0.10)" in e["detail"] for e in history if e["what"] == "answer changed")
    # the reviewer's item page shows decisions and flags, the admin's also every change to the answers
    reviewer_item = client_for(reviewer_user).get(f"/api/review/faces/{a.id}/").json()
    assert not any(e["what"].startswith("answer") for e in reviewer_item["history"])
    admin_item = client_for(admin_user_role).get(f"/api/review/faces/{a.id}/").json()
    assert any(e["what"] == "answer changed" for e in admin_item["history"])


@pytest.mark.django_db
def test_gold_items_and_gold_accuracy(data_root, admin_user_role, annotator_user, second_annotator, reviewer_user):
    face = make_face()
    c = client_for(admin_user_role)
    r = c.post("/api/review/gold/", {"face_id": face.id, "category": 4, "valence": -0.5, "arousal": 0.7},
               content_type="application/json")
    assert r.status_code == 201
    assert GoldItem.objects.get(face=face).created_by == admin_user_role
    bad = c.post("/api/review/gold/", {"face_id": face.id, "category": 9, "valence": 0.3}, content_type="application/json")
    assert bad.status_code == 400 and "valence" in bad.json()
    answer(face, annotator_user, 4, -0.4, 0.6)
    answer(face, second_annotator, 3, 0.1, 0.8)
    from reviews.selectors import gold_accuracy

    acc = gold_accuracy()
    assert acc[annotator_user.id]["accuracy"] == 1.0 and acc[second_annotator.id]["accuracy"] == 0.0
    assert gold_accuracy(annotator_id=second_annotator.id) == {
        second_annotator.id: {"answers": 1, "correct": 0, "accuracy": 0.0}}  # only theirs (the feedback page)
    rows = {a["annotator"]: a for a in client_for(reviewer_user).get("/api/review/dashboard/").json()["annotators"]}
    assert rows["ann1"]["gold_accuracy"] == 1.0 and rows["ann2"]["gold_accuracy"] == 0.0
    assert c.delete(f"/api/review/gold/{face.id}/").status_code == 204
    assert not GoldItem.objects.exists()


@pytest.mark.django_db
def test_dashboard_figures(disputed, reviewer_user, annotator_user, second_annotator):
    a, b = disputed
    model = suggester()
    c3 = make_face(split="train")
    answer(c3, annotator_user, 1, 0.9, 0.1, seconds_spent=2.0, suggestion=suggest(c3, model, 1, 0.8, 0.1),
           kept_suggestion=True)
    answer(c3, second_annotator, 1, 0.8, 0.0, seconds_spent=3.0)  # agreed: final by agreement
    data = client_for(reviewer_user).get("/api/review/dashboard/").json()
    progress = {p["split"]: p for p in data["progress"]}
    assert progress["val"] == {"split": "val", "faces": 2, "answered": 2, "complete": 1, "final": 0, "flagged": 2,
                                "spot_checks": 0}
    assert progress["train"]["final"] == 1 and progress["train"]["flagged"] == 0
    assert data["categories"]["answers"][1] == 3 and data["categories"]["final"][1] == 1
    assert data["categories"]["affectnet"][1] == 134915
    ann = {r["annotator"]: r for r in data["annotators"]}
    assert ann["ann1"]["answers"] == 3 and ann["ann1"]["median_seconds"] == 2.0
    assert ann["ann1"]["faces_per_hour"] == pytest.approx(3 / (6.0 / 3600))
    assert ann["ann1"]["kept_rate"] == 1.0 and ann["ann1"]["shown"] == 1
    # ann2 answered face a blind: Surprise where the model said Happiness
    assert ann["ann2"]["blind"] == 1 and ann["ann2"]["blind_match_rate"] == 0.0
    # shared faces a (1 vs 3) and c3 (1 vs 1): each annotator agrees on one pair of two
    assert ann["ann1"]["agreement"] == 0.5 and ann["ann2"]["agreement"] == 0.5
    assert data["agreement"]["categorical"]["percent_agreement"] == 0.5
    assert data["confusion_annotators"][1][3] == 1 and data["confusion_annotators"][1][1] == 2
    assert data["confusion_model"][1][1] == 3 and data["confusion_model"][3][1] == 1 and data["confusion_model"][6][0] == 1
    hist = data["va_histogram"]
    assert sum(map(sum, hist["counts"])) == 5
    assert hist["counts"][11][19] == 1  # (0.9, 0.1): valence bin 19 (0.9-1.0), arousal bin 11 (0.1-0.2)
    page = client_for(reviewer_user).get("/review/dashboard/").content.decode()
    assert "0.607" in page and "0.58" in page  # the paper's and the seed's numbers beside ours


def test_dashboard_keeps_its_figures_until_they_expire_or_a_reviewer_recomputes(
    disputed, reviewer_user, annotator_user, settings, django_assert_max_num_queries
):
    client = client_for(reviewer_user)
    first = client.get("/api/review/dashboard/").json()
    assert first["cache_seconds"] == settings.DASHBOARD_CACHE_SECONDS and first["computed_at"]
    answer(make_face(split="train"), annotator_user, 2, 0.1, 0.1)
    with django_assert_max_num_queries(4):  # the session, the user and the role: no aggregate runs
        kept = client.get("/api/review/dashboard/").json()
    assert kept == first
    page = client.get("/review/dashboard/").content.decode()
    assert f'datetime="{first["computed_at"]}"' in page and "Recompute now" in page

    fresh = client.get("/api/review/dashboard/?refresh=1").json()
    assert sum(fresh["categories"]["answers"]) == sum(first["categories"]["answers"]) + 1
    assert fresh["computed_at"] > first["computed_at"]
    assert client.get("/api/review/dashboard/").json() == fresh  # the recomputed figures are the ones kept
    page = client.get("/review/dashboard/?refresh=1").content.decode()
    assert f'datetime="{fresh["computed_at"]}"' not in page  # the page can recompute too

    settings.DASHBOARD_CACHE_SECONDS = 0  # kept for no time: every request computes
    assert client.get("/api/review/dashboard/").json()["computed_at"] > fresh["computed_at"]


@pytest.mark.django_db
def test_evaluate_a_suggester_against_final_labels(data_root, annotator_user):
    model = suggester()
    labels = [(1, 0.5, 0.2, 1, 0.4, 0.1), (3, 0.2, 0.9, 3, 0.1, 0.7), (6, -0.6, 0.7, 1, 0.2, 0.3), (10, None, None, 10, None, None)]
    for cat, v, a, scat, sv, sa in labels:
        face = make_face(required=1)
        answer(face, annotator_user, cat, v, a, shown_blind=True)  # independent of the model: it counts
        suggest(face, model, scat, sv, sa)
    unlabelled = make_face(required=1)
    suggest(unlabelled, model, 0, 0, 0)
    result = suggester_evaluate(model, "val")
    assert result["categorical"]["n"] == 4 and result["categorical"]["acc"] == 0.75
    assert result["valence"]["n"] == 3
    assert result["valence"]["rmse"] == pytest.approx(((0.1**2 + 0.1**2 + 0.8**2) / 3) ** 0.5)
    assert result["valence"]["sagr"] == pytest.approx(2 / 3)
    out = io.StringIO()
    call_command("evaluate", "--split", "val", stdout=out)
    text = out.getvalue()
    assert "ACC" in text and "0.75" in text and "0.58" in text and "CCC" in text and "0.34" in text
    out = io.StringIO()
    call_command("evaluate", "--model", "demo:1", "--split", "all", "--save", stdout=out)
    model.refresh_from_db()
    assert model.evaluation["all"]["categorical"]["n"] == 4
    with pytest.raises(CommandError, match="no suggester nope version 3"):
        call_command("evaluate", "--model", "nope:3")
    with pytest.raises(CommandError, match="'12' is outside 0-10"):
        call_command("evaluate", "--categories", "0-7,12")
    # The seed's eight labels: No-Face leaves, the Anger face is still wrong (Happiness is among 0-7).
    eight = suggester_evaluate(model, "val", categories=range(8))
    assert eight["categorical"]["n"] == 3 and eight["categorical"]["acc"] == pytest.approx(2 / 3)
    out = io.StringIO()
    call_command("evaluate", "--categories", "0-7", stdout=out)
    assert "3 faces scored" in out.getvalue() and "categories 0-7" in out.getvalue()


@pytest.mark.django_db
def test_agreement_command_prints_the_papers_numbers_beside_ours(disputed, annotator_user, second_annotator):
    agreed = make_face()
    answer(agreed, annotator_user, 0, 0.0, -0.2)
    answer(agreed, second_annotator, 0, 0.1, -0.1)
    out = io.StringIO()
    call_command("agreement", stdout=out)
    text = out.getvalue()
    assert "2 faces with two or more answers" in text
    assert "0.607" in text and "0.34" in text and "0.36" in text  # the paper's
    assert "Fleiss" in text and "Krippendorff" in text and "ann1 / ann2" in text
    # one face agrees, the other not
    assert re.search(r"percent agreement \(all answers same\) +0.500 +0.607", text), text


@pytest.mark.django_db
def test_review_api_is_in_the_openapi_schema(reviewer_user):
    schema = client_for(reviewer_user).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/review/queue/", "/api/review/faces/{face_id}/decision/", "/api/review/gold/",
                 "/api/review/faces/{face_id}/history/", "/api/review/dashboard/"):
        assert path in text, path


@pytest.mark.django_db
def test_the_item_page_is_told_which_categories_carry_a_point(data_root, reviewer_user):
    """review-item.js reads the categories with valence/arousal from the page, as has_va says."""
    face = make_face()
    page = client_for(reviewer_user).get(f"/review/face/{face.id}/")
    config = page.context["config"]
    assert config["categoriesWithVa"] == [c for c in range(NUM_CATEGORIES) if has_va(c)] == list(range(9))
    assert 'id="review-config"' in page.content.decode()
