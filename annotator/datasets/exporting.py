"""Export the faces with a final label in AffectNet's images/annotations layout (and CSV).

The export is written into a temporary folder beside OUT and renamed to OUT at the end, so an
export that dies half-way leaves OUT as it was. Faces are streamed from the database in chunks:
memory does not grow with their number.
"""

import errno
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from contextlib import ExitStack, closing
from functools import partial
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db.models import Count
from django.utils import timezone

from annotator.common.paths import PathNotAllowed, allowed_path
from annotator.common.process_pool import default_workers, process_map
from annotator.common.progress import progress_bar
from annotator.datasets.answer_export import answer_tables_write
from annotator.datasets.formats import affectnet_csv, affectnet_npy, answer_tables
from annotator.domain.categories import CATEGORY_NAMES, NUM_CATEGORIES
from annotator.domain.crops import BOX_MARGIN, CROP_SIZE, ImageUnreadable, crop_normalise, landmarks_scale
from annotator.faces.selectors import faces_with_final_label
from annotator.models import Face, Project, Split, Suggester

SPLIT_FOLDERS = {Split.TRAIN: "train_set", Split.VAL: "val_set"}
CSV_NAMES = {Split.TRAIN: "training.csv", Split.VAL: "validation.csv"}
EXPORT_SPLITS = (Split.TRAIN, Split.VAL)
CHUNK_SIZE = 1000  # rows fetched from the database at a time
WRITER_CHUNK = 64  # faces per task sent to a writer process
# The CSV's face box is the one whose 15% expansion is the whole 224x224 image, so reading the
# CSV by the release's rule (expand the box by 15%, crop, resize) gives back the exported image.
_INNER = CROP_SIZE / (1 + 2 * BOX_MARGIN)
CSV_BOX = (BOX_MARGIN * _INNER, BOX_MARGIN * _INNER, _INNER, _INNER)

LEFT_OUT_REASONS = (
    "no final label",
    "open disagreement (needs review)",
    "unassigned split",
    "split not selected",
    "category not selected",
    "no landmarks",
    "stored image unreadable",
)


# Written into every manifest.json: --force replaces only a folder that carries it (and holds nothing
# an export does not write), so it can never delete a folder of someone's own files.
MANIFEST_MARKER = {"written_by": "face-annotator export_affectnet"}
_SPLIT_FILES = {
    "images": re.compile(r"[0-9]+\.jpg"),
    "annotations": re.compile(r"[0-9]+_(?:%s)\.npy" % "|".join(affectnet_npy.KINDS)),
}


class ExportError(ValueError):
    """An export that cannot start (OUT not allowed, not empty, ...) or could not be written (disk full, ...)."""


EXPORT_ROW_FIELDS = (
    "id", "split", "image", "content_hash", "landmarks", "final_category", "final_valence", "final_arousal",
    "final_source", "needs_review",
)


def exported_faces(*, splits, categories, project: Project):
    """Return the faces an export writes (before its per-face checks): the project's faces with a final
    label of the categories, in the splits."""
    return faces_with_final_label(splits=splits, projects=[project]).filter(final_category__in=categories)


def export_selection(splits, categories) -> tuple[list, list]:
    """Return the splits (train and val by default) and categories (all by default) an export writes."""
    splits = [Split(s) for s in (splits or EXPORT_SPLITS)]
    if Split.UNASSIGNED in splits:
        raise ExportError("--split: only train and val are exported (AffectNet has no other split)")
    categories = sorted(categories) if categories is not None else list(range(NUM_CATEGORIES))
    return splits, categories


def usable_landmarks(landmarks) -> bool:
    """Return whether a face's stored landmarks are AffectNet's 136 numbers (an export leaves the others out)."""
    return bool(landmarks) and len(landmarks) == affectnet_npy.LANDMARK_VALUES


