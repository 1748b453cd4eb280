"""Face crops on S3 (django-storages) against a real S3 server on this machine (moto's server mode):
import, suggest (in process and in a Celery worker), export, the face-image view, photo import and
training all read and write the bucket, and nothing lands under MEDIA_ROOT."""
import hashlib
import io
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from botocore.response import StreamingBody
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import default_storage
from django.core.management import call_command
from storages.backends.s3 import S3Storage

from annotator.common.storage import local_path, storage_is_local, stored_stream
from annotator.config.settings import crop_storage
from annotator.datasets.formats import affectnet_npy
from annotator.domain.categories import HAPPINESS
from annotator.faces.store import NewFace, faces_store
from annotator.models import Face, Suggestion
from annotator.projects.services import project_create
from annotator.suggestions.services import suggester_active_get_or_create
from annotator.training.data import training_samples
from tests.affectnet_helpers import write_face
from tests.conftest import make_user, wait_for
from tests.s3_helpers import S3_BACKEND, local_files, s3_bucket, s3_server  # noqa: F401 (fixtures)
from tests.suggestions.test_worker import redis_broker, worker_factory  # noqa: F401 (fixtures)

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTOS = DATA / "photos"


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def affectnet_folder(data_root) -> Path:
    """Three train faces and one val face with labels, in AffectNet's layout."""
    root = data_root / "affectnet"
    write_face(root / "train_set", 11, category=3, valence=-0.25, arousal=0.5)
    write_face(root / "train_set", 12, category=10, valence=None, arousal=None)
    write_face(root / "train_set", 13, category=0, valence=0.0, arousal=0.0)
    write_face(root / "val_set", 21, category=7, valence=-0.3, arousal=0.7)
    return root


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- settings ----------------------------------------------------------------------------------------------

def test_s3_is_configured_from_the_environment_private_and_content_addressed():
    entry = crop_storage({"FILE_STORAGE": S3_BACKEND, "AWS_STORAGE_BUCKET_NAME": "lab-crops",
                          "AWS_S3_ENDPOINT_URL": "http://minio.lab:9000", "AWS_S3_REGION_NAME": "eu-west-1",
                          "AWS_LOCATION": "faces-v2", "AWS_S3_ADDRESSING_STYLE": "path"})
    assert entry["BACKEND"] == S3_BACKEND
    options = entry["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"], options["region_name"], options["location"],
            options["addressing_style"]) == ("lab-crops", "http://minio.lab:9000", "eu-west-1", "faces-v2", "path")
    assert options["default_acl"] is None and options["querystring_auth"] is True  # never public
    assert options["file_overwrite"] is True  # content-addressed: a name always holds the same bytes
    assert "access_key" not in options and "secret_key" not in options  # AWS_* variables or boto3's chain
    with pytest.raises(ImproperlyConfigured, match="AWS_STORAGE_BUCKET_NAME"):
        crop_storage({"FILE_STORAGE": S3_BACKEND})
    assert crop_storage({}) == {"BACKEND": "django.core.files.storage.FileSystemStorage"}


def test_the_image_field_and_default_storage_follow_the_s3_settings(s3_bucket):
    """Face.image's storage is Django's lazy default_storage, so a change of STORAGES reaches it."""
    field_storage = Face._meta.get_field("image").storage
    assert isinstance(default_storage, S3Storage) and isinstance(field_storage, S3Storage)
    assert field_storage.bucket_name == s3_bucket.name and not storage_is_local()
    assert local_path("faces/ab/anything.jpg") is None  # no local path: readers open the storage instead


# --- import ------------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("workers", ["1", "2"])  # 2: reader processes store the crops (process_pool)
def test_import_affectnet_stores_the_crops_in_the_bucket_and_nothing_on_disk(data_root, s3_bucket, settings,
                                                                            workers):
    root = affectnet_folder(data_root)
    out = run("import_affectnet", str(root), "--labels", "annotations", "--workers", workers)
    assert "imported 4 faces" in out, out

    faces = list(Face.objects.order_by("id"))
    assert [f.id for f in faces] == [11, 12, 13, 21]
    assert s3_bucket.keys() == {s3_bucket.key_of(f.image.name) for f in faces}
    assert all(key.startswith("lab-crops/faces/") for key in s3_bucket.keys())  # AWS_LOCATION's prefix
    for face in faces:
        split = "train_set" if face.split == "train" else "val_set"
        stored = s3_bucket.read(face.image.name)
        assert stored == (root / split / "images" / f"{face.id}.jpg").read_bytes()  # kept byte for byte
        assert sha256(stored) == face.content_hash
        grants = s3_bucket.client.get_object_acl(Bucket=s3_bucket.name, Key=s3_bucket.key_of(face.image.name))
        assert not [g for g in grants["Grants"] if "AllUsers" in str(g["Grantee"].get("URI", ""))]  # private
    assert local_files(settings.MEDIA_ROOT) == []

    again = run("import_affectnet", str(root), "--labels", "annotations", "--workers", workers)
    assert "imported 0 faces" in again and "already present 4" in again, again
    assert len(s3_bucket.keys()) == 4


