"""Pausing on a low rolling gold accuracy, the dashboard's standings, and the lead's reinstating."""
import pytest

from annotator.models import AnnotatorStanding, Claim
from annotator.qualification.selectors import standing_of
from reviews.services import gold_mark
from tests.project_helpers import ProjectPolicy, set_policy
from tests.queue.test_calibration import gold_faces
from tests.queue.test_queue import NEXT, client_for, make_face, next_faces, submit

PAUSED, QUALIFIED, CALIBRATING = (AnnotatorStanding.State.PAUSED, AnnotatorStanding.State.QUALIFIED,
                                  AnnotatorStanding.State.CALIBRATING)
DASHBOARD = "/review/dashboard/"


@pytest.fixture
def pausing(settings):
    """Judged over the latest 4 gold answers once 3 are in; below half pauses. No calibration round."""
    set_policy(blind_share=0.0)
    set_policy(gold_share=1.0)
    set_policy(queue_order="rare_first")
    set_policy(calibration_faces=0)
    set_policy(gold_rolling_answers=4)
    set_policy(gold_pause_min_answers=3)
    set_policy(gold_pause_below=0.5)
    return ProjectPolicy(settings)


def answer_gold(client, *, right: bool):
    [face] = next_faces(client)
    category, valence, arousal = (1, 0.6, 0.3) if right else (2, -0.6, -0.3)
    response = submit(client, face["id"], category, valence, arousal)
    assert response.status_code == 201, response.content
    return face["id"]


def standing_url(user):
    return f"/review/annotators/{user.pk}/standing/"


@pytest.mark.django_db
def test_a_low_rolling_gold_accuracy_pauses_with_a_message_and_the_lead_reinstates(
        pausing, annotator_user, admin_client, reviewer_user):
    gold_faces(8)
    client = client_for(annotator_user)
    answer_gold(client, right=True)
    answer_gold(client, right=False)
    assert standing_of(annotator_user).state == QUALIFIED  # 1/2: too few to judge
    answer_gold(client, right=False)  # 1/3 right: below half
    standing = standing_of(annotator_user)
    assert standing.state == PAUSED and "1/3" in standing.reason
    refused = client.post(NEXT, {"count": 1}, content_type="application/json")
    assert refused.status_code == 409 and refused.json()["detail"].startswith("You are paused: gold accuracy 1/3")
    assert not Claim.objects.filter(annotator=annotator_user).exists()

    # The lead sees it on the dashboard; a reviewer sees it too but may not reinstate.
    page = admin_client.get(DASHBOARD).content.decode()
    assert f'data-standing="{annotator_user.username}" data-state="paused"' in page and 'value="reinstate"' in page
    reviewer = client_for(reviewer_user)
    assert 'data-state="paused"' in reviewer.get(DASHBOARD).content.decode()
    assert 'value="reinstate"' not in reviewer.get(DASHBOARD).content.decode()
    assert reviewer.post(standing_url(annotator_user), {"action": "reinstate"}).status_code == 403
    assert client.post(standing_url(annotator_user), {"action": "reinstate"}).status_code == 403
    assert admin_client.post(standing_url(annotator_user), {"action": "promote"}).status_code == 400
    echoed = admin_client.post(standing_url(annotator_user), {"action": "<b>x</b>"})
    assert echoed.status_code == 400 and echoed["Content-Type"].startswith("text/plain")  # never read as HTML
    assert standing_of(annotator_user).state == PAUSED

    done = admin_client.post(standing_url(annotator_user), {"action": "reinstate"}, follow=True)
    assert done.redirect_chain[-1][0] == DASHBOARD and "reinstated by admin" in done.content.decode()
    standing = standing_of(annotator_user)
    assert standing.state == QUALIFIED and standing.changed_by.username == "admin"
    # A fresh window: the answers that paused them no longer count.
    answer_gold(client, right=False)
    answer_gold(client, right=False)
    assert standing_of(annotator_user).state == QUALIFIED
    assert standing.history.filter(state=PAUSED).exists()  # the pause stays on record


@pytest.mark.django_db
def test_the_lead_can_restart_calibration_and_reinstating_someone_not_paused_says_so(
        pausing, annotator_user, admin_client):
    set_policy(calibration_faces=2)
    set_policy(gold_share=0.0)
    plain = make_face(1)
    gold_faces(2)
    client = client_for(annotator_user)
    set_policy(calibration_faces=0)
    assert [f["id"] for f in next_faces(client)] == [plain.id]  # qualified at once: calibration off
    set_policy(calibration_faces=2)
    refused = admin_client.post(standing_url(annotator_user), {"action": "reinstate"}, follow=True)
    assert "qualified, not paused" in refused.content.decode() and standing_of(annotator_user).state == QUALIFIED
    admin_client.post(standing_url(annotator_user), {"action": "recalibrate"})
    assert standing_of(annotator_user).state == CALIBRATING
    assert not Claim.objects.filter(annotator=annotator_user).exists()  # the held ordinary face went back
    assert all(Claim.objects.get(face_id=f["id"]).calibration for f in next_faces(client, count=3))


@pytest.mark.django_db
def test_the_dashboard_warns_when_no_gold_face_is_marked(pausing, admin_client, annotator_user):
    set_policy(calibration_faces=5)
    page = admin_client.get(DASHBOARD).content.decode()
    assert "No gold face is marked" in page and "cannot start their calibration round" in page
    set_policy(calibration_without_gold="skip")
    make_face(1)
    next_faces(client_for(annotator_user))
    page = admin_client.get(DASHBOARD).content.decode()
    assert "without calibration" in page and "1 annotator(s) work without having calibrated" in page
    gold_mark(face=make_face(2), category=1, valence=0.6, arousal=0.3, by=None)
    page = admin_client.get(DASHBOARD).content.decode()
    assert "Only 1 gold faces for a calibration round scored over 5 answers" in page
