"""The console's jobs in this process: who may reach them, the folder browser's refusals, starting,
running (eager), cancelling, the export's zip streamed from storage, and the progress helper."""
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client

import annotator.jobs.tasks  # noqa: F401  (registers the tasks: eager runs use them)
import annotator.photos.tasks  # noqa: F401
from annotator.common.paths import PathNotAllowed, data_root_path, folder_listing
from annotator.common.progress import JobCancelled, job_reporting, progress_bar
from annotator.models import ConsoleAction, Face, Job
from tests.conftest import make_user
from tests.console.jobs_helpers import jobs_inline, labelled_folder  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"

GETS = ["/console/jobs/", "/console/jobs/status/?ids=1", "/console/jobs/import/", "/console/jobs/export/",
        "/console/jobs/{job}/", "/console/jobs/{job}/status/", "/console/jobs/{job}/download/",
        "/console/folders/?root=0&path="]
POSTS = ["/console/jobs/import/", "/console/jobs/export/", "/console/jobs/{job}/cancel/"]


@pytest.fixture
def lead(db):
    return make_user("lead", "admin")


@pytest.fixture
def imported(data_root):
    """20 faces with final labels (an AffectNet folder imported with its labels)."""
    labelled_folder(data_root / "src", 20)
    call_command("import_affectnet", str(data_root / "src"), "--no-progress", "--workers", "1", stdout=io.StringIO())
    assert Face.objects.count() == 20
    return data_root


def test_every_console_url_is_for_admins_only_and_posts_need_csrf(data_root, lead):
    job = Job.objects.create(kind=Job.Kind.EXPORT_AFFECTNET, options={})
    anonymous = Client()
    for url in GETS + POSTS:
        assert anonymous.get(url.format(job=job.id)).status_code == 302, url
    for role in ("annotator", "reviewer"):
        client = Client()
        client.force_login(make_user(f"a-{role}", role))
        for url in GETS:
            assert client.get(url.format(job=job.id)).status_code == 403, (role, url)
        for url in POSTS:
            assert client.post(url.format(job=job.id), {"root": 0, "out": "x"}).status_code == 403, (role, url)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(lead)
    for url in POSTS:
        assert strict.post(url.format(job=job.id), {"root": 0, "out": "x"}).status_code == 403, url
    assert Job.objects.count() == 1 and not Job.objects.get().cancel_requested
    assert not ConsoleAction.objects.exists()


def test_the_folder_browser_lists_only_inside_the_roots_and_refuses_escapes(data_root, tmp_path, lead):
    (data_root / "photos" / "2024").mkdir(parents=True)
    (data_root / "photos" / "a.jpg").write_bytes(b"x")
    (data_root / ".hidden").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (data_root / "link-out").symlink_to(outside)
    listing = folder_listing(0, "")
    assert listing["folders"] == ["photos"]  # the link out and the hidden folder are not listed
    assert folder_listing(0, "photos") | {} == {**listing, "path": "photos", "folders": ["2024"], "files": ["a.jpg"],
                                                 "file_count": 1}
    for root, relative, message in [(0, "../", "'..' is not allowed"), (0, "photos/../../x", "'..' is not allowed"),
                                    (0, "/etc", "an absolute path"), (0, "C:/x", "an absolute path"),
                                    (0, "link-out", "leads outside the data root"), (5, "", "no such data root"),
                                    ("x", "", "not a data root's number"), (-1, "", "no such data root")]:
        with pytest.raises(PathNotAllowed, match=message):
            data_root_path(root, relative)
    client = Client()
    client.force_login(lead)
    response = client.get("/console/folders/", {"root": 0, "path": "../.."})
    assert response.status_code == 400 and "'..' is not allowed" in response.json()["error"]
    assert client.get("/console/folders/", {"root": 0, "path": "link-out"}).status_code == 400
    assert client.get("/console/folders/", {"root": 0, "path": "photos"}).json()["folders"] == ["2024"]
    # The forms refuse the same, naming the field, and start nothing.
    response = client.post("/console/jobs/import/", {"kind": "affectnet_import", "project": "default", "root": 0,
                                                     "folder": "../../etc", "labels": "annotations"})
    assert response.status_code == 400 and "&#x27;..&#x27; is not allowed" in response.content.decode()
    response = client.post("/console/jobs/export/", {"project": "default", "root": 0, "out": "link-out/x"})
    assert response.status_code == 400 and "leads outside the data root" in response.content.decode()
    assert not Job.objects.exists()


