"""A reviewer of two projects in a real Chromium: the queue names each face's project and filters by
one, deciding keeps to the chosen project, and the dashboard shows the projects side by side, then one."""
import pytest
from django.contrib.auth.models import Group

from annotator.projects.services import project_create
from annotator.web.roles import ROLES
from reviews.models import Decision
from tests.conftest import browser_login, make_user
from tests.review_factories import answer, flag, make_face


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    """The roles come from a data migration, which a transactional test's flush removes."""
    for name in ROLES:
        Group.objects.get_or_create(name=name)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_reviewer_of_two_projects_filters_decides_and_compares(page, live_server, data_root, artifacts_dir):
    a = project_create(slug="alpha", name="Alpha study")
    b = project_create(slug="bravo", name="Bravo study")
    reviewer = make_user("rev-both", "reviewer", projects=[a, b])
    faces = {}
    for project, severity in ((a, 1.0), (b, 0.9), (b, 0.5)):
        people = [make_user(f"{project.slug}-ann{i}-{severity}", "annotator", projects=[project]) for i in range(2)]
        face = make_face(project=project)
        answer(face, people[0], 1, 0.6, 0.3)
        answer(face, people[1], 3, 0.2, 0.8)
        flag(face, severity=severity)
        faces.setdefault(project.slug, []).append(face)

    browser_login(page, live_server, reviewer, next_path="/review/")
    cells = page.locator("td.project").all_inner_texts()
    assert cells == ["Alpha study", "Bravo study", "Bravo study"]  # most severe first, each named
    page.select_option("#project-filter", "bravo")
    page.click(".filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator("td.project").all_inner_texts() == ["Bravo study", "Bravo study"]
    page.screenshot(path=str(artifacts_dir / "review-queue-projects.png"), full_page=True)
    page.click("a.start")
    page.wait_for_selector(".va-mark")
    first, second = faces["bravo"]
    assert page.locator("#face-id").inner_text() == str(first.id)
    assert page.locator("#face-project").inner_text() == "Bravo study"
    page.keyboard.press("a")  # accept the first answer
    page.keyboard.press("Enter")
    # The next face is bravo's other one, not alpha's more severe face: the filter holds.
    page.wait_for_function(f"() => document.getElementById('face-id').textContent === '{second.id}'")
    assert Decision.objects.get(face=first).category == 1
    assert not Decision.objects.filter(face=faces["alpha"][0]).exists()

    page.goto(f"{live_server.url}/review/dashboard/")
    rows = page.locator("#projects-overview tbody tr")
    assert rows.count() == 2
    bravo = page.locator('tr[data-project="bravo"]')
    assert bravo.locator('[data-column="final"]').inner_text() == "1"
    assert bravo.locator('[data-column="day"]').inner_text() == "4"
    page.screenshot(path=str(artifacts_dir / "review-dashboard-projects.png"), full_page=True)
    bravo.locator("a").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/review/dashboard/?project=bravo")
    assert page.locator("#chart-categories svg rect.bar").count() == 33
    assert page.locator('tr[data-annotator^="alpha"]').count() == 0
    assert page.locator('tr[data-annotator^="bravo"]').count() == 4
    page.screenshot(path=str(artifacts_dir / "review-dashboard-bravo.png"), full_page=True)
