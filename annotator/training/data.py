"""Where training samples come from: the final labels in the database, a folder of crops with a
labels.csv, or one split of AffectNet's images/annotations layout."""
import csv
import logging
from collections.abc import Iterable
from pathlib import Path

from django.core.files.storage import default_storage

from annotator.common.storage import local_path
from annotator.datasets.formats.affectnet_npy import LABEL_KINDS, annotation_name, read_label
from annotator.domain.categories import NUM_CATEGORIES, validate_label
from annotator.faces.selectors import faces_with_final_label
from annotator.training.samples import Sample, TrainingError

logger = logging.getLogger(__name__)


def training_samples(*, splits: Iterable[str], limit: int | None = None, projects=None, warn=logger.warning) -> list:
    """Return a Sample per face with a final label in the splits of the projects (None: all), in id
    order, at most limit. Training may draw on several projects: a crop in two of them counts once.

    Crops are read from a local path when the storage has one (no million crops in memory), else as
    bytes. A face whose crop is missing is reported by id and left out; the rest proceed.
    """
    samples = []
    faces = faces_with_final_label(splits=splits, projects=projects).only(
        "id", "image", "content_hash", "final_category", "final_valence", "final_arousal")
    seen = set()
    if limit:
        faces = faces[:limit]
    for face in faces.iterator(chunk_size=2000):
        if face.content_hash in seen:  # the same crop in another project: the first label in id order wins
            continue
        seen.add(face.content_hash)
        try:
            image = local_path(face.image.name)
            if image is None:  # remote storage (S3...): no local path
                with default_storage.open(face.image.name, "rb") as handle:
                    image = handle.read()
        except OSError as exc:
            warn(f"face {face.id}: crop {face.image.name} cannot be read ({exc}); left out")
            continue
        samples.append(Sample(image, face.final_category, face.final_valence, face.final_arousal, face.id))
    return samples


def samples_from_folder(folder) -> list:
    """Read a folder of crops with a labels.csv (file,category,valence,arousal; V/A empty for 9 and 10)."""
    folder = Path(folder)
    path = folder / "labels.csv"
    samples = []
    with open(path, newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                # The labels' own rules (categories 0-10, V/A in [-1, 1], empty for 9 and 10): an
                # out-of-range category would be dropped silently, a valence of 5 trained on. A row
                # with no point at all is a category-only label: the trainer leaves V/A out for it.
                point = [row.get(name) or None for name in ("valence", "arousal")]
                if point == [None, None]:
                    category = int(row["category"])
                    if not 0 <= category < NUM_CATEGORIES:
                        raise ValueError(f"category: {category} is not a category (0-10)")
                    valence = arousal = None
                else:
                    category, valence, arousal = validate_label(row["category"], *point)
            except (KeyError, ValueError) as exc:
                raise TrainingError(f"{path}, line {line}: bad label ({exc})") from None
            samples.append(Sample(folder / row["file"], category, valence, arousal))
    return samples


def samples_from_affectnet(split_dir) -> list:
    """Read one split of AffectNet's images/annotations layout (e.g. <root>/train_set) as samples.

    Labels come from <id>_exp.npy, _val.npy and _aro.npy (0-d unicode arrays, read without pickle);
    -2 marks "no valence/arousal". An image whose annotation files are missing or unreadable is
    named in the error.
    """
    split_dir = Path(split_dir)
    samples = []
    for image in sorted((split_dir / "images").glob("*.jpg")):
        stem = image.stem
        try:
            category, valence, arousal = read_label(
                *(split_dir / "annotations" / annotation_name(stem, kind) for kind in LABEL_KINDS)
            )
        except (OSError, ValueError) as exc:  # AnnotationFileError names the file and the reason
            raise TrainingError(f"{image}: annotation files unreadable ({exc})") from None
        samples.append(Sample(image, category, valence, arousal, int(stem) if stem.isdigit() else None))
    return samples