def test_the_folder_browser_says_when_a_data_root_does_not_exist(data_root, settings, lead):
    settings.DATA_ROOTS = [data_root / "not-made-yet"]
    client = Client()
    client.force_login(lead)
    response = client.get("/console/folders/", {"root": 0, "path": ""})
    assert response.status_code == 400
    assert response.json()["error"] == f"the data root {data_root / 'not-made-yet'} does not exist: create it, or name others in DATA_ROOTS"


def test_an_export_job_runs_the_command_and_its_zip_downloads_from_storage(imported, lead, eager_tasks,
                                                                            django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/console/jobs/export/", {"project": "default", "root": 0, "out": "exports/first",
                                                         "splits": ["train", "val"], "csv": "on"})
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/console/jobs/{job.id}/"
    assert job.state == Job.State.SUCCEEDED, job.error + job.log
    assert (job.done, job.total, job.percent) == (job.total, job.total, 100)
    # The same lines as `manage.py export_affectnet` prints.
    printed = io.StringIO()
    call_command("export_affectnet", str(imported / "exports" / "again"), "--no-progress", "--csv", stdout=printed)
    assert job.summary.startswith(printed.getvalue().replace("exports/again", "exports/first").rstrip("\n"))
    assert ConsoleAction.objects.get().action == "export.start"
    status = client.get(f"/console/jobs/{job.id}/status/").json()
    assert status["state"] == "succeeded" and status["download"] and status["percent"] == 100

    response = client.get(f"/console/jobs/{job.id}/download/")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Disposition"] == f'attachment; filename="job-{job.id}-first.zip"'
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert "first/manifest.json" in names and "first/train_set/images/1.jpg" in names
        expression = np.load(io.BytesIO(archive.read("first/train_set/annotations/1_exp.npy")), allow_pickle=False)
    assert int(expression) == 1
    assert default_storage.exists(job.result_name)


def test_a_bad_option_fails_the_job_with_the_commands_message(imported, lead, eager_tasks,
                                                              django_capture_on_commit_callbacks):
    (imported / "taken").mkdir()
    (imported / "taken" / "notes.txt").write_text("mine")
    client = Client()
    client.force_login(lead)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/console/jobs/export/", {"project": "default", "root": 0, "out": "taken"})
    job = Job.objects.get()
    assert job.state == Job.State.FAILED and "exists and is not empty" in job.error
    assert client.get(f"/console/jobs/{job.id}/download/").status_code == 404
    assert (imported / "taken" / "notes.txt").read_text() == "mine"


def test_a_queued_job_cancelled_never_runs(imported, lead):
    client = Client()
    client.force_login(lead)
    client.post("/console/jobs/import/", {"kind": "affectnet_import", "project": "default", "root": 0,
                                          "folder": "src", "labels": "annotations"})
    job = Job.objects.get()
    assert job.state == Job.State.QUEUED and job.options["folder"] == {"root": 0, "path": "src"}
    assert client.post(f"/console/jobs/{job.id}/cancel/").status_code == 302
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.cancel_requested
    annotator.jobs.tasks.job_run(job.id)  # a message that still arrives does nothing
    job.refresh_from_db()
    assert job.state == Job.State.CANCELLED and job.attempts == 0
    assert [a.action for a in ConsoleAction.objects.order_by("id")] == ["import.start", "job.cancel"]


