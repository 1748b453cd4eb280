"""Photos uploaded through the web page (files or zip archives) to faces, the same way as import_images.

Uploads are untrusted: nothing of a file or member name is used in a path (files are written under
numbered names in a fresh folder under VAR_DIR/uploads), links in archives are refused, and every
size is counted while streaming, not taken from the archive's header. The folder is removed at the end.
"""
from __future__ import annotations

import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterable, Optional

from django.conf import settings

from annotator.models import Project, Split
from annotator.photos.services import PHOTO_SUFFIXES, ImportSummary, photos_import

CHUNK = 1 << 20


class _TooBig(Exception):
    pass


@dataclass
class Unpacked:
    folder: Path
    names: dict[str, str] = field(default_factory=dict)  # written path -> the name the user gave
    bad: list[str] = field(default_factory=list)
    total_bytes: int = 0

    def next_path(self, display: str) -> Path:
        path = self.folder / f"{len(self.names):06d}{PurePosixPath(display).suffix.lower()}"
        self.names[str(path)] = display
        return path


def _copy_limited(source: IO[bytes], target: Path, *, limit: int) -> int:
    """Copy at most `limit` bytes; raise _TooBig (leaving no file) past it."""
    written = 0
    with open(target, "wb") as out:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            written += len(chunk)
            if written > limit:
                break
            out.write(chunk)
    if written > limit:
        target.unlink()
        raise _TooBig
    return written


def _unpack_zip(upload, name: str, unpacked: Unpacked) -> None:
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError) as exc:
        unpacked.bad.append(f"{name}: not a readable zip archive ({exc})")
        return
    with archive:
        members = archive.infolist()
        if len(members) > settings.PHOTO_ZIP_MAX_MEMBERS:
            unpacked.bad.append(f"{name}: {len(members)} members, more than the {settings.PHOTO_ZIP_MAX_MEMBERS} "
                                "allowed (PHOTO_ZIP_MAX_MEMBERS); nothing taken from it")
            return
        for info in members:
            display = f"{name}:{info.filename}"
            member = PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir():
                continue
            if member.is_absolute() or ".." in member.parts or ":" in (member.parts[0] if member.parts else ""):
                unpacked.bad.append(f"{display}: refused (a member name that leaves the archive's folder)")
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                unpacked.bad.append(f"{display}: refused (a symbolic link)")
                continue
            if member.suffix.lower() not in PHOTO_SUFFIXES:
                continue
            room = settings.PHOTO_ZIP_MAX_TOTAL_BYTES - unpacked.total_bytes
            limit = min(settings.PHOTO_ZIP_MAX_MEMBER_BYTES, room)
            target = unpacked.next_path(display)
            try:
                with archive.open(info) as source:
                    unpacked.total_bytes += _copy_limited(source, target, limit=limit)
            except _TooBig:
                del unpacked.names[str(target)]
                if limit == room:
                    unpacked.bad.append(f"{display}: the archive unpacks to more than PHOTO_ZIP_MAX_TOTAL_BYTES "
                                        f"({settings.PHOTO_ZIP_MAX_TOTAL_BYTES} bytes); the rest of it not taken")
                    return
                unpacked.bad.append(f"{display}: larger than PHOTO_ZIP_MAX_MEMBER_BYTES "
                                    f"({settings.PHOTO_ZIP_MAX_MEMBER_BYTES} bytes) unpacked; refused")
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
                # Corrupt data (CRC), encryption or an unknown compression method: this member only.
                target.unlink(missing_ok=True)
                del unpacked.names[str(target)]
                unpacked.bad.append(f"{display}: cannot be unpacked ({exc})")


def uploads_unpack(*, files: Iterable, folder: Path, refused: Iterable[str] = ()) -> Unpacked:
    """Write uploaded photos and the photos inside uploaded zips into folder, under numbered names.

    refused: messages about files dropped while the request was read (over a size limit).
    """
    unpacked = Unpacked(folder=folder, bad=list(refused))
    for upload in files:
        name = PurePosixPath(str(upload.name).replace("\\", "/")).name or "upload"
        if upload.size > settings.PHOTO_UPLOAD_MAX_BYTES:
            unpacked.bad.append(f"{name}: {upload.size} bytes, more than PHOTO_UPLOAD_MAX_BYTES "
                                f"({settings.PHOTO_UPLOAD_MAX_BYTES}); refused")
            continue
        if name.lower().endswith(".zip"):
            _unpack_zip(upload, name, unpacked)
        elif PurePosixPath(name).suffix.lower() in PHOTO_SUFFIXES:
            upload.seek(0)
            _copy_limited(upload, unpacked.next_path(name), limit=settings.PHOTO_UPLOAD_MAX_BYTES)
        else:
            unpacked.bad.append(f"{name}: not a photo or a .zip (by its name); refused")
    return unpacked


def photos_upload(*, files: Iterable, split: str = Split.UNASSIGNED, no_face_as_candidates: bool = False,
                  workers: int = 1, refused: Iterable[str] = (), project: Optional[Project] = None,
                  progress: Optional[Callable[[int], None]] = None) -> ImportSummary:
    """Import uploaded photos and zips into the project (default: the default project); return the
    summary, sources named "upload:<name>".

    refused: messages about files dropped while the request was read; they are listed with the bad files.
    progress(n) is called as photos finish (the upload's job counts them).
    """
    folder = Path(settings.VAR_DIR) / "uploads" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        unpacked = uploads_unpack(files=files, folder=folder, refused=refused)

        def display(path: str) -> str:
            return "upload:" + unpacked.names.get(path, Path(path).name)

        summary = photos_import(folder=folder, trusted_folder=True, workers=workers, split=split,
                                no_face_as_candidates=no_face_as_candidates, source_of=display,
                                project=project, progress=progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    bad = list(unpacked.bad)
    for message in summary.bad:  # the worker's messages name the numbered file: name the upload instead
        path = message.split(": ", 1)[0]
        bad.append(display(path) + message[len(path):] if path in unpacked.names else message)
    summary.bad = bad
    summary.bad_count += len(unpacked.bad)
    summary.files += len(unpacked.bad)
    return summary
