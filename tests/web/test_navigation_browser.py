"""The top bar in Chromium: each role sees links only to pages it may open, and every one of them
opens; the 403 and 404 pages use the site's layout and say what to do; on a phone the links fold
behind "Menu" and the bar stays one line."""
import pytest
from django.contrib.auth.models import Group

from annotator.web.roles import ROLES
from tests.conftest import browser_login, make_user


@pytest.fixture(autouse=True)
def role_groups(transactional_db):
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def nav_links(page):
    return page.locator("#site-nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")


EXPECTED = {
    "annotator": ["/annotate/", "/review/me/"],
    "reviewer": ["/review/", "/review/dashboard/", "/review/me/"],
    "admin": ["/annotate/", "/review/", "/review/dashboard/", "/review/me/", "/photos/upload/", "/console/", "/admin/"],
}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["annotator", "reviewer", "admin"])
def test_each_role_sees_only_links_it_may_open(page, live_server, role):
    user = make_user(f"user-{role}", role)
    if role == "admin":
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    browser_login(page, live_server, user)
    assert nav_links(page) == EXPECTED[role]
    for href in EXPECTED[role]:
        response = page.goto(live_server.url + href)
        assert response.status == 200, f"{role}: {href} answers {response.status}"
        assert "/login/" not in page.url, f"{role}: {href} asks to sign in again"
        if href != "/admin/":
            assert page.locator(f"#site-nav a[href='{href}']").get_attribute("aria-current") == "page"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_forbidden_page_has_the_layout_and_offers_another_user(page, live_server, annotator_user, reviewer_user,
                                                               artifacts_dir):
    browser_login(page, live_server, annotator_user, next_path="/annotate/")
    response = page.goto(f"{live_server.url}/review/dashboard/")
    assert response.status == 403
    assert page.locator("header.topbar #site-nav").is_visible()  # the site's layout, not a bare "403 Forbidden"
    text = page.locator("#error-page").inner_text()
    assert "Only reviewers and admins may see the review pages." in text and "signed in as ann1" in text
    page.screenshot(path=str(artifacts_dir / "forbidden.png"))
    page.click("#go-back")
    page.wait_for_url(f"{live_server.url}/annotate/")
    page.go_forward()
    page.click("#switch-user")  # signs out, and the login page sends the next user where this one could not go
    page.wait_for_url("**/accounts/login/?next=/review/dashboard/")
    page.fill("input[name=username]", reviewer_user.username)
    page.fill("input[name=password]", "pw-for-tests-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/review/dashboard/")
    assert page.locator("h1").inner_text() == "Dashboard"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_not_found_page_has_the_layout_and_a_way_back(page, live_server, reviewer_user):
    browser_login(page, live_server, reviewer_user, next_path="/review/")
    response = page.goto(f"{live_server.url}/review/face/999999/")
    assert response.status == 404
    assert page.locator("header.topbar #site-nav").is_visible()
    assert page.locator("#error-page h1").inner_text() == "Not found"
    page.click("#go-back")
    page.wait_for_url(f"{live_server.url}/review/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_links_fold_behind_menu(chromium, live_server, admin_user_role, artifacts_dir):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        browser_login(page, live_server, admin_user_role, next_path="/review/me/")
        bar = page.locator("header.topbar").bounding_box()
        assert bar["height"] < 48, bar  # one line
        assert not page.locator("#site-nav").is_visible()
        page.tap(".nav-toggle")
        assert page.locator(".nav-toggle").get_attribute("aria-expanded") == "true"
        assert page.locator("#site-nav a[href='/photos/upload/']").is_visible()
        page.screenshot(path=str(artifacts_dir / "nav-phone-open.png"))
        page.tap("#site-nav a[href='/photos/upload/']")
        page.wait_for_url(f"{live_server.url}/photos/upload/")
        assert page.locator("h1").inner_text() == "Import photos"
    finally:
        context.close()
