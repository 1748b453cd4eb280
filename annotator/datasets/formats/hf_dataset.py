"""A Hugging Face dataset of faces: Parquet shards with `datasets` Features, and its card (Django-free).

Layout (what `datasets.load_dataset(OUT)` and `load_dataset("parquet", data_dir=OUT/data)` read):

    OUT/README.md                             the dataset card: YAML header (configs, splits) + text
    OUT/data/train-00000-of-00002.parquet     SHARD_SIZE faces a shard, ROW_GROUP a row group
    OUT/data/validation-00000-of-00001.parquet

Every shard carries the Features in its schema metadata (key `huggingface`, as `datasets` writes
it), so ClassLabel's names and the Image type come back without the card. The reader here checks
a shard's schema and each row before an import stores anything.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from annotator.datasets.formats import register
from annotator.domain.categories import CATEGORY_NAMES, LabelError, validate_label

FORMAT = register(
    "hf",
    description="Hugging Face dataset: data/<split>-NNNNN-of-NNNNN.parquet with datasets Features, README.md card",
    module=__name__,
)

SHARD_SIZE = 10_000  # faces a shard (about 150 MB of 224x224 JPEGs)
ROW_GROUP = 500  # faces a row group: what the writer holds in memory
LANDMARK_VALUES = 136
HF_SPLITS = {"train": "train", "val": "validation"}  # project split -> Hugging Face split
SPLITS_FROM_HF = {"train": "train", "validation": "val", "val": "val", "valid": "val"}
COLUMNS = ("id", "image", "label", "valence", "arousal", "landmarks", "split")
REQUIRED = ("image", "label", "valence", "arousal", "landmarks")


def features():
    """Return the dataset's `datasets.Features` (imported here: `datasets` is slow to import)."""
    import datasets

    return datasets.Features({
        "id": datasets.Value("int64"),
        "image": datasets.Image(),
        "label": datasets.ClassLabel(names=list(CATEGORY_NAMES)),
        "valence": datasets.Value("float64"),
        "arousal": datasets.Value("float64"),
        "landmarks": datasets.List(datasets.Value("float64"), length=LANDMARK_VALUES),
        "split": datasets.Value("string"),
    })


def shard_name(hf_split: str, index: int, count: int) -> str:
    return f"{hf_split}-{index:05d}-of-{count:05d}.parquet"


class ShardWriter:
    """Write one split's rows into shards of shard_size faces, a row group at a time.

    Shards are written as <split>-NNNNN.parquet.partial and named -of-NNNNN when the split is done.
    """

    def __init__(self, folder: Path, hf_split: str, *, shard_size: int = SHARD_SIZE, row_group: int = ROW_GROUP):
        self.folder, self.hf_split = folder, hf_split
        self.shard_size, self.row_group = shard_size, row_group
        self.schema = features().arrow_schema
        self._writer = None
        self._in_shard = 0
        self._pending: list[dict] = []
        self.paths: list[Path] = []
        self.rows = 0

    def add(self, row: dict) -> None:
        self._pending.append(row)
        if len(self._pending) >= self.row_group or self._in_shard + len(self._pending) >= self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            path = self.folder / f"{self.hf_split}-{len(self.paths):05d}.parquet.partial"
            self.paths.append(path)
            self._writer = pq.ParquetWriter(path, self.schema)
        self._writer.write_table(pa.Table.from_pylist(self._pending, schema=self.schema))
        self._in_shard += len(self._pending)
        self.rows += len(self._pending)
        self._pending = []
        if self._in_shard >= self.shard_size:
            self._writer.close()
            self._writer, self._in_shard = None, 0

    def close(self) -> list[str]:
        """Write what is pending, close, and give the shards their final names; return them."""
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        names = []
        for index, path in enumerate(self.paths):
            name = shard_name(self.hf_split, index, len(self.paths))
            path.rename(self.folder / name)
            names.append(name)
        return names


def row(*, face_id: int, jpeg: bytes, category: int, valence, arousal, landmarks, split: str) -> dict:
    return {
        "id": face_id,
        "image": {"bytes": jpeg, "path": f"{face_id}.jpg"},
        "label": category,
        "valence": valence,
        "arousal": arousal,
        "landmarks": [float(v) for v in landmarks],
        "split": split,
    }


