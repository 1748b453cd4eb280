"""Raw photos to faces: detection on real photographs, 15% expansion, landmarks, bad input, the command."""
import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image, ImageDraw

from annotator import signals
from annotator.common.process_pool import CHUNKS_IN_FLIGHT
from annotator.domain import crops
from annotator.domain.categories import rarity_priority
from annotator.models import Face, Photo, Project, Suggestion
from annotator.photos import detection
from annotator.photos.services import ImportSummary, _store_batch, analysed_photos, no_face_suggester
from tests.affectnet_helpers import jpeg
from tests.project_helpers import active_in

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"
EYES, NOSE, MOUTH = slice(36, 48), slice(27, 36), slice(48, 68)


@pytest.fixture(scope="module", params=detection.DETECTORS)
def models(request):
    """Each detector: the default (DNN) and Haar, AffectNet's original, still selectable."""
    return detection.load_models(request.param)


def points(face):
    return np.asarray(face.landmarks, dtype=float).reshape(68, 2)


def assert_face_geometry(face):
    """Landmarks in the crop, eyes above the nose above the mouth, the face in the middle of the crop."""
    pts = points(face)
    assert pts[17:].min() >= 0 and pts[17:].max() <= crops.CROP_SIZE  # brows, eyes, nose, mouth
    # The jaw line (0-16) may reach a few pixels past a tight Haar box's 15% margin; the numbers are kept.
    assert pts.min() >= -0.05 * crops.CROP_SIZE and pts.max() <= 1.05 * crops.CROP_SIZE
    assert pts[EYES, 1].mean() < pts[NOSE, 1].mean() < pts[MOUTH, 1].mean()
    assert pts[36:42, 0].mean() < pts[42:48, 0].mean()  # the image-left eye comes first in iBUG 300-W
    centre = pts.mean(axis=0)
    # The detector's box is the middle 1/1.3 of the crop: the face's centre lies well inside it.
    assert np.all(np.abs(centre - crops.CROP_SIZE / 2) < 40), centre
    crop = Image.open(io.BytesIO(face.crop_jpeg))
    assert crop.size == (224, 224) and crop.mode == "RGB" and crop.format == "JPEG"


@pytest.mark.parametrize("name", ["grace_hopper.jpg", "astronaut.jpg", "obama.jpg", "biden.jpg"])
def test_a_portrait_gives_one_face_with_landmarks_where_they_belong(models, name):
    result = detection.analyse_photo(str(PHOTOS / name), models=models)
    assert result.error == ""
    assert len(result.faces) == 1
    face = result.faces[0]
    assert_face_geometry(face)
    x, y, w, h = face.box
    assert 0 <= x and 0 <= y and x + w <= result.width and y + h <= result.height
    # Landmarks mapped back to the photo fall inside the detector's box (grown a little for the jaw).
    x0, y0, x1, y1 = crops.box_expand(face.box)
    pts = points(face) * [(x1 - x0) / 224, (y1 - y0) / 224] + [x0, y0]
    assert np.all(pts >= [x - 0.1 * w, y - 0.1 * h]) and np.all(pts <= [x + 1.1 * w, y + 1.2 * h])


def test_two_faces_give_two_and_a_landscape_none(models):
    two = detection.analyse_photo(str(PHOTOS / "two_faces.jpg"), models=models)
    assert len(two.faces) == 2
    assert two.faces[0].box[0] < two.width / 2 < two.faces[1].box[0]  # one on each side, left to right
    for face in two.faces:
        assert_face_geometry(face)
    assert detection.analyse_photo(str(PHOTOS / "coffee.jpg"), models=models).faces == []


def test_landmarks_drawn_on_a_crop(models, artifacts_dir):
    """Saved for a person to look at: test-artifacts/landmarks_grace_hopper_<detector>.png."""
    face = detection.analyse_photo(str(PHOTOS / "grace_hopper.jpg"), models=models).faces[0]
    crop = Image.open(io.BytesIO(face.crop_jpeg)).convert("RGB").resize((448, 448))
    draw = ImageDraw.Draw(crop)
    for i, (x, y) in enumerate(points(face) * 2):
        colour = (255, 0, 0) if 36 <= i < 48 else (0, 200, 0) if i >= 48 else (255, 255, 0)
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
    crop.save(artifacts_dir / f"landmarks_grace_hopper_{models.detector}.png")


def test_box_expanded_15_percent_each_side_and_padded_where_it_leaves_the_photo():
    assert crops.box_expand((100, 50, 200, 200)) == (70.0, 20.0, 330.0, 280.0)
    image = Image.open(PHOTOS / "obama.jpg").convert("RGB")
    crop, expanded = crops.box_crop(image, (-40, 10, 200, 200))  # the box leaves the photo on the left
    assert expanded[0] < 0 and crop.size == (224, 224)
    left = np.asarray(crop)[:, :30]
    assert left.max() == 0  # padded with black where there is no photo
    inside = np.asarray(crop)[:, 120:]
    assert inside.mean() > 20


