"""Import and export with several projects: --project names where faces go and what is written; the
same AffectNet face in two projects is two faces, one crop file."""
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotator.faces.store import NewFace, faces_store
from annotator.models import Annotation, Face, FinalSource, Project
from annotator.projects.services import project_create
from tests.affectnet_helpers import jpeg, landmarks, write_face


def run(*args):
    out = io.StringIO()
    call_command(*args, "--no-progress", stdout=out)
    return out.getvalue()


def crop_files(settings):
    return sorted((settings.MEDIA_ROOT / "faces").rglob("*.jpg"))


@pytest.fixture
def pilot(db):
    Project.objects.default()
    return project_create(slug="pilot", name="Pilot", export_categories="0-7")


@pytest.mark.django_db
def test_with_one_project_the_import_needs_no_project(data_root):
    root = data_root / "affectnet"
    write_face(root / "train_set", 11, category=3)
    assert "imported 1 faces" in run("import_affectnet", str(root), "--labels", "annotations")
    assert Face.objects.get().project == Project.objects.default()


def test_with_two_projects_the_import_asks_which_naming_them(pilot, data_root):
    root = data_root / "affectnet"
    write_face(root / "train_set", 11, category=3)
    for command in (["import_affectnet", str(root)], ["import_affectnet_csv", str(root / "x.csv"), "--images", str(root)],
                    ["import_images", str(root)], ["export_affectnet", str(data_root / "out")]):
        with pytest.raises(CommandError) as caught:
            run(*command)
        assert str(caught.value) == "--project: choose a project (default, pilot)", command
    with pytest.raises(CommandError, match="--project: no project 'nope'"):
        run("import_affectnet", str(root), "--project", "nope")
    assert not Face.objects.exists()


def test_the_same_affectnet_face_in_two_projects_is_two_faces_and_one_crop_file(pilot, data_root, settings):
    root = data_root / "affectnet"
    write_face(root / "train_set", 11, category=3, valence=0.5, arousal=-0.25)
    write_face(root / "val_set", 21, category=9, valence=None, arousal=None)
    out = run("import_affectnet", str(root), "--labels", "annotations", "--project", "default")
    assert "imported 2 faces (2 annotations)" in out
    out = run("import_affectnet", str(root), "--labels", "annotations", "--project", "pilot")
    assert "imported 2 faces (2 annotations), already present 0" in out  # the other project's copy is no reason
    out = run("import_affectnet", str(root), "--labels", "annotations", "--project", "pilot")
    assert "imported 0 faces (0 annotations), already present 2" in out  # but its own is

    default = Project.objects.default()
    in_default = Face.objects.filter(project=default)
    in_pilot = Face.objects.filter(project=pilot)
    assert sorted(in_default.values_list("id", flat=True)) == [11, 21]  # the AffectNet ids, first come
    assert in_pilot.count() == 2 and not set(in_pilot.values_list("id", flat=True)) & {11, 21}  # new ids
    for face in in_pilot:
        twin = in_default.get(content_hash=face.content_hash)
        assert face.image.name == twin.image.name  # the same stored file
        assert (face.final_category, face.final_source) == (twin.final_category, FinalSource.IMPORT)
        assert Annotation.objects.filter(face=face, imported=True).count() == 1
    assert len(crop_files(settings)) == 2


def labelled(project, face_id, category, split="train"):
    [face] = faces_store([NewFace(jpeg(face_id), id=face_id, landmarks=landmarks(face_id), split=split,
                                  required_annotations=1)], project=project)
    Face.objects.filter(pk=face.pk).update(final_category=category, final_valence=None if category > 7 else 0.1,
                                           final_arousal=None if category > 7 else 0.1,
                                           final_source=FinalSource.IMPORT)
    return face


