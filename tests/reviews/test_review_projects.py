"""The review side with several projects: the queue's project filter and column, the dashboard of one
project (its faces only) with a picker, the projects side by side, the commands' --project, and the
region check a project may turn off."""
import io
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from annotator.models import Annotation, Project
from annotator.projects.services import project_create
from reviews.dashboard import dashboard_data, projects_overview
from reviews.flagging import face_flags_evaluate
from reviews.models import Flag
from reviews.services import decision_make, gold_mark
from tests.conftest import make_user
from tests.project_helpers import set_policy
from tests.review_factories import answer, flag, make_face, suggest, suggester

HAPPINESS, SADNESS = 1, 2


def client_for(user):
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def two(data_root):
    """Projects alpha and bravo: in alpha two faces both annotators agree on (Happiness) and one they
    dispute (flagged); in bravo one disputed face (flagged), answered by other annotators. A reviewer of
    both, and one of alpha only."""
    a = project_create(slug="alpha", name="Alpha study")
    b = project_create(slug="bravo", name="Bravo study")
    ann = [make_user(f"alpha-ann{i}", "annotator", projects=[a]) for i in range(2)]
    bnn = [make_user(f"bravo-ann{i}", "annotator", projects=[b]) for i in range(2)]
    faces_a = [make_face(project=a) for _ in range(3)]
    for face in faces_a[:2]:
        answer(face, ann[0], HAPPINESS, 0.6, 0.3, seconds_spent=4.0)
        answer(face, ann[1], HAPPINESS, 0.5, 0.3, seconds_spent=6.0)
    answer(faces_a[2], ann[0], HAPPINESS, 0.6, 0.3)
    answer(faces_a[2], ann[1], SADNESS, -0.6, -0.3)
    flag(faces_a[2])
    face_b = make_face(project=b)
    answer(face_b, bnn[0], SADNESS, -0.5, -0.4, seconds_spent=30.0)
    answer(face_b, bnn[1], 0, 0.0, 0.0, seconds_spent=30.0)
    flag(face_b, severity=0.9)
    return {"a": a, "b": b, "ann": ann, "bnn": bnn, "faces_a": faces_a, "face_b": face_b,
            "both": make_user("rev-both", "reviewer", projects=[a, b]),
            "rev_a": make_user("rev-a", "reviewer", projects=[a])}


@pytest.mark.django_db
def test_the_queue_filters_by_project_and_names_each_faces_project(two):
    both = client_for(two["both"])
    page = both.get("/review/").content.decode()
    assert f"/review/face/{two['faces_a'][2].id}/" in page and f"/review/face/{two['face_b'].id}/" in page
    assert 'data-project="alpha"' in page and 'data-project="bravo"' in page and 'id="project-filter"' in page
    page = both.get("/review/?project=bravo").content.decode()
    assert f"/review/face/{two['face_b'].id}/" in page and f"/review/face/{two['faces_a'][2].id}/" not in page
    assert "?project=bravo" in page.replace("&amp;", "&") or "project=bravo" in page  # kept in the links
    api = both.get("/api/review/queue/?project=alpha").json()
    assert [r["face_id"] for r in api["results"]] == [two["faces_a"][2].id]
    assert api["results"][0]["project"] == {"slug": "alpha", "name": "Alpha study"}
    assert sum(api["reason_counts"].values()) == 1
    assert both.get("/api/review/queue/").json()["count"] == 2
    # The next face follows the filter: from alpha's only flagged face, bravo's is not offered.
    item = both.get(f"/api/review/faces/{two['faces_a'][2].id}/?project=alpha").json()
    assert item["next_face_id"] is None
    assert both.get(f"/api/review/faces/{two['faces_a'][2].id}/").json()["next_face_id"] == two["face_b"].id
    # A reviewer of one project sees no project column or picker, and cannot pick another's project.
    alone = client_for(two["rev_a"])
    page = alone.get("/review/").content.decode()
    assert "data-project=" not in page and 'id="project-filter"' not in page
    assert alone.get("/review/?project=bravo").status_code == 404
    assert alone.get("/api/review/queue/?project=bravo").status_code == 404
    assert alone.get("/api/review/queue/").json()["count"] == 1