def test_exif_orientation_is_applied(models, tmp_path):
    upright = Image.open(PHOTOS / "grace_hopper.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "sideways.jpg"
    upright.rotate(90, expand=True).save(path, exif=exif.tobytes(), quality=95)
    result = detection.analyse_photo(str(path), models=models)
    assert (result.width, result.height) == upright.size
    assert len(result.faces) == 1
    assert_face_geometry(result.faces[0])


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (20000, 2), (2, 9000)])
def test_odd_sizes_give_no_face_and_no_error(models, tmp_path, size):
    path = tmp_path / "odd.png"
    Image.new("RGB", size, (120, 130, 140)).save(path)
    result = detection.analyse_photo(str(path), keep_whole=True, models=models)
    assert result.error == "" and result.faces == [] and (result.width, result.height) == size
    assert Image.open(io.BytesIO(result.whole_jpeg)).size == (224, 224)


# --- the command, with bad input ----------------------------------------------------------------


def png_bomb(width, height):
    """A tiny PNG file that claims width x height pixels (Pillow refuses it on open)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def make_variants(folder: Path):
    """Odd but valid photos made from a real portrait; each still has one face."""
    portrait = Image.open(PHOTOS / "obama.jpg").convert("RGB")
    portrait.convert("CMYK").save(folder / "cmyk.jpg")
    portrait.convert("L").save(folder / "gray.jpg")
    sixteen = (np.asarray(portrait.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(sixteen).save(folder / "sixteen.png")  # mode I;16: a 16-bit grayscale PNG
    rgba = portrait.convert("RGBA")
    rgba.putalpha(Image.new("L", portrait.size, 255))
    ImageDraw.Draw(rgba).rectangle((0, 0, 60, 60), fill=(0, 0, 0, 0))  # a transparent corner
    rgba.save(folder / "alpha.png")
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 255, (*portrait.size[::-1], 3), dtype=np.uint8))
    portrait.save(folder / "animated.gif", save_all=True, append_images=[noise], duration=100, loop=0)


def make_bad(folder: Path, outside: Path):
    data = (PHOTOS / "biden.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("this is a text file, not a photo\n")
    (folder / "bomb.png").write_bytes(png_bomb(30000, 30000))
    (folder / "bomb_warning.png").write_bytes(png_bomb(10000, 10000))  # over the limit, under twice it
    shutil.copy(PHOTOS / "astronaut.jpg", outside / "secret.jpg")
    (folder / "link.jpg").symlink_to(outside / "secret.jpg")
    (folder / "linked_folder").symlink_to(outside, target_is_directory=True)


BAD_NAMES = ["truncated.jpg", "empty.jpg", "notes.jpg", "bomb.png", "bomb_warning.png", "link.jpg", "linked_folder"]


@pytest.mark.django_db
def test_import_images_imports_the_good_reports_each_bad_file_and_exits_non_zero(data_root, tmp_path, capsys):
    photos = data_root / "photos"
    (photos / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(PHOTOS / "grace_hopper.jpg", photos)
    shutil.copy(PHOTOS / "two_faces.jpg", photos / "sub")
    shutil.copy(PHOTOS / "coffee.jpg", photos / "sub" / "deeper")
    (photos / "sub" / "readme.txt").write_text("not a photo, not looked at")
    make_variants(photos / "sub")
    outside = tmp_path / "outside"
    outside.mkdir()
    make_bad(photos / "sub" / "deeper", outside)

    with pytest.raises(CommandError, match="7 file"):
        call_command("import_images", str(photos), "--workers", "1", "--split", "train")
    err = capsys.readouterr().err
    for name in BAD_NAMES:
        assert f"deeper/{name}" in err, name
    assert "decompression bomb" in err and "empty file" in err and "not an image" in err and "points outside" in err

    variants = ["cmyk.jpg", "gray.jpg", "sixteen.png", "alpha.png", "animated.gif"]
    for name in variants:
        face = Face.objects.get(source=str(photos / "sub" / name))
        assert len(face.landmarks) == 136 and face.box_width > 50
        assert (face.original_width, face.original_height) == Image.open(PHOTOS / "obama.jpg").size
    def crop_of(name):
        face = Face.objects.get(source=str(photos / "sub" / name))
        return np.asarray(Image.open(face.image.open("rb")).convert("L"), dtype=float)

    # 16 bits scaled to 8, not clipped to white: the crop looks like the 8-bit grayscale one.
    assert abs(crop_of("sixteen.png").mean() - crop_of("gray.jpg").mean()) < 8
    assert Face.objects.filter(source=str(photos / "sub" / "two_faces.jpg")).count() == 2
    hopper = Face.objects.get(source=str(photos / "grace_hopper.jpg"))
    assert hopper.split == "train" and hopper.box_x is not None
    assert Image.open(hopper.image.open("rb")).size == (224, 224)
    assert Face.objects.count() == 1 + 2 + len(variants)
    assert Photo.objects.get(source__endswith="coffee.jpg").face_count == 0  # recorded, no face
    assert Photo.objects.count() == 1 + 1 + 1 + len(variants)

    # Again: every photo is seen before and skipped; the bad files are still reported.
    with pytest.raises(CommandError):
        call_command("import_images", str(photos), "--workers", "1")
    assert "8 seen before" in capsys.readouterr().out
    assert Face.objects.count() == 1 + 2 + len(variants)


@pytest.mark.django_db
def test_no_face_photos_become_candidates_suggested_no_face_with_two_workers(data_root, capsys):
    photos = data_root / "p"
    photos.mkdir()
    shutil.copy(PHOTOS / "coffee.jpg", photos)
    shutil.copy(PHOTOS / "astronaut.jpg", photos)
    shutil.copy(PHOTOS / "astronaut.jpg", photos / "astronaut_copy.jpg")  # the same photo twice: stored once
    call_command("import_images", str(photos), "--workers", "2", "--no-face-as-candidates")
    out = capsys.readouterr().out
    assert f"no face: {photos / 'coffee.jpg'}" in out and "1 seen before" in out
    candidate = Face.objects.get(source=str(photos / "coffee.jpg"))
    assert candidate.landmarks is None and candidate.box_x is None
    suggestion = Suggestion.objects.get(face=candidate)
    assert suggestion.category == 10 and suggestion.probabilities[10] == 1.0
    assert suggestion.valence is None and suggestion.arousal is None
    assert suggestion.suggester.name == "face-detector" and not active_in(suggestion.suggester)
    assert Face.objects.filter(source__endswith="astronaut.jpg").count() == 1
    assert Face.objects.count() == 2


@pytest.mark.django_db
def test_no_face_suggestions_are_stored_as_any_models_one_signal_a_batch(data_root, django_capture_on_commit_callbacks):
    """The No-Face suggestions go through suggestions_store: the face's queue priority follows the
    category, and one suggestions_saved names the batch's faces."""
    sent = []

    def receiver(sender, suggester_id, face_ids, answered_face_ids, **kwargs):
        sent.append((suggester_id, face_ids, answered_face_ids))

    results = [detection.PhotoResult(path=f"p{n}.jpg", sha256=f"{n}" * 64, width=224, height=224,
                                     whole_jpeg=jpeg(n)) for n in (1, 2)]
    signals.suggestions_saved.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _store_batch(results, summary=ImportSummary(), split="unassigned", detector=detection.HAAR, source_of=str,
                         project=Project.objects.default())
    finally:
        signals.suggestions_saved.disconnect(receiver)
    faces = list(Face.objects.order_by("id"))
    suggester = no_face_suggester(detection.HAAR)
    assert sent == [(suggester.id, [f.id for f in faces], [])]
    assert [s.category for s in Suggestion.objects.filter(suggester=suggester)] == [10, 10]
    assert all(f.queue_priority == pytest.approx(rarity_priority(10)) for f in faces)


