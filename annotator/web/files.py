"""Responses that stream a stored file (a face crop, an export's zip) to a user the view has checked.

Stored files are never public: no media URL is served and no presigned bucket URL is put in a page.
The view checks login, role and project, then streams the file through the app, from a local disk
or from S3 alike (common.storage.stored_stream).
"""
from typing import Optional

from django.http import FileResponse, Http404

from annotator.common.storage import stored_stream


def stored_file_response(name: str, *, content_type: str, cache_control: str = "private, no-cache",
                         download_name: Optional[str] = None, storage=None) -> FileResponse:
    """Return a response streaming the stored file `name`; a 404 when it is missing.

    download_name: sent as an attachment under this name (a zip download); None: shown inline.
    cache_control: "private" always, so no shared cache (a proxy, a CDN) keeps a copy for others.
    """
    try:
        stream, size = stored_stream(name, storage)
    except FileNotFoundError:
        raise Http404("Stored file missing") from None
    response = FileResponse(stream, content_type=content_type, as_attachment=download_name is not None,
                            filename=download_name or "")
    response["Content-Length"] = str(size)
    response["Cache-Control"] = cache_control
    return response
