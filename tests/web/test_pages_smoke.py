"""The login page in a real Chromium: a signed-in user reaches their role's page."""
import pytest

from tests.conftest import browser_login


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_login_page_signs_in(page, live_server, annotator_user, artifacts_dir):
    page.goto(f"{live_server.url}/admin/")
    assert "/login/" in page.url
    browser_login(page, live_server, annotator_user, next_path="/api/schema/")
    assert page.url.endswith("/api/schema/")
    page.goto(f"{live_server.url}/accounts/login/")
    page.screenshot(path=str(artifacts_dir / "login.png"))
