"""Builders of small real AffectNet-layout folders and faces for the import/export tests."""

import io
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from annotator.datasets.formats import affectnet_npy


def jpeg(seed: int, size=(224, 224), quality=90) -> bytes:
    """Return a distinct RGB JPEG (random blocks, so every seed gives other bytes)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    image = Image.fromarray(blocks).resize(size, Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def landmarks(seed: int, size=224) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return np.round(rng.uniform(0, size, 136), 3)


def write_face(
    split_folder: Path, stem, *, seed=None, category=3, valence=0.5, arousal=-0.25, lnd=None, image=None, labels=True
):
    """Write <split_folder>/images/<stem>.jpg and its annotation files; return the image path."""
    images, annotations = split_folder / "images", split_folder / "annotations"
    images.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    seed = seed if seed is not None else zlib.crc32(str(stem).encode())
    path = images / f"{stem}.jpg"
    path.write_bytes(image if image is not None else jpeg(seed))
    lnd = landmarks(seed) if lnd is None else lnd
    if labels:
        affectnet_npy.write_face(annotations, stem, category=category, valence=valence, arousal=arousal, landmarks=lnd)
    else:
        np.save(annotations / f"{stem}_lnd.npy", np.asarray(lnd, dtype=np.float64))
    return path


def files_of(folder: Path) -> dict:
    """Return {relative path: bytes} of every file under folder."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