@pytest.mark.django_db
def test_the_dashboard_figures_are_the_chosen_projects_only(two):
    a, b = two["a"], two["b"]
    gold_mark(face=two["faces_a"][0], category=HAPPINESS, valence=0.6, arousal=0.3, by=None)
    gold_mark(face=two["face_b"], category=HAPPINESS, valence=0.6, arousal=0.3, by=None)
    decision_make(face=two["face_b"], reviewer=two["both"], category=HAPPINESS, valence=0.6, arousal=0.3)
    model = suggester(project=b)
    suggest(two["face_b"], model, 0, 0.0, 0.0)
    data = dashboard_data(project=a)
    assert data["project"] == {"slug": "alpha", "name": "Alpha study"}
    assert sum(p["faces"] for p in data["progress"]) == 3 and sum(p["flagged"] for p in data["progress"]) == 1
    assert sum(data["categories"]["answers"]) == 6 and data["categories"]["answers"][0] == 0
    assert {r["annotator"] for r in data["annotators"]} == {"alpha-ann0", "alpha-ann1"}
    assert data["agreement"]["faces"] == 3 and data["agreement"]["categorical"]["percent_agreement"] == \
        pytest.approx(2 / 3)
    assert sum(map(sum, data["confusion_annotators"])) == 6  # one pair per face, counted both ways: alpha's three
    assert sum(map(sum, data["va_histogram"]["counts"])) == 6
    assert data["model"] is None and data["evaluation"] is None  # bravo's model is not alpha's
    gold = {r["annotator"]: r["gold_answers"] for r in data["annotators"]}
    assert gold == {"alpha-ann0": 1, "alpha-ann1": 1}
    data = dashboard_data(project=b)
    assert {r["annotator"]: (r["answers"], r["overturned"], r["gold_answers"]) for r in data["annotators"]} == {
        "bravo-ann0": (1, 1, 1), "bravo-ann1": (1, 1, 1)}
    assert data["agreement"]["faces"] == 1 and data["agreement"]["categorical"]["percent_agreement"] == 0
    assert sum(map(sum, data["confusion_model"])) == 2 and data["model"] == "demo 1"
    assert data["evaluation"]["faces"] == 1  # bravo's one reviewed face, not alpha's
    # The page and the API: ?project=slug, and another project's is a 404.
    both = client_for(two["both"])
    assert both.get("/api/review/dashboard/?project=bravo").json()["agreement"]["faces"] == 1
    page = both.get("/review/dashboard/?project=bravo").content.decode()
    assert 'data-annotator="bravo-ann0"' in page and 'data-annotator="alpha-ann0"' not in page
    assert '<a href="?project=alpha">Alpha study</a>' in page  # the picker
    assert client_for(two["rev_a"]).get("/review/dashboard/?project=bravo").status_code == 404
    assert client_for(two["rev_a"]).get("/api/review/dashboard/?project=bravo").status_code == 404
    assert client_for(two["rev_a"]).get("/api/review/agreement/?project=bravo").status_code == 404


@pytest.mark.django_db
def test_one_project_goes_straight_in_several_show_side_by_side(two):
    alone = client_for(two["rev_a"]).get("/review/dashboard/")
    assert alone.status_code == 200 and 'id="agreement-table"' in alone.content.decode()
    page = client_for(two["both"]).get("/review/dashboard/").content.decode()
    assert 'id="projects-overview"' in page and 'id="agreement-table"' not in page
    assert re.findall(r'<tr data-project="([\w-]+)">', page) == ["alpha", "bravo"]  # theirs, not the default
    assert client_for(two["both"]).get("/api/review/dashboard/").status_code == 400  # name one in the API
    overview = client_for(two["both"]).get("/api/review/projects/").json()["projects"]
    assert [p["slug"] for p in overview] == ["alpha", "bravo"]


@pytest.mark.django_db
def test_the_overview_counts_progress_agreement_and_throughput_per_project(two):
    decision_make(face=two["faces_a"][2], reviewer=two["both"], category=HAPPINESS, valence=0.6, arousal=0.3)
    # Two of bravo's answers two days ago: in the week, not in the last day.
    Annotation.objects.filter(face=two["face_b"]).update(created_at=timezone.now() - timedelta(days=2))
    rows = {r["slug"]: r for r in projects_overview(Project.objects.filter(slug__in=["alpha", "bravo"]))}
    alpha, bravo = rows["alpha"], rows["bravo"]
    assert (alpha["faces"], alpha["answered"], alpha["complete"], alpha["final"], alpha["flagged"]) == (3, 3, 3, 3, 0)
    assert (bravo["faces"], bravo["final"], bravo["flagged"]) == (1, 0, 1)
    assert alpha["shared_faces"] == 3 and alpha["percent_agreement"] == pytest.approx(2 / 3)
    assert bravo["shared_faces"] == 1 and bravo["percent_agreement"] == 0
    assert (alpha["answers_hour"], alpha["answers_day"], alpha["answers_week"]) == (6, 6, 6)
    assert (bravo["answers_hour"], bravo["answers_day"], bravo["answers_week"]) == (0, 0, 2)
    assert bravo["answers_per_day"] == pytest.approx(2 / 7)
    empty = project_create(slug="empty", name="Empty")
    [row] = projects_overview([empty])
    assert (row["faces"], row["percent_agreement"], row["answers_day"]) == (0, None, 0)


