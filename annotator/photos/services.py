"""Import raw photos as faces: walk a folder lazily, detect in a process pool, store in batches.

The pool's workers (common.process_pool, without Django) run photos.detection; only this parent
process touches the database, through faces.store.faces_store (the one way faces are stored). Memory stays bounded on
folders of any size: files are listed lazily, at most a few photos per worker are in flight, and
results are written and dropped in batches.
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator, Optional

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from annotator.common.paths import PathNotAllowed, allowed_path, child_within
from annotator.common.process_pool import process_map
from annotator.console.services import console_action_record
from annotator.domain.batching import chunked
from annotator.domain.categories import CATEGORY_NAMES
from annotator.faces.store import NewFace, faces_store
from annotator.jobs.services import job_create
from annotator.models import Job, Photo, Project, Split, Suggester, Suggestion
from annotator.photos import detection
from annotator.suggestions.services import suggestions_store

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}
NO_FACE = 10  # AffectNet's No-Face category
SUGGESTER_NAME = "face-detector"
logger = logging.getLogger(__name__)
LISTED_MAX = 1000  # names kept in a summary's lists; counts go on (reports stream every one as it happens)


@dataclass
class ImportSummary:
    files: int = 0  # photo files found
    seen_before: int = 0  # skipped: the same bytes were imported before (or earlier in this run)
    photos: int = 0  # decoded and searched for faces
    faces_found: int = 0
    faces_stored: int = 0  # new faces (a crop already stored is not stored again)
    no_face_count: int = 0
    no_face: list[str] = field(default_factory=list)  # the first LISTED_MAX of them
    no_face_candidates: int = 0  # no-face photos stored as faces with a No-Face suggestion
    bad_count: int = 0
    bad: list[str] = field(default_factory=list)  # one message per bad file, naming it (the first LISTED_MAX)
    seconds: dict[str, float] = field(default_factory=dict)  # per stage, summed over workers
    elapsed: float = 0.0
    detector: str = ""  # the face detector used
    warning: str = ""  # why it is not the configured one (its model files are missing), else ""
    report: Optional[Callable[[str, str], None]] = field(default=None, repr=False)

    def add_bad(self, message: str) -> None:
        self.bad_count += 1
        self._list("bad", self.bad, message)

    def add_no_face(self, name: str) -> None:
        self.no_face_count += 1
        self._list("no face", self.no_face, name)

    def _list(self, kind: str, listed: list[str], text: str) -> None:
        if len(listed) < LISTED_MAX:
            listed.append(text)
        if self.report:
            self.report(kind, text)

    def add_seconds(self, stage: str, value: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + value

    def line(self, no_face_as_candidates: bool) -> str:
        """The one-line summary import_images prints (and an upload's job shows)."""
        rate = self.photos / self.elapsed if self.elapsed else 0.0
        return (
            f"{self.files} photo files ({self.detector} detector): {self.photos} read, "
            f"{self.seen_before} seen before (skipped), "
            f"{self.bad_count} bad; {self.faces_found} faces found, {self.faces_stored} new faces stored, "
            f"{self.no_face_count} photos with no face"
            + (f" ({self.no_face_candidates} stored as No-Face candidates)" if no_face_as_candidates else "")
            + f"; {self.elapsed:.1f} s ({rate:.1f} photos/s)"
        )


def photo_files(folder: Path, on_bad: Callable[[str], None]) -> Iterator[Path]:
    """Yield photo files under folder and its sub-folders, lazily (a directory's entries as they come).

    A link that leads out of the folder is reported through on_bad and not used; linked folders are
    never followed (their photos would be reached twice, or from outside the folder).
    """
    stack = [folder]
    while stack:
        here = stack.pop()
        subfolders = []
        try:
            with os.scandir(here) as entries:
                for entry in entries:
                    path = Path(entry.path)
                    if entry.is_symlink():
                        try:
                            child_within(folder, path)
                        except PathNotAllowed as exc:
                            on_bad(str(exc))
                            continue
                        if entry.is_dir():
                            continue
                    elif entry.is_dir(follow_symlinks=False):
                        subfolders.append(path)
                        continue
                    if path.suffix.lower() in PHOTO_SUFFIXES:
                        yield path
        except OSError as exc:
            on_bad(f"{here}: cannot be listed ({exc.strerror or exc})")
        stack.extend(sorted(subfolders, reverse=True))


def _file_sha256(path: Path) -> Optional[str]:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None  # the worker reports the read error, naming the file
    return digest.hexdigest()


def _new_paths(paths: Iterator[Path], summary: ImportSummary, chunk_size: int, project: Project) -> Iterator[Path]:
    """Yield the paths whose bytes were not imported into the project before (one query per chunk).

    Copies inside one chunk are caught here; copies further apart in the same run are caught when
    stored (faces_store dedups crops by content), so no set grows with the folder.
    """
    for chunk in chunked(paths, chunk_size):
        this_run: set[str] = set()
        started = time.perf_counter()
        hashed = [(path, _file_sha256(path)) for path in chunk]
        known = set(Photo.objects.filter(project=project, sha256__in=[h for _, h in hashed if h])
                    .values_list("sha256", flat=True))
        summary.add_seconds("seen-check", time.perf_counter() - started)
        for path, sha in hashed:
            summary.files += 1
            if sha and (sha in known or sha in this_run):
                summary.seen_before += 1
                continue
            if sha:
                this_run.add(sha)
            yield path


def analysed_photos(paths: Iterator[Path], *, workers: int, detector: str, keep_whole: bool) -> Iterator[detection.PhotoResult]:
    """Yield each photo's result as it is ready, from a pool of `workers` processes (in this process for 1).

    A photo at a time per task (each takes tens of milliseconds or more), in no particular order, so a
    slow one holds none back. The workers run only photos.detection, which needs no Django, and
    load the models once each.
    """
    yield from process_map(partial(detection.analyse_photo, keep_whole=keep_whole), (str(path) for path in paths),
                           workers=workers, chunk_size=1, ordered=False, initializer=detection.load_models,
                           initargs=(detector,), with_django=False)


def no_face_suggester(detector: str) -> Suggester:
    suggester, _ = Suggester.objects.get_or_create(
        name=SUGGESTER_NAME, version=detector,
        defaults={"kind": Suggester.Kind.BUILTIN, "config": {"says": "No-Face where the detector found no face"}},
    )
    return suggester


def _store_batch(results: list[detection.PhotoResult], *, summary: ImportSummary, split: str, detector: str,
                 source_of: Callable[[str], str], project: Project) -> None:
    """Store one batch: the faces (through faces_store), the photo records, No-Face suggestions (through
    suggestions_store, like any model's)."""
    started = time.perf_counter()
    new_faces, candidate_hashes, photos = [], set(), []
    for result in results:
        result.path = source_of(result.path)
        for face in result.faces:
            new_faces.append(NewFace(crop_jpeg=face.crop_jpeg, source=result.path, original_width=result.width,
                                     original_height=result.height, box=face.box, landmarks=face.landmarks,
                                     split=split))
        if not result.faces and result.whole_jpeg is not None:
            nf = NewFace(crop_jpeg=result.whole_jpeg, source=result.path, original_width=result.width,
                         original_height=result.height, split=split)
            new_faces.append(nf)
            candidate_hashes.add(nf.content_hash)
        photos.append(Photo(project=project, sha256=result.sha256, source=result.path[:2048], width=result.width,
                            height=result.height, face_count=len(result.faces), detector=detector))
    with transaction.atomic():
        created = faces_store(new_faces, project=project)
        Photo.objects.bulk_create(photos, ignore_conflicts=True)
        candidates = [face for face in created if face.content_hash in candidate_hashes]
        if candidates:
            suggester = no_face_suggester(detector)
            probabilities = [0.0] * len(CATEGORY_NAMES)
            probabilities[NO_FACE] = 1.0
            suggestions_store(suggester=suggester, rows=[
                Suggestion(face=face, probabilities=probabilities, category=NO_FACE, confidence=1.0,
                           valence=None, arousal=None)
                for face in candidates
            ])
    summary.faces_stored += len(created) - len(candidates)
    summary.no_face_candidates += len(candidates)
    summary.add_seconds("store", time.perf_counter() - started)


def photos_import(*, folder, workers: Optional[int] = None, detector: Optional[str] = None,
                  no_face_as_candidates: bool = False, split: str = Split.UNASSIGNED, batch_size: int = 64,
                  progress: Optional[Callable[[int], None]] = None, trusted_folder: bool = False,
                  source_of: Callable[[str], str] = str,
                  report: Optional[Callable[[str, str], None]] = None,
                  project: Optional[Project] = None) -> ImportSummary:
    """Turn every photo under folder into faces; return what happened (bad files listed, never raised).

    The folder must lie under DATA_ROOTS (PathNotAllowed otherwise) unless the server made it
    itself (trusted_folder, the upload page's temporary folder). progress(n) is called as photos
    finish. source_of(path) gives what is recorded as a face's source (the path by default).
    report(kind, text) is called for each bad file ("bad"), each photo with no face ("no face"), and once
    when the configured detector is unavailable and Haar is used ("warning"). The faces go into `project`
    (default: the default project); a photo imported into another project before is imported again
    (its crops are stored once, by content).
    """
    root = Path(folder).resolve() if trusted_folder else allowed_path(folder)
    if not root.is_dir():
        raise PathNotAllowed(f"{folder}: not a folder")
    if split not in Split.values:
        raise ValueError(f"split {split!r}: choose from {', '.join(Split.values)}")
    warning = ""
    if detector is None:  # the configured one; asked for by name, a missing detector fails below instead
        detector, warning = detection.detector_or_fallback(settings.FACE_DETECTOR)
    workers = workers or settings.PHOTO_IMPORT_WORKERS or os.cpu_count() or 1
    if workers > 1:
        detection.Models(detector, landmarks=False)  # an unavailable detector fails here, not in every worker
    summary = ImportSummary(report=report, detector=detector, warning=warning)
    if warning:
        logger.warning(warning)
        if report:
            report("warning", warning)
    started = time.perf_counter()
    project = project or Project.objects.default()
    paths = _new_paths(photo_files(root, summary.add_bad), summary, chunk_size=batch_size, project=project)
    batch: list[detection.PhotoResult] = []
    for result in analysed_photos(paths, workers=workers, detector=detector, keep_whole=no_face_as_candidates):
        if progress:
            progress(1)
        if result.error:
            summary.add_bad(result.error)
            continue
        summary.photos += 1
        summary.faces_found += len(result.faces)
        if not result.faces:
            summary.add_no_face(source_of(result.path))
        for stage, value in result.seconds.items():
            summary.add_seconds(stage, value)
        batch.append(result)
        if len(batch) >= batch_size:
            _store_batch(batch, summary=summary, split=split, detector=detector, source_of=source_of,
                         project=project)
            batch = []
    if batch:
        _store_batch(batch, summary=summary, split=split, detector=detector, source_of=source_of, project=project)
    summary.elapsed = time.perf_counter() - started
    return summary


def photos_upload_start(*, user, files, split: str, no_face_as_candidates: bool, refused, project: Project):
    """Store uploaded files (default storage, uploads/<job id>/, under numbered names: nothing of a user's
    file name is used in a path) and start the upload's job (annotator.photos.tasks); return the job.
    Recorded in the console's history."""
    stored = []
    try:
        with transaction.atomic():
            job = job_create(kind=Job.Kind.PHOTO_UPLOAD, user=user, project=project, options={})
            for number, upload in enumerate(files):
                name = PurePosixPath(str(upload.name).replace("\\", "/")).name or "upload"
                suffix = PurePosixPath(name).suffix.lower()[:10]
                upload.seek(0)
                path = default_storage.save(f"uploads/job-{job.id}/{number:06d}{suffix}", upload)
                stored.append({"stored": path, "name": name})
            job.options = {"files": stored, "refused": list(refused), "split": split,
                           "no_face_as_candidates": no_face_as_candidates}
            job.save(update_fields=["options"])
            console_action_record(user, "upload.start", f"uploaded {len(stored)} file(s) into {project.slug}: job {job.id}",
                                  project=project, details={"job": job.id, "files": [f["name"] for f in stored],
                                                            "split": split})
    except BaseException:
        for item in stored:
            default_storage.delete(item["stored"])
        raise
    return job
