"""The splits page: admins only (checked on the server), CSRF enforced, preview writes nothing, apply
writes and is kept in the history; a stale preview is shown again instead of applied."""
import pytest
from django.test import Client

from annotator.models import ConsoleAction, Face, Project
from tests.conftest import make_user
from tests.console.split_helpers import bulk_faces, splits_by_id

pytestmark = pytest.mark.django_db

FORM = {"project": "default", "train": "90", "val": "10", "faces": "unassigned", "seed": "0"}


@pytest.fixture
def faces():
    project = Project.objects.default()
    FORM["project"] = project.slug
    return bulk_faces(project, 200, max_per_photo=1)  # one face a photo: the counts are exact


def test_only_admins_see_or_use_the_splits_page(client, faces):
    assert client.get("/console/splits/").status_code == 302
    before = splits_by_id(Project.objects.default())
    for role in ("annotator", "reviewer"):
        client.force_login(make_user(f"a-{role}", role))
        assert client.get("/console/splits/").status_code == 403
        assert client.post("/console/splits/", {**FORM, "action": "apply"}).status_code == 403
    assert splits_by_id(Project.objects.default()) == before and not ConsoleAction.objects.exists()


def test_preview_then_apply(client, faces, admin_user_role):
    client.force_login(admin_user_role)
    assert client.get("/console/splits/").status_code == 200
    before = splits_by_id(Project.objects.default())
    page = client.post("/console/splits/", {**FORM, "action": "preview"})
    text = page.content.decode()
    assert page.status_code == 200 and 'id="splits-preview"' in text and 'data-split="val">20<' in text
    assert splits_by_id(Project.objects.default()) == before and not ConsoleAction.objects.exists()
    digest = page.context["plan"].digest
    done = client.post("/console/splits/", {**FORM, "digest": digest, "action": "apply"}, follow=True)
    assert done.redirect_chain[-1][0] == "/console/"
    assert "Splits assigned" in done.content.decode() and "Assigned splits train/val 90/10" in done.content.decode()
    assert Face.objects.filter(split="val").count() == 20 and Face.objects.filter(split="train").count() == 180
    assert ConsoleAction.objects.get().user == admin_user_role


def test_apply_with_a_stale_preview_shows_the_new_preview(client, faces, admin_user_role):
    client.force_login(admin_user_role)
    digest = client.post("/console/splits/", {**FORM, "action": "preview"}).context["plan"].digest
    bulk_faces(Project.objects.default(), 10, seed=5)
    page = client.post("/console/splits/", {**FORM, "digest": digest, "action": "apply"})
    assert page.status_code == 200 and "the faces changed since the preview" in page.content.decode()
    assert page.context["plan"].total == 210
    assert not Face.objects.exclude(split="unassigned").exists() and not ConsoleAction.objects.exists()


def test_bad_shares_are_refused_naming_the_field(client, faces, admin_user_role):
    client.force_login(admin_user_role)
    page = client.post("/console/splits/", {**FORM, "val": "20", "action": "apply", "digest": "x"})
    assert page.status_code == 400
    assert "Validation %: train and validation add up to 110%, not 100%" in page.content.decode()
    page = client.post("/console/splits/", {**FORM, "train": "-5", "action": "preview"})
    assert page.status_code == 400 and "Train %:" in page.content.decode()
    assert not Face.objects.exclude(split="unassigned").exists()


def test_csrf_is_enforced(faces, admin_user_role):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user_role)
    assert client.post("/console/splits/", {**FORM, "action": "apply", "digest": "x"}).status_code == 403
    assert not Face.objects.exclude(split="unassigned").exists()
    client.get("/console/splits/")
    token = client.cookies["csrftoken"].value
    page = client.post("/console/splits/", {**FORM, "action": "preview", "csrfmiddlewaretoken": token})
    assert page.status_code == 200
    done = client.post("/console/splits/", {**FORM, "action": "apply", "digest": page.context["plan"].digest,
                                            "csrfmiddlewaretoken": token})
    assert done.status_code == 302 and not Face.objects.filter(split="unassigned").exists()
