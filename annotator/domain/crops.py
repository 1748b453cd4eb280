"""The face crop: AffectNet's 224x224 JPEG of a face box grown by 15% on each side.

The one owner of the crop's size, margin and JPEG quality, of cutting and encoding a crop, of
carrying landmarks into crop pixels, and of decoding image bytes or files (every error names the
file). Django-free: photo-pool workers, the AffectNet readers and the trainer use it as it is.
AffectNet's images are "the result of 15% boundary expansion of OpenCV face detector"; a stored
crop is always a 224x224 RGB JPEG, which lets an export copy it byte for byte.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

CROP_SIZE = 224
BOX_MARGIN = 0.15  # of the box's width (height) added on each side
JPEG_QUALITY = 95

Region = tuple[float, float, float, float]  # left, top, right, bottom in image pixels


class ImageUnreadable(ValueError):
    """Image bytes or a file that do not decode; the message names the file and why."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason

    def __reduce__(self):  # crosses from a pool's worker process
        return (self.__class__, (self.name, self.reason))


class NotAnImage(ImageUnreadable):
    """Bytes that are no image at all: empty, or in no format Pillow knows."""


@contextlib.contextmanager
def _decoding(name: str) -> Iterator[None]:
    """Turn what Pillow raises for bad input into ImageUnreadable naming the file."""
    try:
        yield
    except ImageUnreadable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageUnreadable(name, f"refused as a decompression bomb ({exc})") from None
    except Image.UnidentifiedImageError:
        raise NotAnImage(name, "not an image file (Pillow cannot identify it)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageUnreadable(name, f"not a readable image ({exc})") from None


# --- decoding ----------------------------------------------------------------------------------


def image_decode(source: bytes | str | Path, *, name: str = "") -> Image.Image:
    """Return image bytes or a file decoded whole (its first frame), as stored: mode, format, orientation.

    Every byte is decoded here, so a truncated file fails now, not when the pixels are first used.
    Pillow's decompression-bomb limit stays on. Raise ImageUnreadable naming the file (`name`, else
    the path, else "image"); NotAnImage for an empty file or one in no image format.
    """
    name = name or (str(source) if not isinstance(source, bytes) else "image")
    with _decoding(name):
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        if not data:
            raise NotAnImage(name, "empty file (0 bytes)")
        image = Image.open(io.BytesIO(data))
        image.seek(0)  # first frame of an animation
        image.load()
    return image


def photo_decode(data: bytes, *, name: str) -> Image.Image:
    """Return a camera photo as an 8-bit RGB image, upright; raise ImageUnreadable naming the file.

    Stricter than image_decode: Pillow's decompression-bomb warning is refused too (a photo comes
    from anyone). EXIF orientation is applied; CMYK, 16-bit, grayscale, palette and alpha images
    become RGB (alpha over white).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = image_decode(data, name=name)
        with _decoding(name):
            return _rgb_8bit(ImageOps.exif_transpose(image))


def _rgb_8bit(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit (or float) grayscale: Pillow's convert() would clip at 255, so scale to 8 bits.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) > 255 else 255.0
        gray = np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def crop_pixels(image: Image.Image) -> np.ndarray:
    """Return an image as the uint8 (224, 224, 3) RGB array the models take (resized if need be)."""
    image = image.convert("RGB")
    if image.size != (CROP_SIZE, CROP_SIZE):
        image = image.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BICUBIC)
    return np.asarray(image)


# --- the box, the crop and the landmarks --------------------------------------------------------


def box_expand(box: Sequence[float], margin: float = BOX_MARGIN) -> Region:
    """Return the box (x, y, width, height) grown by margin of its width (height) on each side."""
    x, y, w, h = box
    return (x - margin * w, y - margin * h, x + w + margin * w, y + h + margin * h)


def _pixels(region: Sequence[float]) -> tuple[int, int, int, int]:
    """Return a region on whole pixels: what is cut, and what landmarks are measured from."""
    return tuple(round(v) for v in region)


def box_crop(image: Image.Image, box: Sequence[float]) -> tuple[Image.Image, Region]:
    """Return the 224x224 crop of the expanded box (black where it leaves the image) and that region.

    The image should be RGB already: Pillow fills the part outside the image with zeros, which is
    black only in RGB (in CMYK it is white, in a palette image colour 0).
    """
    region = box_expand(box)
    crop = image.crop(_pixels(region))
    return crop.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BICUBIC), region


def photo_fit(image: Image.Image) -> Image.Image:
    """Return the image's centre square as 224x224 (how a photo with no face is shown to annotators)."""
    return ImageOps.fit(image, (CROP_SIZE, CROP_SIZE), Image.Resampling.BICUBIC)


def landmarks_scale(landmarks: Sequence[float], region: Sequence[float]) -> list[float]:
    """Carry landmarks x0, y0, x1, y1, ... from image pixels into the crop cut from region.

    The region is (left, top, right, bottom), measured on whole pixels as the crop is cut; an
    image resized whole is the region (0, 0, width, height).
    """
    left, top, right, bottom = _pixels(region)
    sx, sy = CROP_SIZE / (right - left), CROP_SIZE / (bottom - top)
    # The same float64 subtraction and product per value as Python's floats, a third of the CPU (an import
    # scales a million faces' landmarks).
    points = np.asarray(landmarks, dtype=np.float64).reshape(-1)
    scaled = np.empty_like(points)
    scaled[0::2] = (points[0::2] - left) * sx
    scaled[1::2] = (points[1::2] - top) * sy
    return scaled.tolist()


# --- JPEG --------------------------------------------------------------------------------------


def crop_encode(image: Image.Image) -> bytes:
    """Return the image as a 224x224 RGB JPEG (resized if need be): the one form a crop is stored in."""
    image = image.convert("RGB")
    if image.size != (CROP_SIZE, CROP_SIZE):
        image = image.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _crop_bytes(data: bytes, image: Image.Image) -> bytes:
    """Return the bytes of a 224x224 RGB JPEG as they are (lossless round trips), else re-encode."""
    if image.format == "JPEG" and image.mode == "RGB" and image.size == (CROP_SIZE, CROP_SIZE):
        return data
    return crop_encode(image)


def crop_normalise(data: bytes, *, name: str = "image") -> tuple[bytes, tuple[int, int]]:
    """Return (224x224 RGB JPEG bytes, original (width, height)) for a whole image file's bytes.

    A file that already is a 224x224 RGB JPEG is kept byte for byte (so a re-import or re-export
    is lossless); anything else is converted and re-encoded. ImageUnreadable names a bad file.
    """
    image = image_decode(data, name=name)
    with _decoding(name):
        return _crop_bytes(data, image), image.size


def face_crop(data: bytes, box: Sequence[float], landmarks: Sequence[float], *,
              name: str) -> tuple[bytes, tuple[int, int], list[float]]:
    """Return (224x224 JPEG, original size, landmarks in crop pixels) for a face box in an image file.

    A region that is the whole image of a 224x224 RGB JPEG keeps its bytes. The image is made RGB
    before it is cut, so what lies outside it is black whatever its mode.
    """
    image = image_decode(data, name=name)
    region = _pixels(box_expand(box))
    with _decoding(name):
        if region == (0, 0, *image.size):
            crop = _crop_bytes(data, image)
        else:
            crop = crop_encode(image.convert("RGB").crop(region))
    return crop, image.size, landmarks_scale(landmarks, region)