def card(manifest: dict, *, title: str = "Facial expressions (AffectNet categories)") -> str:
    """Return README.md: the YAML header `datasets` reads (configs, features, splits) and the card's text."""
    splits = list(manifest["splits"])
    configs = [{
        "config_name": "default",
        # A split without faces has no shard, and `datasets` refuses a split that names no file.
        "data_files": [{"split": HF_SPLITS[s], "path": f"data/{HF_SPLITS[s]}-*"}
                       for s in splits if manifest["counts"][s]["total"]],
    }]
    lines = [  # JSON values are YAML
        "---",
        "license: other  # FILL IN: the licence of the images and of the labels",
        f"pretty_name: {json.dumps(title)}",
        'task_categories: ["image-classification"]',
        f"configs: {json.dumps(configs)}",
        "---",
    ]
    names = manifest["category_names"]
    counts = manifest["counts"]
    lines += [
        "",
        f"# {title}",
        "",
        "Face crops (224x224 RGB JPEG) labelled with AffectNet's expression categories and a valence/arousal "
        "point, exported by face-annotator's `export_dataset --format hf` on "
        f"{manifest['exported_at']}. Valence and arousal are null for Uncertain and No-Face.",
        "",
        "## Fields",
        "",
        "| field | type | meaning |",
        "|---|---|---|",
        "| `id` | int64 | the face's id in the instance it came from (images/<id>.jpg in its AffectNet export) |",
        "| `image` | Image | the 224x224 face crop |",
        "| `label` | ClassLabel | AffectNet's category, 0-10 (names below) |",
        "| `valence`, `arousal` | float64 | [-1, 1]; null for Uncertain (9) and No-Face (10) |",
        "| `landmarks` | 136 x float64 | 68 points x0, y0, x1, y1, ... in the crop's pixels |",
        "| `split` | string | train or val |",
        "",
        "## Counts",
        "",
        "| label | name | " + " | ".join(HF_SPLITS[s] for s in splits) + " |",
        "|---|---|" + "---|" * len(splits),
    ]
    for category, name in names.items():
        lines.append(f"| {category} | {name} | " + " | ".join(str(counts[s][category]) for s in splits) + " |")
    lines.append("| | **total** | " + " | ".join(f"**{counts[s]['total']}**" for s in splits) + " |")
    left = {reason: n for reason, n in manifest["left_out"].items() if n}
    lines += [
        "",
        "Final labels by source: "
        + (", ".join(f"{source} {n}" for source, n in sorted(manifest["final_label_sources"].items())) or "none")
        + ". Left out: " + (", ".join(f"{n} ({reason})" for reason, n in left.items()) or "none") + ".",
        "",
        "## Licence",
        "",
        "FILL IN: who owns the images, under which licence they and the labels may be used.",
        "",
        "## Citation",
        "",
        "```bibtex",
        "FILL IN",
        "```",
        "",
        "If you use AffectNet's categories, cite: Mollahosseini, Hasani, Mahoor, \"AffectNet: A Database for Facial "
        "Expression, Valence, and Arousal Computing in the Wild\", IEEE Transactions on Affective Computing, 2017.",
        "",
    ]
    return "\n".join(lines)


# --- reading back -----------------------------------------------------------------------------


class DatasetFileError(ValueError):
    """A file or a value that import_dataset cannot take; names the file, the row and the field."""

    def __init__(self, path, field: Optional[str], reason: str, *, row: Optional[int] = None, face_id=None):
        self.path, self.field, self.reason, self.row = str(path), field, reason, row
        where = str(path)
        if row is not None:
            where += f", row {row}" + (f" (id {face_id})" if face_id is not None else "")
        super().__init__(f"{where}: {field + ': ' if field else ''}{reason}")


@dataclass(frozen=True)
class DatasetRow:
    face_id: Optional[int]
    jpeg: bytes
    category: int
    valence: Optional[float]
    arousal: Optional[float]
    landmarks: list
    split: Optional[str]
    where: str  # file and row, for messages


def dataset_files(root: Path) -> list[Path]:
    """Return the Parquet files of a dataset: root itself, root/data/*.parquet, or root/*.parquet."""
    if root.is_file():
        return [root]
    for folder in (root / "data", root):
        files = sorted(p for p in folder.glob("*.parquet") if p.is_file())
        if files:
            return files
    raise DatasetFileError(root, None, "no .parquet files here or in data/ (expected a dataset that "
                                       "export_dataset --format hf wrote)")


