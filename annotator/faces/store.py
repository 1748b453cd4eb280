"""Store new faces: the crop through Django's storage (content-addressed), the row in batches.

Every way faces come in (AffectNet folders, the CSV release, raw photos, the demo) goes through
faces_store(), so dedup by content hash, the overlap draw and the id sequence are handled once.
"""
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.core.management.color import no_style
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotator import signals
from annotator.domain.labels import Label
from annotator.domain.overlap import required_annotations
from annotator.faces.services import final_label_fields
from annotator.models import Face, Project, Split


@dataclass
class NewFace:
    # A 224x224 RGB JPEG, as domain.crops makes it: the export copies a stored crop
    # byte for byte while its bytes still hash to content_hash.
    crop_jpeg: bytes
    id: Optional[int] = None
    source: str = ""
    original_width: Optional[int] = None
    original_height: Optional[int] = None
    box: Optional[Sequence[float]] = None  # x, y, width, height in the original image
    landmarks: Optional[Sequence[float]] = None  # 136 numbers, crop pixels
    split: str = Split.UNASSIGNED
    required_annotations: Optional[int] = None
    crop_saved: bool = False  # crop_save() already stored the crop (an import does, ahead of the row)
    # An import's released label: the face's final label from its first row (source final_source), and the
    # answers its caller stores in the same transaction (answer_count), so no UPDATE rewrites the new rows.
    final_label: Optional[Label] = None
    final_source: str = ""
    answer_count: int = 0
    content_hash: str = field(init=False)
    landmarks_json: Optional[str] = field(init=False, default=None)  # landmarks_encode()'s cache

    def __post_init__(self):
        self.content_hash = hashlib.sha256(self.crop_jpeg).hexdigest()

    def landmarks_encode(self) -> Optional[str]:
        """Return the landmarks as the JSON text the row stores (what Django's JSONField writes for them).

        An import's reader processes call it, so the command's process, which inserts every row,
        does not encode a million landmark lists itself.
        """
        if self.landmarks_json is None and self.landmarks is not None:
            # As floats (an int is written 3.0, as Django writes the list of floats); numpy's tolist()
            # makes them at a fraction of a float() call per value.
            self.landmarks_json = json.dumps(np.asarray(self.landmarks, dtype=np.float64).reshape(-1).tolist())
        return self.landmarks_json

    def crop_release(self) -> None:
        """Drop the crop's bytes once crop_save() stored them (an import's readers send the rest back)."""
        if not self.crop_saved:
            raise ValueError("the crop is not stored yet")
        self.crop_jpeg = b""


def crop_storage_name(content_hash: str) -> str:
    """Return the storage name of a crop: sharded by hash so no folder holds a million files.

    One level of 256 folders, as git does: ~4,000 files each at a million faces. (Two levels
    made nearly every new crop create a folder, which cost as much as writing the file.)
    Faces stored earlier keep the name recorded in Face.image.
    """
    return f"faces/{content_hash[:2]}/{content_hash}.jpg"


def crop_save(content_hash: str, crop_jpeg: bytes) -> str:
    """Store a crop under its content name unless it is there already; return the name.

    Content-addressed, so this may run before the face's row exists and in any process: a crash
    in between leaves at most an unused file that the next import of that crop reuses. A file of
    another size under the name is one whose writer was killed part-way (FileSystemStorage writes
    in place): it is written again, never taken for the crop. One look-up per crop (a stat, or a
    HEAD request on S3), then a write only for a crop not stored yet.
    """
    name = crop_storage_name(content_hash)
    storage = storages["default"]
    if type(storage) is FileSystemStorage:  # noqa: E721 (a subclass may store elsewhere: it takes the general way)
        _crop_file_write(storage, name, crop_jpeg)
        return name
    try:
        if default_storage.size(name) == len(crop_jpeg):
            return name
        default_storage.delete(name)
    except FileNotFoundError:  # not stored yet (both backends say so with FileNotFoundError)
        pass
    saved = default_storage.save(name, ContentFile(crop_jpeg))
    if saved != name:  # a racing writer stored the same bytes first (a local disk); keep one copy
        default_storage.delete(saved)
    return name


