"""Projects: each its own faces, members, policy, guidelines and active suggester; nothing crosses."""
import io
import uuid

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from annotator.faces.store import NewFace, crop_storage_name, faces_store
from annotator.guidelines.selectors import guideline_version_current, guidelines_at
from annotator.guidelines.services import GuidelineError, guideline_save
from annotator.models import Annotation, Face, Project, Suggester
from annotator.projects.selectors import ProjectNeeded, ProjectNotFound, project_for_user, project_named
from annotator.projects.services import ProjectError, project_create, project_policy_update
from annotator.queue import services as queue_services
from annotator.suggestions.selectors import suggester_active, suggestions_counting
from annotator.suggestions.services import suggester_activate
from tests.conftest import make_user
from tests.review_factories import suggest


def jpeg(n):
    out = io.BytesIO()
    Image.new("RGB", (224, 224), ((n * 37) % 256, (n * 11) % 256, (n * 71) % 256)).save(out, format="JPEG")
    return out.getvalue()


@pytest.fixture
def two_projects(db):
    default = Project.objects.default()
    Project.objects.filter(pk=default.pk).update(blind_share=0.0, gold_share=0.0, queue_order="arrival")
    other = project_create(slug="pilot", name="Pilot", blind_share=0.0, gold_share=0.0, queue_order="arrival",
                           calibration_faces=0, annotators_per_face=1, overlap_share=0.0)
    default.refresh_from_db()
    return default, other


def store(project, numbers, **kw):
    return faces_store([NewFace(jpeg(n), **kw) for n in numbers], project=project)


def test_an_annotator_claims_only_faces_of_their_project(two_projects, data_root):
    main, pilot = two_projects
    main_faces = {f.id for f in store(main, range(1, 6))}
    pilot_faces = {f.id for f in store(pilot, range(10, 16))}
    only_pilot = make_user("pia", "annotator", projects=[pilot])
    claimed = {c.face_id for c in queue_services.queue_claim(annotator=only_pilot, count=8)}
    assert claimed and claimed <= pilot_faces
    with pytest.raises(ProjectNotFound):  # the other project reads as no project at all
        queue_services.queue_claim(annotator=only_pilot, project=main, count=1)
    both = make_user("bo", "annotator", projects=[main, pilot])
    with pytest.raises(ProjectNeeded):
        queue_services.queue_claim(annotator=both, count=1)
    assert {c.face_id for c in queue_services.queue_claim(annotator=both, project=main, count=8)} <= main_faces


def test_an_answer_to_another_projects_face_reads_as_no_face(two_projects, data_root):
    main, pilot = two_projects
    [face] = store(main, [1])
    outsider = make_user("out", "annotator", projects=[pilot])
    with pytest.raises(queue_services.NoSuchFace):
        queue_services.annotation_submit(face=face.id, annotator=outsider, category=1, valence=0.6, arousal=0.2,
                                         client_key=uuid.uuid4())
    with pytest.raises(queue_services.NoSuchFace):
        queue_services.queue_release(annotator=outsider, face_id=face.id)
    assert not Annotation.objects.exists()


def test_the_same_crop_in_two_projects_is_two_faces_and_one_file(two_projects, data_root):
    main, pilot = two_projects
    [a] = store(main, [7], id=700)
    [b] = store(pilot, [7], id=700)  # the same AffectNet face: its id is main's, so it takes a new one
    assert a.project_id == main.pk and b.project_id == pilot.pk and a.id == 700 and b.id != 700
    assert a.content_hash == b.content_hash and a.image.name == b.image.name == crop_storage_name(a.content_hash)
    folder = default_storage.path(crop_storage_name(a.content_hash)).rsplit("/", 1)[0]
    assert sum(1 for name in default_storage.listdir(folder)[1] if name.startswith(a.content_hash)) == 1
    assert store(pilot, [7]) == []  # the project has it already


def test_each_project_has_its_own_policy_and_a_change_applies_to_unfinished_faces_only(two_projects, data_root):
    main, pilot = two_projects
    faces = store(pilot, range(1, 5))
    assert {f.required_annotations for f in faces} == {1}
    lead = make_user("lead", "admin")
    done = faces[0]
    annotator = make_user("ann", "annotator", projects=[pilot])
    claim = queue_services.queue_claim(annotator=annotator, count=1)[0]
    assert claim.face_id == done.id
    queue_services.annotation_submit(face=done.id, annotator=annotator, category=1, valence=0.6, arousal=0.2,
                                      client_key=uuid.uuid4())
    assert Face.objects.get(pk=done.id).final_category == 1
    project_policy_update(project=pilot, annotators_per_face=3, by=lead)
    needs = dict(Face.objects.filter(project=pilot).values_list("id", "required_annotations"))
    assert needs[done.id] == 1  # finished: keeps what it needed
    assert {needs[f.id] for f in faces[1:]} == {3}
    assert set(Face.objects.filter(project=main).values_list("required_annotations", flat=True)) <= {1, 2}
    changes = list(pilot.history.order_by("history_date").values_list("annotators_per_face", "history_user__username"))
    assert changes[-1] == (3, "lead") and changes[0][0] == 1


