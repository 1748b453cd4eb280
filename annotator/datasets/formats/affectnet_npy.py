"""AffectNet's images/annotations layout: one face's four .npy files (Django-free).

`<id>_exp.npy`, `<id>_val.npy`, `<id>_aro.npy` each hold one value as a 0-d numpy unicode
string ("3", "-0.176846", "-2" for the valence/arousal of Uncertain and No-Face); `<id>_lnd.npy`
holds the 68 landmarks as 136 float64 numbers (x0, y0, x1, y1, ...) in the image's pixels.
Files are always read with allow_pickle=False: an object array is refused, never unpickled.
"""

import functools
import io
import math
import os
import re
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from annotator.datasets.formats import register
from annotator.domain.categories import NUM_CATEGORIES, VA_SENTINEL, has_va, validate_label

FORMAT = register(
    "affectnet-npy",
    description="AffectNet images/annotations layout: <split>_set/images/<id>.jpg, annotations/<id>_<kind>.npy",
    module=__name__,
)

LABEL_KINDS = ("exp", "val", "aro")
KINDS = LABEL_KINDS + ("lnd",)
LANDMARK_VALUES = 136
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


class AnnotationFileError(ValueError):
    """An annotation file that cannot be used; names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class FaceAnnotation:
    landmarks: np.ndarray  # (136,) float64
    category: Optional[int] = None  # None when labels were not read
    valence: Optional[float] = None  # None for Uncertain/No-Face (files say -2)
    arousal: Optional[float] = None


def annotation_name(face_id, kind: str) -> str:
    return f"{face_id}_{kind}.npy"


_MAGIC_1_0 = b"\x93NUMPY\x01\x00"


@functools.lru_cache(maxsize=256)
def _header_1_0(header: bytes) -> tuple:
    """numpy's own parse of a version 1.0 header, once per distinct header.

    A dataset's files share a handful of headers, and parsing one (a safe literal parse) costs
    more than reading the file.
    """
    buffer = io.BytesIO(header)
    np.lib.format.read_magic(buffer)
    return np.lib.format.read_array_header_1_0(buffer)


def _array_from_1_0(data: bytes) -> Optional[np.ndarray]:
    """Return the array of a plain version 1.0 .npy file's bytes; None for anything else.

    None sends the file to np.load, which gives every other case (object arrays, other versions,
    broken headers, short data) its usual refusal.
    """
    if not data.startswith(_MAGIC_1_0) or len(data) < 10:
        return None
    start = 10 + int.from_bytes(data[8:10], "little")
    try:
        shape, fortran_order, dtype = _header_1_0(data[:start])
    except ValueError:
        return None
    count = math.prod(shape)
    if dtype.hasobject or dtype.itemsize == 0 or len(data) - start < count * dtype.itemsize:
        return None
    array = np.frombuffer(data, dtype=dtype, count=count, offset=start)
    return array.reshape(shape, order="F" if fortran_order else "C").copy()


def load_array(path) -> np.ndarray:
    """Load one .npy file without ever unpickling; any failure names the file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise AnnotationFileError(path, "file is missing") from None
    except OSError as exc:
        raise AnnotationFileError(path, f"not a readable .npy file ({exc})") from None
    array = _array_from_1_0(data)
    if array is not None:
        return array
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        # numpy raises ValueError for object (pickled) arrays when allow_pickle is False.
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise AnnotationFileError(path, "holds a pickled object array (refused: never unpickled)") from None
        raise AnnotationFileError(path, f"not a readable .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise AnnotationFileError(path, f"not a readable .npy file ({exc})") from None
    if not isinstance(array, np.ndarray):  # an .npz archive, say
        raise AnnotationFileError(path, "not a single .npy array")
    if array.dtype.kind == "O":
        raise AnnotationFileError(path, "holds an object array (refused)")
    return array


def _scalar(path, array: np.ndarray):
    if array.size != 1 or array.ndim > 1:
        raise AnnotationFileError(path, f"expected one value, found shape {array.shape}")
    if array.dtype.kind not in "USiuf":
        raise AnnotationFileError(path, f"expected a string or number, found dtype {array.dtype}")
    value = array.reshape(()).item()
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return value


def read_expression(path) -> int:
    """Return the expression category (0-10) stored in an `_exp.npy` file."""
    value = _scalar(path, load_array(path))
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value):
            raise AnnotationFileError(path, f"expression is not an integer: {value!r}")
        value = int(value)
    elif isinstance(value, float):
        if not value.is_integer():
            raise AnnotationFileError(path, f"expression is not an integer: {value!r}")
        value = int(value)
    if not 0 <= value < NUM_CATEGORIES:
        raise AnnotationFileError(path, f"expression {value} is outside 0-{NUM_CATEGORIES - 1}")
    return value