@pytest.mark.django_db
def test_a_folder_outside_data_roots_is_refused(data_root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(CommandError, match="outside the folders"):
        call_command("import_images", str(elsewhere), "--workers", "1")
    assert Face.objects.count() == 0


def test_the_pool_keeps_only_a_few_photos_in_flight(tmp_path):
    """Memory stays bounded: paths are pulled from the (lazy) listing only as results come back."""
    source = Image.open(PHOTOS / "coffee.jpg")
    files = []
    for i in range(24):
        files.append(tmp_path / f"{i}.jpg")
        source.rotate(i).save(files[-1])
    pulled = 0

    def listing():
        nonlocal pulled
        for path in files:
            pulled += 1
            yield path

    done = most_ahead = 0
    for result in analysed_photos(listing(), workers=2, detector=detection.HAAR, keep_whole=False):
        assert result.error == ""
        done += 1
        most_ahead = max(most_ahead, pulled - done)
    assert done == 24
    assert most_ahead <= 2 * CHUNKS_IN_FLIGHT  # analysed_photos sends one photo per chunk


@pytest.mark.django_db
def test_benchmark_prints_its_table_and_keeps_nothing(data_root, capsys):
    call_command("benchmark_import_images", "--photos", "6", "--workers", "2", "--repeat", "1")
    out = capsys.readouterr().out
    for row in ("bare loop, 1 process", "bare loop, 2 processes", "import_images, 2 processes", "detect", "store"):
        assert row in out, row
    assert Face.objects.count() == 0 and Photo.objects.count() == 0  # rolled back