@pytest.mark.django_db
def test_the_commands_take_the_project_and_need_it_only_with_several(two):
    with pytest.raises(CommandError, match="--project: choose a project"):
        call_command("agreement", stdout=io.StringIO())
    out = io.StringIO()
    call_command("agreement", "--project", "bravo", stdout=out)
    assert "1 faces with two or more answers (2 answers, 1 answer pairs)" in out.getvalue()
    out = io.StringIO()
    call_command("agreement", "--project", "alpha", stdout=out)
    assert "3 faces with two or more answers (6 answers, 3 answer pairs)" in out.getvalue()
    assert re.search(r"percent agreement \(all answers same\) +0.667", out.getvalue())
    with pytest.raises(CommandError, match="--project: no project 'nope'"):
        call_command("agreement", "--project", "nope")
    with pytest.raises(CommandError, match="--project: choose a project"):
        call_command("evaluate", "--no-queue", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no suggester is active"):
        call_command("evaluate", "--project", "alpha", "--no-queue", stdout=io.StringIO())
    model = suggester(project=two["b"])
    decision_make(face=two["face_b"], reviewer=two["both"], category=SADNESS, valence=-0.6, arousal=-0.3)
    decision_make(face=two["faces_a"][2], reviewer=two["both"], category=HAPPINESS, valence=0.6, arousal=0.3)
    for face in (two["face_b"], two["faces_a"][2]):
        suggest(face, model, SADNESS, -0.5, -0.4)
    out = io.StringIO()
    call_command("evaluate", "--project", "bravo", "--no-queue", stdout=out)
    assert re.search(r"ACC\s+1\.00", out.getvalue()), out.getvalue()  # bravo's one face; alpha's would miss


@pytest.mark.django_db
def test_a_project_without_the_region_check_gets_no_outside_region_flag(data_root, annotator_user):
    face = make_face()
    answer(face, annotator_user, HAPPINESS, -0.8, -0.6)  # far outside Happiness's region
    face_flags_evaluate(face_id=face.id)
    assert Flag.objects.filter(face=face, reason=Flag.Reason.OUTSIDE_REGION, status=Flag.Status.OPEN).exists()
    set_policy(region_check=False)
    face_flags_evaluate(face_id=face.id)
    assert not Flag.objects.filter(face=face, reason=Flag.Reason.OUTSIDE_REGION, status=Flag.Status.OPEN).exists()
    other = project_create(slug="checked", name="Checked")  # another project's own setting stands
    face = make_face(project=other)
    answer(face, make_user("c", "annotator", projects=[other]), HAPPINESS, -0.8, -0.6)
    face_flags_evaluate(face_id=face.id)
    assert Flag.objects.filter(face=face, reason=Flag.Reason.OUTSIDE_REGION).exists()


@pytest.mark.django_db
def test_the_item_names_its_project_to_a_reviewer_of_several(two):
    face = two["face_b"]
    both = client_for(two["both"])
    assert both.get(f"/api/review/faces/{face.id}/").json()["project"] == {"slug": "bravo", "name": "Bravo study"}
    assert '<small id="face-project">Bravo study</small>' in both.get(f"/review/face/{face.id}/").content.decode()
    alone = client_for(two["rev_a"]).get(f"/review/face/{two['faces_a'][2].id}/").content.decode()
    assert 'id="face-project"' not in alone


@pytest.mark.django_db
def test_feedback_shows_a_reviewer_only_what_happened_in_their_projects(two):
    """An annotator of both projects, overturned in each: a reviewer of alpha sees alpha's only; the
    annotator sees both; a reviewer of alpha cannot open the feedback of bravo's people."""
    a, b = two["a"], two["b"]
    worker = make_user("worker", "annotator", projects=[a, b])
    faces = {}
    for project in (a, b):
        face = faces[project.slug] = make_face(project=project)
        answer(face, worker, SADNESS, -0.6, -0.3)
        decision_make(face=face, reviewer=two["both"], category=HAPPINESS, valence=0.6, arousal=0.3)

    def overturned(page):
        return sorted(int(i) for i in re.findall(r'<tr data-face="(\d+)">', page))

    url = f"/review/me/?annotator={worker.pk}"
    assert overturned(client_for(two["rev_a"]).get(url).content.decode()) == [faces["alpha"].id]
    assert overturned(client_for(two["both"]).get(url).content.decode()) == sorted(f.id for f in faces.values())
    assert overturned(client_for(worker).get("/review/me/").content.decode()) == sorted(f.id for f in faces.values())
    assert client_for(two["rev_a"]).get(f"/review/me/?annotator={two['bnn'][0].pk}").status_code == 404


@pytest.mark.django_db
def test_a_reviewer_in_no_project_is_told_so_and_sees_nothing(two):
    nowhere = client_for(make_user("rev-nowhere", "reviewer", projects=[]))
    page = nowhere.get("/review/dashboard/")
    assert page.status_code == 200 and "You are in no project yet." in page.content.decode()
    assert nowhere.get("/api/review/queue/").json()["count"] == 0
    assert nowhere.get(f"/api/review/faces/{two['face_b'].id}/").status_code == 404
