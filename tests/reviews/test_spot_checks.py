"""Spot checks: agreed faces drawn at random (seeded) into the review queue under their own reason;
only agreed faces not in review; a decision settles them; the flag re-evaluation leaves them open;
the page is for admins only, CSRF-protected, and every draw is in the console's history."""
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from annotator.models import ConsoleAction, Face, FinalSource
from reviews import selectors
from reviews.dashboard import progress_per_split
from reviews.evidence_text import evidence_text
from reviews.flagging import face_flags_evaluate
from reviews.models import Flag
from reviews.selectors import SpotCheckError, review_queue, spot_check_plan
from reviews.services import decision_make, spot_checks_add
from tests.conftest import make_user
from tests.review_factories import answer, flag, make_face

pytestmark = pytest.mark.django_db


@pytest.fixture
def agreed(annotator_user, second_annotator):
    """12 faces two annotators agreed on (Happiness), and faces that are not candidates."""
    faces = []
    for _ in range(12):
        face = make_face(required=2)
        answer(face, annotator_user, 1, 0.62, 0.31)
        answer(face, second_annotator, 1, 0.62, 0.31)
        faces.append(face)
    assert {f.final_source for f in Face.objects.filter(pk__in=[f.pk for f in faces])} == {FinalSource.AGREEMENT}
    single = make_face(required=1)
    answer(single, annotator_user, 2, -0.5, -0.2)  # final through one answer: not a candidate
    flagged = faces[0]
    flag(flagged)  # already in review: not a candidate
    return {"faces": faces[1:], "single": single, "flagged": flagged}


def project():
    from annotator.models import Project
    return Project.objects.default()


def test_only_agreed_faces_not_in_review_are_drawn_and_the_draw_is_seeded(agreed):
    plan = spot_check_plan(project(), share=0.25, seed=3)
    assert plan.eligible == 11 and plan.drawn == 3  # 25% of 11, rounded
    assert set(plan.face_ids) <= {f.pk for f in agreed["faces"]}
    assert spot_check_plan(project(), share=0.25, seed=3).face_ids == plan.face_ids
    assert any(spot_check_plan(project(), share=0.25, seed=s).face_ids != plan.face_ids for s in range(4, 10))
    assert spot_check_plan(project(), count=50).drawn == 11
    assert spot_check_plan(project(), share=0.001).drawn == 1  # at least one when there is any


def test_a_preview_changes_nothing(agreed):
    spot_check_plan(project(), share=0.5)
    assert not Flag.objects.filter(reason=Flag.Reason.SPOT_CHECK).exists() and not ConsoleAction.objects.exists()


@pytest.mark.parametrize("kwargs, field", [({"share": 0}, "share"), ({"share": 1.5}, "share"), ({}, "share"),
                                           ({"share": 0.1, "count": 2}, "share"), ({"count": 0}, "count"),
                                           ({"count": 2, "seed": -1}, "seed")])
def test_bad_options_are_refused_naming_the_field(agreed, kwargs, field):
    with pytest.raises(SpotCheckError) as caught:
        spot_check_plan(project(), **kwargs)
    assert caught.value.field == field