def test_export_writes_one_project_with_its_category_set(pilot, data_root):
    default = Project.objects.default()
    labelled(default, 1, 3)
    labelled(default, 2, 9)  # 0-10 in the default project: exported
    labelled(pilot, 5, 3)
    labelled(pilot, 6, 9, split="val")  # pilot exports 0-7: left out
    labelled(pilot, 7, 0, split="val")

    run("export_affectnet", str(data_root / "pilot"), "--project", "pilot")
    manifest = json.loads((data_root / "pilot" / "manifest.json").read_text())
    assert manifest["project"] == {"slug": "pilot", "name": "Pilot"}
    assert manifest["categories"] == list(range(8))
    assert sorted(p.name for p in (data_root / "pilot").rglob("*.jpg")) == ["5.jpg", "7.jpg"]
    assert manifest["left_out"]["category not selected"] == 1 and manifest["total"] == 2

    run("export_affectnet", str(data_root / "main"), "--project", "default")
    manifest = json.loads((data_root / "main" / "manifest.json").read_text())
    assert manifest["project"]["slug"] == "default" and manifest["categories"] == list(range(11))
    assert sorted(p.name for p in (data_root / "main").rglob("*.jpg")) == ["1.jpg", "2.jpg"]

    run("export_affectnet", str(data_root / "pilot-all"), "--project", "pilot", "--categories", "0-10")
    manifest = json.loads((data_root / "pilot-all" / "manifest.json").read_text())  # --categories still rules
    assert manifest["categories"] == list(range(11)) and manifest["total"] == 3


def test_csv_import_puts_the_faces_into_the_named_project(pilot, data_root, settings):
    face = labelled(pilot, 5, 3)
    out = data_root / "pilot-csv"
    run("export_affectnet", str(out), "--project", "pilot", "--csv")
    text = run("import_affectnet_csv", str(out / "training.csv"), "--images", str(out), "--labels", "annotations",
               "--project", "default")
    assert "imported 1 faces (1 annotations)" in text
    [copy] = Face.objects.filter(project=Project.objects.default())
    assert copy.content_hash == face.content_hash and copy.id != 5  # the same crop; id 5 is pilot's
    assert (copy.final_category, copy.split) == (3, "train")
    assert len(crop_files(settings)) == 1


def test_the_ml_exports_and_the_dataset_import_follow_the_project(pilot, data_root):
    """export_dataset (hf), export_affectnet --answers and import_dataset: one project's faces only."""
    root = data_root / "affectnet"
    for face_id, category in ((11, 3), (12, 1)):
        write_face(root / "train_set", face_id, category=category)
    write_face(root / "val_set", 21, category=9, valence=None, arousal=None)
    run("import_affectnet", str(root), "--labels", "annotations", "--project", "default")
    write_face(data_root / "pilot" / "train_set", 31, category=10, valence=None, arousal=None)  # 10: not in 0-7
    write_face(data_root / "pilot" / "train_set", 32, category=6)
    run("import_affectnet", str(data_root / "pilot"), "--labels", "annotations", "--project", "pilot")

    out = run("export_dataset", str(data_root / "hf"), "--format", "hf", "--project", "pilot")
    manifest = json.loads((data_root / "hf" / "manifest.json").read_text())
    assert manifest["project"]["slug"] == "pilot" and manifest["total"] == 1 and manifest["categories"] == list(range(8))
    assert "of pilot" in out
    run("export_affectnet", str(data_root / "answers"), "--project", "default", "--answers")
    import pyarrow.parquet as pq

    answers = pq.read_table(data_root / "answers" / "answers.parquet").to_pydict()
    assert sorted(answers["face_id"]) == sorted(Face.objects.filter(project__slug="default").values_list("id", flat=True))

    run("import_dataset", str(data_root / "hf"), "--project", "default")  # pilot's face into the default project
    moved = Face.objects.filter(project__slug="default", final_category=6)
    assert moved.count() == 1 and moved.get().final_source == FinalSource.IMPORT
    assert Face.objects.filter(project__slug="pilot").count() == 2
