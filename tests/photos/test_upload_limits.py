"""Size limits of the photo upload page, enforced while the body arrives, not after it was spooled.

Real requests through Django's WSGI test handler and its real ASGI handler; the bodies are real
multipart bodies whose reads are counted.
"""
import asyncio
import io
import os
import threading
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.core.handlers.asgi import ASGIHandler
from django.db import connections
from django.test import Client
from django.test.client import encode_multipart

from annotator.faces.store import NewFace, faces_store
from annotator.models import Face
from tests.conftest import make_user
from tests.console.jobs_helpers import jobs_inline  # noqa: F401  (fixture)

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"
URL = "/photos/upload/"
BOUNDARY = "----upload-limits-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


class CountingBody(io.BytesIO):
    """A request body that counts the bytes the server side has read from it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size=-1):
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


class Upload(io.BytesIO):
    """A file part for encode_multipart (it reads .name)."""

    def __init__(self, name, data):
        super().__init__(data)
        self.name = name


def body(files, **fields) -> bytes:
    return encode_multipart(BOUNDARY, {"files": [Upload(n, d) for n, d in files], "split": "unassigned", **fields})


def photo(name) -> bytes:
    return (PHOTOS / name).read_bytes()


@pytest.fixture
def upload_dirs(data_root, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "spool")  # where Django spools uploaded files
    (tmp_path / "spool").mkdir()
    return tmp_path / "var" / "uploads"


@pytest.fixture
def stored_face(data_root):
    """A face stored before the uploads: nothing an upload refuses may touch it."""
    [face] = faces_store([NewFace(crop_jpeg=(PHOTOS.parent / "biden_224.jpg").read_bytes(), source="before")])
    return face


def uploads_left(upload_dirs):
    return list(upload_dirs.iterdir()) if upload_dirs.exists() else []


@pytest.mark.django_db
def test_content_length_over_the_request_limit_is_refused_before_the_body_is_read(jobs_inline,
    client, admin_user_role, upload_dirs, stored_face, settings, tmp_path
):
    settings.PHOTO_UPLOAD_MAX_REQUEST_BYTES = 100_000
    data = body([("grace_hopper.jpg", photo("grace_hopper.jpg")), ("astronaut.jpg", photo("astronaut.jpg")),
                 ("two_faces.jpg", photo("two_faces.jpg"))])
    assert len(data) > 100_000
    stream = CountingBody(data)
    client.force_login(admin_user_role)
    response = jobs_inline(client, URL, data, content_type=CONTENT_TYPE, **{"wsgi.input": stream})

    assert response.status_code == 413
    page = response.content.decode()
    assert f"The upload is {len(data)} bytes" in page
    assert "more than PHOTO_UPLOAD_MAX_REQUEST_BYTES (100000 bytes (97.66 KiB))" in page
    assert stream.bytes_read == 0  # refused by its Content-Length: not one byte of the body read
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == []
    assert list(Face.objects.values_list("id", flat=True)) == [stored_face.id]
    assert Face.objects.get(id=stored_face.id).image.read() == (PHOTOS.parent / "biden_224.jpg").read_bytes()
    assert uploads_left(upload_dirs) == []

    # Under the limit, the same page imports as before.
    response = jobs_inline(client, URL, body([("grace_hopper.jpg", photo("grace_hopper.jpg"))]), content_type=CONTENT_TYPE)
    assert response.status_code == 200 and Face.objects.filter(source="upload:grace_hopper.jpg").count() == 1


def spool_peak(folder: Path, stop: threading.Event, peak: list):
    """Record the most bytes Django's upload spool folder held at once, until stop is set."""
    while not stop.is_set():
        total = 0
        for entry in os.scandir(folder):
            try:
                total += entry.stat().st_size
            except FileNotFoundError:
                pass
        peak[0] = max(peak[0], total)
        stop.wait(0.0005)


@pytest.mark.django_db
def test_a_file_over_the_per_file_limit_is_dropped_as_it_is_read_and_named(jobs_inline,
    client, admin_user_role, upload_dirs, stored_face, settings
):
    settings.PHOTO_UPLOAD_MAX_BYTES = 100_000
    big = photo("obama.jpg") + b"\0" * (24 * 1024 * 1024)  # a photo with 24 MiB of trailing bytes
    client.force_login(admin_user_role)
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=spool_peak, args=(Path(settings.FILE_UPLOAD_TEMP_DIR), stop, peak))
    sampler.start()
    try:
        response = jobs_inline(client, URL, body([("big.jpg", big), ("grace_hopper.jpg", photo("grace_hopper.jpg"))]),
                               content_type=CONTENT_TYPE)
    finally:
        stop.set()
        sampler.join()

    assert response.status_code == 200
    page = response.content.decode()
    assert "big.jpg: more than PHOTO_UPLOAD_MAX_BYTES (100000 bytes (97.66 KiB)); refused, not read past the limit" \
        in page
    assert Face.objects.filter(source="upload:grace_hopper.jpg").count() == 1  # the other file is imported
    assert not Face.objects.filter(source__contains="big.jpg").exists()
    assert Face.objects.filter(id=stored_face.id).exists()
    # The big file never reached the spool beyond the limit (one 64 KiB chunk at most past it).
    assert peak[0] <= 100_000 + len(photo("grace_hopper.jpg")) + 64 * 1024, peak[0]
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == [] and uploads_left(upload_dirs) == []


