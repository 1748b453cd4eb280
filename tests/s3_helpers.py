"""A real S3-compatible server on this machine for the crop-storage tests: moto's server mode.

`python -m moto.server` is an HTTP server that speaks S3's REST API (on 127.0.0.1, a free port); the
app reaches it through django-storages and boto3 exactly as it would reach AWS or MinIO, from this
process, from process-pool workers and from a Celery worker subprocess alike. Nothing is mocked in
process. Each test gets a bucket of its own and the crop storage pointed at it.
"""
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

S3_BACKEND = "storages.backends.s3.S3Storage"
REGION = "us-east-1"
# moto's server takes any credentials; these are what the app, boto3 and the worker subprocess send.
ACCESS_KEY, SECRET_KEY = "test-access-key", "test-secret-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """The URL of a moto S3 server subprocess, started once for the session and stopped after it."""
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    for _ in range(3):  # the free port may be taken between the look-up and the server's bind
        port = _free_port()
        log = open(log_path, "ab")
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                                     "AWS_SECRET_ACCESS_KEY": SECRET_KEY})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and not _listening(port):
            time.sleep(0.1)
        if proc.poll() is None and _listening(port):
            break
        proc.kill()
        proc.wait()
        log.close()
    else:
        pytest.fail("moto's S3 server did not start:\n" + Path(log_path).read_text(errors="replace")[-3000:])
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@dataclass
class S3Bucket:
    """The test's bucket on the moto server, the environment that points the app at it, and a client."""

    endpoint: str
    name: str
    prefix: str
    client: object  # a boto3 S3 client of the test's own (not the app's storage)

    @property
    def env(self) -> dict:
        """Environment variables that make a subprocess (manage.py, a Celery worker) store crops here."""
        return {
            "FILE_STORAGE": S3_BACKEND,
            "AWS_STORAGE_BUCKET_NAME": self.name,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_LOCATION": self.prefix,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def keys(self) -> set:
        """Return the keys of every object in the bucket."""
        keys = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name):
            keys |= {item["Key"] for item in page.get("Contents", [])}
        return keys

    def key_of(self, storage_name: str) -> str:
        """Return the object key of a storage name (the name a Face's image field holds)."""
        return f"{self.prefix}/{storage_name}" if self.prefix else storage_name

    def read(self, storage_name: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=self.key_of(storage_name))["Body"].read()


def s3_storages(bucket: S3Bucket, base: dict) -> dict:
    """Return STORAGES with the crops on the bucket, built by the settings' own crop_storage() from the
    environment a deployment would set; the credentials are put in the options too, so process-pool
    workers (which get STORAGES from the parent, not its environment) use them."""
    from annotator.config.settings import crop_storage

    entry = crop_storage(bucket.env)
    entry["OPTIONS"].update(access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    return {**base, "default": entry}


@pytest.fixture
def s3_bucket(s3_server, settings, tmp_path):
    """A fresh private bucket on the moto server, with this process's crop storage pointed at it.

    MEDIA_ROOT points at an empty folder, so a test can check that no crop went to the local disk.
    """
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server, region_name=REGION,
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    bucket = S3Bucket(endpoint=s3_server, name=f"crops-{uuid.uuid4().hex[:12]}", prefix="lab-crops", client=client)
    client.create_bucket(Bucket=bucket.name)
    settings.MEDIA_ROOT = tmp_path / "media-unused"
    settings.STORAGES = s3_storages(bucket, settings.STORAGES)
    yield bucket
    for key in bucket.keys():
        client.delete_object(Bucket=bucket.name, Key=key)
    client.delete_bucket(Bucket=bucket.name)


def local_files(folder: Path) -> list:
    """Return the files under folder (none, when every crop went to the bucket)."""
    folder = Path(folder)
    return sorted(str(p) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
