"""PostgreSQL restarted while an annotator works: the app carries on without a restart of its own,
and no answer is lost or stored twice.

The real parts: the app as a server subprocess (`manage.py runserver --nothreading`: one thread
that keeps its database connection across requests, as a gunicorn sync worker does) against this
test's PostgreSQL database with persistent connections; the annotator signs in with a token and
works through the queue API as the annotate page does (claim with /api/queue/next/, submit with a
client_key, retry 5xx and network errors with the same key and a back-off); PostgreSQL itself is
restarted and stopped with pg_ctlcluster. PostgreSQL only; the test restarts the server it runs on.
"""
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from annotator.faces.store import NewFace, faces_store
from annotator.models import Annotation, Claim, Face
from tests.affectnet_helpers import jpeg, landmarks
from tests.conftest import make_user
from tests.process_helpers import is_postgres, manage_command, manage_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def postgres_cluster() -> list:
    """Return [version, name] of the local cluster serving this test's database (pg_lsclusters)."""
    port = int(connection.settings_dict["PORT"] or 5432)
    lines = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    for line in lines.splitlines():
        version, name, cluster_port, *_ = line.split()
        if int(cluster_port) == port:
            return [version, name]
    pytest.skip(f"no local PostgreSQL cluster on port {port} to restart (pg_lsclusters: {lines.strip()!r})")


def pg_ctl(cluster, action):
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action], check=True,
                   capture_output=True, timeout=120)


def pg_ready() -> bool:
    host, port = connection.settings_dict["HOST"] or "127.0.0.1", str(connection.settings_dict["PORT"] or 5432)
    return subprocess.run(["pg_isready", "-q", "-h", host, "-p", port]).returncode == 0


def wait_ready(timeout=60):
    deadline = time.monotonic() + timeout
    while not pg_ready():
        assert time.monotonic() < deadline, "PostgreSQL did not come back"
        time.sleep(0.2)


@pytest.fixture
def cluster():
    if not is_postgres():
        pytest.skip("PostgreSQL only (DATABASE_URL=postgres://...): the test restarts the database server")
    if not shutil.which("pg_ctlcluster") or not shutil.which("pg_lsclusters"):
        pytest.skip("pg_ctlcluster / pg_lsclusters (Debian's postgresql-common) are needed to restart PostgreSQL")
    found = postgres_cluster()
    yield found
    if not pg_ready():  # whatever happened, PostgreSQL is left running
        pg_ctl(found, "start")
        wait_ready()
    connection.close()  # this process's connection did not survive the restarts


SERVER_NAME = "restart-test-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_server(tmp_path, data_root):
    """`manage.py runserver --noreload --nothreading` on a free port, against the test database."""
    port = free_port()
    env = manage_env(tmp_path, DEBUG="0", SECURE_HTTPS="0", DATABASE_CONN_MAX_AGE="600")
    env["DATABASE_URL"] += f"?application_name={SERVER_NAME}"  # its connections, told apart from the suite's
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(manage_command("runserver", "--noreload", "--nothreading", f"127.0.0.1:{port}"),
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
                time.sleep(0.2)
        yield base, proc, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def call(base, token, method, path, body=None):
    """One request as the page's api() makes it; return (status, parsed JSON or text, content type)."""
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json",
                 "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, kind = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers.get("Content-Type", "")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, str(error), ""
    try:
        return status, json.loads(raw or b"null"), kind
    except ValueError:
        return status, raw.decode(errors="replace"), kind


def send(base, token, method, path, body, attempts: list):
    """annotate.js's sendWithRetry: retry network errors and 5xx with the same body, backing off."""
    for attempt in range(6):
        status, data, kind = call(base, token, method, path, body)
        attempts.append((status, kind))
        if 0 < status < 500 or attempt >= 5:
            return status, data
        time.sleep(0.3 * 2**attempt)


def answer(face_id, category):
    return {"face": face_id, "category": category, "valence": 0.6 if category == 1 else -0.6,
            "arousal": 0.3, "client_key": str(uuid.uuid4()), "seconds_spent": 1.5}


def server_connections() -> int:
    """The server's connections to the test database (other tests' threads may hold their own)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND application_name = %s", [SERVER_NAME])
        return cursor.fetchone()[0]


def test_postgres_restart_loses_no_answer_and_needs_no_app_restart(cluster, app_server):
    base, server, log_path = app_server
    faces = faces_store([NewFace(jpeg(i), id=i, landmarks=landmarks(i), split="train", required_annotations=1)
                         for i in range(1, 5)])
    user = make_user("ann-restart", "annotator")
    token = Token.objects.create(user=user).key

    status, data, _ = call(base, token, "POST", "/api/queue/next/", {"count": 3})
    assert status == 200, data
    claimed = [f["id"] for f in data["faces"]]
    assert len(claimed) == 3 and set(claimed) <= {f.id for f in faces}
    answers = [answer(claimed[0], 1), answer(claimed[1], 4), answer(claimed[2], 1)]

    attempts = []
    assert send(base, token, "POST", "/api/annotations/", answers[0], attempts)[0] == 201
    assert server_connections() == 1  # the server keeps its connection between requests

    # 1. PostgreSQL restarts between two answers: the server's kept connection is dead, and the next
    # request must find that out before using it (CONN_HEALTH_CHECKS), not fail on it.
    pg_ctl(cluster, "restart")
    wait_ready()
    attempts = []
    status, data = send(base, token, "POST", "/api/annotations/", answers[1], attempts)
    assert status == 201, (attempts, data)
    assert attempts[0][0] == 201, f"the first request after the restart failed: {attempts}"

    # 2. PostgreSQL is down: the API says so in JSON (503, retry); the page's retry with the same
    # client_key stores the answer once it is back.
    pg_ctl(cluster, "stop")
    try:
        status, data, kind = call(base, token, "POST", "/api/annotations/", answers[2])
        assert (status, data) == (503, {"detail": "database unavailable, retry"}), (status, data)
        assert kind.startswith("application/json")
        status, data, _ = call(base, token, "POST", "/api/queue/next/", {"count": 1, "holding": claimed})
        assert status == 503 and data == {"detail": "database unavailable, retry"}
    finally:
        pg_ctl(cluster, "start")
        wait_ready()
    attempts = []
    status, stored = send(base, token, "POST", "/api/annotations/", answers[2], attempts)
    assert status == 201, (attempts, stored)
    # The answer's response is lost on the way (the page cannot tell): the retry stores nothing new.
    status, again = send(base, token, "POST", "/api/annotations/", answers[2], [])
    assert status == 200 and again["id"] == stored["id"]

    assert server.poll() is None, "the app server died"
    connection.close()  # this process's connection went with the restarts
    rows = list(Annotation.objects.filter(annotator=user).values_list("face_id", "category", "client_key"))
    assert sorted((face, category, str(key)) for face, category, key in rows) == sorted(
        (a["face"], a["category"], a["client_key"]) for a in answers)
    for face_id in claimed:
        assert Face.objects.get(id=face_id).answer_count == 1
    assert not Claim.objects.filter(annotator=user, face_id__in=claimed).exists()
    assert "Traceback" not in log_path.read_text(errors="replace")