@pytest.mark.django_db
def test_every_file_over_the_limit_gives_the_summary_not_a_form_error(jobs_inline, client, admin_user_role, upload_dirs, settings):
    settings.PHOTO_UPLOAD_MAX_BYTES = 50_000
    client.force_login(admin_user_role)
    response = jobs_inline(client, URL, body([("astronaut.jpg", photo("astronaut.jpg"))]), content_type=CONTENT_TYPE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "astronaut.jpg: more than PHOTO_UPLOAD_MAX_BYTES (50000 bytes (48.83 KiB))" in page
    assert 'id="job-summary"' in page and "This field is required" not in page
    assert Face.objects.count() == 0


@pytest.mark.django_db
def test_the_upload_still_checks_csrf(jobs_inline, admin_user_role, upload_dirs):
    """The view that sets the upload handlers is csrf_exempt; its inner view must check CSRF itself."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user_role)
    data = body([("grace_hopper.jpg", photo("grace_hopper.jpg"))])
    assert jobs_inline(client, URL, data, content_type=CONTENT_TYPE).status_code == 403
    assert Face.objects.count() == 0
    token = client.get(URL).cookies["csrftoken"].value
    response = jobs_inline(client, URL, body([("grace_hopper.jpg", photo("grace_hopper.jpg"))], csrfmiddlewaretoken=token),
                           content_type=CONTENT_TYPE)
    assert response.status_code == 200 and Face.objects.filter(source="upload:grace_hopper.jpg").count() == 1


def asgi_post(path, data: bytes, headers: list) -> tuple:
    """POST through Django's real ASGI handler, the body in 64 KiB messages; return (status, body)."""
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    sent, response = [], {"status": None, "body": b""}

    async def receive():
        if len(sent) < len(chunks):
            sent.append(1)
            return {"type": "http.request", "body": chunks[len(sent) - 1], "more_body": len(sent) < len(chunks)}
        await asyncio.Event().wait()  # the client stays connected until the response is sent

    async def send(message):
        if message["type"] == "http.response.start":
            response["status"] = message["status"]
        elif message["type"] == "http.response.body":
            response["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "headers": headers}
    def serve():
        # In a thread of its own: the browser tests leave an event loop running in the test's thread,
        # where async_to_sync refuses to run. The view runs in the new thread; its connection is closed there.
        try:
            async_to_sync(ASGIHandler())(scope, receive, send)
        except BaseException as exc:  # handed to the test's thread
            response["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join(60)
    if "error" in response:
        raise response["error"]
    return response["status"], response["body"].decode()


@pytest.mark.django_db(transaction=True)
def test_reading_stops_past_the_request_limit_when_content_length_lies(upload_dirs, settings):
    """Under ASGI the parser reads the whole body whatever Content-Length says: the handler's count stops it."""
    from django.contrib.auth.models import Group

    Group.objects.get_or_create(name="admin")
    admin = make_user("admin-asgi", "admin")
    settings.PHOTO_UPLOAD_MAX_REQUEST_BYTES = 100_000
    client = Client()
    client.force_login(admin)
    token = client.get(URL).cookies["csrftoken"].value
    session = client.cookies["sessionid"].value
    data = body([("grace_hopper.jpg", photo("grace_hopper.jpg")), ("astronaut.jpg", photo("astronaut.jpg")),
                 ("two_faces.jpg", photo("two_faces.jpg"))], csrfmiddlewaretoken=token)
    headers = [(b"host", b"testserver"), (b"content-type", CONTENT_TYPE.encode()),
               (b"content-length", b"1000"),  # a lie: the body is about 200 KB
               (b"cookie", f"sessionid={session}; csrftoken={token}".encode())]
    status, page = asgi_post(URL, data, headers)

    assert status == 413, page[-2000:]
    assert "passed PHOTO_UPLOAD_MAX_REQUEST_BYTES (100000 bytes (97.66 KiB)) while it was read (at astronaut.jpg)" \
        in page
    assert Face.objects.count() == 0  # nothing of a refused upload is stored, not even the first photo
    assert list(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir()) == [] and uploads_left(upload_dirs) == []