def _crop_file_write(storage: FileSystemStorage, name: str, crop_jpeg: bytes) -> None:
    """crop_save() on a local folder, in as few system calls as it takes (an import writes a million).

    FileSystemStorage.save() looks the name up three times and creates its folder on every call;
    here the file is created exclusively and the folder only when it is missing. A file that exists
    with the crop's size is the crop (content-named); one of another size was cut short by a kill
    and is written again. Permissions are the storage's, as save() sets them.
    """
    path = storage.path(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(3):
        try:
            fd = os.open(path, flags, 0o666)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if storage.directory_permissions_mode is not None:
                os.chmod(os.path.dirname(path), storage.directory_permissions_mode)
            continue
        except FileExistsError:
            if os.path.getsize(path) == len(crop_jpeg):
                return
            os.remove(path)  # cut short by a killed writer: written again
            continue
        try:
            view = memoryview(crop_jpeg)
            while view:
                view = view[os.write(fd, view):]
            if storage.file_permissions_mode is not None:
                os.fchmod(fd, storage.file_permissions_mode)
        finally:
            os.close(fd)
        return
    raise OSError(f"{path}: could not be created")


def required_annotations_for(content_hash: str, project: Project) -> int:
    """Return how many answers a face needs under the project's policy (projects.policy.required_annotations)."""
    return required_annotations(content_hash, annotators_per_face=project.annotators_per_face,
                                overlap_share=project.overlap_share)


def face_id_sequence_sync() -> None:
    """Move the id sequence past ids given explicitly (PostgreSQL does not do it by itself)."""
    statements = connection.ops.sequence_reset_sql(no_style(), [Face])
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def faces_store(new_faces: Sequence[NewFace], *, project: Optional[Project] = None,
                known: Optional[tuple[set, set, set]] = None) -> list[Face]:
    """Store the faces the project has not seen before (by content hash, and by id where one is given).

    project None means the default project. A face of another project may be stored again in this one (a new row; the crop file is shared, by
    content). An id another project's face holds is given up: the face takes a new id.

    Files are written first (content-addressed, so a crash leaves at most an unused file that the
    next run reuses), then the rows in one transaction. Return the Face rows created. `known`: what
    faces_known() said of these faces just before (an importer looks first, to report them), not looked up again.
    """
    if not new_faces:
        return []
    if project is None:  # an instance of one project, and tests; importers name theirs
        project = Project.objects.default()
    else:  # the policy as it is now: a long import's batches follow a change the lead makes meanwhile
        project = Project.objects.only("slug", "annotators_per_face", "overlap_share").get(pk=project.pk)
    try:
        return _rows_store(new_faces, project, known)
    except IntegrityError:
        # Another import (two uploads of one photo) stored some of these faces after they were looked
        # up; the insert waited for its commit, so a second look finds them and stores only the rest.
        return _rows_store(new_faces, project)


def rows_by_copy() -> bool:
    """Whether new rows go in with COPY (PostgreSQL), not bulk_create: the same rows either way."""
    return connection.vendor == "postgresql"


def faces_known(new_faces: Sequence[NewFace], project: Project) -> tuple[set, set, set]:
    """Return the content hashes and ids of these faces that the project holds already, and the ids
    that faces of other projects hold (what faces_store skips or gives up; an importer reports them)."""
    return _known(new_faces, project)


def _known(new_faces: Sequence[NewFace], project: Project) -> tuple[set, set, set]:
    hashes = {nf.content_hash for nf in new_faces}
    ids = {nf.id for nf in new_faces if nf.id is not None}
    if connection.vendor == "postgresql":
        # One statement, each list one array parameter: an IN list of a batch's hashes cost the importing
        # process more to build and send than the database took to answer it.
        table = connection.ops.quote_name(Face._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, project_id, content_hash FROM {table} WHERE (project_id = %s AND "
                           f"content_hash = ANY(CAST(%s AS text[]))) OR id = ANY(CAST(%s AS bigint[]))",
                           [project.pk, list(hashes), list(ids)])
            found = cursor.fetchall()
        known_hashes = {h for _, project_id, h in found if project_id == project.pk and h in hashes}
        taken = {pk: project_id for pk, project_id, _ in found if pk in ids}
    else:
        known_hashes = set(Face.objects.filter(project=project, content_hash__in=hashes)
                           .values_list("content_hash", flat=True))
        taken = dict(Face.objects.filter(id__in=ids).values_list("id", "project_id")) if ids else {}
    known_ids = {pk for pk, project_id in taken.items() if project_id == project.pk}
    return known_hashes, known_ids, set(taken) - known_ids


def _row_defaults(project: Project) -> list:
    """Each Face field's value in a new row of the project, in field order (what Face(...) fills in)."""
    template = Face(project=project)
    return [getattr(template, f.attname) for f in Face._meta.concrete_fields]


def _rows_store(new_faces: Sequence[NewFace], project: Project, known=None) -> list[Face]:
    known_hashes, known_ids, ids_elsewhere = known or _known(new_faces, project)
    now = timezone.now()
    # Rows are made from positional values over one batch's defaults: Face(**fields) per row (its keyword
    # handling and a default looked up per field) was 30% of the importing process's CPU.
    defaults = _row_defaults(project)
    at = {f.attname: i for i, f in enumerate(Face._meta.concrete_fields)}
    project_cache = Face._meta.get_field("project")
    rows, seen, seen_order = [], set(), []
    for nf in new_faces:
        if nf.content_hash in known_hashes or nf.content_hash in seen or nf.id in known_ids:
            continue
        seen.add(nf.content_hash)
        seen_order.append(nf)
        name = crop_storage_name(nf.content_hash) if nf.crop_saved else crop_save(nf.content_hash, nf.crop_jpeg)
        box = list(nf.box) if nf.box is not None else [None] * 4
        final = final_label_fields(nf.final_label, nf.final_source, now) if nf.final_label is not None else {}
        values = defaults.copy()
        for attname, value in (
            ("id", None if nf.id in ids_elsewhere else nf.id),
            ("image", name),
            ("content_hash", nf.content_hash),
            ("source", nf.source[:2048]),
            ("original_width", nf.original_width),
            ("original_height", nf.original_height),
            ("box_x", box[0]),
            ("box_y", box[1]),
            ("box_width", box[2]),
            ("box_height", box[3]),
            ("landmarks", [float(v) for v in nf.landmarks] if nf.landmarks is not None else None),
            ("split", nf.split),
            ("required_annotations", nf.required_annotations or required_annotations_for(nf.content_hash, project)),
            ("answer_count", nf.answer_count),
            *final.items(),
        ):
            values[at[attname]] = value
        row = Face(*values)
        project_cache.set_cached_value(row, project)  # as Face(project=project) holds it
        rows.append(row)
    if not rows:
        return []
    with transaction.atomic():
        created = _rows_insert(rows, seen_order, now) if rows_by_copy() else Face.objects.bulk_create(rows)
        if any(r.id is not None for r in rows):
            face_id_sequence_sync()
        created_ids = [face.id for face in created]
        # Announced once committed (a worker must see the rows): the suggestions queue the model's work.
        transaction.on_commit(lambda: signals.faces_announce(face_ids=created_ids))
    return created


# Face columns that differ from row to row in _rows_store; every other column holds its default.
_VARYING = ("id", "project_id", "image", "content_hash", "source", "original_width", "original_height", "box_x",
            "box_y", "box_width", "box_height", "landmarks", "split", "required_annotations", "answer_count",
            "final_category", "final_valence", "final_arousal", "final_source", "final_at")


def _rows_insert(rows: list[Face], new_faces: list[NewFace], now) -> list[Face]:
    """Insert new Face rows (PostgreSQL) with COPY; return them as saved rows.

    An import inserts a million faces from one process, and bulk_create's work per value (preparing
    each field, binding each column as an array, encoding the landmarks) made that process the
    import's bottleneck. Here the columns that vary are taken as they are, the others' defaults are
    prepared once per batch, the landmarks arrive as JSON text (new_faces[i].landmarks_encode(), the
    text bulk_create would have written), and ids without a value are drawn from the sequence first.
    """
    fields = Face._meta.concrete_fields
    template = Face(project_id=rows[0].project_id)
    constants = {}
    for f in fields:
        if f.attname not in _VARYING:
            value = now if f.attname == "created_at" else getattr(template, f.attname)
            constants[f.attname] = value
    missing = [row for row in rows if row.id is None]
    table = connection.ops.quote_name(Face._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        if missing:
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                           [Face._meta.db_table, len(missing)])
            for row, (face_id,) in zip(missing, cursor.fetchall()):
                row.id = face_id
        with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row, nf in zip(rows, new_faces):
                values = []
                for f in fields:
                    name = f.attname
                    if name == "landmarks":
                        values.append(nf.landmarks_encode())
                    elif name == "image":
                        values.append(row.image.name)
                    elif name in constants:
                        values.append(constants[name])
                    else:
                        values.append(getattr(row, name))
                copy.write_row(values)
    for row in rows:
        row.created_at = now
        row._state.adding = False
        row._state.db = connection.alias
    return rows