def test_spot_checks_reach_the_review_queue_and_a_decision_settles_them(agreed, admin_user_role, reviewer_user):
    plan = spot_check_plan(project(), count=4, seed=1)
    flags = spot_checks_add(plan, user=admin_user_role)
    assert sorted(f.face_id for f in flags) == list(plan.face_ids)
    queued = {row["face_id"] for row in review_queue(scope=None, filters=selectors.QueueFilters(reason="spot_check"))["rows"]}
    assert queued == set(plan.face_ids)
    face = Face.objects.get(pk=plan.face_ids[0])
    # In review, like any flag: the agreed label is held back until a reviewer decides.
    assert face.needs_review and face.final_category is None
    evidence = Flag.objects.get(face=face).evidence
    assert evidence["spot_check"]["agreed"] == {"category": 1, "point": [0.62, 0.31]}
    words = evidence_text(evidence, {})
    assert words.startswith("spot check of the agreed label 1 Happiness (+0.62, +0.31), drawn by admin1 (4 faces of 11")
    action = ConsoleAction.objects.get()
    assert action.action == "spot_checks.add" and action.details["drawn"] == 4 and action.user == admin_user_role
    # The dashboard counts them among the flagged, and says how many are spot checks.
    progress = {row["split"]: row for row in progress_per_split(project=project())}
    assert progress["val"]["spot_checks"] == 4 and progress["val"]["flagged"] == 5
    # The flags' re-evaluation finds no cause for it, and leaves it open all the same.
    assert [f.reason for f in face_flags_evaluate(face_id=face.pk)] == [Flag.Reason.SPOT_CHECK]
    assert Face.objects.get(pk=face.pk).needs_review
    # The reviewer keeps the label: the decision resolves the spot check.
    decision_make(face=face, reviewer=reviewer_user, category=1, valence=0.62, arousal=0.31)
    face.refresh_from_db()
    assert (face.final_category, face.final_source, face.needs_review) == (1, FinalSource.REVIEW, False)
    assert Flag.objects.get(face=face).status == Flag.Status.RESOLVED
    # Faces in review are not drawn again.
    assert not set(spot_check_plan(project(), count=50).face_ids) & (set(plan.face_ids) - {face.pk})


def test_the_page_is_for_admins_only_and_csrf_protected(agreed, admin_user_role):
    form = {"project": project().slug, "share": "50", "seed": "0"}
    client = Client()
    assert client.get("/review/spot-checks/").status_code == 302
    for role in ("annotator", "reviewer"):
        client.force_login(make_user(f"s-{role}", role))
        assert client.get("/review/spot-checks/").status_code == 403
        assert client.post("/review/spot-checks/", {**form, "action": "apply"}).status_code == 403
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(admin_user_role)
    assert guarded.post("/review/spot-checks/", {**form, "action": "apply"}).status_code == 403
    assert not Flag.objects.filter(reason=Flag.Reason.SPOT_CHECK).exists() and not ConsoleAction.objects.exists()
    guarded.get("/review/spot-checks/")
    token = guarded.cookies["csrftoken"].value
    preview = guarded.post("/review/spot-checks/", {**form, "action": "preview", "csrfmiddlewaretoken": token})
    text = preview.content.decode()
    assert 'id="spot-check-drawn">6<' in text and 'id="spot-check-eligible">11<' in text
    assert not Flag.objects.filter(reason=Flag.Reason.SPOT_CHECK).exists()
    done = guarded.post("/review/spot-checks/", {**form, "action": "apply", "csrfmiddlewaretoken": token}, follow=True)
    assert "6 faces of Default project put into the review queue" in done.content.decode()
    assert Flag.objects.filter(reason=Flag.Reason.SPOT_CHECK, status=Flag.Status.OPEN).count() == 6
    assert "Spot check: 6 of 11 agreed faces (50%, seed 0)" in guarded.get("/console/").content.decode()
    bad = guarded.post("/review/spot-checks/", {**form, "share": "", "action": "preview", "csrfmiddlewaretoken": token})
    assert bad.status_code == 400 and "Share %: give a share or a count of faces" in bad.content.decode()


def test_the_command(agreed, capsys):
    call_command("spot_checks", "--share", "0.5", "--dry-run")
    assert "6 of 11 agreed faces" in capsys.readouterr().out
    assert not Flag.objects.filter(reason=Flag.Reason.SPOT_CHECK).exists()
    call_command("spot_checks", "--count", "2", "--seed", "9")
    assert Flag.objects.filter(reason=Flag.Reason.SPOT_CHECK).count() == 2
    with pytest.raises(CommandError, match="--share: 2.0 is not more than 0 and at most 1"):
        call_command("spot_checks", "--share", "2")