def _write_failed(out, exc: OSError) -> ExportError:
    """Return the error for an export that could not be written (OUT is as it was then)."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        return ExportError(
            f"{out}: {reason} while writing the export{where}; nothing in {out} changed and the partial export "
            "was removed. Free space on that disk (or export to another one) and run the export again."
        )
    return ExportError(f"{out}: the export could not be written: {exc.strerror or exc}{where}; nothing in {out} "
                       "changed and the partial export was removed.")


def _not_an_export(target: Path) -> Optional[str]:
    """Return why target is not a folder this command wrote (None when it is one).

    A folder this command wrote holds its manifest.json with MANIFEST_MARKER and nothing else but
    what an export writes: the split folders with their images/ and annotations/ files, the CSVs.
    """
    try:
        with open(target / "manifest.json", encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        return "it has no manifest.json, so export_affectnet did not write it"
    except (OSError, ValueError) as exc:
        return f"its manifest.json is not a readable export manifest ({exc})"
    if not isinstance(manifest, dict) or any(manifest.get(k) != v for k, v in MANIFEST_MARKER.items()):
        return "its manifest.json was not written by export_affectnet"
    top = {"manifest.json", *CSV_NAMES.values(), answer_tables.ANSWERS_FILE, answer_tables.FACES_FILE}
    folders = set(SPLIT_FOLDERS.values())
    with os.scandir(target) as entries:
        for entry in entries:
            if entry.is_symlink():
                return f"{entry.path} is a symbolic link, which an export never writes"
            if entry.name in folders and entry.is_dir():
                why = _not_a_split_folder(Path(entry.path))
                if why:
                    return why
            elif entry.name not in top or not entry.is_file():
                return f"{entry.path} is not something an export writes"
    return None


def _not_a_split_folder(folder: Path) -> Optional[str]:
    """Return the first entry of a split folder that an export does not write (None: there is none)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            pattern = _SPLIT_FILES.get(entry.name)
            if pattern is None or entry.is_symlink() or not entry.is_dir():
                return f"{entry.path} is not something an export writes"
            with os.scandir(entry.path) as files:
                for file in files:
                    if not pattern.fullmatch(file.name) or file.is_symlink() or not file.is_file():
                        return f"{file.path} is not something an export writes"
    return None


def _check_replaceable(target: Path, out, not_ours=_not_an_export, command="export_affectnet") -> None:
    """Raise ExportError unless target is missing, empty, or an earlier export this command wrote."""
    if not target.exists() or not any(target.iterdir()):
        return
    why = not_ours(target)
    if why:
        raise ExportError(f"{out}: --force replaces only a folder that {command} wrote, and {why}; "
                          "nothing was deleted")


def _target(out) -> Path:
    try:
        target = allowed_path(out, purpose="write")
        allowed_path(target.parent, purpose="write")  # the temporary folder is made beside OUT
    except PathNotAllowed as exc:
        raise ExportError(f"{exc} (OUT must be a folder inside one of DATA_ROOTS)") from None
    return target


