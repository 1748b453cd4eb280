"""export_affectnet: the layout training scripts read, the manifest, atomic replacement, round trips."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from annotator.datasets import exporting
from annotator.faces import services
from annotator.faces.store import NewFace, faces_store
from annotator.models import Annotation, Face, Suggester, Suggestion
from tests.affectnet_helpers import files_of, jpeg, landmarks, write_face

REPO = Path(__file__).resolve().parents[2]


def run(*args):
    out = io.StringIO()
    call_command(*args, "--no-progress", stdout=out)
    return out.getvalue()


def labelled_face(face_id, answers, *, split="train", needs_review=False):
    """Store a face and its answers; refresh its final label by the agreement rule."""
    [face] = faces_store(
        [
            NewFace(
                jpeg(face_id),
                id=face_id,
                landmarks=landmarks(face_id),
                split=split,
                required_annotations=len(answers) or 1,
            )
        ]
    )
    for user, category, valence, arousal in answers:
        Annotation.objects.create(face=face, annotator=user, category=category, valence=valence, arousal=arousal)
    if needs_review:
        Face.objects.filter(pk=face.pk).update(needs_review=True)
    return services.face_refresh_final_label(face_id=face.id)


@pytest.fixture
def dataset(data_root, annotator_user, second_annotator):
    a, b = annotator_user, second_annotator
    labelled_face(1, [(a, 3, 0.2, 0.4), (b, 3, 0.4, 0.0)])  # agreement: valence/arousal averaged
    labelled_face(2, [(a, 10, None, None)])
    labelled_face(3, [(b, 1, 0.9, -0.125)], split="val")
    labelled_face(4, [(a, 2, 0.1, 0.1), (b, 6, -0.5, 0.5)])  # disagreement: no final label
    labelled_face(5, [(a, 4, 0.1, 0.1)], needs_review=True)  # open flag
    labelled_face(6, [(a, 5, 0.1, 0.1)], split="unassigned")
    labelled_face(7, [])  # not annotated yet
    suggester = Suggester.objects.create(name="resnet-affect", version="1.2")
    Suggestion.objects.create(
        face_id=1,
        suggester=suggester,
        probabilities=[1 / 11] * 11,
        category=3,
        confidence=0.5,
        valence=0.1,
        arousal=0.1,
    )
    return data_root


@pytest.mark.django_db
def test_export_is_read_as_a_training_script_reads_affectnet(dataset):
    out = dataset / "export"
    printed = run("export_affectnet", str(out), "--csv")
    assert "wrote 3 faces" in printed
    ann = out / "train_set" / "annotations"
    assert int(np.load(ann / "1_exp.npy")) == 3
    assert float(np.load(ann / "1_val.npy")) == pytest.approx(0.3) and str(np.load(ann / "1_val.npy")) == "0.3"
    assert float(np.load(ann / "1_aro.npy")) == pytest.approx(0.2)
    for kind in ("exp", "val", "aro"):
        array = np.load(ann / f"1_{kind}.npy", allow_pickle=False)
        assert array.shape == () and array.dtype.kind == "U"
    lnd = np.load(ann / "1_lnd.npy", allow_pickle=False)
    assert lnd.shape == (136,) and lnd.dtype.kind == "f" and lnd.dtype.itemsize == 8
    assert np.array_equal(lnd, landmarks(1))
    assert (int(np.load(ann / "2_exp.npy")), float(np.load(ann / "2_val.npy")), float(np.load(ann / "2_aro.npy"))) == (
        10,
        -2.0,
        -2.0,
    )
    assert int(np.load(out / "val_set/annotations/3_exp.npy")) == 1
    image = out / "train_set/images/1.jpg"
    assert image.read_bytes() == Face.objects.get(id=1).image.read()
    with Image.open(image) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (224, 224))
    names = {p.name for p in (out / "train_set/images").iterdir()} | {
        p.name for p in (out / "val_set/images").iterdir()
    }
    assert names == {"1.jpg", "2.jpg", "3.jpg"}
    assert len(list(ann.iterdir())) == 8  # exactly four files per image

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["train"]["3"] == 1 and manifest["counts"]["train"]["10"] == 1
    assert manifest["counts"]["train"]["total"] == 2 and manifest["counts"]["val"]["total"] == 1
    assert manifest["left_out"]["no final label"] == 2  # faces 4 (disagreement) and 7
    assert manifest["left_out"]["open disagreement (needs review)"] == 1
    assert manifest["left_out"]["unassigned split"] == 1
    assert manifest["annotators"] == ["ann1", "ann2"]
    assert manifest["models"] == [{"name": "resnet-affect", "version": "1.2"}]
    assert manifest["exported_at"]

    with open(out / "training.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["subDirectory_filePath"] for r in rows] == ["train_set/images/1.jpg", "train_set/images/2.jpg"]
    assert [float(v) for v in rows[0]["facial_landmarks"].split(";")] == pytest.approx(landmarks(1).tolist(), abs=1e-6)
    assert (rows[1]["expression"], rows[1]["valence"], rows[1]["arousal"]) == ("10", "-2", "-2")
    # The box is the one whose 15% expansion is exactly the exported 224x224 image.
    x, y, w, h = (float(rows[0][c]) for c in ("face_x", "face_y", "face_width", "face_height"))
    assert (x - 0.15 * w, x + 1.15 * w, y - 0.15 * h, y + 1.15 * h) == pytest.approx((0, 224, 0, 224), abs=1e-4)
    assert (out / "validation.csv").exists()


@pytest.mark.django_db
def test_categories_and_split_selection(dataset):
    out = dataset / "eight"
    run("export_affectnet", str(out), "--categories", "0-7", "--split", "train")
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["counts"]) == ["train"] and manifest["counts"]["train"]["total"] == 1
    assert "10" not in manifest["counts"]["train"]
    assert manifest["left_out"]["category not selected"] == 1
    assert manifest["left_out"]["split not selected"] == 1
    assert not (out / "val_set").exists() and not (out / "train_set/images/2.jpg").exists()
    with pytest.raises(CommandError, match="--categories"):
        run("export_affectnet", str(dataset / "x"), "--categories", "0-12")


@pytest.mark.django_db
def test_existing_output_is_refused_unless_forced_and_outside_roots_refused(dataset, tmp_path):
    out = dataset / "export"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(CommandError, match="not empty"):
        run("export_affectnet", str(out))
    assert (out / "old.txt").read_text() == "keep me"
    with pytest.raises(CommandError, match="only a folder that export_affectnet wrote"):
        run("export_affectnet", str(out), "--force")
    assert files_of(out) == {"old.txt": b"keep me"}
    assert [p.name for p in dataset.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
    with pytest.raises(CommandError, match="outside the folders this tool may write"):
        run("export_affectnet", str(tmp_path / "elsewhere"))
    empty = dataset / "empty"
    empty.mkdir()
    run("export_affectnet", str(empty))  # an empty folder is fine without --force
    assert (empty / "manifest.json").exists()


@pytest.mark.django_db
def test_force_replaces_an_earlier_export_and_nothing_else(dataset):
    out = dataset / "export"
    run("export_affectnet", str(out))
    first = files_of(out)
    run("export_affectnet", str(out), "--force", "--csv")  # an earlier export: replaced
    assert (out / "training.csv").exists() and files_of(out).keys() > first.keys()

    # Anything an export does not write makes the folder someone's own: refused, nothing deleted.
    images = out / "train_set" / "images"
    cases = [
        (out / "notes.txt", lambda p: p.write_text("my notes")),
        (out / "train_set" / "thesis", lambda p: p.mkdir()),
        (images / "1.png", lambda p: p.write_bytes(b"png")),
        (out / "train_set" / "annotations" / "1_extra.npy", lambda p: p.write_bytes(b"x")),
        (out / "val_set" / "images" / "9.jpg", lambda p: p.symlink_to(dataset / "elsewhere.jpg")),
    ]
    for path, add in cases:
        add(path)
        before = files_of(out)
        with pytest.raises(CommandError, match="is not something an export writes|symbolic link") as error:
            run("export_affectnet", str(out), "--force")
        assert str(path) in str(error.value) and "nothing was deleted" in str(error.value)
        assert files_of(out) == before
        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()

    # A manifest without this tool's marker, and a folder with none: refused too.
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "written_by"}))
    with pytest.raises(CommandError, match="not written by export_affectnet"):
        run("export_affectnet", str(out), "--force")
    (out / "manifest.json").unlink()
    with pytest.raises(CommandError, match="has no manifest.json"):
        run("export_affectnet", str(out), "--force")
    assert (out / "train_set" / "images").is_dir()


@pytest.mark.django_db
def test_force_never_replaces_the_folder_a_dataset_was_imported_from(data_root):
    source = data_root / "affectnet"
    for i in (1, 2):
        write_face(source / "train_set", i, category=1, valence=0.5, arousal=0.2)
    run("import_affectnet", str(source), "--labels", "annotations")
    before = files_of(source)
    with pytest.raises(CommandError, match="has no manifest.json.*nothing was deleted"):
        run("export_affectnet", str(source), "--force")
    assert files_of(source) == before


@pytest.mark.django_db
def test_round_trip_import_of_an_export_exports_the_same_files(dataset):
    first = dataset / "first"
    run("export_affectnet", str(first), "--csv")
    Annotation.objects.all().delete()
    Suggestion.objects.all().delete()
    Face.objects.all().delete()

    call_command("import_affectnet", str(first), "--labels", "annotations", "--no-progress", stdout=io.StringIO())
    assert Face.objects.count() == 3
    second = dataset / "second"
    run("export_affectnet", str(second), "--csv")
    a, b = files_of(first), files_of(second)
    a.pop("manifest.json"), b.pop("manifest.json")
    assert a.keys() == b.keys() and len(a) == 3 * 5 + 2
    assert a == b  # every .npy, image and CSV byte for byte

    Annotation.objects.all().delete()
    Face.objects.all().delete()
    call_command(
        "import_affectnet_csv",
        str(first / "training.csv"),
        "--images",
        str(first),
        "--no-progress",
        stdout=io.StringIO(),
    )
    third = dataset / "third"
    run("export_affectnet", str(third), "--split", "train")
    c = files_of(third)
    assert {k: v for k, v in a.items() if k.startswith("train_set")} == {
        k: v for k, v in c.items() if k != "manifest.json"
    }


@pytest.mark.django_db
def test_writer_processes_write_what_one_process_writes_and_skip_unreadable_crops(dataset, annotator_user):
    labelled_face(8, [(annotator_user, 0, -0.25, 0.75)])
    labelled_face(9, [(annotator_user, 4, 0.5, 0.5)])
    labelled_face(10, [(annotator_user, 7, 0.5, -0.5)], split="val")
    labelled_face(11, [(annotator_user, 2, -0.5, -0.5)])
    with open(Face.objects.get(id=9).image.path, "wb") as handle:
        handle.write(jpeg(9)[:300])  # truncated on disk after it was stored
    with open(Face.objects.get(id=11).image.path, "r+b") as handle:
        handle.truncate(len(jpeg(11)) - 200)  # damaged in its image data: the header still reads
    small = io.BytesIO()
    Image.new("RGB", (112, 112), (90, 60, 30)).save(small, format="PNG")
    with open(Face.objects.get(id=10).image.path, "wb") as handle:
        handle.write(small.getvalue())  # not a 224x224 JPEG: the export converts it

    exports = {}
    for workers in ("1", "2"):
        out = dataset / f"workers-{workers}"
        printed = run("export_affectnet", str(out), "--csv", "--workers", workers)
        assert "wrote 5 faces" in printed and "2 (stored image unreadable)" in printed
        exports[workers] = files_of(out)
        manifest = json.loads(exports[workers].pop("manifest.json"))
        assert manifest["left_out"]["stored image unreadable"] == 2 and manifest["total"] == 5
    assert exports["1"] == exports["2"]  # every image, .npy and CSV row, in the same order
    files = exports["2"]
    for face_id in (9, 11):
        assert f"train_set/images/{face_id}.jpg" not in files and f"train_set/annotations/{face_id}_exp.npy" not in files
    with Image.open(io.BytesIO(files["val_set/images/10.jpg"])) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (224, 224))
    lnd = np.load(io.BytesIO(files["val_set/annotations/10_lnd.npy"]), allow_pickle=False)
    assert np.allclose(lnd, landmarks(10) * 2)  # carried into the 224x224 image's pixels
    assert [r["subDirectory_filePath"] for r in csv.DictReader(io.StringIO(files["training.csv"].decode()))] == [
        "train_set/images/1.jpg",
        "train_set/images/2.jpg",
        "train_set/images/8.jpg",
    ]


KILLED_EXPORT = textwrap.dedent(
    """
    import os, signal, sys
    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from annotator.datasets import exporting
    from annotator.faces import services
    from annotator.faces.store import NewFace, faces_store
    from annotator.datasets.formats import affectnet_npy
    from annotator.models import Annotation
    from django.contrib.auth.models import User
    from tests.affectnet_helpers import jpeg, landmarks

    user = User.objects.create(username="u")
    for face in faces_store([NewFace(jpeg(i), id=i, landmarks=landmarks(i), split="train") for i in range(1, 21)]):
        Annotation.objects.create(face=face, annotator=user, category=1, valence=0.5, arousal=0.5)
        services.face_refresh_final_label(face_id=face.id)
    written = []
    real_write = affectnet_npy.write_face

    def write_then_die(*args, **kwargs):
        real_write(*args, **kwargs)
        written.append(1)
        if len(written) == 10:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs, as when a machine dies

    affectnet_npy.write_face = write_then_die
    exporting.affectnet_export(out=sys.argv[1], force=True, progress=False)
    """
)


@pytest.mark.django_db
def test_export_killed_half_way_leaves_the_old_output_untouched(tmp_path):
    data = tmp_path / "data"
    out = data / "export"
    (out / "train_set" / "images").mkdir(parents=True)  # an earlier export, which --force may replace
    (out / "train_set" / "images" / "99.jpg").write_bytes(jpeg(99))
    (out / "manifest.json").write_text(json.dumps(exporting.MANIFEST_MARKER))
    before = files_of(out)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'killed.sqlite3'}",
        "DATA_ROOTS": str(data),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "VAR_DIR": str(tmp_path / "var"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_EXPORT, str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert files_of(out) == before
    partial = [p for p in data.iterdir() if p.name.startswith(".export.partial-")]
    assert len(partial) == 1 and len(list((partial[0] / "train_set/images").iterdir())) == 10
