"""answers.parquet and faces.parquet: every answer, and per face its soft label (Django-free).

`export_affectnet OUT --answers` writes both beside AffectNet's folders, for label-noise tools
(cleanlab's multi-annotator methods, crowd-kit) and soft-label training. Each schema is fixed
here, with a description of every column, and is written into the file's own metadata
(`face_annotator.schema`, JSON) so a reader needs nothing else. The README's table is this one.

The writer takes rows a chunk at a time and writes a row group every ROW_GROUP_ROWS rows: memory
holds one row group's columns, whatever the number of faces.
"""

import json
from typing import Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from annotator.datasets.formats import register
from annotator.domain.categories import CATEGORY_NAMES, NUM_CATEGORIES

FORMAT = register(
    "answer-tables",
    description="answers.parquet (one row per answer) and faces.parquet (per face: distribution, V/A mean/std, final label)",
    module=__name__,
)

SCHEMA_VERSION = 1
ROW_GROUP_ROWS = 10_000  # rows a row group (see TableWriter)
ANSWERS_FILE = "answers.parquet"
FACES_FILE = "faces.parquet"
METADATA_KEY = b"face_annotator.schema"

_TS = pa.timestamp("us", tz="UTC")

# (name, arrow type, nullable, description)
ANSWER_COLUMNS = (
    ("answer_id", pa.int64(), False, "the answer's id in the exporting instance"),
    ("face_id", pa.int64(), False, "the face (the same id as images/<id>.jpg and faces.parquet)"),
    ("annotator", pa.int32(), False,
     "pseudonymous annotator id, 1..K: the same person has the same number throughout this export, "
     "and the numbers are drawn anew for each export (they link no two exports)"),
    ("annotator_name", pa.string(), True, "the username, only with --names (null otherwise)"),
    ("category", pa.int8(), False, "AffectNet category 0-10 (names in the metadata)"),
    ("valence", pa.float64(), True, "[-1, 1]; null for Uncertain (9) and No-Face (10)"),
    ("arousal", pa.float64(), True, "[-1, 1]; null for Uncertain (9) and No-Face (10)"),
    ("seconds_spent", pa.float64(), False, "time on the face, 0-3600 s (0 for imported labels)"),
    ("shown_blind", pa.bool_(), False, "shown without a suggestion on purpose (the blind share)"),
    ("suggestion_model", pa.string(), True, "the suggester whose suggestion was shown (null: none shown)"),
    ("suggestion_version", pa.string(), True, "its version"),
    ("suggestion_category", pa.int8(), True, "the category it suggested"),
    ("suggestion_confidence", pa.float64(), True, "its probability for that category"),
    ("suggestion_valence", pa.float64(), True, "the point it suggested"),
    ("suggestion_arousal", pa.float64(), True, ""),
    ("kept_suggestion", pa.bool_(), True, "the answer kept the suggested category (null: none shown)"),
    ("outside_region_confirmed", pa.bool_(), False,
     "the annotator confirmed a point outside the category's usual region"),
    ("imported", pa.bool_(), False, "a label that came with an imported dataset, not an answer given here"),
    ("gold", pa.bool_(), False, "the face is a gold item"),
    ("gold_category", pa.int8(), True, "the gold item's reference label (null: not gold)"),
    ("gold_valence", pa.float64(), True, ""),
    ("gold_arousal", pa.float64(), True, ""),
    ("guideline_version", pa.int32(), True, "the category guidelines' version the annotator had read, if any"),
    ("created_at", _TS, False, "when the answer was first given (UTC)"),
    ("updated_at", _TS, False, "when it was last changed (UTC)"),
)

