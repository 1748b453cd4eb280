"""The file storage of face crops (and other stored files), whichever backend the settings name.

Code reads and writes stored files through Django's storage API (open, save, size, delete), so the
crops may live on a local disk (FileSystemStorage under MEDIA_ROOT) or in an S3 bucket
(django-storages, FILE_STORAGE in the settings). Where a local file is faster to hand on as a path
(training data loaders), local_path() gives it, only for a FileSystemStorage.
"""
from typing import IO, Optional

from django.core.files.storage import FileSystemStorage, default_storage


def storage_is_local(storage=None) -> bool:
    """True when the storage (default: the crops') keeps its files on this machine's file system."""
    return isinstance(storage if storage is not None else default_storage, FileSystemStorage)


def local_path(name: str, storage=None) -> Optional[str]:
    """Return the local file path of a stored file on a FileSystemStorage, else None (S3: no path).

    FileNotFoundError when the storage is local and the file is missing.
    """
    storage = storage if storage is not None else default_storage
    if not storage_is_local(storage):
        return None
    path = storage.path(name)
    if not storage.exists(name):
        raise FileNotFoundError(path)
    return path


def stored_stream(name: str, storage=None) -> tuple[IO[bytes], int]:
    """Open a stored file to be read in chunks: return (a file-like object, its size in bytes).

    An S3 object is read as it arrives from the bucket (nothing buffered whole in memory or on
    disk, which matters for an export's zip of gigabytes); a local file is opened as a file.
    FileNotFoundError when there is no such file. The caller closes the file-like object.
    """
    storage = storage if storage is not None else default_storage
    handle = storage.open(name, "rb")  # FileNotFoundError for a missing file, on every backend
    s3_object = getattr(handle, "obj", None)  # django-storages' S3File: the boto3 Object behind it
    if s3_object is None:
        return handle, handle.size
    from botocore.exceptions import ClientError  # only with an S3 backend (boto3 is installed then)

    try:
        reply = s3_object.get()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise FileNotFoundError(name) from None  # deleted between the open and the read
        raise
    return reply["Body"], reply["ContentLength"]
