"""The console's start page: admins only, checked on the server, and its history of console actions."""
import pytest

from annotator.console.services import console_action_record
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_the_console_is_for_admins_only(client):
    assert client.get("/console/").status_code == 302  # signed out: to the login page
    for role in ("annotator", "reviewer"):
        client.force_login(make_user(f"a-{role}", role))
        assert client.get("/console/").status_code == 403
    client.force_login(make_user("lead", "admin"))
    assert client.get("/console/").status_code == 200


def test_the_console_shows_what_was_done_and_the_nav_links_it_for_admins_only(client):
    lead = make_user("lead", "admin")
    console_action_record(lead, "splits.assign", "Assigned splits 90/10 to 1,000 faces")
    client.force_login(lead)
    page = client.get("/console/").content.decode()
    assert "Assigned splits 90/10 to 1,000 faces" in page
    assert 'href="/console/"' in page
    client.force_login(make_user("rev", "reviewer"))
    assert 'href="/console/"' not in client.get("/review/").content.decode()
