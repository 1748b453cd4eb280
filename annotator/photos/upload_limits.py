"""Size limits of the photo upload page, enforced while the request body arrives.

Django spools an uploaded file to a temporary file as it parses the body; a limit checked on the
finished file (its .size) comes after the whole body was read and written to disk. Here:

- the view refuses a request whose Content-Length is over PHOTO_UPLOAD_MAX_REQUEST_BYTES before
  anything of its body is read (request_too_large);
- LimitedUploadHandler, put first among the request's upload handlers, counts the bytes of each
  file as they are parsed, without trusting any header: a file passing PHOTO_UPLOAD_MAX_BYTES is
  dropped there (SkipFile: nothing more of it reaches the temporary file) and named in `refused`;
  files passing PHOTO_UPLOAD_MAX_REQUEST_BYTES together stop the parse at once
  (StopUpload(connection_reset=True): the rest of the body is not read) and set `too_large`.

Upload handlers must be set before request.POST or request.FILES is first touched, so the view
that sets them is csrf_exempt and checks CSRF itself in an inner csrf_protect view (Django's
documented pattern): CsrfViewMiddleware reads request.POST.
"""
from __future__ import annotations

from pathlib import PurePosixPath
from typing import Optional

from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload


def short_size(n: int) -> str:
    """Return '200 MiB' (or '512 bytes')."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n} bytes"


def size_text(n: int) -> str:
    """Return '209715200 bytes (200 MiB)': the exact number and a readable one."""
    short = short_size(n)
    return f"{n} bytes" if short.endswith("bytes") else f"{n} bytes ({short})"


def content_length(request) -> Optional[int]:
    """Return the request's Content-Length, or None when it is absent or not a number."""
    try:
        value = int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    return value if value >= 0 else None


def request_too_large(request, limit: int) -> Optional[str]:
    """Return why the request is refused by its Content-Length alone (nothing of the body read), or None."""
    length = content_length(request)
    if length is None or length <= limit:
        return None
    return (f"The upload is {size_text(length)}, more than PHOTO_UPLOAD_MAX_REQUEST_BYTES ({size_text(limit)}) "
            "for one request; nothing of it was read or stored. Upload fewer files at a time, or use "
            "`manage.py import_images` for a large collection.")


class LimitedUploadHandler(FileUploadHandler):
    """Count every uploaded byte as it arrives; drop a file over the per-file limit, stop past the request limit."""

    def __init__(self, request=None, *, max_file_bytes: int, max_request_bytes: int):
        super().__init__(request)
        self.max_file_bytes = max_file_bytes
        self.max_request_bytes = max_request_bytes
        self.request_bytes = 0  # bytes of every file so far
        self.file_bytes = 0
        self.refused: list[str] = []  # one message per file dropped
        self.too_large: Optional[str] = None  # why the parse was stopped, if it was

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self.file_bytes = 0

    def receive_data_chunk(self, raw_data, start):
        self.file_bytes += len(raw_data)
        self.request_bytes += len(raw_data)
        if self.request_bytes > self.max_request_bytes:
            self.too_large = (
                f"The upload passed PHOTO_UPLOAD_MAX_REQUEST_BYTES ({size_text(self.max_request_bytes)}) while it "
                f"was read (at {self._name()}); reading stopped there and nothing of it was stored. Upload "
                "fewer files at a time, or use `manage.py import_images` for a large collection."
            )
            raise StopUpload(connection_reset=True)
        if self.file_bytes > self.max_file_bytes:
            self.refused.append(f"{self._name()}: more than PHOTO_UPLOAD_MAX_BYTES ({size_text(self.max_file_bytes)}); "
                                "refused, not read past the limit")
            raise SkipFile
        return raw_data  # the next handler (memory or temporary file) keeps it

    def file_complete(self, file_size):
        return None  # the next handler makes the uploaded file

    def _name(self) -> str:
        return PurePosixPath(str(self.file_name or "upload").replace("\\", "/")).name or "upload"
