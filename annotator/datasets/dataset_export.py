"""export_dataset: the faces export_affectnet writes, as a Hugging Face dataset or an image folder.

The same faces (exporting.exported_faces: a final label of the chosen categories, train or val,
136 landmarks, a readable stored crop), the same bytes (exporting.stored_crop), the same manifest
and the same atomic write into OUT (exporting.export_atomically); only the layout differs:

  hf           OUT/data/<split>-NNNNN-of-NNNNN.parquet with `datasets` Features, OUT/README.md (card)
  imagefolder  OUT/train/<NN_Name>/<id>.jpg, OUT/val/<NN_Name>/<id>.jpg: torchvision's ImageFolder
               (folders sort in AffectNet's order, so its class index is AffectNet's category)
"""

import json
import os
import re
import sys
from collections import Counter
from contextlib import ExitStack, closing
from functools import partial
from pathlib import Path
from typing import Iterable, Optional

from annotator.common.process_pool import default_workers, process_map
from annotator.common.progress import progress_bar
from annotator.datasets.exporting import (
    CHUNK_SIZE,
    EXPORT_ROW_FIELDS,
    WRITER_CHUNK,
    ExportError,
    export_atomically,
    export_manifest,
    export_selection,
    exported_faces,
    left_out_counts,
    stored_crop,
    usable_landmarks,
)
from annotator.datasets.formats import hf_dataset
from annotator.domain.categories import CATEGORY_NAMES
from annotator.models import Project

FORMATS = ("hf", "imagefolder")
COMMAND = "export_dataset"
MARKER = {"written_by": "face-annotator export_dataset"}
IMAGEFOLDER_SPLITS = {"train": "train", "val": "val"}


def class_folder(category: int) -> str:
    """Return the image folder's class folder: 00_Neutral ... 10_No-Face (sorted = AffectNet's order)."""
    return f"{category:02d}_{CATEGORY_NAMES[category]}"


_HF_FILES = re.compile(r"(train|validation)-\d{5}-of-\d{5}\.parquet")
_CLASS_FOLDERS = {class_folder(c) for c in range(len(CATEGORY_NAMES))}


def _not_a_dataset_export(target: Path) -> Optional[str]:
    """Return why target is not a folder export_dataset wrote (None when it is one); --force checks this."""
    try:
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "it has no manifest.json, so export_dataset did not write it"
    except (OSError, ValueError) as exc:
        return f"its manifest.json is not a readable export manifest ({exc})"
    if not isinstance(manifest, dict) or manifest.get("written_by") != MARKER["written_by"]:
        return "its manifest.json was not written by export_dataset"
    for dirpath, dirnames, filenames in os.walk(target):
        rel = Path(dirpath).relative_to(target).parts
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                return f"{path} is a symbolic link, which an export never writes"
            if not _dataset_path_ok((*rel, name), path.is_dir()):
                return f"{path} is not something export_dataset writes"
    return None


def _dataset_path_ok(parts: tuple, is_dir: bool) -> bool:
    if len(parts) == 1:
        return parts[0] in ("manifest.json", "README.md") and not is_dir or (
            is_dir and parts[0] in ("data", *IMAGEFOLDER_SPLITS.values()))
    if parts[0] == "data":
        return len(parts) == 2 and not is_dir and bool(_HF_FILES.fullmatch(parts[1]))
    if len(parts) == 2:
        return is_dir and parts[1] in _CLASS_FOLDERS
    return len(parts) == 3 and not is_dir and bool(re.fullmatch(r"\d+\.jpg", parts[2]))


def _with_crop(row):
    """Return (row, (jpeg, landmarks) or None); runs in a reader process for a large export."""
    return row, stored_crop(row.image, row.content_hash, row.landmarks)


