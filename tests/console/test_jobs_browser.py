"""The console's jobs in Chromium, with a real worker on the jobs queue: an export started from the
console reaches 100% on its page and its zip downloads through the page (read with numpy, no pickle);
a zip uploaded on the photo page becomes a job that finishes; the pages pass axe-core."""
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from annotator.models import ConsoleAction, Face, Job
from tests.conftest import browser_login, make_user
from tests.console.jobs_helpers import job_page_finished, jobs_worker, labelled_folder  # noqa: F401
from tests.suggestions.test_worker import redis_broker  # noqa: F401  (fixture: this process sends to Redis)
from tests.web.test_pages_browser import axe_serious, bypass_csp_page  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"


def test_an_export_started_in_the_console_reaches_100_and_downloads_as_a_zip(
        bypass_csp_page, live_server, data_root, jobs_worker, artifacts_dir):
    page = bypass_csp_page
    labelled_folder(data_root / "src", 30)
    call_command("import_affectnet", str(data_root / "src"), "--no-progress", "--workers", "1", stdout=io.StringIO())
    (data_root / "exports").mkdir()
    lead = make_user("lead", "admin")
    browser_login(page, live_server, lead, next_path="/console/")
    problems = {"console axe": axe_serious(page)}
    page.click("text=Start an export")
    page.wait_for_selector("#folder-browser li button")
    problems["export axe"] = axe_serious(page)
    page.click("#id_out")  # the field the browser fills
    page.click("#browser-list button:text('exports/')")
    assert page.input_value("#id_out") == "exports"
    page.fill("#id_out", "exports/from-the-console")
    page.check("#id_csv")
    page.click("#start-button")
    page.wait_for_url("**/console/jobs/*/")
    job_page_finished(page)
    assert page.inner_text("#job-percent") == "100%"
    assert "wrote 30 faces of default" in page.inner_text("#job-summary")
    problems["job axe"] = axe_serious(page)
    page.screenshot(path=str(artifacts_dir / "console_export_job.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#job-download a")
    data = Path(download.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert "from-the-console/manifest.json" in names and "from-the-console/training.csv" in names
        stems = [n.split("/")[-1][:-8] for n in names if n.endswith("_exp.npy")]
        assert len(stems) == 30
        for name in names:
            if name.endswith(".npy"):
                np.load(io.BytesIO(archive.read(name)), allow_pickle=False)
        assert int(np.load(io.BytesIO(archive.read("from-the-console/train_set/annotations/1_exp.npy")),
                           allow_pickle=False)) == 1
    page.goto(f"{live_server.url}/console/jobs/")
    assert "succeeded" in page.inner_text("#jobs")
    problems["jobs axe"] = axe_serious(page)
    page.goto(f"{live_server.url}/console/jobs/import/")
    page.wait_for_selector("#folder-browser li button")
    problems["import axe"] = axe_serious(page)
    assert {k: v for k, v in problems.items() if v} == {}
    assert [a.action for a in ConsoleAction.objects.all()] == ["export.start"]


def test_a_zip_uploaded_becomes_a_job_that_finishes(page, live_server, data_root, jobs_worker, tmp_path, artifacts_dir):
    archive = tmp_path / "people.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.write(PHOTOS / "two_faces.jpg", "people/two_faces.jpg")
        out.write(PHOTOS / "coffee.jpg", "people/coffee.jpg")
    browser_login(page, live_server, make_user("lead", "admin"), next_path="/photos/upload/")
    assert "are not exported" in page.inner_text("#unassigned-warning")
    page.set_input_files("input[name=files]", str(archive))
    page.select_option("#id_split", "train")
    page.click("#import-button")
    page.wait_for_url("**/console/jobs/*/")
    job_page_finished(page)
    summary = page.inner_text("#job-summary")
    assert "2 new faces stored" in summary and "no face: upload:people.zip:people/coffee.jpg" in summary
    page.screenshot(path=str(artifacts_dir / "console_upload_job.png"), full_page=True)
    assert Face.objects.filter(source="upload:people.zip:people/two_faces.jpg", split="train").count() == 2
    job = Job.objects.get()
    assert job.kind == Job.Kind.PHOTO_UPLOAD and job.percent == 100
    from django.core.files.storage import default_storage
    assert not any(default_storage.exists(f["stored"]) for f in job.options["files"])  # deleted after the job
