"""/annotate/ with projects, in Chromium: a user in two projects picks one and gets its faces only, with
its own guidelines; a user in one project goes straight in."""
import pytest

from annotator.guidelines.services import guideline_save
from annotator.models import Annotation, GuidelineReading
from annotator.projects.services import project_create
from tests.conftest import browser_login, make_user, wait_for
from tests.drawn_faces import store_drawn_faces
from tests.project_helpers import set_policy
from tests.queue.test_annotate_page import wait_shown


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_member_of_two_projects_picks_one_and_sees_its_faces_and_guidelines(page, live_server, data_root,
                                                                              artifacts_dir):
    main = set_policy(blind_share=0.0, gold_share=0.0, queue_order="arrival")
    pilot = project_create(slug="pilot", name="Pilot study", blind_share=0.0, gold_share=0.0,
                           queue_order="arrival", calibration_faces=0)
    main_face, pilot_face = store_drawn_faces(2)
    pilot_face.project = pilot
    pilot_face.save(update_fields=["project"])
    guideline_save(project=pilot, category=1, definition="Pilot rule: a Duchenne smile only.")
    user = make_user("both", "annotator", projects=[main, pilot])

    browser_login(page, live_server, user, next_path="/annotate/")
    page.wait_for_selector(".project-card")
    cards = page.inner_text(".project-list")
    assert "Default project" in cards and "Pilot study" in cards and "1 face still needs answers" in cards
    page.screenshot(path=str(artifacts_dir / "annotate-project-picker.png"))
    page.click("text=Pilot study")
    wait_shown(page, pilot_face)
    assert "Pilot study" in page.inner_text(".project-name")
    intro = page.inner_text("#guidelines-intro")  # the pilot's own set, read for the first time
    assert "Pilot rule: a Duchenne smile only." in intro
    page.click("#guidelines-done")
    page.wait_for_function("() => document.getElementById('guidelines-intro').hidden")
    wait_for(lambda: GuidelineReading.objects.filter(user=user, project=pilot, version=2).exists())
    assert not GuidelineReading.objects.filter(user=user, project=main).exists()
    page.keyboard.press("x")  # No-Face: no point needed
    page.keyboard.press("Enter")
    wait_for(lambda: Annotation.objects.exists())
    assert list(Annotation.objects.values_list("face__project__slug", "guideline_version")) == [("pilot", 2)]

    page.goto(f"{live_server.url}/annotate/?project=default")
    wait_shown(page, main_face)
    assert page.goto(f"{live_server.url}/annotate/?project=nope").status == 404  # not theirs, or none


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_member_of_one_project_goes_straight_in(page, live_server, data_root):
    set_policy(blind_share=0.0, gold_share=0.0)
    project_create(slug="other", calibration_faces=0)
    [face] = store_drawn_faces(1)
    user = make_user("one", "annotator")  # the default project only
    browser_login(page, live_server, user, next_path="/annotate/")
    wait_shown(page, face)
    assert page.locator(".project-card").count() == 0
    assert page.locator(".project-name").count() == 0  # one project: nothing to switch to
