"""domain.crops, the one owner of the face crop: 15% margin, 224x224, landmarks, JPEG, decoding."""
import io
import pickle
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from annotator.domain import crops


def encoded(image, fmt="JPEG", **options):
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def framed_box_image():
    """A 400x400 grey image with a white 200x200 square at (100, 100): the face box."""
    image = Image.new("RGB", (400, 400), (60, 60, 60))
    ImageDraw.Draw(image).rectangle((100, 100, 299, 299), fill=(255, 255, 255))
    return image


def png_bomb(width, height):
    """A tiny PNG file that claims width x height pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


# --- margin and size ---------------------------------------------------------------------------


def test_the_box_grows_by_15_percent_of_its_size_on_each_side():
    assert crops.CROP_SIZE == 224 and crops.BOX_MARGIN == 0.15
    assert crops.box_expand((100, 50, 200, 100)) == (70.0, 35.0, 330.0, 165.0)


def test_the_box_fills_the_middle_of_the_crop_and_the_margin_surrounds_it():
    crop, region = crops.box_crop(framed_box_image(), (100, 100, 200, 200))
    assert region == (70.0, 70.0, 330.0, 330.0)
    assert crop.size == (224, 224) and crop.mode == "RGB"
    row = np.asarray(crop.convert("L"))[112]
    edge = 224 * 0.15 / 1.3  # the box starts 25.8 pixels in
    assert row[: int(edge) - 3].max() < 100  # margin: grey
    assert row[int(edge) + 3: 224 - int(edge) - 3].min() > 200  # the box: white
    assert row[224 - int(edge) + 3:].max() < 100


def test_outside_the_image_is_black_whatever_the_mode():
    # CMYK pads with white and a palette image with colour 0 if cut as they are: face_crop cuts RGB.
    for image in (Image.new("CMYK", (200, 200), (0, 0, 0, 0)), Image.new("RGB", (200, 200), (200, 200, 200))):
        data = encoded(image)
        crop, size, _ = crops.face_crop(data, (-50, 20, 150, 150), [0.0, 0.0], name="edge.jpg")
        pixels = np.asarray(Image.open(io.BytesIO(crop)))
        assert size == (200, 200) and pixels.shape == (224, 224, 3)
        assert pixels[:, :40].max() < 20  # left of the photo
        assert pixels[20:200, 100:200].min() > 150  # inside it


def test_every_crop_is_a_224_rgb_jpeg():
    for image in (Image.new("L", (300, 200), 90), Image.new("RGBA", (50, 70), (1, 2, 3, 4)),
                  Image.new("P", (224, 224))):
        crop = Image.open(io.BytesIO(crops.crop_encode(image)))
        assert (crop.format, crop.mode, crop.size) == ("JPEG", "RGB", (224, 224))
    data, size = crops.crop_normalise(encoded(Image.new("RGB", (640, 480), (9, 9, 9)), "PNG"))
    assert size == (640, 480)
    assert Image.open(io.BytesIO(data)).size == (224, 224)
    assert crops.crop_pixels(Image.new("L", (30, 40))).shape == (224, 224, 3)


# --- landmarks ---------------------------------------------------------------------------------


def test_landmarks_at_the_box_corners_land_on_the_margin_of_the_crop():
    region = crops.box_expand((100, 100, 200, 200))
    points = crops.landmarks_scale([100, 100, 300, 300, 70, 70, 330, 330], region)
    inner = 224 * 0.15 / 1.3
    assert points == pytest.approx([inner, inner, 224 - inner, 224 - inner, 0, 0, 224, 224])


def test_landmarks_are_measured_from_the_pixels_the_crop_is_cut_at():
    # The region (70.4, 69.6, ...) is cut at whole pixels (70, 70, ...); a landmark follows the cut.
    points = crops.landmarks_scale([70.0, 70.0, 200.0, 200.0], (70.4, 69.6, 330.4, 329.6))
    assert points == pytest.approx([0.0, 0.0, 112.0, 112.0])


def test_a_landmark_points_at_its_feature_in_the_crop():
    image = Image.new("RGB", (500, 400), (0, 0, 0))
    ImageDraw.Draw(image).ellipse((177, 143, 183, 149), fill=(255, 255, 255))  # a dot centred at (180, 146)
    box = (120, 90, 170, 150)
    data = encoded(image, "PNG")
    crop, size, points = crops.face_crop(data, box, [180.0, 146.0], name="dot.png")
    pixels = np.asarray(Image.open(io.BytesIO(crop)).convert("L"), dtype=float)
    ys, xs = np.nonzero(pixels > 128)
    assert size == (500, 400)
    assert abs(xs.mean() - points[0]) < 1.5 and abs(ys.mean() - points[1]) < 1.5
    cut, region = crops.box_crop(image, box)  # the photo path cuts the same crop
    assert crops.crop_encode(cut) == crop
    assert crops.landmarks_scale([180.0, 146.0], region) == points


def test_landmarks_of_a_whole_image_scale_with_its_size():
    assert crops.landmarks_scale([448.0, 112.0, 0.0, 448.0], (0, 0, 896, 448)) == [112.0, 56.0, 0.0, 224.0]
    assert crops.landmarks_scale([3.5, 7.25], (0, 0, 224, 224)) == [3.5, 7.25]


# --- decoding ----------------------------------------------------------------------------------


def test_decode_errors_name_the_file(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    good = encoded(Image.fromarray(noise))  # half of it still opens: only decoding every byte finds the cut
    with pytest.raises(crops.NotAnImage, match=r"^faces/empty\.jpg: empty file \(0 bytes\)$"):
        crops.image_decode(b"", name="faces/empty.jpg")
    with pytest.raises(crops.NotAnImage, match=r"^notes\.jpg: not an image file"):
        crops.image_decode(b"not an image at all", name="notes.jpg")
    with pytest.raises(crops.ImageUnreadable, match=r"^half\.jpg: not a readable image \(") as info:
        crops.image_decode(good[: len(good) // 2], name="half.jpg")
    assert not isinstance(info.value, crops.NotAnImage)
    assert (info.value.name, info.value.reason.split(" (")[0]) == ("half.jpg", "not a readable image")
    missing = tmp_path / "missing.jpg"
    with pytest.raises(crops.ImageUnreadable, match=f"^{missing}: not a readable image"):
        crops.image_decode(missing)  # a path names itself
    with pytest.raises(crops.ImageUnreadable, match=r"^bomb\.png: refused as a decompression bomb"):
        crops.image_decode(png_bomb(30000, 30000), name="bomb.png")
    for bad in (crops.crop_normalise, lambda data, name: crops.face_crop(data, (0, 0, 9, 9), [], name=name),
                crops.photo_decode):
        with pytest.raises(crops.ImageUnreadable, match=r"^upload:x\.jpg: "):
            bad(b"junk", name="upload:x.jpg")


def test_decode_errors_cross_processes_whole():
    error = pickle.loads(pickle.dumps(crops.NotAnImage("a.jpg", "empty file (0 bytes)")))
    assert type(error) is crops.NotAnImage and str(error) == "a.jpg: empty file (0 bytes)"
    assert (error.name, error.reason) == ("a.jpg", "empty file (0 bytes)")


def test_a_file_decodes_as_its_bytes(tmp_path):
    data = encoded(Image.new("RGB", (30, 20), (1, 2, 3)), "PNG")
    (tmp_path / "a.png").write_bytes(data)
    from_file, from_bytes = crops.image_decode(tmp_path / "a.png"), crops.image_decode(data)
    assert from_file.tobytes() == from_bytes.tobytes() and from_file.format == "PNG"


def test_a_photo_is_refused_at_the_bomb_warning_that_a_stored_image_passes(monkeypatch):
    data = encoded(Image.new("RGB", (40, 40), (5, 5, 5)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 pixels: over the warning, under the error
    with pytest.warns(Image.DecompressionBombWarning):
        assert crops.image_decode(data, name="big.png").size == (40, 40)
    with pytest.raises(crops.ImageUnreadable, match=r"^big\.png: refused as a decompression bomb"):
        crops.photo_decode(data, name="big.png")


def test_a_photo_is_decoded_upright_and_8_bit_rgb():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    sideways = crops.photo_decode(encoded(Image.new("RGB", (40, 20)), exif=exif.tobytes()), name="s.jpg")
    assert (sideways.mode, sideways.size) == ("RGB", (20, 40))
    sixteen = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    assert crops.photo_decode(encoded(sixteen, "PNG"), name="16.png").getpixel((0, 0)) == (255, 255, 255)
    clear = crops.photo_decode(encoded(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG"), name="a.png")
    assert clear.getpixel((0, 0)) == (255, 255, 255)  # alpha over white


# --- JPEG --------------------------------------------------------------------------------------


def test_encoding_keeps_the_picture_at_quality_95():
    gradient = (np.add.outer(np.arange(224), np.arange(224)) // 2).astype(np.uint8)
    image = Image.fromarray(np.stack([gradient, gradient[::-1], np.full_like(gradient, 128)], axis=-1))
    decoded = Image.open(io.BytesIO(crops.crop_encode(image)))
    # Crops are content-addressed: another quality would store every face again.
    assert decoded.quantization == Image.open(io.BytesIO(encoded(image, quality=95))).quantization
    error = np.abs(np.asarray(decoded, dtype=float) - np.asarray(image, dtype=float))
    assert error.mean() < 0.6 and error.max() <= 3


def test_a_224_rgb_jpeg_is_kept_byte_for_byte_and_anything_else_re_encoded():
    kept = encoded(Image.new("RGB", (224, 224), (10, 20, 30)), quality=70)
    assert crops.crop_normalise(kept) == (kept, (224, 224))
    assert crops.face_crop(kept, (0.15 * 224 / 1.3, 0.15 * 224 / 1.3, 224 / 1.3, 224 / 1.3), [], name="k.jpg")[0] == kept
    gray = encoded(Image.new("L", (224, 224), 50))
    again, _ = crops.crop_normalise(gray)
    assert again != gray and Image.open(io.BytesIO(again)).mode == "RGB"


def test_scaled_landmarks_are_the_same_floats_as_scaling_each_value_in_python():
    # The import stores these values: scaling them all at once must not move one by a bit.
    rng = np.random.default_rng(5)
    values = rng.uniform(-50, 700, 136)
    region = (37.4, 12.6, 611.2, 549.9)
    left, top, right, bottom = (round(v) for v in region)
    sx, sy = 224 / (right - left), 224 / (bottom - top)
    expected = [(float(v) - left) * sx if i % 2 == 0 else (float(v) - top) * sy for i, v in enumerate(values)]
    points = crops.landmarks_scale(values, region)
    assert [p.hex() for p in points] == [e.hex() for e in expected]
    assert all(type(p) is float for p in points)
    assert crops.landmarks_scale([3, 7, 10], (0, 0, 448, 448)) == [1.5, 3.5, 5.0]  # ints, and an odd count
