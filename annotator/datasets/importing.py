"""Import AffectNet data (the images/annotations folders, the full release's CSV) and Parquet datasets.

Each face is read and checked whole (image, landmarks, labels) before anything of it is stored,
so a bad file skips its face and nothing else. Good faces are stored in batches through
faces.store.faces_store; with labels, each batch's faces, their answers and final labels are
written in one transaction.
"""

import os
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from annotator.common.paths import PathNotAllowed, allowed_path, child_within
from annotator.common.process_pool import default_workers, process_map
from annotator.common.progress import progress_bar
from annotator.datasets.formats import affectnet_csv, affectnet_npy, hf_dataset
from annotator.domain.crops import ImageUnreadable, NotAnImage, crop_normalise, face_crop, landmarks_scale
from annotator.domain.labels import Label
from annotator.faces import store
from annotator.faces.store import NewFace, crop_save, faces_known, faces_store
from annotator.models import MAX_ID, Annotation, Face, FinalSource, Project, Split

DEFAULT_IMPORT_USER = "affectnet-import"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SPLIT_FOLDERS = {"train_set": Split.TRAIN, "val_set": Split.VAL}
CSV_SPLITS = {"training": Split.TRAIN, "validation": Split.VAL}
READER_CHUNK = 64  # faces per task sent to a reader process
ANALYZE_AFTER = 10_000  # faces imported by one run, past which it refreshes the planner's statistics itself


class ImportLayoutError(ValueError):
    """A folder or file that is not in a layout the importer reads."""


class _Skip(Exception):
    def __init__(self, file, reason):
        super().__init__(reason)
        self.file, self.reason = str(file), reason

    def __reduce__(self):  # crosses from a reader process
        return (_Skip, (self.file, self.reason))


@dataclass
class ImportReport:
    imported: int = 0
    already_present: int = 0
    annotations: int = 0
    skipped: list = field(default_factory=list)  # (file, reason)

    def skip(self, file, reason: str) -> None:
        self.skipped.append((str(file), reason))

    def lines(self) -> list[str]:
        """Return the summary for people: counts, then one line per skipped face."""
        out = [
            f"imported {self.imported} faces ({self.annotations} annotations), "
            f"already present {self.already_present}, skipped {len(self.skipped)}"
        ]
        out += [f"  skipped {file}: {reason}" for file, reason in self.skipped]
        return out


@dataclass
class _Candidate:
    new_face: NewFace
    label: Optional[Label]
    file: str


