"""The console's bulk pages in Chromium, as the lead uses them: splits (preview, then apply: a job that a
real worker on the jobs queue runs, its page reaching succeeded, the faces moved, the history kept) and a
spot check reaching the review queue."""
import pytest
from django.contrib.auth.models import Group

from annotator.models import ConsoleAction, Face, Job, Project
from annotator.web.roles import ROLES
from reviews.models import Flag
from tests.conftest import browser_login, make_user
from tests.console.jobs_helpers import job_page_finished, jobs_worker  # noqa: F401  (fixture)
from tests.console.split_helpers import bulk_faces
from tests.review_factories import answer, make_face
from tests.suggestions.test_worker import redis_broker  # noqa: F401  (fixture: this process sends to Redis)


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    for name in ROLES:
        Group.objects.get_or_create(name=name)


@pytest.fixture
def lead():
    return make_user("lead", "admin")


@pytest.mark.browser
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_lead_previews_then_applies_splits_as_a_job(page, live_server, lead, jobs_worker, artifacts_dir):
    bulk_faces(Project.objects.default(), 100, max_per_photo=1)
    browser_login(page, live_server, lead, next_path="/console/")
    page.click("#console-splits-link")
    page.fill("#id_train", "80")
    page.fill("#id_val", "20")
    page.click("#preview-button")
    page.wait_for_selector("#splits-preview")
    assert page.inner_text("#preview-total [data-split=train]") == "80"
    assert page.inner_text("#preview-total [data-split=val]") == "20"
    assert page.locator("#splits-preview tbody tr").count() >= 5  # one row per category
    assert set(Face.objects.values_list("split", flat=True)) == {"unassigned"}  # the preview wrote nothing
    page.screenshot(path=str(artifacts_dir / "console-splits-preview.png"), full_page=True)
    page.click("#apply-button")
    page.wait_for_url("**/console/jobs/*/")
    job = Job.objects.get()
    assert job.kind == Job.Kind.ASSIGN_SPLITS and page.url.endswith(f"/console/jobs/{job.id}/")
    summary = job_page_finished(page)  # the worker ran it; the page polled until it ended
    assert "applied: 100 faces changed split in default" in summary, page.inner_text("#job")
    page.screenshot(path=str(artifacts_dir / "console-splits-job.png"), full_page=True)
    assert Face.objects.filter(split="val").count() == 20 and Face.objects.filter(split="train").count() == 80
    page.goto(f"{live_server.url}/console/")
    history = page.inner_text(".console-history")
    assert "Assigned splits train/val 80/20 (seed 0) to 100 unassigned faces" in history
    assert f"started job {job.id}: assign the previewed splits train/val 80/20" in history
    assert [(a.action, a.user_id) for a in ConsoleAction.objects.order_by("id")] == [
        ("splits.start", lead.pk), ("splits.assign", lead.pk)]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_spot_check_reaches_the_review_queue(page, live_server, lead):
    ann1, ann2 = make_user("ann1", "annotator"), make_user("ann2", "annotator")
    for _ in range(4):
        face = make_face(required=2)
        answer(face, ann1, 1, 0.62, 0.31)
        answer(face, ann2, 1, 0.62, 0.31)
    browser_login(page, live_server, lead, next_path="/console/")
    page.click("#console-spot-checks-link")
    page.fill("#id_share", "50")
    page.click("#preview-button")
    page.wait_for_selector("#spot-check-preview")
    assert page.inner_text("#spot-check-drawn") == "2" and page.inner_text("#spot-check-eligible") == "4"
    assert not Flag.objects.exists()
    page.click("#apply-button")
    page.wait_for_selector("#spot-check-message")
    assert "2 faces of Default project put into the review queue" in page.inner_text("#spot-check-message")
    page.click("#spot-check-message a")
    page.wait_for_load_state("networkidle")
    rows = page.locator("table tbody tr")
    assert rows.count() == 2
    assert "spot check of the agreed label 1 Happiness (+0.62, +0.31), drawn by lead" in page.inner_text("main")
    assert page.inner_text("[data-reason-count=spot_check]") == "2"
    # The reviewer opens one: the item page says why it is there, in words.
    page.locator("table tbody tr a").first.click()
    page.wait_for_selector("#flags .reason-spot_check")
    assert "spot check of the agreed label 1 Happiness" in page.inner_text("#flags")
    # The dashboard counts them among the flagged faces, and says so.
    page.goto(f"{live_server.url}/review/dashboard/")
    assert page.inner_text("[data-spot-checks=val]") == "(2 spot checks)"