def test_lowering_what_faces_need_makes_a_face_with_enough_answers_final(two_projects, data_root):
    _, pilot = two_projects
    project_policy_update(project=pilot, annotators_per_face=2)
    [face] = store(pilot, [3])
    annotator = make_user("ann", "annotator", projects=[pilot])
    queue_services.queue_claim(annotator=annotator, count=1)
    queue_services.annotation_submit(face=face.id, annotator=annotator, category=2, valence=-0.6, arousal=-0.3,
                                     client_key=uuid.uuid4())
    assert Face.objects.get(pk=face.id).final_category is None  # one of two answers
    project_policy_update(project=pilot, annotators_per_face=1)
    face.refresh_from_db()
    assert (face.required_annotations, face.final_category, face.final_source) == (1, 2, "single")


@pytest.mark.parametrize("field, value", [("blind_share", 1.5), ("annotators_per_face", 0), ("queue_order", "random"),
                                          ("export_categories", "0-12"), ("calibration_without_gold", "maybe")])
def test_a_bad_policy_is_refused_naming_the_field(two_projects, field, value):
    _, pilot = two_projects
    with pytest.raises(ProjectError) as error:
        project_policy_update(project=pilot, **{field: value})
    assert error.value.field == field or field in str(error.value)
    pilot.refresh_from_db()
    assert getattr(pilot, field) != value


def test_region_check_off_stores_an_outside_point_without_asking(two_projects, data_root):
    main, pilot = two_projects
    [on_face] = store(main, [1])
    [off_face] = store(pilot, [2])
    project_policy_update(project=pilot, region_check=False)
    annotator = make_user("ann", "annotator", projects=[main, pilot])
    queue_services.queue_claim(annotator=annotator, project=main, count=1)
    queue_services.queue_claim(annotator=annotator, project=pilot, count=1)
    # Happiness at strongly negative valence: outside its region.
    with pytest.raises(queue_services.OutsideRegion):
        queue_services.annotation_submit(face=on_face.id, annotator=annotator, category=1, valence=-0.8,
                                         arousal=-0.5, client_key=uuid.uuid4())
    answer, _ = queue_services.annotation_submit(face=off_face.id, annotator=annotator, category=1, valence=-0.8,
                                                 arousal=-0.5, client_key=uuid.uuid4())
    assert answer.outside_region_confirmed is False


def test_guidelines_are_versioned_per_project(two_projects, data_root):
    main, pilot = two_projects
    assert guideline_version_current(pilot) == 1  # a copy of the default project's set
    assert guidelines_at(project=pilot).by_category[1].definition == guidelines_at(project=main).by_category[1].definition
    before = guideline_version_current(main)
    guideline_save(project=pilot, category=1, definition="Pilot: a Duchenne smile only.")
    assert guideline_version_current(pilot) == 2 and guideline_version_current(main) == before
    assert guidelines_at(project=main).by_category[1].definition != "Pilot: a Duchenne smile only."
    [main_face] = store(main, [5])
    with pytest.raises(GuidelineError, match="pilot"):  # an example face must be the project's own
        guideline_save(project=pilot, category=1, definition="x", example_face_ids=[main_face.id])


def test_each_project_chooses_its_active_suggester(two_projects, data_root, settings):
    settings.SUGGEST_ON_ACTIVATE = False
    main, pilot = two_projects
    first = Suggester.objects.create(name="a", version="1")
    second = Suggester.objects.create(name="b", version="1")
    suggester_activate(suggester_id=first.pk, project=main)
    suggester_activate(suggester_id=second.pk, project=pilot)
    assert suggester_active(main) == first and suggester_active(pilot) == second
    [m] = store(main, [1])
    [p] = store(pilot, [1])  # one crop in both: each project's face shows its own project's model
    for face in (m, p):
        suggest(face, first, 1, 0.6, 0.2)
        suggest(face, second, 6, -0.5, 0.5)
    counting = suggestions_counting([m.id, p.id])
    assert counting[m.id].suggester == first and counting[p.id].suggester == second


def test_with_one_project_nothing_needs_naming_and_with_two_it_must_be_named(db):
    only = Project.objects.default()
    assert project_named() == only and project_named("") == only
    user = make_user("ann", "annotator")
    assert project_for_user(user) == only
    project_create(slug="second")
    with pytest.raises(ProjectNeeded, match="default, second"):
        project_named()
    assert project_for_user(user) == only  # the user works in one of them only
    with pytest.raises(ProjectNotFound):
        project_for_user(user, "second")


def test_a_new_project_takes_todays_settings(db, settings):
    settings.ANNOTATORS_PER_FACE, settings.BLIND_SHARE = 3, 0.5
    project = project_create(slug="study")
    assert (project.annotators_per_face, project.blind_share) == (3, 0.5)