def import_user(username: str):
    """Return the user whose answers hold imported labels, creating it without password or role."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _crop_reason(exc: ImageUnreadable) -> str:
    """Return why an image was skipped (the report names the file on the same line)."""
    if isinstance(exc, NotAnImage):
        return "not a readable image (unknown or damaged image format)"
    return exc.reason


def _safe_file(root: Path, path: Union[str, Path]) -> Union[str, Path]:
    """Return path if it stays inside root; a symlink must resolve inside root too.

    The folders holding the files were checked once, so a plain file in them is inside; only a
    link needs resolving (this keeps the check cheap for a million files).
    """
    if os.path.islink(path):
        try:
            return child_within(root, path)
        except PathNotAllowed as exc:
            raise _Skip(path, f"symlink points outside the imported folder ({exc})") from None
    return path


def _read_bytes(root: Path, path: Union[str, Path]) -> bytes:
    path = _safe_file(root, path)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise _Skip(path, f"cannot read ({exc.strerror or exc})") from None


def _store_batch(batch: list[_Candidate], *, user, project: Project, report: ImportReport) -> None:
    """Store a batch (crops already stored): skip what the project has, then faces + answers + final
    labels atomically. A face of another project is stored again in this one (a new row, the same crop
    file); an AffectNet id another project's face holds is given up (faces_store gives it a new id)."""
    known = faces_known([c.new_face for c in batch], project)
    known_hashes, known_ids, _ = known
    fresh, seen_hashes, seen_ids = [], set(), {}
    for c in batch:
        nf = c.new_face
        if nf.content_hash in known_hashes or nf.content_hash in seen_hashes:
            report.already_present += 1  # the same crop is never stored twice in a project
            continue
        if nf.id is not None and (nf.id in known_ids or nf.id in seen_ids):
            other = seen_ids.get(nf.id, "a face already stored")
            report.skip(c.file, f"id {nf.id} is already used by a different image ({other})")
            continue
        seen_hashes.add(nf.content_hash)
        if nf.id is not None:
            seen_ids[nf.id] = c.file
        fresh.append(c)
    if not fresh:
        return
    for c in fresh:
        if c.label is not None:
            # A released label is one someone already decided: it is the face's final label (source
            # "import") until a reviewer changes it, whatever flags are raised about it later. The row is
            # inserted with it, and with the count of the one answer stored beside it: no UPDATE after.
            c.new_face.final_label, c.new_face.final_source, c.new_face.answer_count = c.label, FinalSource.IMPORT, 1
    with transaction.atomic():
        created = {face.content_hash: face for face in faces_store([c.new_face for c in fresh], project=project,
                                                                    known=known)}
        # A face another import stored meanwhile is not created here (faces_store skips it): no answer for it.
        labelled = [(created[c.new_face.content_hash], c.label) for c in fresh
                    if c.label is not None and c.new_face.content_hash in created]
        if labelled:
            _answers_insert(labelled, user)
    report.imported += len(created)
    report.annotations += len(labelled)


def _answers_insert(labelled: list, user) -> None:
    """Store each (face, label) as an imported answer of user: COPY on PostgreSQL, bulk_create elsewhere.

    The same rows either way: the label's fields, imported, and every other field at its default
    (created_at and updated_at the moment of the insert). Neither way writes a history row.
    """
    if not store.rows_by_copy():
        Annotation.objects.bulk_create(
            [Annotation(face=face, annotator=user, category=lab.category, valence=lab.valence, arousal=lab.arousal,
                        imported=True) for face, lab in labelled]
        )
        return
    now = timezone.now()
    template = Annotation(annotator=user, imported=True)
    fields = [f for f in Annotation._meta.concrete_fields if not f.primary_key]  # id: the identity's next value
    varying = ("face_id", "category", "valence", "arousal")
    constants = [None if f.attname in varying else now if f.attname in ("created_at", "updated_at")
                 else getattr(template, f.attname) for f in fields]
    at = {name: [f.attname for f in fields].index(name) for name in varying}
    table = connection.ops.quote_name(Annotation._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor, connection.wrap_database_errors, \
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for face, lab in labelled:
            values = list(constants)
            values[at["face_id"]], values[at["category"]] = face.id, lab.category
            values[at["valence"]], values[at["arousal"]] = lab.valence, lab.arousal
            copy.write_row(values)


def _read(item) -> Union[_Candidate, _Skip]:
    """Read and check one face (item is a callable doing it, or a _Skip already), then store its crop.

    The crop goes in ahead of the face's row: it is content-named, so a crash in between leaves
    at most an unused file. Only a face whose every file passed is stored; one refused later (an
    id already used by a different image) leaves an unused file, never a half-written face.
    """
    if not callable(item):
        return item
    try:
        candidate = item()
    except _Skip as skip:
        return skip
    crop_save(candidate.new_face.content_hash, candidate.new_face.crop_jpeg)
    candidate.new_face.crop_saved = True
    # What the command's process would do for each row is done here, beside the reading: the
    # landmarks' JSON text; and the crop's bytes, stored now, need not travel back to it.
    candidate.new_face.landmarks_encode()
    candidate.new_face.crop_release()
    return candidate


def _run(
    candidates: Iterable,
    *,
    workers: Optional[int],
    total: Optional[int],
    user,
    project: Optional[Project],
    batch_size: Optional[int],
    progress: bool,
) -> ImportReport:
    report = ImportReport()
    project = project or Project.objects.default()
    workers = workers or default_workers(total)
    batch_size = batch_size or settings.IMPORT_BATCH_SIZE
    batch: list[_Candidate] = []
    with progress_bar(total=total, unit="face", disable=not progress, file=sys.stderr, desc="import") as bar:
        # Reader processes also store the crops, under their own GIL: writer threads in this
        # process were starved by its database work.
        for item in process_map(_read, candidates, workers=workers, chunk_size=READER_CHUNK):
            if isinstance(item, _Skip):
                report.skip(item.file, item.reason)
            else:
                batch.append(item)
            bar.update(1)
            if len(batch) >= batch_size:
                _store_batch(batch, user=user, project=project, report=report)
                batch = []
        if batch:
            _store_batch(batch, user=user, project=project, report=report)
    if report.imported >= ANALYZE_AFTER:
        _statistics_refresh()
    return report


def _statistics_refresh() -> None:
    """ANALYZE the tables an import filled (PostgreSQL): until autovacuum reaches them, which after a
    million rows took more than 20 minutes here, the planner plans on the old row counts and spreads
    (at 1M faces it chose a merge join that read 450,000 faces for a page of the review queue)."""
    if connection.vendor != "postgresql":
        return
    tables = [connection.ops.quote_name(m._meta.db_table) for m in (Face, Annotation)]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(tables)}")


