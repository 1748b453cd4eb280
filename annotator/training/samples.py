"""A labelled crop (Sample) and how its image is read: what the trainer, the evaluation and the
readers in annotator.training.data share (Django-free, torch-free)."""
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from annotator.domain.crops import ImageUnreadable, image_decode


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


def sample_image(sample: Sample) -> Image.Image:
    """Return a sample's crop as an RGB image; TrainingError naming the face or file if it does not decode."""
    try:
        return image_decode(sample.image, name=sample.name).convert("RGB")
    except ImageUnreadable as exc:
        raise TrainingError(str(exc)) from None
