"""import_affectnet and import_affectnet_csv on real folders: layouts, labels, every bad input."""

import io
import os

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from annotator.faces import services
from annotator.models import Annotation, Face, FinalSource, Split
from tests.affectnet_helpers import jpeg, landmarks, write_face


def run(*args):
    """Run a command; return (stdout, error message or None)."""
    out = io.StringIO()
    try:
        call_command(*args, "--no-progress", stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def media_files(settings):
    return (
        [p for p in (settings.MEDIA_ROOT / "faces").rglob("*.jpg")] if (settings.MEDIA_ROOT / "faces").exists() else []
    )


@pytest.mark.django_db
def test_import_both_splits_with_labels_then_again_adds_nothing(data_root, settings):
    root = data_root / "affectnet"
    write_face(root / "train_set", 11, category=3, valence=-0.176846, arousal=0.5)
    write_face(root / "train_set", 12, category=10, valence=None, arousal=None)
    write_face(root / "train_set", 13, category=0, valence=0.0, arousal=0.0)
    write_face(root / "val_set", 21, category=7, valence=-0.3, arousal=0.7)
    out, error = run("import_affectnet", str(root), "--labels", "annotations")
    assert error is None, out
    assert "imported 4 faces (4 annotations), already present 0, skipped 0" in out

    assert dict(Face.objects.values_list("id", "split")) == {11: "train", 12: "train", 13: "train", 21: "val"}
    face = Face.objects.get(id=11)
    assert face.image.read() == (root / "train_set/images/11.jpg").read_bytes()  # 224 JPEG kept byte for byte
    assert face.landmarks == pytest.approx(landmarks(write_face_seed(11)).tolist())
    assert (face.final_category, face.final_valence, face.final_arousal) == (3, -0.176846, 0.5)
    assert (face.final_source, face.required_annotations, face.answer_count) == (FinalSource.IMPORT, 1, 1)
    assert set(Annotation.objects.values_list("imported", flat=True)) == {True}
    assert Face.objects.get(id=12).final_category == 10 and Face.objects.get(id=12).final_valence is None
    before = list(Face.objects.values_list("id", "final_category", "final_valence", "final_arousal", "final_source"))
    for face_id, *_ in before:  # a released label is decided: refreshing from the answers keeps it
        services.face_refresh_final_label(face_id=face_id)
    assert (
        list(Face.objects.values_list("id", "final_category", "final_valence", "final_arousal", "final_source"))
        == before
    )

    user = User.objects.get(username="affectnet-import")
    assert not user.has_usable_password() and not user.groups.exists()
    assert Annotation.objects.filter(annotator=user).count() == 4
    assert Annotation.objects.get(face_id=21).category == 7

    out, error = run("import_affectnet", str(root), "--labels", "annotations")
    assert error is None and "imported 0 faces (0 annotations), already present 4, skipped 0" in out
    assert Face.objects.count() == 4 and Annotation.objects.count() == 4 and len(media_files(settings)) == 4


def write_face_seed(stem):
    import zlib

    return zlib.crc32(str(stem).encode())


@pytest.mark.django_db
def test_single_split_folder_labels_none_and_split_choice(data_root):
    val = data_root / "export" / "val_set"
    write_face(val, 5, labels=False)  # only _lnd: enough without labels
    other = data_root / "mine"
    write_face(other, 6, labels=False)
    write_face(data_root / "third", 7, labels=False)
    assert run("import_affectnet", str(val), "--labels", "none")[1] is None
    assert run("import_affectnet", str(other), "--labels", "none")[1] is None
    assert run("import_affectnet", str(data_root / "third"), "--labels", "none", "--split", "train")[1] is None
    assert dict(Face.objects.values_list("id", "split")) == {5: Split.VAL, 6: Split.UNASSIGNED, 7: Split.TRAIN}
    assert not Annotation.objects.exists() and not Face.objects.filter(final_category__isnull=False).exists()
    assert not User.objects.filter(username="affectnet-import").exists()


@pytest.mark.django_db
def test_image_that_is_not_224_is_resized_and_its_landmarks_scaled(data_root):
    folder = data_root / "big" / "train_set"
    lnd = np.tile([448.0, 112.0], 68)
    write_face(folder, 3, image=jpeg(1, size=(896, 448)), lnd=lnd)
    assert run("import_affectnet", str(data_root / "big"))[1] is None
    face = Face.objects.get(id=3)
    with Image.open(face.image) as image:
        assert (image.size, image.mode, image.format) == ((224, 224), "RGB", "JPEG")
    assert face.landmarks[:2] == [112.0, 56.0]
    assert (face.original_width, face.original_height) == (896, 448)


class _Marker:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (self.path.__class__.touch, (self.path,))


def _corrupt(folder, outside):
    (folder / "images/9.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg at all" * 20)
    return "images/9.jpg", "not a readable image"


def _truncated(folder, outside):
    data = (folder / "images/9.jpg").read_bytes()
    (folder / "images/9.jpg").write_bytes(data[: len(data) // 2])
    return "images/9.jpg", "not a readable image"


def _pickled(folder, outside):
    np.save(
        folder / "annotations/9_exp.npy", np.array([_Marker(outside / "unpickled")], dtype=object), allow_pickle=True
    )
    return "annotations/9_exp.npy", "pickled"


def _missing(folder, outside):
    (folder / "annotations/9_aro.npy").unlink()
    return "annotations/9_aro.npy", "file is missing"


def _missing_landmarks(folder, outside):
    (folder / "annotations/9_lnd.npy").unlink()
    return "annotations/9_lnd.npy", "file is missing"


def _landmarks_size(folder, outside):
    np.save(folder / "annotations/9_lnd.npy", np.zeros(134))
    return "annotations/9_lnd.npy", "expected 136 landmark values, found 134"


def _expression(folder, outside):
    np.save(folder / "annotations/9_exp.npy", np.array("11"))
    return "annotations/9_exp.npy", "expression 11 is outside 0-10"


def _valence(folder, outside):
    np.save(folder / "annotations/9_val.npy", np.array("1.5"))
    return "annotations/9_val.npy", "outside [-1, 1]"


def _arousal(folder, outside):
    np.save(folder / "annotations/9_aro.npy", np.array("-1.01"))
    return "annotations/9_aro.npy", "outside [-1, 1]"


def _non_numeric(folder, outside):
    (folder / "images/9.jpg").rename(folder / "images/face-nine.jpg")
    return "images/face-nine.jpg", "not a numeric face id"


def _symlink_image(folder, outside):
    target = outside / "elsewhere.jpg"
    target.write_bytes((folder / "images/9.jpg").read_bytes())
    (folder / "images/9.jpg").unlink()
    os.symlink(target, folder / "images/9.jpg")
    return "images/9.jpg", "symlink points outside"


def _symlink_annotation(folder, outside):
    target = outside / "elsewhere_lnd.npy"
    np.save(target, np.zeros(136))
    (folder / "annotations/9_lnd.npy").unlink()
    os.symlink(target, folder / "annotations/9_lnd.npy")
    return "annotations/9_lnd.npy", "symlink points outside"


BAD_INPUTS = [
    _corrupt,
    _truncated,
    _pickled,
    _missing,
    _missing_landmarks,
    _landmarks_size,
    _expression,
    _valence,
    _arousal,
    _non_numeric,
    _symlink_image,
    _symlink_annotation,
]


@pytest.mark.django_db
@pytest.mark.parametrize("workers", ["1", "2"], ids=["in-process", "reader-processes"])
@pytest.mark.parametrize("spoil", BAD_INPUTS, ids=[f.__name__.strip("_") for f in BAD_INPUTS])
def test_bad_input_skips_that_face_only_and_exits_non_zero(data_root, tmp_path, settings, spoil, workers):
    root = data_root / "set"
    folder = root / "train_set"
    for stem in (7, 8, 9):
        write_face(folder, stem, category=stem - 6, valence=0.1, arousal=0.2)
    outside = tmp_path / "outside"
    outside.mkdir()
    bad_file, reason = spoil(folder, outside)

    out, error = run("import_affectnet", str(root), "--labels", "annotations", "--workers", workers)
    assert error is not None and "1 face(s) skipped" in error
    skipped = [line for line in out.splitlines() if line.startswith("  skipped ")]
    assert len(skipped) == 1, out
    assert str(folder / bad_file) in skipped[0] and reason in skipped[0]
    # The bad face is skipped whole (no row, no answer, no stored crop); the others are in.
    assert sorted(Face.objects.values_list("id", flat=True)) == [7, 8]
    assert sorted(Annotation.objects.values_list("face_id", flat=True)) == [7, 8]
    assert len(media_files(settings)) == 2
    assert not (outside / "unpickled").exists()


@pytest.mark.django_db
def test_path_outside_data_roots_and_bad_layout_are_refused(data_root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_face(elsewhere / "train_set", 1)
    out, error = run("import_affectnet", str(elsewhere))
    assert error and "outside the folders this tool may read" in error
    (data_root / "empty").mkdir()
    assert "no train_set/images" in run("import_affectnet", str(data_root / "empty"))[1]
    assert not Face.objects.exists()


@pytest.mark.django_db
def test_same_id_with_other_image_is_reported(data_root):
    write_face(data_root / "a" / "train_set", 4, seed=1)
    write_face(data_root / "b" / "train_set", 4, seed=2)
    assert run("import_affectnet", str(data_root / "a"), "--workers", "1")[1] is None  # in this process
    out, error = run("import_affectnet", str(data_root / "b"))
    assert error and "id 4 is already used by a different image" in out
    assert Face.objects.count() == 1


def _original_with_marks(path, size=(400, 300)):
    """An original photo: grey, a red dot at (150, 120) and a blue one at (220, 200)."""
    image = Image.new("RGB", size, (128, 128, 128))
    for (x, y), colour in (((150, 120), (255, 0, 0)), ((220, 200), (0, 0, 255))):
        for dx in range(-4, 5):
            for dy in range(-4, 5):
                image.putpixel((x + dx, y + dy), colour)
    image.save(path, quality=95)


def _csv_line(path, box, lnd, expression=1, valence="0.5", arousal="-0.25"):
    return f"{path},{','.join(str(v) for v in box)},{';'.join(str(v) for v in lnd)},{expression},{valence},{arousal}\n"


HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"


@pytest.mark.django_db
def test_csv_crop_is_box_expanded_15_percent_with_landmarks_carried(data_root):
    images = data_root / "Manually_Annotated_Images"
    (images / "12").mkdir(parents=True)
    _original_with_marks(images / "12" / "abc.jpg")
    box = (120, 100, 140, 120)  # expanded: left 99, top 82, right 281, bottom 238
    lnd = [150, 120, 220, 200] + [200, 150] * 66
    edge_box = (-20, 200, 100, 100)  # its expansion leaves the image: padded with black
    csv_path = data_root / "training.csv"
    csv_path.write_text(HEADER + _csv_line("12/abc.jpg", box, lnd) + _csv_line("12/abc.jpg", edge_box, lnd, 10, -2, -2))
    out, error = run("import_affectnet_csv", str(csv_path), "--images", str(images))
    assert error is None and "imported 2 faces (2 annotations)" in out

    face = Face.objects.get(box_x=120)
    assert (face.split, face.original_width, face.original_height) == (Split.TRAIN, 400, 300)
    assert (face.box_y, face.box_width, face.box_height) == (100, 140, 120)
    sx, sy = 224 / (281 - 99), 224 / (238 - 82)
    assert face.landmarks[:4] == pytest.approx([(150 - 99) * sx, (120 - 82) * sy, (220 - 99) * sx, (200 - 82) * sy])
    with Image.open(face.image) as crop:
        assert crop.size == (224, 224)
        red = crop.getpixel((round(face.landmarks[0]), round(face.landmarks[1])))
        blue = crop.getpixel((round(face.landmarks[2]), round(face.landmarks[3])))
    assert red[0] > 200 and red[2] < 60 and blue[2] > 200 and blue[0] < 60
    assert (face.final_category, face.final_valence, face.final_arousal) == (1, 0.5, -0.25)

    edge = Face.objects.get(box_x=-20)
    assert edge.final_category == 10 and edge.final_valence is None
    with Image.open(edge.image) as crop:
        assert max(crop.getpixel((3, 112))) < 20  # left of the photo: black padding
        assert min(crop.getpixel((150, 60))) > 100  # inside the photo: grey


@pytest.mark.django_db
def test_csv_bad_rows_are_skipped_with_line_and_reason(data_root, tmp_path):
    images = data_root / "imgs"
    images.mkdir()
    _original_with_marks(images / "a.jpg")
    (images / "broken.jpg").write_bytes(b"not an image")
    outside = tmp_path / "secret.jpg"
    _original_with_marks(outside)
    lnd = [100, 100] * 68
    box = (100, 100, 100, 100)
    csv_path = data_root / "validation.csv"
    csv_path.write_text(
        HEADER
        + _csv_line("a.jpg", box, lnd)
        + _csv_line("a.jpg", (50, 50, 80, 80), lnd[:-2])
        + _csv_line("a.jpg", (60, 60, 80, 80), lnd, expression=12)
        + _csv_line("a.jpg", (70, 70, 80, 80), lnd, valence="1.2")
        + _csv_line("missing.jpg", box, lnd)
        + _csv_line("broken.jpg", box, lnd)
        + _csv_line("../../secret.jpg", box, lnd)
    )
    out, error = run("import_affectnet_csv", str(csv_path), "--images", str(images))
    assert error and "6 face(s) skipped" in error
    for expected in (
        "line 3: facial_landmarks: expected 136 numbers, found 134",
        "line 4: expression: 12 is outside 0-10",
        "line 5: valence: 1.2 is outside [-1, 1]",
        "missing.jpg: cannot read",
        "broken.jpg: not a readable image",
        "secret.jpg: outside the images folder",
    ):
        assert expected in out, out
    assert Face.objects.count() == 1 and Face.objects.get().split == Split.VAL


@pytest.mark.django_db
def test_csv_box_smaller_than_a_pixel_is_skipped_with_its_line_and_the_rest_imported(data_root):
    """A box with area but under a pixel wide expanded to a region of no whole pixels and crashed the
    import (ZeroDivisionError); it is bad input like any other row."""
    images = data_root / "imgs"
    images.mkdir()
    _original_with_marks(images / "a.jpg")
    lnd = [100, 100] * 68
    csv_path = data_root / "training.csv"
    csv_path.write_text(HEADER + _csv_line("a.jpg", (100, 100, 0.2, 0.3), lnd) + _csv_line("a.jpg", (100, 100, 100, 100), lnd))
    out, error = run("import_affectnet_csv", str(csv_path), "--images", str(images))
    assert error and "1 face(s) skipped" in error
    assert "line 2: face box is smaller than one pixel" in out, out
    assert Face.objects.count() == 1 and Face.objects.get().box_width == 100
