"""Projects for a lab: the `project` command and the Django admin's project pages. Both go through the
project services: a policy change reaches the faces not yet finished and is kept in the history."""
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from annotator.faces.store import NewFace, faces_store
from annotator.models import Annotation, Face, Guideline, Project, ProjectMembership, Suggester
from annotator.projects.services import project_create
from tests.conftest import make_user


def jpeg(n):
    out = io.BytesIO()
    Image.new("RGB", (224, 224), ((n * 37) % 256, (n * 11) % 256, (n * 71) % 256)).save(out, format="JPEG")
    return out.getvalue()


def project_cmd(*args):
    out = io.StringIO()
    call_command("project", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_project_create_set_members_and_list(data_root):
    Project.objects.default()
    out = project_cmd("create", "pilot", "--name", "Pilot study", "--annotators-per-face", "3",
                      "--overlap-share", "0", "--region-check", "no", "--export-categories", "0-7")
    assert "created project pilot (Pilot study)" in out
    pilot = Project.objects.get(slug="pilot")
    assert (pilot.annotators_per_face, pilot.overlap_share, pilot.region_check, pilot.export_categories) == (
        3, 0.0, False, "0-7")
    assert Guideline.objects.filter(project=pilot).count() == Guideline.objects.filter(
        project__slug="default").values("category").distinct().count()  # the current set, copied

    [open_face] = faces_store([NewFace(jpeg(1))], project=pilot)
    [done_face] = faces_store([NewFace(jpeg(2))], project=pilot)
    Face.objects.filter(pk=done_face.pk).update(final_category=3, final_valence=0.1, final_arousal=0.1,
                                                final_source="single")
    project_cmd("set", "pilot", "annotators_per_face=5", "blind_share=0.5", "gold_feedback=yes")
    pilot.refresh_from_db()
    assert (pilot.annotators_per_face, pilot.blind_share, pilot.gold_feedback) == (5, 0.5, True)
    assert Face.objects.get(pk=open_face.pk).required_annotations == 5  # not finished: follows
    assert Face.objects.get(pk=done_face.pk).required_annotations == 3  # finished: keeps its own
    assert pilot.history.first().annotators_per_face == 5 and pilot.history.count() == 2

    ann, rev = make_user("ann", "annotator", projects=[]), make_user("rev", "reviewer", projects=[])
    assert "pilot: 2 added, 0 removed" in project_cmd("members", "pilot", "--add", "ann", "rev")
    assert "0 added, 1 removed" in project_cmd("members", "pilot", "--add", "ann", "--remove", "rev")
    assert set(ProjectMembership.objects.filter(project=pilot).values_list("user__username", flat=True)) == {"ann"}
    assert not ProjectMembership.objects.filter(user__in=[ann, rev], project__slug="default").exists()

    Annotation.objects.create(face=open_face, annotator=ann, category=3, valence=0.1, arousal=0.1)
    lines = project_cmd("list").splitlines()
    assert lines[0].split()[:6] == ["slug", "faces", "final", "flagged", "members", "answers"]
    assert lines[2].split()[:6] == ["pilot", "2", "1", "0", "1", "1"]
    assert lines[1].split()[0] == "default"


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (["create", "x", "--overlap-share", "2"], "overlap_share: Ensure this value is less than or equal to 1.0."),
    (["create", "x", "--region-check", "maybe"], "region_check: 'maybe' is not true or false"),
    (["create", "x", "--annotators-per-face", "two"], "annotators_per_face: “two” value must be an integer."),
    (["create", "x", "--export-categories", "0-12"], "export_categories: '0-12' is outside 0-10"),
    (["create", "x", "--queue-order", "random"], "queue_order: Value 'random' is not a valid choice."),
    (["create", "default"], "slug: Project with this Slug already exists."),
    (["set", "default", "nope=1"], "nope: not a setting of a project"),
    (["set", "default", "overlap_share"], "'overlap_share': write field=value"),
    (["set", "default", "blind_share=-0.5"], "blind_share: Ensure this value is greater than or equal to 0.0."),
    (["set", "nope", "blind_share=0.5"], "project: no project 'nope'"),
    (["members", "default", "--add", "nobody"], "no user 'nobody' (nothing changed)"),
])
def test_project_command_errors_name_the_field_and_change_nothing(args, message):
    default = Project.objects.default()
    before = (Project.objects.count(), default.history.count())
    with pytest.raises(CommandError) as caught:
        project_cmd(*args)
    assert str(caught.value).startswith(message), str(caught.value)
    assert (Project.objects.count(), default.history.count()) == before


# --- the admin -----------------------------------------------------------------------------