@pytest.mark.django_db
def test_a_crop_the_bucket_holds_already_is_not_written_again(data_root, s3_bucket):
    """Content-addressed: the same crop in a second project is one object, written once."""
    other = project_create(slug="pilot")
    [first] = faces_store([NewFace(crop_jpeg=(DATA / "biden_224.jpg").read_bytes(), source="a")])
    key = s3_bucket.key_of(first.image.name)
    written = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=key)["LastModified"]
    time.sleep(1.1)  # LastModified counts whole seconds: a second write would show
    [second] = faces_store([NewFace(crop_jpeg=(DATA / "biden_224.jpg").read_bytes(), source="b")], project=other)
    assert second.image.name == first.image.name and s3_bucket.keys() == {key}
    assert s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=key)["LastModified"] == written


# --- suggest -----------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_suggest_now_reads_the_crops_from_the_bucket(data_root, s3_bucket, settings):
    names = ("smiling_obama_224.jpg", "biden_224.jpg", "speaking_obama_224.jpg")
    faces = faces_store([NewFace(crop_jpeg=(DATA / n).read_bytes(), source=n) for n in names])
    suggester = suggester_active_get_or_create()
    call_command("suggest", "--now", stdout=io.StringIO())
    suggestions = {s.face_id: s for s in Suggestion.objects.filter(suggester=suggester)}
    assert set(suggestions) == {f.id for f in faces}
    assert suggestions[faces[0].id].category == HAPPINESS  # the smiling face was read, not a blank
    assert local_files(settings.MEDIA_ROOT) == []


@pytest.mark.django_db
def test_training_samples_are_read_from_the_bucket(data_root, s3_bucket):
    root = affectnet_folder(data_root)
    run("import_affectnet", str(root), "--labels", "annotations")
    samples = training_samples(splits=["train"])
    assert sorted(s.face_id for s in samples) == [11, 12, 13]
    for sample in samples:
        assert sample.image == (root / "train_set" / "images" / f"{sample.face_id}.jpg").read_bytes()


# --- export ------------------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("workers", ["1", "2"])  # 2: writer processes read the crops (process_pool)
def test_export_writes_the_buckets_crops_byte_for_byte(data_root, s3_bucket, workers):
    root = affectnet_folder(data_root)
    run("import_affectnet", str(root), "--labels", "annotations")
    out_dir = data_root / "export"
    printed = run("export_affectnet", str(out_dir), "--workers", workers)
    assert "unreadable" not in printed, printed

    for face in Face.objects.order_by("id"):
        split = out_dir / ("train_set" if face.split == "train" else "val_set")
        assert (split / "images" / f"{face.id}.jpg").read_bytes() == s3_bucket.read(face.image.name)
        annotations = split / "annotations"
        exp = np.load(annotations / f"{face.id}_exp.npy", allow_pickle=False)
        assert int(exp) == face.final_category
        lnd = np.load(annotations / f"{face.id}_lnd.npy", allow_pickle=False)
        assert lnd.shape == (136,) and np.allclose(lnd, face.landmarks)
        category, valence, arousal = affectnet_npy.read_label(
            *(annotations / affectnet_npy.annotation_name(face.id, kind) for kind in affectnet_npy.LABEL_KINDS))
        assert (category, valence, arousal) == (face.final_category, face.final_valence, face.final_arousal)


@pytest.mark.django_db
def test_export_dataset_imagefolder_writes_the_buckets_crops(data_root, s3_bucket):
    root = affectnet_folder(data_root)
    run("import_affectnet", str(root), "--labels", "annotations")
    out_dir = data_root / "folder"
    assert "wrote 4 faces" in run("export_dataset", str(out_dir), "--format", "imagefolder", "--workers", "2")
    found = {int(path.stem): path.read_bytes() for path in out_dir.glob("*/*/*.jpg")}
    assert found == {face.id: s3_bucket.read(face.image.name) for face in Face.objects.all()}