def read_value(path) -> float:
    """Return the float stored in a `_val.npy` or `_aro.npy` file."""
    value = _scalar(path, load_array(path))
    try:
        number = float(value)
    except ValueError:
        raise AnnotationFileError(path, f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise AnnotationFileError(path, f"not a finite number: {value!r}")
    return number


def read_landmarks(path) -> np.ndarray:
    """Return the 136 landmark numbers of an `_lnd.npy` file as float64."""
    array = load_array(path)
    if array.dtype.kind not in "iuf":
        raise AnnotationFileError(path, f"landmarks must be numbers, found dtype {array.dtype}")
    if array.size != LANDMARK_VALUES:
        raise AnnotationFileError(path, f"expected {LANDMARK_VALUES} landmark values, found {array.size}")
    array = array.astype(np.float64).reshape(LANDMARK_VALUES)
    if not np.isfinite(array).all():
        raise AnnotationFileError(path, "landmarks contain NaN or infinite values")
    return array


def read_label(exp_path, val_path, aro_path) -> tuple[int, Optional[float], Optional[float]]:
    """Return (category, valence, arousal) from the three label files; None for 9/10's -2."""
    category = read_expression(exp_path)
    values = []
    for path in (val_path, aro_path):
        value = read_value(path)
        if has_va(category) and not -1.0 <= value <= 1.0:
            raise AnnotationFileError(path, f"{value} is outside [-1, 1] for expression {category}")
        if not has_va(category) and value != VA_SENTINEL:
            raise AnnotationFileError(path, f"{value} must be -2 for expression {category}")
        values.append(value)
    if not has_va(category):
        return category, None, None  # AffectNet keeps no valence/arousal for Uncertain and No-Face
    return validate_label(category, values[0], values[1])


def read_face(folder, face_id, *, labels: bool = True) -> FaceAnnotation:
    """Read one face's annotation files from an `annotations/` folder."""
    folder = os.fspath(folder)  # os.path, not pathlib: an import reads a million faces' files
    landmarks = read_landmarks(os.path.join(folder, annotation_name(face_id, "lnd")))
    if not labels:
        return FaceAnnotation(landmarks=landmarks)
    category, valence, arousal = read_label(*(os.path.join(folder, annotation_name(face_id, k)) for k in LABEL_KINDS))
    return FaceAnnotation(landmarks=landmarks, category=category, valence=valence, arousal=arousal)


def format_value(value: Optional[float]) -> str:
    """Return AffectNet's text for a valence/arousal value: six decimals at most, '-2' for none.

    Formatting the float parsed from the result gives the result again, so an import followed by
    an export writes the same bytes.
    """
    if value is None or value == VA_SENTINEL:
        return "-2"
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@functools.lru_cache(maxsize=256)
def _npy_header(dtype: np.dtype, shape: tuple) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """Return the bytes np.save writes for array, with the header built by numpy once per dtype/shape.

    An export writes four small files per face; np.save rebuilds the same header for each, which
    costs more than the write itself.
    """
    array = np.asarray(array)
    if not array.flags.c_contiguous:
        array = array.copy(order="C")  # np.ascontiguousarray would make a 0-d array 1-d
    return _npy_header(array.dtype, array.shape) + array.tobytes()


def write_face(folder, face_id, *, category: int, valence, arousal, landmarks: Sequence[float]) -> None:
    """Write one face's four annotation files into an `annotations/` folder."""
    folder = os.fspath(folder)
    va = has_va(category)
    arrays = (
        ("exp", np.array(str(int(category)))),
        ("val", np.array(format_value(valence if va else None))),
        ("aro", np.array(format_value(arousal if va else None))),
        ("lnd", np.asarray(landmarks, dtype=np.float64).reshape(LANDMARK_VALUES)),
    )
    for kind, array in arrays:
        with open(os.path.join(folder, annotation_name(face_id, kind)), "wb") as handle:
            handle.write(npy_bytes(array))
