"""The photo upload page: admins only; zip members untrusted (no traversal, no links, sizes counted)."""
import io
import stat
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.models import ConsoleAction, Face, Job, Suggestion
from tests.conftest import browser_login
from tests.console.jobs_helpers import job_page_finished, jobs_inline, jobs_worker  # noqa: F401  (fixtures)
from tests.suggestions.test_worker import redis_broker  # noqa: F401  (fixture)

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"
URL = "/photos/upload/"


@pytest.fixture
def upload_dirs(data_root, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    return tmp_path / "var" / "uploads"


def zip_bytes(members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members:
            if name.startswith("LINK:"):
                info = zipfile.ZipInfo(name[5:])
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, data)
            else:
                archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.django_db
def test_only_admins_may_upload(client, annotator_user, reviewer_user, upload_dirs):
    assert client.get(URL).status_code == 302  # to the login page
    for user in (annotator_user, reviewer_user):
        client.force_login(user)
        assert client.get(URL).status_code == 403
        photo = SimpleUploadedFile("g.jpg", (PHOTOS / "grace_hopper.jpg").read_bytes(), "image/jpeg")
        assert client.post(URL, {"files": [photo], "split": "unassigned"}).status_code == 403
    assert Face.objects.count() == 0


@pytest.mark.django_db
def test_zip_and_photos_become_faces_and_bad_members_are_named(jobs_inline, client, admin_user_role, upload_dirs, settings,
                                                               tmp_path):
    settings.PHOTO_ZIP_MAX_MEMBER_BYTES = 80_000
    escape_target = tmp_path / "evil.jpg"
    archive = zip_bytes([
        ("people/two_faces.jpg", (PHOTOS / "two_faces.jpg").read_bytes()),
        ("people/coffee.jpg", (PHOTOS / "coffee.jpg").read_bytes()),
        ("../../evil.jpg", (PHOTOS / "obama.jpg").read_bytes()),
        ("/abs.jpg", (PHOTOS / "obama.jpg").read_bytes()),
        ("LINK:people/link.jpg", "/etc/passwd"),
        ("people/huge.jpg", b"\0" * 200_000),  # compresses to almost nothing; unpacked it is too big
        ("people/notes.txt", b"ignored: not a photo"),
    ])
    client.force_login(admin_user_role)
    response = jobs_inline(client, URL, {
        "files": [
            SimpleUploadedFile("batch.zip", archive, "application/zip"),
            SimpleUploadedFile("../hopper.jpg", (PHOTOS / "grace_hopper.jpg").read_bytes(), "image/jpeg"),
            SimpleUploadedFile("broken.jpg", (PHOTOS / "biden.jpg").read_bytes()[:5000], "image/jpeg"),
        ],
        "split": "val",
        "no_face_as_candidates": "on",
    })
    assert response.status_code == 200
    page = response.content.decode()
    assert "batch.zip:../../evil.jpg: refused" in page
    assert "batch.zip:/abs.jpg: refused" in page
    assert "batch.zip:people/link.jpg: refused (a symbolic link)" in page
    assert "batch.zip:people/huge.jpg: larger than PHOTO_ZIP_MAX_MEMBER_BYTES" in page
    assert "upload:broken.jpg: not a readable image" in page
    assert not escape_target.exists() and not (tmp_path.parent / "evil.jpg").exists()

    assert Face.objects.filter(source="upload:batch.zip:people/two_faces.jpg").count() == 2
    hopper = Face.objects.get(source="upload:hopper.jpg")
    assert hopper.split == "val" and len(hopper.landmarks) == 136
    candidate = Face.objects.get(source="upload:batch.zip:people/coffee.jpg")
    assert Suggestion.objects.get(face=candidate).category == 10
    assert Face.objects.count() == 4
    assert list(upload_dirs.iterdir()) == []  # the temporary folder is gone
    job = Job.objects.get()  # the upload's job; its stored files are deleted once it ended
    assert len(job.options["files"]) == 3 and not any(default_storage.exists(f["stored"]) for f in job.options["files"])
    assert job.state == Job.State.FAILED and "file(s) skipped as bad input" in job.error  # as import_images
    assert ConsoleAction.objects.get().details["job"] == job.id  # the upload is in the console's history


@pytest.mark.django_db
def test_a_file_that_is_not_a_zip_is_named(jobs_inline, client, admin_user_role, upload_dirs):
    client.force_login(admin_user_role)
    response = jobs_inline(client, URL, {"files": [SimpleUploadedFile("fake.zip", b"not a zip")], "split": "unassigned"})
    assert "fake.zip: not a readable zip archive" in response.content.decode()
    assert Face.objects.count() == 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_upload_page_in_a_browser(page, live_server, admin_user_role, upload_dirs, artifacts_dir, jobs_worker):
    browser_login(page, live_server, admin_user_role, next_path=URL)
    assert page.url.endswith(URL)
    page.set_input_files("input[name=files]", [str(PHOTOS / "two_faces.jpg"), str(PHOTOS / "coffee.jpg")])
    page.click("#import-button")  # the files are stored, and their job's page shows how it goes
    text = job_page_finished(page)
    assert "2 new faces stored" in text.replace("\n", " ") and "upload:coffee.jpg" in text
    page.screenshot(path=str(artifacts_dir / "photo_upload.png"), full_page=True)
    assert Face.objects.filter(source="upload:two_faces.jpg").count() == 2


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_photos_dropped_on_the_page_are_imported(page, live_server, admin_user_role, upload_dirs, artifacts_dir,
                                                 jobs_worker):
    """Drag and drop: files dropped on the drop zone go into the form, are named, and are imported."""
    import base64

    browser_login(page, live_server, admin_user_role, next_path=URL)
    files = [{"name": p.name, "data": base64.b64encode(p.read_bytes()).decode()}
             for p in (PHOTOS / "two_faces.jpg", PHOTOS / "coffee.jpg")]
    page.evaluate("""(files) => {
        const dt = new DataTransfer();
        for (const f of files) {
          const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
          dt.items.add(new File([bytes], f.name, { type: "image/jpeg" }));
        }
        const zone = document.getElementById("drop-zone");
        zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""", files)
    assert page.inner_text("#drop-chosen") == "2 files: two_faces.jpg, coffee.jpg"
    # the file input is drawn by the drop zone, in the dark theme (not the browser's white button)
    assert page.locator("#drop-zone").evaluate("n => getComputedStyle(n).backgroundColor") != "rgb(255, 255, 255)"
    page.click("#import-button")
    text = job_page_finished(page).replace("\n", " ")
    assert "2 read" in text and "2 new faces stored" in text
    page.screenshot(path=str(artifacts_dir / "photo_upload_dropped.png"), full_page=True)
    assert Face.objects.filter(source="upload:two_faces.jpg").count() == 2
