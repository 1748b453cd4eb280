"""The deployment, natively: compose.yaml's own commands (migrate, gunicorn with the project's config, a worker on
each queue, beat) started as processes against the test database and the test Redis database, and a round driven
in Chromium through gunicorn: an annotator answers a face against the model, the worker's suggestion makes a flag,
a reviewer settles it in the review queue, and the lead exports from the console (the jobs worker runs it) and
downloads the zip, which holds the reviewer's label."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from annotator.domain.categories import HAPPINESS, SADNESS
from annotator.faces.store import NewFace, faces_store
from annotator.guidelines.selectors import guideline_version_current
from annotator.guidelines.services import guidelines_mark_read
from annotator.models import Annotation, Face, Suggestion
from annotator.suggestions.services import suggester_active_get_or_create
from annotator.web.roles import ROLES
from reviews.models import Decision, Flag
from tests.config.test_quickstart import free_port
from tests.conftest import browser_login, install_default_guidelines, make_user, wait_for
from tests.console.jobs_helpers import job_page_finished
from tests.process_helpers import kill_session, manage_env
from tests.project_helpers import set_policy
from tests.suggestions.test_worker import redis_broker  # noqa: F401  (fixture: the test Redis, flushed)

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
# The services this test starts natively, in compose's order; the others are PostgreSQL and Redis (the test's
# own), Flower (watched in tests/suggestions/test_task_events.py) and the gpu profile's worker.
PASSWORD = "pw-for-tests-123"  # browser_login's
SERVICES = ["migrate", "web", "worker-default", "worker-model", "worker-jobs", "beat"]


def compose_commands() -> dict:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    return {name: shlex.split(services[name]["command"]) for name in SERVICES}


class Service:
    """One of compose's commands as a process of its own session (killed whole at the end), its output in a file."""

    def __init__(self, name, argv, env, log_dir):
        self.name, self.log_path = name, log_dir / f"{name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def output(self, tail=4000):
        return self.log_path.read_text(errors="replace")[-tail:]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)  # gunicorn and celery stop their children on TERM
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        kill_session(self.proc.pid)
        self.proc.wait(5)