# --- the images/annotations layout --------------------------------------------------------


def affectnet_layout(root: Path, *, split: Optional[str] = None) -> list[tuple[str, Path]]:
    """Return (split, split folder) pairs: root's train_set/ and val_set/, or root itself.

    A folder that itself holds images/ and annotations/ is one split: `split` if given, else
    train/val from its name (train_set, val_set), else unassigned.
    """
    if (root / "images").is_dir():
        return [(split or SPLIT_FOLDERS.get(root.name, Split.UNASSIGNED), root)]
    found = [(s, root / name) for name, s in SPLIT_FOLDERS.items() if (root / name / "images").is_dir()]
    if not found:
        raise ImportLayoutError(f"{root}: no train_set/images, val_set/images or images/ folder")
    if split:
        found = [(split, folder) for _, folder in found]
    return found


def _folder_candidates(root: Path, split: str, folder: Path, *, labels: bool) -> Iterator:
    images, annotations = folder / "images", folder / "annotations"
    for sub in (images, annotations):
        if sub.exists():
            child_within(root, sub)  # a linked images/ folder leading elsewhere is refused whole
    # The per-face paths are strings (os.path), not Path objects: pathlib's parsing cost more CPU a
    # face than reading its four annotation files.
    annotations = str(annotations)
    with os.scandir(images) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files (.DS_Store and the like) are not faces
            path = entry.path
            stem, suffix = os.path.splitext(entry.name)
            if suffix.lower() not in IMAGE_SUFFIXES:
                yield _Skip(path, f"not an image file name (expected {', '.join(IMAGE_SUFFIXES)})")
                continue
            if not (stem.isascii() and stem.isdigit()) or int(stem) > MAX_ID:
                yield _Skip(path, f"file name {stem!r} is not a numeric face id")
                continue
            yield partial(_folder_face, root, split, path, stem, annotations, labels=labels)