FACE_COLUMNS = (
    ("face_id", pa.int64(), False, "the face (images/<id>.jpg when exported)"),
    ("split", pa.string(), False, "train or val"),
    ("exported", pa.bool_(), False, "the face is in this export's images/ and annotations/"),
    ("left_out", pa.string(), True, "why it is not (the manifest's reasons); null when exported"),
    ("answers", pa.int32(), False, "answers given for the face (rows in answers.parquet)"),
    ("category_counts", pa.list_(pa.int32(), NUM_CATEGORIES), False,
     "answers per category, index = category 0-10"),
    ("category_distribution", pa.list_(pa.float64(), NUM_CATEGORIES), True,
     "the same as shares summing to 1 (the soft label); null without answers"),
    ("valence_mean", pa.float64(), True, "over the answers that carry a point; null when none does"),
    ("valence_std", pa.float64(), True, "population standard deviation (ddof 0) over the same answers"),
    ("arousal_mean", pa.float64(), True, ""),
    ("arousal_std", pa.float64(), True, ""),
    ("final_category", pa.int8(), True, "the final label (what images/annotations hold); null: none yet"),
    ("final_valence", pa.float64(), True, "null for Uncertain, No-Face, or no final label"),
    ("final_arousal", pa.float64(), True, ""),
    ("final_source", pa.string(), True, "single, agreement, review, import or gold (null: no final label)"),
    ("final_at", _TS, True, "when the final label was set (UTC)"),
    ("needs_review", pa.bool_(), False, "the face has an open flag"),
    ("open_flags", pa.list_(pa.string()), False,
     "reasons of its open flags (annotator_vs_annotator, annotator_vs_model, outside_region, "
     "gold_mismatch, imported_label, spot_check)"),
    ("resolved_flags", pa.list_(pa.string()), False, "reasons of the flags a reviewer resolved"),
    ("gold", pa.bool_(), False, "the face is a gold item"),
    ("source", pa.string(), True, "the photo or file the face came from"),
    ("original_width", pa.int32(), True, "that photo's size in pixels"),
    ("original_height", pa.int32(), True, ""),
    ("box_x", pa.float64(), True, "the face box in that photo (pixels; null when the file was the crop)"),
    ("box_y", pa.float64(), True, ""),
    ("box_width", pa.float64(), True, ""),
    ("box_height", pa.float64(), True, ""),
)


def _schema(columns, *, table: str, extra: Mapping) -> pa.Schema:
    fields = [pa.field(name, type_, nullable=nullable) for name, type_, nullable, _ in columns]
    described = {
        "table": table,
        "schema_version": SCHEMA_VERSION,
        "written_by": "face-annotator export_affectnet --answers",
        "category_names": list(CATEGORY_NAMES),
        "columns": {name: {"type": str(type_), "nullable": nullable, "description": text}
                    for name, type_, nullable, text in columns},
        **extra,
    }
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(described).encode()})


def answers_schema(**extra) -> pa.Schema:
    return _schema(ANSWER_COLUMNS, table="answers", extra=extra)


def faces_schema(**extra) -> pa.Schema:
    return _schema(FACE_COLUMNS, table="faces", extra=extra)


def schema_description(schema: pa.Schema) -> dict:
    """Return the description a file carries in its metadata (what _schema wrote)."""
    return json.loads((schema.metadata or {})[METADATA_KEY])


class TableWriter:
    """Write rows (dicts) to one Parquet file, a row group per row_group_rows rows; a context manager.

    Each write() turns its rows into a columnar Arrow table at once (a few hundred bytes a row) and
    a row group is written once row_group_rows have gathered: the writer keeps every row group's
    metadata until the file is closed, so row groups of a thousand rows made its memory grow with
    the file (38 MiB more at a thousand row groups, measured); at ROW_GROUP_ROWS it stays flat.
    """

    def __init__(self, path, schema: pa.Schema, *, row_group_rows: int = ROW_GROUP_ROWS):
        self.schema = schema
        self.row_group_rows = row_group_rows
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, rows: Iterable[Mapping]) -> None:
        rows = list(rows)
        if not rows:
            return
        self._pending.append(pa.Table.from_pylist(rows, schema=self.schema))
        self._pending_rows += len(rows)
        self.rows += len(rows)
        if self._pending_rows >= self.row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.concat_tables(self._pending)
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
            self._pending, self._pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
        else:  # the export failed: its folder is removed, no need for the pending rows
            self._writer.close()


def readme_table(columns) -> str:
    """Return the columns as a Markdown table (the README's is made from this)."""
    lines = ["| column | type | null | meaning |", "|---|---|---|---|"]
    for name, type_, nullable, text in columns:
        lines.append(f"| `{name}` | {type_} | {'yes' if nullable else 'no'} | {text} |")
    return "\n".join(lines)