def _write(folder: Path, *, project, layout: str, splits, categories, progress: bool, chunk_size: int, workers,
           shard_size: int) -> dict:
    faces = exported_faces(splits=splits, categories=categories, project=project)
    left_out = left_out_counts(splits=splits, categories=categories, project=project)
    counts = {split: Counter() for split in splits}
    sources = Counter()
    with_open_flags = 0
    total = faces.count()
    rows = faces.values_list(*EXPORT_ROW_FIELDS, named=True)

    def with_landmarks():
        for row in rows.iterator(chunk_size=chunk_size):
            if not usable_landmarks(row.landmarks):
                left_out["no landmarks"] += 1
                bar.update(1)
                continue
            yield row

    with ExitStack() as closing_all:
        if layout == "hf":
            (folder / "data").mkdir()
            writers = {s: hf_dataset.ShardWriter(folder / "data", hf_dataset.HF_SPLITS[s], shard_size=shard_size)
                       for s in splits}
        else:
            for split in splits:
                for category in categories:
                    (folder / IMAGEFOLDER_SPLITS[split] / class_folder(category)).mkdir(parents=True)
        bar = closing_all.enter_context(
            progress_bar(total=total, unit="face", disable=not progress, file=sys.stderr, desc=f"export {layout}"))
        source = closing_all.enter_context(closing(with_landmarks()))
        read = closing_all.enter_context(closing(process_map(
            _with_crop, source, workers=workers or default_workers(total), chunk_size=WRITER_CHUNK)))
        for row, crop in read:
            bar.update(1)
            if crop is None:
                left_out["stored image unreadable"] += 1
                continue
            jpeg, landmarks = crop
            if layout == "hf":
                writers[row.split].add(hf_dataset.row(
                    face_id=row.id, jpeg=jpeg, category=row.final_category, valence=row.final_valence,
                    arousal=row.final_arousal, landmarks=landmarks, split=row.split,
                ))
            else:
                path = folder / IMAGEFOLDER_SPLITS[row.split] / class_folder(row.final_category) / f"{row.id}.jpg"
                path.write_bytes(jpeg)
            counts[row.split][row.final_category] += 1
            sources[row.final_source] += 1
            with_open_flags += row.needs_review
        if layout == "hf":
            shards = {s: writers[s].close() for s in splits}
    if layout == "hf":
        split_names = {s: hf_dataset.HF_SPLITS[s] for s in splits}
        extra = {"shards": {s: [f"data/{name}" for name in shards[s]] for s in splits}}
    else:
        split_names = {s: IMAGEFOLDER_SPLITS[s] for s in splits}
        extra = {"class_folders": {str(c): class_folder(c) for c in categories}}
    manifest = export_manifest(
        marker=MARKER, format_name=layout, project=project, faces=faces, splits=split_names, categories=categories, counts=counts,
        sources=sources, with_open_flags=with_open_flags, left_out=left_out, **extra,
    )
    if layout == "hf":
        (folder / "README.md").write_text(hf_dataset.card(manifest), encoding="utf-8")
    return manifest


def dataset_export(
    *,
    out,
    layout: str,
    categories: Optional[Iterable[int]] = None,
    splits: Optional[Iterable[str]] = None,
    force: bool = False,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
    workers: Optional[int] = None,
    shard_size: int = hf_dataset.SHARD_SIZE,
    project=None,
) -> dict:
    """Write the faces an AffectNet export of the project (default: the default project) would write to OUT
    in `layout` (hf or imagefolder); return the manifest."""
    if layout not in FORMATS:
        raise ExportError(f"--format: {layout!r} is not one of {', '.join(FORMATS)}")
    if shard_size < 1:
        raise ExportError("--shard-size: at least 1 face a shard")
    splits, categories = export_selection(splits, categories)
    project = project or Project.objects.default()
    return export_atomically(
        out,
        force=force,
        not_ours=_not_a_dataset_export,
        command=COMMAND,
        write=partial(
            _write, project=project, layout=layout, splits=splits, categories=categories, progress=progress,
            chunk_size=chunk_size, workers=workers, shard_size=shard_size,
        ),
    )
