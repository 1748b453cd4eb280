"""AffectNet's full-release CSV layout (training.csv / validation.csv), Django-free.

Columns: subDirectory_filePath, face_x, face_y, face_width, face_height, facial_landmarks,
expression, valence, arousal. The box and the landmarks are in the pixels of the image the row
names; landmarks are 136 numbers joined by ';'; valence/arousal are -2 for categories 9 and 10.
"""

import csv
import math
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, TextIO, Union

from annotator.datasets.formats import register
from annotator.datasets.formats.affectnet_npy import LANDMARK_VALUES, format_value
from annotator.domain.categories import NUM_CATEGORIES, VA_SENTINEL, has_va, validate_label

FORMAT = register(
    "affectnet-csv",
    description="AffectNet full release: training.csv / validation.csv with boxes and landmarks in the original images",
    module=__name__,
)

COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)


class CsvRowError(ValueError):
    """A row that cannot be used; names the line, the column and the reason."""

    def __init__(self, where: str, reason: str):
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True)
class CsvRow:
    path: str  # relative to the images folder
    box: tuple[float, float, float, float]  # x, y, width, height in the original image
    landmarks: tuple[float, ...]  # 136 numbers in the original image
    category: Optional[int] = None
    valence: Optional[float] = None
    arousal: Optional[float] = None


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CsvRowError(where, f"{column}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise CsvRowError(where, f"{column}: not a finite number: {text!r}")
    return value


def parse_row(record: dict, where: str, *, labels: bool = True) -> CsvRow:
    """Return the CsvRow of one csv.DictReader record, or raise CsvRowError."""
    path = (record.get("subDirectory_filePath") or "").strip()
    if not path:
        raise CsvRowError(where, "subDirectory_filePath: empty")
    box = tuple(_number(record.get(c), where, c) for c in ("face_x", "face_y", "face_width", "face_height"))
    if box[2] <= 0 or box[3] <= 0:
        raise CsvRowError(where, f"face box has no area: {box}")
    if box[2] < 1 or box[3] < 1:  # its expanded region would round to no pixels: nothing to crop
        raise CsvRowError(where, f"face box is smaller than one pixel: {box}")
    text = (record.get("facial_landmarks") or "").strip()
    parts = [p for p in text.split(";") if p.strip()] if text else []
    if len(parts) != LANDMARK_VALUES:
        raise CsvRowError(where, f"facial_landmarks: expected {LANDMARK_VALUES} numbers, found {len(parts)}")
    landmarks = tuple(_number(p, where, "facial_landmarks") for p in parts)
    if not labels:
        return CsvRow(path=path, box=box, landmarks=landmarks)
    expression = (record.get("expression") or "").strip()
    try:
        category = int(expression)
    except ValueError:
        raise CsvRowError(where, f"expression: not an integer: {expression!r}") from None
    if not 0 <= category < NUM_CATEGORIES:
        raise CsvRowError(where, f"expression: {category} is outside 0-{NUM_CATEGORIES - 1}")
    values = []
    for column in ("valence", "arousal"):
        value = _number(record.get(column), where, column)
        if has_va(category) and not -1.0 <= value <= 1.0:
            raise CsvRowError(where, f"{column}: {value} is outside [-1, 1] for expression {category}")
        if not has_va(category) and value != VA_SENTINEL:
            raise CsvRowError(where, f"{column}: {value} must be -2 for expression {category}")
        values.append(value)
    category, valence, arousal = validate_label(category, *values)
    return CsvRow(path=path, box=box, landmarks=landmarks, category=category, valence=valence, arousal=arousal)


def read_rows(handle: TextIO, *, name: str = "csv", labels: bool = True) -> Iterator[Union[CsvRow, CsvRowError]]:
    """Yield a CsvRow (or the CsvRowError saying why not) for each data row, streaming."""
    reader = csv.DictReader(handle)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CsvRowError(f"{name}, header", f"missing columns: {', '.join(missing)}")
    for record in reader:
        where = f"{name}, line {reader.line_num}"
        try:
            yield parse_row(record, where, labels=labels)
        except CsvRowError as exc:
            yield exc


def format_number(value: float) -> str:
    """Return a compact decimal text for a box or landmark number (six decimals at most)."""
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class CsvWriter:
    """Write rows in the full release's columns to an open text file."""

    def __init__(self, handle: TextIO):
        self._writer = csv.writer(handle, lineterminator="\n")
        self._writer.writerow(COLUMNS)

    def write(self, *, path: str, box: Sequence[float], landmarks: Sequence[float], category: int, valence, arousal):
        va = has_va(category)
        self._writer.writerow(
            [
                path,
                *(format_number(v) for v in box),
                ";".join(format_number(v) for v in landmarks),
                int(category),
                format_value(valence if va else None),
                format_value(arousal if va else None),
            ]
        )