def stored_crop(name: str, content_hash: str, landmarks) -> Optional[tuple[bytes, list]]:
    """Return (224x224 RGB JPEG bytes, landmarks in its pixels) for a stored crop; None if it cannot be read.

    A crop whose bytes still hash to the face's content hash is the one faces.store stored, and
    every way in stores a 224x224 RGB JPEG (domain.crops makes them): it is copied byte for
    byte. Anything else (a file changed, damaged or put there by other means) is decoded whole and
    converted if need be; one that does not decode is left out.
    """
    try:
        with default_storage.open(name, "rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() == content_hash:
            return data, landmarks
        data, size = crop_normalise(data, name=name)
    except (OSError, ImageUnreadable, ValueError):
        return None
    return data, landmarks_scale(landmarks, (0, 0, *size))  # the whole image is the crop


def left_out_counts(*, splits, categories, project: Project) -> Counter:
    """Count the project's faces that the export leaves out, by reason (those decided before writing)."""
    counts = Counter()
    faces = Face.objects.filter(project=project)
    unlabelled = faces.filter(final_category__isnull=True)
    counts["no final label"] = unlabelled.filter(needs_review=False).count()
    counts["open disagreement (needs review)"] = unlabelled.filter(needs_review=True).count()
    labelled = faces.filter(final_category__isnull=False)
    for row in labelled.values("split").annotate(n=Count("id")):
        if row["split"] == Split.UNASSIGNED:
            counts["unassigned split"] += row["n"]
        elif row["split"] not in splits:
            counts["split not selected"] += row["n"]
    counts["category not selected"] = labelled.filter(split__in=splits).exclude(final_category__in=categories).count()
    return counts


def _involved(exported_faces) -> tuple[list[str], list[dict]]:
    """Return the annotators (usernames) and the models that worked on the exported faces."""
    face_ids = exported_faces.values("id")
    users = get_user_model().objects.filter(annotations__face__in=face_ids).distinct()
    models = Suggester.objects.filter(suggestions__face__in=face_ids).distinct()
    return (
        sorted(users.values_list("username", flat=True)),
        [{"name": n, "version": v} for n, v in models.order_by("name", "version").values_list("name", "version")],
    )


def _face_files_write(folder: str, row):
    """Write one face's image and annotation files; return its row with the landmarks as written.

    The landmarks are None when the stored image cannot be read (nothing is written then). Runs
    in a writer process for a large export (rows are Django's named rows, which pickle).
    """
    crop = stored_crop(row.image, row.content_hash, row.landmarks)
    if crop is None:
        return row._replace(landmarks=None)
    data, landmarks = crop
    split_folder = os.path.join(folder, SPLIT_FOLDERS[row.split])
    with open(os.path.join(split_folder, "images", f"{row.id}.jpg"), "wb") as handle:
        handle.write(data)
    lnd = np.asarray(landmarks, dtype=np.float64)
    affectnet_npy.write_face(
        os.path.join(split_folder, "annotations"),
        row.id,
        category=row.final_category,
        valence=row.final_valence,
        arousal=row.final_arousal,
        landmarks=lnd,
    )
    return row._replace(landmarks=lnd)


def _left_out_reason(face: dict, *, categories, unreadable: set) -> Optional[str]:
    """Return why a face of an exported split is not in images/ (None: it is); the manifest's reasons."""
    if face["final_category"] is None:
        return "open disagreement (needs review)" if face["needs_review"] else "no final label"
    if face["final_category"] not in categories:
        return "category not selected"
    if not usable_landmarks(face["landmarks"]):
        return "no landmarks"
    if face["id"] in unreadable:
        return "stored image unreadable"
    return None


def _write(
    folder: Path, *, project: Project, splits, categories, csv: bool, progress: bool, chunk_size: int, workers,
    answers: bool = False, names: bool = False,
) -> dict:
    faces = exported_faces(splits=splits, categories=categories, project=project)
    left_out = left_out_counts(splits=splits, categories=categories, project=project)
    counts = {split: Counter() for split in splits}
    sources = Counter()
    with_open_flags = 0
    unreadable = set()  # ids of the faces whose stored image could not be read (few, if any)
    rows = faces.values_list(*EXPORT_ROW_FIELDS, named=True)
    total = faces.count()

    def with_landmarks():
        for row in rows.iterator(chunk_size=chunk_size):
            if not usable_landmarks(row.landmarks):
                left_out["no landmarks"] += 1
                bar.update(1)
                continue
            yield row

    # Every file and the writer processes are closed before an error leaves (the disk filled, say):
    # the caller removes the folder, and no writer may still be adding to it then.
    with ExitStack() as closing_all:
        csv_writers = {}
        for split in splits:
            for sub in ("images", "annotations"):
                (folder / SPLIT_FOLDERS[split] / sub).mkdir(parents=True)
            if csv:
                handle = closing_all.enter_context(open(folder / CSV_NAMES[split], "w", newline="", encoding="utf-8"))
                csv_writers[split] = affectnet_csv.CsvWriter(handle)
        bar = closing_all.enter_context(
            progress_bar(total=total, unit="face", disable=not progress, file=sys.stderr, desc="export"))
        # Reading each stored crop and writing five files a face is the work; writer processes
        # do it beside this one, which streams the rows and keeps the counts and the CSV in order.
        source = closing_all.enter_context(closing(with_landmarks()))  # its database cursor too
        written = closing_all.enter_context(closing(process_map(
            partial(_face_files_write, str(folder)),
            source,
            workers=workers or default_workers(total),
            chunk_size=WRITER_CHUNK,
        )))
        for row in written:
            bar.update(1)
            if row.landmarks is None:
                left_out["stored image unreadable"] += 1
                unreadable.add(row.id)
                continue
            if csv:
                csv_writers[row.split].write(
                    path=f"{SPLIT_FOLDERS[row.split]}/images/{row.id}.jpg",
                    box=CSV_BOX,
                    landmarks=row.landmarks,
                    category=row.final_category,
                    valence=row.final_valence,
                    arousal=row.final_arousal,
                )
            counts[row.split][row.final_category] += 1
            sources[row.final_source] += 1
            with_open_flags += row.needs_review
    tables = None
    if answers:
        tables = answer_tables_write(
            folder,
            splits=splits,
            left_out=partial(_left_out_reason, categories=set(categories), unreadable=unreadable),
            names=names,
            chunk_size=chunk_size,
            progress=progress,
            project=project,
        )
    return export_manifest(
        marker=MANIFEST_MARKER,
        format_name=affectnet_npy.FORMAT.name,
        project=project,
        faces=faces,
        splits={split: SPLIT_FOLDERS[split] for split in splits},
        categories=categories,
        counts=counts,
        sources=sources,
        with_open_flags=with_open_flags,
        left_out=left_out,
        csv=[CSV_NAMES[s] for s in splits] if csv else [],
        # answers.parquet and faces.parquet (export_affectnet --answers): their files and row counts.
        answer_tables=tables,
    )


def export_manifest(
    *, marker: dict, format_name: str, project: Project, faces, splits: dict, categories, counts: dict,
    sources: Counter, with_open_flags: int, left_out: Counter, **extra,
) -> dict:
    """Return an export's manifest.json: what was written (counts per split and category) and what was left out.

    splits maps each exported split to its folder (or shard prefix) in this format; extra holds the
    format's own entries (placed after the shared ones but before who worked on the faces).
    """
    annotators, models = _involved(faces)
    return {
        **marker,
        "format": format_name,
        "exported_at": timezone.now().isoformat(),
        "project": {"slug": project.slug, "name": project.name},
        "splits": splits,
        "categories": categories,
        "category_names": {str(c): CATEGORY_NAMES[c] for c in categories},
        **{k: v for k, v in extra.items() if k == "csv"},
        "total": sum(sum(c.values()) for c in counts.values()),
        "counts": {
            split: {**{str(c): counts[split][c] for c in categories}, "total": sum(counts[split].values())}
            for split in splits
        },
        "final_label_sources": dict(sources),
        # Imported and reviewed labels stay final while a flag about them waits for review.
        "exported_with_open_flags": with_open_flags,
        "left_out": {reason: left_out[reason] for reason in LEFT_OUT_REASONS},
        "annotators": annotators,
        "models": models,
        **{k: v for k, v in extra.items() if k != "csv"},
    }


def _replace(new: Path, target: Path, out, not_ours=_not_an_export, command="export_affectnet") -> None:
    """Put the finished export at target; an old one is swapped out first, then deleted.

    The old folder is checked again here: the export may have run for an hour since the first check.
    """
    if target.exists() and any(target.iterdir()):
        _check_replaceable(target, out, not_ours, command)
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
        try:
            os.rename(new, target)
        except BaseException:
            os.rename(old, target)  # OUT as it was
            raise
        shutil.rmtree(old)
    else:
        os.rename(new, target)  # rename(2) replaces an empty folder in one step


def affectnet_export(
    *,
    out,
    categories: Optional[Iterable[int]] = None,
    splits: Optional[Iterable[str]] = None,
    csv: bool = False,
    force: bool = False,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
    workers: Optional[int] = None,
    answers: bool = False,
    names: bool = False,
    project: Optional[Project] = None,
) -> dict:
    """Write every face of the project (default: the default project) with a final label to
    OUT/train_set and OUT/val_set; return the manifest (which names the project).

    Faces whose split is unassigned are left out (and counted in the manifest): a split is a
    decision for the person who owns the dataset, not for the export. workers: writer processes
    (default: one per core for a large export; 1 writes in this process). answers: also write
    answers.parquet and faces.parquet (every answer; per face its soft label), with usernames only
    when names.
    """
    splits, categories = export_selection(splits, categories)
    project = project or Project.objects.default()
    return export_atomically(
        out,
        force=force,
        write=partial(
            _write,
            project=project,
            splits=splits,
            categories=categories,
            csv=csv,
            progress=progress,
            chunk_size=chunk_size,
            workers=workers,
            answers=answers,
            names=names,
        ),
    )


def export_atomically(out, *, force: bool, write, not_ours=_not_an_export, command="export_affectnet") -> dict:
    """Run write(folder) -> manifest in a temporary folder beside OUT, add manifest.json, then put it at OUT.

    What every export shares: OUT must lie under DATA_ROOTS and be missing or empty, or, with force,
    a folder this command wrote (not_ours(folder) says why not); an export that fails or is killed
    leaves OUT as it was.
    """
    target = _target(out)
    if target.exists():
        if not target.is_dir():
            raise ExportError(f"{out}: exists and is not a folder")
        if any(target.iterdir()):
            if not force:
                raise ExportError(f"{out}: exists and is not empty (--force replaces an earlier export)")
            _check_replaceable(target, out, not_ours, command)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial_folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as exc:
        raise _write_failed(out, exc) from exc
    try:
        manifest = write(partial_folder)
        with open(partial_folder / "manifest.json", "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2)
            handle.write("\n")
        _replace(partial_folder, target, out, not_ours, command)
    except BaseException as exc:
        shutil.rmtree(partial_folder, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _write_failed(out, exc) from exc
        raise
    return manifest
