"""A labelled crop (Sample) and how its image is read: what the trainer, the evaluation and the
readers in annotator.training.data share (Django-free, torch-free)."""
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

CROP_SIZE = 224


class TrainingError(ValueError):
    """Training cannot start: no data, a checkpoint of another network, a bad option."""


@dataclass
class Sample:
    """One labelled crop: JPEG bytes or a file path, and its final label."""

    image: bytes | str | Path
    category: int
    valence: float | None = None
    arousal: float | None = None
    face_id: int | None = None

    @property
    def name(self) -> str:
        if self.face_id is not None:
            return f"face {self.face_id}"
        return str(self.image) if not isinstance(self.image, bytes) else "crop"


def decode_crop(image, *, name="crop") -> Image.Image:
    """Open a crop (bytes or path) as an RGB PIL image, naming it in the error if it is unreadable."""
    try:
        source = io.BytesIO(image) if isinstance(image, bytes) else image
        with Image.open(source) as opened:
            return opened.convert("RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise TrainingError(f"{name}: not a readable image ({exc})") from None