def row_count(path: Path) -> int:
    """Return the rows a shard holds (from its footer; nothing else is read)."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise DatasetFileError(path, None, f"not a readable Parquet file ({exc})") from None


def split_of_file(path: Path) -> Optional[str]:
    """Return the project's split named by a shard's file name (train-..., validation-...), or None."""
    prefix = path.name.split("-", 1)[0].split(".", 1)[0]
    return SPLITS_FROM_HF.get(prefix)


def _is_int(t) -> bool:
    return pa.types.is_integer(t)


def _is_float(t) -> bool:
    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_null(t)


def check_schema(path: Path) -> pa.Schema:
    """Return a shard's schema, or raise DatasetFileError naming the column that is missing or of a wrong type."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetFileError(path, None, f"not a readable Parquet file ({exc})") from None
    for name in REQUIRED:
        if name not in schema.names:
            raise DatasetFileError(path, name, f"missing column (a dataset needs {', '.join(REQUIRED)})")
    types = {name: schema.field(name).type for name in schema.names}
    image = types["image"]
    binary = (pa.types.is_binary, pa.types.is_large_binary)
    is_image = any(b(image) for b in binary) or (
        pa.types.is_struct(image) and image.get_field_index("bytes") >= 0
        and any(b(image.field("bytes").type) for b in binary))
    if not is_image:
        raise DatasetFileError(path, "image", f"type {image} is not an Image (struct<bytes: binary, path: string>)")
    checks = (
        ("label", _is_int, "an integer (ClassLabel)"),
        ("valence", _is_float, "a float"),
        ("arousal", _is_float, "a float"),
        ("id", _is_int, "an integer"),
    )
    for name, ok, expected in checks:
        if name in types and not ok(types[name]):
            raise DatasetFileError(path, name, f"type {types[name]} is not {expected}")
    lnd = types["landmarks"]
    if not (pa.types.is_list(lnd) or pa.types.is_fixed_size_list(lnd) or pa.types.is_large_list(lnd)) \
            or not _is_float(lnd.value_type):
        raise DatasetFileError(path, "landmarks", f"type {lnd} is not a list of {LANDMARK_VALUES} floats")
    if "split" in types and not (pa.types.is_string(types["split"]) or pa.types.is_large_string(types["split"])):
        raise DatasetFileError(path, "split", f"type {types['split']} is not a string")
    _check_label_names(path, schema)
    return schema


def _check_label_names(path: Path, schema: pa.Schema) -> None:
    """A shard that says its labels are a ClassLabel must name AffectNet's categories in AffectNet's order."""
    raw = (schema.metadata or {}).get(b"huggingface")
    if not raw:
        return
    try:
        label = json.loads(raw)["info"]["features"]["label"]
    except (ValueError, KeyError, TypeError):
        return
    names = label.get("names") if isinstance(label, dict) else None
    if names is not None and list(names) != list(CATEGORY_NAMES):
        raise DatasetFileError(
            path, "label", f"ClassLabel names {names} are not AffectNet's categories in its order {list(CATEGORY_NAMES)}")


def read_rows(path: Path, *, batch_size: int = 256) -> Iterator[DatasetRow]:
    """Yield each row of a shard checked (label, valence/arousal, landmarks, split); raise DatasetFileError on the first bad one."""
    schema = check_schema(path)
    columns = [c for c in COLUMNS if c in schema.names]
    index = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns):
        for values in batch.to_pylist():
            index += 1
            yield _row(path, index, values)


def _row(path: Path, index: int, values: dict) -> DatasetRow:
    face_id = values.get("id")

    def bad(field, reason):
        return DatasetFileError(path, field, reason, row=index, face_id=face_id)

    if "id" in values and face_id is None:
        raise bad("id", "empty")
    if face_id is not None and not 1 <= face_id <= 2**63 - 1:
        raise bad("id", f"{face_id} is not a face id (1 to 2^63-1)")
    image = values["image"]
    jpeg = image.get("bytes") if isinstance(image, dict) else image
    if not jpeg:
        raise bad("image", "no image bytes (an image stored only as a path is not read)")
    if values["label"] is None:
        raise bad("label", "empty")
    try:
        category, valence, arousal = validate_label(values["label"], values["valence"], values["arousal"])
    except LabelError as exc:  # its field is the column's name, but for the category: that column is `label`
        raise bad("label" if exc.field == "category" else exc.field, exc.message) from None
    landmarks = values["landmarks"]
    if landmarks is None or len(landmarks) != LANDMARK_VALUES:
        raise bad("landmarks", f"{0 if landmarks is None else len(landmarks)} values, expected {LANDMARK_VALUES}")
    if any(v is None or not math.isfinite(v) for v in landmarks):
        raise bad("landmarks", "not all finite numbers")
    split = values.get("split")
    if split is not None and split not in ("train", "val", "unassigned"):
        raise bad("split", f"{split!r} is not train, val or unassigned")
    return DatasetRow(face_id, jpeg, category, valence, arousal, landmarks, split, where=f"{path}, row {index}")