def _folder_face(root: Path, split: str, image_path: str, stem: str, annotations: str, *, labels: bool) -> _Candidate:
    try:
        crop, size = crop_normalise(_read_bytes(root, image_path), name=str(image_path))
    except ImageUnreadable as exc:
        raise _Skip(image_path, _crop_reason(exc)) from None
    for kind in affectnet_npy.KINDS if labels else ("lnd",):
        _safe_file(root, os.path.join(annotations, affectnet_npy.annotation_name(stem, kind)))
    try:
        ann = affectnet_npy.read_face(annotations, stem, labels=labels)
    except affectnet_npy.AnnotationFileError as exc:
        raise _Skip(exc.path, exc.reason) from None
    label = Label(ann.category, ann.valence, ann.arousal) if labels else None
    new_face = NewFace(
        crop,
        id=int(stem),
        source=image_path,
        original_width=size[0],
        original_height=size[1],
        landmarks=landmarks_scale(ann.landmarks, (0, 0, *size)),  # the whole image is the crop
        split=split,
        required_annotations=1 if labels else None,
    )
    return _Candidate(new_face=new_face, label=label, file=image_path)


def _count_entries(folder: Path) -> int:
    with os.scandir(folder) as entries:
        return sum(1 for _ in entries)


def affectnet_folder_import(
    *,
    path,
    labels: bool = False,
    username: str = DEFAULT_IMPORT_USER,
    split: Optional[str] = None,
    batch_size: Optional[int] = None,
    progress: bool = True,
    workers: Optional[int] = None,
    project: Optional[Project] = None,
) -> ImportReport:
    """Import an AffectNet images/annotations folder; return what was imported and skipped.

    With labels, each face's _exp/_val/_aro become an answer of `username` and, the face needing
    that one answer, its final label. Running it again adds nothing. The faces go into `project`
    (default: the default project).
    """
    root = allowed_path(path)
    if not root.is_dir():
        raise ImportLayoutError(f"{path}: not a folder")
    layout = affectnet_layout(root, split=split)
    for _, folder in layout:
        child_within(root, folder)
    total = sum(_count_entries(folder / "images") for _, folder in layout)
    user = import_user(username) if labels else None

    def candidates():
        for split_name, folder in layout:
            yield from _folder_candidates(root, split_name, folder, labels=labels)

    return _run(
        candidates(),
        total=total,
        user=user,
        project=project,
        batch_size=batch_size,
        progress=progress,
        workers=workers,
    )


# --- the full release's CSV ----------------------------------------------------------------


def _csv_candidates(csv_path: Path, images: Path, split: str, *, labels: bool) -> Iterator:
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's BOM
        try:
            rows = affectnet_csv.read_rows(handle, name=str(csv_path), labels=labels)
            for row in rows:
                if isinstance(row, affectnet_csv.CsvRowError):
                    yield _Skip(row.where, row.reason)
                    continue
                yield partial(_csv_face, row, images, split)
        except affectnet_csv.CsvRowError as exc:  # the header itself
            raise ImportLayoutError(str(exc)) from None


def _csv_face(row, images: Path, split: str) -> _Candidate:
    image_path = images / row.path
    try:
        child_within(images, image_path)  # '..' or a link must not leave the images folder
    except PathNotAllowed as exc:
        raise _Skip(image_path, f"outside the images folder ({exc})") from None
    try:
        crop, size, points = face_crop(_read_bytes(images, image_path), row.box, row.landmarks, name=str(image_path))
    except ImageUnreadable as exc:
        raise _Skip(image_path, _crop_reason(exc)) from None
    stem = Path(row.path).stem
    face_id = int(stem) if stem.isascii() and stem.isdigit() and int(stem) <= MAX_ID else None
    label = Label(row.category, row.valence, row.arousal) if row.category is not None else None
    new_face = NewFace(
        crop,
        id=face_id,
        source=str(image_path),
        original_width=size[0],
        original_height=size[1],
        box=row.box,
        landmarks=points,
        split=split,
        required_annotations=1 if label else None,
    )
    return _Candidate(new_face=new_face, label=label, file=str(image_path))