def form_data(project, **changes):
    """The change form's fields as the page sends them, with changes."""
    data = {name: getattr(project, name) for name in (
        "name", "description", "annotators_per_face", "overlap_share", "blind_share", "gold_share", "queue_order",
        "calibration_faces", "calibration_min_accuracy", "calibration_max_va_distance", "calibration_without_gold",
        "gold_rolling_answers", "gold_pause_min_answers", "gold_pause_below", "export_categories")}
    for flag in ("gold_feedback", "region_check"):
        if getattr(project, flag):
            data[flag] = "on"
    data["active_suggester"] = project.active_suggester_id or ""
    data["project_members"] = list(project.members.values_list("pk", flat=True))
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def staff_admin(db):
    user = make_user("lead", "admin")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def test_admin_policy_save_applies_to_unfinished_faces_and_records_who(client, staff_admin, data_root, settings):
    settings.SUGGEST_ON_ACTIVATE = False
    pilot = project_create(slug="pilot", name="Pilot", annotators_per_face=1, overlap_share=0.0)
    [open_face] = faces_store([NewFace(jpeg(1))], project=pilot)
    [done_face] = faces_store([NewFace(jpeg(2))], project=pilot)
    Face.objects.filter(pk=done_face.pk).update(final_category=3, final_valence=0.1, final_arousal=0.1,
                                                final_source="single")
    ann = make_user("ann", "annotator", projects=[])
    model = Suggester.objects.create(name="m", version="1")
    client.force_login(staff_admin)
    url = f"/admin/annotator/project/{pilot.pk}/change/"
    assert client.get(url).status_code == 200
    response = client.post(url, form_data(pilot, annotators_per_face=3, project_members=[ann.pk],
                                          active_suggester=model.pk))
    assert response.status_code == 302, response.content.decode()[:3000]
    pilot.refresh_from_db()
    assert pilot.annotators_per_face == 3 and pilot.active_suggester == model
    assert Face.objects.get(pk=open_face.pk).required_annotations == 3
    assert Face.objects.get(pk=done_face.pk).required_annotations == 1
    assert list(pilot.members.all()) == [ann]
    changed = pilot.history.filter(annotators_per_face=3).earliest("history_date")
    assert changed.history_user == staff_admin
    assert client.get(f"/admin/annotator/project/{pilot.pk}/history/").status_code == 200

    bad = client.post(url, form_data(pilot, overlap_share="1.5", export_categories="0-99"))
    assert bad.status_code == 200  # the form again, naming the fields
    page = bad.content.decode()
    assert "Ensure this value is less than or equal to 1.0" in page and "is outside 0-10" in page
    pilot.refresh_from_db()
    assert pilot.overlap_share == 0.0


def test_admin_adds_a_project_from_todays_settings_and_lists_projects_side_by_side(client, staff_admin,
                                                                                  data_root,
                                                                                  django_assert_max_num_queries):
    default = Project.objects.default()
    client.force_login(staff_admin)
    page = client.get("/admin/annotator/project/add/").content.decode()
    assert f'name="annotators_per_face" value="{default.annotators_per_face}"' in page
    data = form_data(default, name="Study", slug="study", project_members=[])
    data["slug"] = "study"
    response = client.post("/admin/annotator/project/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    study = Project.objects.get(slug="study")
    assert study.history.get().history_user == staff_admin
    assert Guideline.objects.filter(project=study).exists()  # a guideline set to start from

    faces_store([NewFace(jpeg(n)) for n in range(5)], project=study)
    faces_store([NewFace(jpeg(n)) for n in range(2)], project=default)
    Face.objects.filter(project=study, pk__in=Face.objects.filter(project=study).values("pk")[:1]).update(
        needs_review=True)
    for n in range(10):  # more projects must not mean more queries
        project_create(slug=f"p{n}", name=f"P{n}")
    with django_assert_max_num_queries(12):
        page = client.get("/admin/annotator/project/").content.decode()
    assert "study" in page and "p9" in page
    rows = {p.slug: p for p in __import__("annotator.projects.selectors", fromlist=["x"]).projects_overview()}
    assert (rows["study"].face_count, rows["study"].flagged_count, rows["default"].face_count) == (5, 1, 2)


def test_admin_make_active_refuses_with_several_projects_and_acts_in_the_only_one(client, staff_admin, settings):
    settings.SUGGEST_ON_ACTIVATE = False
    model = Suggester.objects.create(name="m", version="1")
    client.force_login(staff_admin)
    action = {"action": "make_active", "_selected_action": [model.pk]}
    client.post("/admin/annotator/suggester/", action)
    assert Project.objects.default().active_suggester == model
    other = Suggester.objects.create(name="m", version="2")
    project_create(slug="pilot", name="Pilot")
    response = client.post("/admin/annotator/suggester/", {**action, "_selected_action": [other.pk]}, follow=True)
    assert "choose it on the project&#x27;s page" in response.content.decode()
    assert Project.objects.default().active_suggester == model
    assert Project.objects.get(slug="pilot").active_suggester is None


def test_admin_guideline_saves_into_the_chosen_project(client, staff_admin):
    default = Project.objects.default()
    client.force_login(staff_admin)
    alone = client.post("/admin/annotator/guideline/add/", {  # one project: sent without one, it is that one
        "category": 2, "definition": "Sadness, as before", "not_this": "", "example_faces": ""})
    assert alone.status_code == 302, alone.content.decode()[:2000]
    assert Guideline.objects.filter(project=default, definition="Sadness, as before").exists()
    pilot = project_create(slug="pilot", name="Pilot")
    before = Guideline.objects.filter(project=default).count()
    unnamed = client.post("/admin/annotator/guideline/add/", {  # two: the project must be named
        "category": 2, "definition": "Which one?", "not_this": "", "example_faces": ""})
    assert unnamed.status_code == 200 and not Guideline.objects.filter(definition="Which one?").exists()
    response = client.post("/admin/annotator/guideline/add/", {
        "project": pilot.pk, "category": 3, "definition": "Pilot's own surprise", "not_this": "", "example_faces": ""})
    assert response.status_code == 302, response.content.decode()[:2000]
    latest = Guideline.objects.filter(project=pilot, category=3).order_by("-version").first()
    assert latest.definition == "Pilot's own surprise" and latest.created_by == staff_admin
    assert Guideline.objects.filter(project=default).count() == before
    [face] = faces_store([NewFace(jpeg(7))], project=default)
    refused = client.post("/admin/annotator/guideline/add/", {
        "project": pilot.pk, "category": 3, "definition": "x", "not_this": "", "example_faces": str(face.pk)})
    assert refused.status_code == 200 and Guideline.objects.filter(project=pilot, definition="x").count() == 0