# --- the face-image view -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_face_image_streams_the_crop_from_the_bucket_to_members_only(data_root, s3_bucket, client, settings,
                                                                    annotator_user):
    [face] = faces_store([NewFace(crop_jpeg=(DATA / "biden_224.jpg").read_bytes(), source="biden")])
    url = f"/api/faces/{face.id}/image/"

    client.force_login(annotator_user)
    response = client.get(url)
    assert response.status_code == 200 and "Location" not in response  # streamed, not sent to the bucket
    body = b"".join(response.streaming_content)
    assert body == s3_bucket.read(face.image.name) == (DATA / "biden_224.jpg").read_bytes()
    assert response["Content-Type"] == "image/jpeg" and int(response["Content-Length"]) == len(body)
    assert response["Cache-Control"].startswith("private")
    assert s3_bucket.endpoint not in response.serialize_headers().decode()

    outsider = make_user("ann_pilot", "annotator", projects=[project_create(slug="pilot")])
    client.force_login(outsider)
    assert client.get(url).status_code == 404  # another project's face is no face
    client.force_login(make_user("no_role"))
    assert client.get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302  # to the sign-in page

    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=s3_bucket.key_of(face.image.name))
    client.force_login(annotator_user)
    assert client.get(url).status_code == 404  # the object is gone: a 404, not a 500


def test_a_stored_file_is_streamed_from_the_bucket_not_read_whole_first(s3_bucket):
    """What the face image and an export's zip download rest on: chunks as they arrive from S3."""
    payload = bytes(range(256)) * 4096  # 1 MiB
    name = default_storage.save("exports/one.zip", io.BytesIO(payload))
    stream, size = stored_stream(name)
    try:
        assert isinstance(stream, StreamingBody) and size == len(payload)  # botocore's reader of the socket
        assert stream.read(1000) == payload[:1000]
        assert stream.read() == payload[1000:]
    finally:
        stream.close()
    with pytest.raises(FileNotFoundError):
        stored_stream("exports/none.zip")


def test_on_a_local_disk_the_same_helpers_give_the_file_and_its_path(data_root, settings):
    name = default_storage.save("exports/one.zip", io.BytesIO(b"PK local"))
    assert storage_is_local() and local_path(name) == str(Path(settings.MEDIA_ROOT) / name)
    stream, size = stored_stream(name)
    with stream:
        assert stream.read() == b"PK local" and size == 8
    with pytest.raises(FileNotFoundError):
        local_path("exports/none.zip")


# --- photo import ------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_import_images_stores_the_photo_crops_in_the_bucket(data_root, s3_bucket, settings):
    shutil.copy(PHOTOS / "grace_hopper.jpg", data_root)
    run("import_images", str(data_root), "--workers", "1")
    [face] = Face.objects.all()
    assert s3_bucket.keys() == {s3_bucket.key_of(face.image.name)}
    assert sha256(s3_bucket.read(face.image.name)) == face.content_hash
    assert local_files(settings.MEDIA_ROOT) == []


# --- a Celery worker process on the same bucket -----------------------------------------------------------

@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_computes_suggestions_from_the_bucket(data_root, s3_bucket, redis_broker,
                                                               worker_factory):
    """The worker is configured only by its environment (FILE_STORAGE and AWS_*), as in production."""
    from django.contrib.auth.models import Group

    for name in ("annotator", "reviewer", "admin"):  # a transactional test's flush drops the migration's groups
        Group.objects.get_or_create(name=name)
    worker = worker_factory(redis_broker, MEDIA_ROOT=str(data_root / "worker-media-unused"), **s3_bucket.env)
    suggester = suggester_active_get_or_create()
    names = ("smiling_obama_224.jpg", "biden_224.jpg")
    ids = [f.id for f in faces_store([NewFace(crop_jpeg=(DATA / n).read_bytes(), source=n) for n in names])]
    try:
        wait_for(lambda: Suggestion.objects.filter(face_id__in=ids, suggester=suggester).count() == 2, 90,
                 "suggestions from the worker")
    except AssertionError:
        raise AssertionError(worker.output()) from None
    assert Suggestion.objects.get(face_id=ids[0], suggester=suggester).category == HAPPINESS
    assert local_files(data_root / "worker-media-unused") == []
