"""quickstart on a fresh folder: database, users, demo faces, a worker that suggests, a web server; Ctrl-C stops both."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def claim_as(base, username, password):
    """Sign in through the login form and ask the queue API for a face; return (status, body)."""
    import http.cookiejar
    import json
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/accounts/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    opener.open(urllib.request.Request(f"{base}/accounts/login/", data=form.encode(), headers={"Referer": base + "/"}),
                timeout=10)
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    request = urllib.request.Request(f"{base}/api/queue/next/", data=json.dumps({"count": 1}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-CSRFToken": csrf,
                                              "Referer": base + "/"})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.worker
@pytest.mark.slow
def test_quickstart_serves_demo_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    # A fresh machine: no database, broker, settings module, key or DEBUG in the environment.
    fresh = {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}
    env = {k: v for k, v in os.environ.items() if k not in fresh}
    env.update(VAR_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "quickstart.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "quickstart", "--addrport", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    db = tmp_path / "var" / "db.sqlite3"
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/accounts/login/"), 120, "the login page")
        output = (tmp_path / "quickstart.log").read_text()
        for username in ("admin", "reviewer", "annotator1", "annotator2"):
            assert username in output

        def count(sql):
            with sqlite3.connect(db) as conn:
                return conn.execute(sql).fetchone()[0]

        faces = count("select count(*) from annotator_face")
        assert faces >= 10
        # The default data root exists, so the console's folder browser and exports work at once.
        assert (tmp_path / "var" / "data").is_dir()
        # An annotator signs in and gets a face at once (no gold face in the demo: no calibration wait).
        password = next(line.split()[1] for line in output.splitlines() if line.strip().startswith("annotator1 "))
        status, body = claim_as(f"http://127.0.0.1:{port}", "annotator1", password)
        assert status == 200 and '"faces": [{"id"' in body.replace('":[{"', '": [{"'), body
        # The worker is alive when the demo faces get their suggestions.
        wait_for(lambda: count("select count(distinct face_id) from annotator_suggestion") == faces, 180,
                 "suggestions for every demo face")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        log.close()
    assert not http_ok(f"http://127.0.0.1:{port}/accounts/login/"), "the web server outlived Ctrl-C"
    output = (tmp_path / "quickstart.log").read_text()
    assert "Stopped the worker and the web server." in output