def http_status(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def workers_answering(env) -> set:
    """The names (before the @) of the workers that answer `celery inspect ping`."""
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "annotator", "inspect", "ping", "--timeout", "3"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return {line.split("->", 1)[1].strip().split("@")[0] for line in result.stdout.splitlines() if "->" in line}


@pytest.fixture
def deployment(data_root, redis_broker, tmp_path):  # noqa: F811
    """migrate, then gunicorn, the three workers and beat, with compose's commands and this test's settings."""
    port = free_port()
    var_dir = tmp_path / "subprocess-var"
    var_dir.mkdir()
    bin_dir = str(Path(sys.executable).parent)  # `python`, `gunicorn` and `celery` of this environment
    env = manage_env(
        tmp_path, REDIS_URL=redis_broker, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""),
        WEB_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2", SECURE_HTTPS="0", SUGGEST_DEVICE="cpu",
        ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="INFO",
    )
    commands = compose_commands()
    migrate = subprocess.run(commands["migrate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    services, timings = {}, {}
    started = time.monotonic()
    try:
        for name in SERVICES[1:]:
            services[name] = Service(name, commands[name], env, tmp_path)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: http_status(f"{base}/accounts/login/") == 200, 120, "gunicorn")
            timings["start: gunicorn answers"] = time.monotonic() - started
            # Each queue's worker answers a ping over the broker, under the name its command gives it.
            wait_for(lambda: workers_answering(env) >= {"default", "model", "jobs"}, 180, "the workers' pongs")
            timings["start: every queue's worker answers a ping"] = time.monotonic() - started
        except AssertionError:
            raise AssertionError("\n".join(f"--- {n}\n{s.output(1500)}" for n, s in services.items())) from None
        yield SimpleNamespace(url=base, services=services, env=env, var_dir=var_dir, timings=timings)
    finally:
        for service in services.values():
            service.stop()


@pytest.fixture
def people(transactional_db):
    from django.contrib.auth.models import Group

    for name in ROLES:  # the roles come from a data migration, which a transactional test's flush removes
        Group.objects.get_or_create(name=name)
    annotator, reviewer, lead = make_user("ann1", "annotator"), make_user("rev1", "reviewer"), make_user("lead", "admin")
    for user in (annotator, reviewer, lead):  # in the hash the deployment's settings check (the tests' is MD5, for speed)
        user.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
        user.save(update_fields=["password"])
    install_default_guidelines()
    guidelines_mark_read(user=annotator, version=guideline_version_current())
    set_policy(blind_share=0.0)  # the annotator sees the model's suggestion
    set_policy(gold_share=0.0)
    return SimpleNamespace(annotator=annotator, reviewer=reviewer, lead=lead)


def console_export_step(chromium, deployment, lead, data_root: Path, folder: str, artifacts_dir) -> Path:
    """The export, as the lead does it: the console's export form through gunicorn, run by the jobs worker
    (export_affectnet's own code), its page polled to 100%, and its zip downloaded through the page."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    browser_login(page, deployment, lead, next_path="/console/jobs/export/")
    page.select_option("#id_root", label=str(data_root))
    page.fill("#id_out", folder)
    page.click("#start-button")
    page.wait_for_url("**/console/jobs/*/")
    try:
        job_page_finished(page)
    except AssertionError:
        raise AssertionError(page.inner_text("body")[:3000] + deployment.services["worker-jobs"].output()) from None
    assert page.inner_text("#job-percent") == "100%"
    page.screenshot(path=str(artifacts_dir / "deploy-export-job.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#job-download a")
    archive = data_root / "export.zip"
    download.value.save_as(archive)  # before the context closes, which deletes its downloads
    context.close()
    unzipped = data_root / "downloaded"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(unzipped)
    return unzipped / folder


def read_affectnet_label(out: Path, split: str, face_id: int) -> tuple:
    annotations = out / f"{split}_set" / "annotations"
    return tuple(str(np.load(annotations / f"{face_id}_{kind}.npy", allow_pickle=False))
                 for kind in ("exp", "val", "aro"))


def test_annotate_suggest_review_export_through_gunicorn(deployment, people, chromium, data_root, artifacts_dir):
    # A face arrives; on commit its suggestion task goes to Redis, and the model worker computes it.
    crop = (DATA / "smiling_obama_224.jpg").read_bytes()
    landmarks = [float(60 + (i % 30) * 3) for i in range(136)]  # the export writes faces with landmarks only
    timings, mark = deployment.timings, time.monotonic()
    [face] = faces_store([NewFace(crop_jpeg=crop, source="smiling_obama_224.jpg", split="train", landmarks=landmarks)])
    suggester = suggester_active_get_or_create()
    try:
        suggestion = wait_for(lambda: Suggestion.objects.filter(face=face, suggester=suggester).first(), 180,
                              "the model worker's suggestion")
    except AssertionError:
        raise AssertionError(deployment.services["worker-model"].output()) from None
    timings["face stored -> the model worker's suggestion"] = time.monotonic() - mark
    assert suggestion.category == HAPPINESS and suggestion.confidence >= settings.FLAG_MODEL_MIN_PROBABILITY

    # The annotator, through gunicorn, sees the face and the model's suggestion, and says Sadness.
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    browser_login(page, deployment, people.annotator, next_path="/annotate/")
    try:
        page.wait_for_selector(f'#stage[data-face-id="{face.id}"] img.face', timeout=20000)
    except Exception:
        raise AssertionError(f"{page.url}: {page.inner_text('body')[:1500]}\n{deployment.services['web'].output()}") from None
    page.wait_for_function("() => document.querySelector('#stage img.face').naturalWidth === 224")
    assert "Model's suggestion" in page.inner_text("#suggestion-badge")
    page.keyboard.press("2")  # Sadness: the point moves to its region, not placed yet
    page.keyboard.press("ArrowLeft")  # placed
    page.keyboard.press("Enter")
    mark = time.monotonic()
    answer = wait_for(lambda: Annotation.objects.filter(face=face, annotator=people.annotator).first(), 20,
                      "the answer stored by gunicorn")
    assert answer.category == SADNESS
    page.screenshot(path=str(artifacts_dir / "deploy-annotate.png"))
    context.close()

    # gunicorn queued the flag check on commit; the default worker flags the disagreement with the model.
    try:
        flag = wait_for(lambda: Flag.objects.filter(face=face, reason=Flag.Reason.ANNOTATOR_VS_MODEL,
                                                    status=Flag.Status.OPEN).first(), 90, "the worker's flag")
    except AssertionError:
        raise AssertionError(deployment.services["worker-default"].output()) from None
    timings["Enter on the annotate page -> the default worker's flag"] = time.monotonic() - mark
    assert flag.evidence["suggestion"]["category"] == HAPPINESS

    # The reviewer finds it in the review queue and takes the model's suggestion.
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    browser_login(page, deployment, people.reviewer, next_path="/review/")
    page.click(f'a[href*="/review/face/{face.id}/"]')
    page.wait_for_selector(".va-mark")
    assert page.locator("#face-id").inner_text() == str(face.id)
    page.keyboard.press("s")
    page.keyboard.press("Enter")
    decision = wait_for(lambda: Decision.objects.filter(face=face).first(), 20, "the reviewer's decision")
    page.wait_for_url(f"{deployment.url}/review/**")
    page.screenshot(path=str(artifacts_dir / "deploy-review.png"))
    context.close()
    assert decision.reviewer == people.reviewer and decision.category == HAPPINESS
    assert Flag.objects.get(pk=flag.pk).status == Flag.Status.RESOLVED
    face = Face.objects.get(pk=face.pk)
    assert face.final_source == "review" and face.final_category == HAPPINESS

    # The export writes the reviewer's label, read with numpy as a training script would.
    mark = time.monotonic()
    out = console_export_step(chromium, deployment, people.lead, data_root, "export", artifacts_dir)
    timings["the console's export job, started -> its zip downloaded (1 face)"] = time.monotonic() - mark
    exp, valence, arousal = read_affectnet_label(out, "train", face.id)
    assert exp == str(HAPPINESS)
    assert float(valence) == pytest.approx(face.final_valence, abs=1e-6)
    assert float(arousal) == pytest.approx(face.final_arousal, abs=1e-6)
    assert (out / "train_set" / "images" / f"{face.id}.jpg").read_bytes() == crop
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["total"] == 1 and manifest["final_label_sources"] == {"review": 1}, manifest

    # Through gunicorn: the crop's storage path is served by no route; gunicorn logged the requests to stdout.
    base = deployment.url
    assert http_status(f"{base}/media/{face.image.name}") == 404
    assert http_status(f"{base}/{face.image.name}") == 404
    assert f'"GET /api/faces/{face.id}/image/ HTTP/1.1" 200' in deployment.services["web"].output(100_000)
    # beat runs, keeping its schedule under VAR_DIR (not the directory it was started in).
    assert "beat" in deployment.services["beat"].output(100_000) and "is starting." in deployment.services["beat"].output()
    assert any(deployment.var_dir.glob("celerybeat-schedule*"))
    assert not list(ROOT.glob("celerybeat-schedule*"))
    dead = [name for name, service in deployment.services.items() if not service.alive()]
    assert not dead, {name: deployment.services[name].output() for name in dead}
    print("\n".join(["", f"{'step':<66} | seconds", "-" * 76]
                    + [f"{step:<66} | {seconds:7.1f}" for step, seconds in timings.items()]))