def affectnet_csv_import(
    *,
    csv_path,
    images,
    labels: bool = False,
    username: str = DEFAULT_IMPORT_USER,
    split: Optional[str] = None,
    batch_size: Optional[int] = None,
    progress: bool = True,
    workers: Optional[int] = None,
    project: Optional[Project] = None,
) -> ImportReport:
    """Import the faces of a full-release CSV (training.csv / validation.csv) from its images."""
    csv_file = allowed_path(csv_path)
    images_dir = allowed_path(images)
    if not csv_file.is_file():
        raise ImportLayoutError(f"{csv_path}: not a file")
    if not images_dir.is_dir():
        raise ImportLayoutError(f"{images}: not a folder")
    split = split or CSV_SPLITS.get(csv_file.stem, Split.UNASSIGNED)
    with open(csv_file, "rb") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)
    user = import_user(username) if labels else None
    candidates = _csv_candidates(csv_file, images_dir, split, labels=labels)
    return _run(
        candidates,
        total=total,
        user=user,
        project=project,
        batch_size=batch_size,
        progress=progress,
        workers=workers,
    )


# --- a Hugging Face / Parquet dataset (export_dataset --format hf) ---------------------------


class DatasetImportError(ImportLayoutError):
    """A dataset import refused whole: a file, row and field at fault; nothing of the dataset was stored."""


def _dataset_face(row: hf_dataset.DatasetRow, split: str, labels: bool) -> _Candidate:
    try:
        crop, size = crop_normalise(row.jpeg, name=row.where)
    except ImageUnreadable as exc:
        raise _Skip(f"{row.where}: image", _crop_reason(exc)) from None
    new_face = NewFace(
        crop,
        id=row.face_id,
        source=row.where,
        original_width=size[0],
        original_height=size[1],
        landmarks=landmarks_scale(row.landmarks, (0, 0, *size)),  # the whole image is the crop
        split=split,
        required_annotations=1 if labels else None,
    )
    label = Label(row.category, row.valence, row.arousal) if labels else None
    return _Candidate(new_face=new_face, label=label, file=row.where)


def dataset_import(
    *,
    path,
    labels: bool = True,
    username: str = DEFAULT_IMPORT_USER,
    split: Optional[str] = None,
    batch_size: Optional[int] = None,
    progress: bool = True,
    workers: Optional[int] = None,
    project: Optional[Project] = None,
) -> ImportReport:
    """Import a dataset that export_dataset --format hf wrote (PATH, PATH/data or one .parquet file) into
    `project` (default: the default project).

    Each row becomes a face (its `id` kept, as import_affectnet keeps file stems) and, with labels,
    its label an answer of `username` and the face's final label (source import). All or nothing:
    every file's schema is checked first, then the rows are stored in one transaction that a bad
    row (file, row and field named) or an unreadable image rolls back whole. Its split: --split,
    else the row's `split`, else the shard's name (train-..., validation-...), else unassigned.
    """
    root = allowed_path(path)
    if not root.exists():
        raise DatasetImportError(f"{path}: no such file or folder")
    try:
        files = [child_within(root, f) if f != root else f for f in hf_dataset.dataset_files(root)]
        for file in files:
            hf_dataset.check_schema(file)
        total = sum(hf_dataset.row_count(file) for file in files)
    except hf_dataset.DatasetFileError as exc:
        raise DatasetImportError(str(exc)) from None
    user = import_user(username) if labels else None

    def candidates():
        for file in files:
            file_split = hf_dataset.split_of_file(file)
            for row in hf_dataset.read_rows(file):
                yield partial(_dataset_face, row, split or row.split or file_split or Split.UNASSIGNED, labels)

    try:
        with transaction.atomic():
            report = _run(candidates(), total=total, user=user, batch_size=batch_size, progress=progress,
                          workers=workers, project=project)
            if report.skipped:
                where, reason = report.skipped[0]
                more = f" (and {len(report.skipped) - 1} more)" if len(report.skipped) > 1 else ""
                raise DatasetImportError(f"{where}: {reason}{more}; nothing was imported")
    except hf_dataset.DatasetFileError as exc:
        raise DatasetImportError(f"{exc}; nothing was imported") from None
    return report
