"""Photos with several projects: import_images --project and the upload page's project choice. A photo
imported into one project is imported into another again; its crops are stored once."""
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from annotator.models import Face, Photo, Project
from annotator.projects.services import project_create
from tests.console.jobs_helpers import jobs_inline  # noqa: F401  (fixture)

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"
URL = "/photos/upload/"


def crop_files(settings):
    folder = settings.MEDIA_ROOT / "faces"
    return sorted(folder.rglob("*.jpg")) if folder.exists() else []


@pytest.fixture
def pilot(db):
    Project.objects.default()
    return project_create(slug="pilot", name="Pilot")


def import_images(folder, *args):
    out = io.StringIO()
    call_command("import_images", str(folder), "--workers", "1", "--detector", "haar", "--no-progress", *args,
                 stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()[-1]


def test_the_same_photo_into_two_projects_is_imported_into_each_and_stored_once(pilot, data_root, settings):
    photos = data_root / "photos"
    photos.mkdir()
    (photos / "grace_hopper.jpg").write_bytes((PHOTOS / "grace_hopper.jpg").read_bytes())
    with pytest.raises(CommandError, match=r"--project: choose a project \(default, pilot\)"):
        import_images(photos)
    assert "1 read, 0 seen before" in import_images(photos, "--project", "default")
    assert "1 read, 0 seen before" in import_images(photos, "--project", "pilot")  # the other's photo: imported
    assert "0 read, 1 seen before" in import_images(photos, "--project", "pilot")  # its own: skipped
    default = Project.objects.default()
    assert Face.objects.filter(project=default).count() == Face.objects.filter(project=pilot).count() == 1
    assert Photo.objects.filter(project=pilot).count() == Photo.objects.filter(project=default).count() == 1
    [a, b] = Face.objects.order_by("id")
    assert a.content_hash == b.content_hash and a.image.name == b.image.name
    assert len(crop_files(settings)) == 1


@pytest.fixture
def upload_dirs(data_root, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"


def photo():
    return SimpleUploadedFile("g.jpg", (PHOTOS / "grace_hopper.jpg").read_bytes(), "image/jpeg")


@pytest.mark.django_db
def test_with_one_project_the_upload_page_asks_nothing_and_ignores_a_project_sent(jobs_inline, client, admin_user_role,
                                                                                   upload_dirs):
    client.force_login(admin_user_role)
    page = client.get(URL).content.decode()
    assert 'name="project"' not in page
    response = jobs_inline(client, URL, {"files": [photo()], "split": "unassigned", "project": "whatever"})
    assert response.status_code == 200 and Face.objects.get().project == Project.objects.default()


def test_with_two_projects_the_admin_chooses_and_the_server_checks_the_choice(jobs_inline, client, admin_user_role, pilot,
                                                                             upload_dirs):
    client.force_login(admin_user_role)
    page = client.get(URL).content.decode()
    assert 'name="project"' in page and 'value="pilot"' in page and 'value="default"' in page
    refused = jobs_inline(client, URL, {"files": [photo()], "split": "unassigned"})
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    refused = jobs_inline(client, URL, {"files": [photo()], "split": "unassigned", "project": "nope"})
    assert "Select a valid choice" in refused.content.decode()
    assert not Face.objects.exists()
    response = jobs_inline(client, URL, {"files": [photo()], "split": "unassigned", "project": "pilot"})
    assert response.status_code == 200
    assert list(Face.objects.values_list("project__slug", flat=True)) == ["pilot"]