class Reporter:
    def __init__(self, cancel_after=None):
        self.seen, self.cancel_after = [], cancel_after

    def progress(self, done, total):
        self.seen.append((done, total))

    def cancelled(self):
        return self.cancel_after is not None and len(self.seen) >= self.cancel_after


def test_progress_bar_reports_to_the_job_and_raises_its_cancel():
    with progress_bar(total=3, disable=True) as bar:
        bar.update(1)  # no job: a plain tqdm
    reporter = Reporter()
    with job_reporting(reporter), progress_bar(total=3, disable=True) as bar:
        for _ in range(3):
            bar.update(1)
    assert reporter.seen == [(1, 3), (2, 3), (3, 3)]
    stopping = Reporter(cancel_after=2)
    with job_reporting(stopping), pytest.raises(JobCancelled), progress_bar(total=5, disable=True) as bar:
        for _ in range(5):
            bar.update(1)
    assert stopping.seen == [(1, 5), (2, 5)]


def test_a_second_delivery_does_nothing_while_the_run_beats_and_a_stale_job_runs_again(data_root, settings):
    """acks_late: Redis delivers an unacknowledged message again; a run claims the job first."""
    from datetime import timedelta

    from django.utils import timezone

    from annotator.jobs.services import job_claim, jobs_requeue_stale

    settings.JOB_STALE_SECONDS = 60
    job = Job.objects.create(kind=Job.Kind.AFFECTNET_IMPORT, options={}, state=Job.State.RUNNING, attempts=1,
                             heartbeat_at=timezone.now())
    assert job_claim(job.id) is None and jobs_requeue_stale() == []
    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert jobs_requeue_stale() == [job.id]  # sent again (the filesystem broker here; nobody runs it)
    claimed = job_claim(job.id)
    assert claimed.attempts == 2 and "run 2: the worker of run 1 stopped" in claimed.log
    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - timedelta(seconds=61), attempts=3)
    assert job_claim(job.id) is None
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and "its worker stopped 3 times" in job.error


def test_the_csv_and_photo_imports_run_their_commands_with_the_same_output(data_root, lead, jobs_inline):
    from PIL import Image

    from tests.datasets.test_affectnet_import import HEADER, _csv_line

    images = data_root / "release" / "Manually_Annotated_Images"
    (images / "12").mkdir(parents=True)
    Image.new("RGB", (400, 300), (90, 90, 90)).save(images / "12" / "abc.jpg")
    lnd = [150, 120, 220, 200] + [200, 150] * 66
    (data_root / "release" / "training.csv").write_text(HEADER + _csv_line("12/abc.jpg", (120, 100, 140, 120), lnd)
                                                        + _csv_line("12/missing.jpg", (1, 1, 50, 50), lnd))
    client = Client()
    client.force_login(lead)
    page = jobs_inline(client, "/console/jobs/import/", {
        "kind": "csv_import", "project": "default", "root": 0, "csv": "release/training.csv",
        "images": "release/Manually_Annotated_Images", "labels": "annotations"}).content.decode()
    job = Job.objects.get()
    assert job.state == Job.State.FAILED and job.error == "1 face(s) skipped; the rest was imported"  # as the command
    assert "imported 1 faces (1 annotations)" in job.summary and "missing.jpg" in job.summary and job.error in page
    assert Face.objects.get().final_category == 1

    (data_root / "photos").mkdir()
    (data_root / "photos" / "hopper.jpg").write_bytes((PHOTOS / "grace_hopper.jpg").read_bytes())
    jobs_inline(client, "/console/jobs/import/", {"kind": "photos_import", "project": "default", "root": 0,
                                                  "folder": "photos", "split": "train"})
    job = Job.objects.latest("id")
    assert job.state == Job.State.SUCCEEDED, (job.error, job.log)
    assert "1 photo files" in job.summary and "1 new faces stored" in job.summary and job.done == 1
    assert Face.objects.filter(split="train", source__endswith="hopper.jpg").count() == 1
    assert [a.action for a in ConsoleAction.objects.order_by("id")] == ["import.start", "import.start"]
