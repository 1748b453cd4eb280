"""The splits page: admins only (checked on the server), CSRF enforced, preview writes nothing, apply
starts a console job that writes the previewed plan, kept in the history; a stale preview is shown again
instead of applied, and a job whose preview went stale before it ran fails, writing nothing."""
import pytest
from django.test import Client

from annotator.jobs.tasks import job_run
from annotator.models import ConsoleAction, Face, Job, Project
from tests.conftest import make_user
from tests.console.jobs_helpers import jobs_inline  # noqa: F401  (fixture)
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


def test_preview_then_apply_as_a_job(client, faces, admin_user_role, jobs_inline):  # noqa: F811
    client.force_login(admin_user_role)
    assert client.get("/console/splits/").status_code == 200
    before = splits_by_id(Project.objects.default())
    page = client.post("/console/splits/", {**FORM, "action": "preview"})
    text = page.content.decode()
    assert page.status_code == 200 and 'id="splits-preview"' in text and 'data-split="val">20<' in text
    assert splits_by_id(Project.objects.default()) == before and not ConsoleAction.objects.exists()
    digest = page.context["plan"].digest
    started = jobs_inline(client, "/console/splits/", {**FORM, "digest": digest, "action": "apply"}, follow=False)
    job = Job.objects.get()
    assert started.status_code == 302 and started["Location"] == f"/console/jobs/{job.id}/"
    assert job.kind == Job.Kind.ASSIGN_SPLITS and job.state == Job.State.QUEUED and job.created_by == admin_user_role
    assert job.options["digest"] == digest and job.options["shares"] == "train=0.9,val=0.1"
    assert splits_by_id(Project.objects.default()) == before  # nothing written by the request itself
    job_run(job.id)  # as the worker runs it
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED, job.error
    assert "applied: 200 faces changed split" in job.summary and "largest share error" in job.log
    assert (f"$ manage.py assign_splits --project {job.project.slug} --shares train=0.9,val=0.1 --faces unassigned "
            f"--seed 0 --expect-digest {digest} --by {admin_user_role.username}") in job.log
    assert f"plan digest: {digest}" in job.log
    assert Face.objects.filter(split="val").count() == 20 and Face.objects.filter(split="train").count() == 180
    # The history: the start (naming the job) and, once, what was written (by whom).
    start, assigned = ConsoleAction.objects.order_by("id")
    assert (start.action, start.user, start.details["job"]) == ("splits.start", admin_user_role, job.id)
    assert f"started job {job.id}" in start.summary and "train/val 90/10" in start.summary
    assert (assigned.action, assigned.user) == ("splits.assign", admin_user_role)
    assert "Assigned splits train/val 90/10" in assigned.summary and assigned.details["changed"] == 200
    home = client.get("/console/").content.decode()
    assert "Assigned splits train/val 90/10" in home and f"started job {job.id}" in home


def test_the_job_page_shows_the_commands_table_and_summary(client, faces, admin_user_role, jobs_inline):  # noqa: F811
    client.force_login(admin_user_role)
    digest = client.post("/console/splits/", {**FORM, "action": "preview"}).context["plan"].digest
    page = jobs_inline(client, "/console/splits/", {**FORM, "digest": digest, "action": "apply"})
    text = page.content.decode()
    assert page.status_code == 200 and "Split assignment" in text and "applied: 200 faces changed split" in text
    assert "largest share error" in text
    assert Face.objects.filter(split="val").count() == 20


def test_a_preview_gone_stale_before_the_job_runs_fails_it_writing_nothing(client, faces, admin_user_role,
                                                                           jobs_inline):  # noqa: F811
    client.force_login(admin_user_role)
    digest = client.post("/console/splits/", {**FORM, "action": "preview"}).context["plan"].digest
    jobs_inline(client, "/console/splits/", {**FORM, "digest": digest, "action": "apply"}, follow=False)
    job = Job.objects.get()
    bulk_faces(Project.objects.default(), 10, seed=5)  # an import between the page's check and the job's run
    job_run(job.id)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED
    assert "--expect-digest: the faces changed since the preview" in job.error and "preview again" in job.error
    assert not Face.objects.exclude(split="unassigned").exists()
    assert [a.action for a in ConsoleAction.objects.order_by("id")] == ["splits.start"]
    page = client.get(f"/console/jobs/{job.id}/").content.decode()
    assert "preview again" in page


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
    assert done.status_code == 302 and done["Location"] == f"/console/jobs/{Job.objects.get().id}/"
