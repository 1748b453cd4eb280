"""Run real `manage.py` subprocesses against the test database that this pytest process uses."""
import os
import secrets
import signal
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# Subprocesses get a SECRET_KEY of their own: the settings refuse to start without one when DEBUG is off.
SUBPROCESS_SECRET_KEY = "tests-" + secrets.token_urlsafe(48)


def database_url() -> str:
    """The URL of the test database this process uses, for a subprocess."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "postgres") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def manage_env(tmp_path: Path, **extra) -> dict:
    """Environment of a `python manage.py ...` subprocess: the test database, this test's folders."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "annotator.config.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": SUBPROCESS_SECRET_KEY,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DATA_ROOTS": os.pathsep.join(str(p) for p in settings.DATA_ROOTS),
        "VAR_DIR": str(tmp_path / "subprocess-var"),  # its broker/cache folders, not the repository's var/
        "REDIS_URL": "",  # the file broker under VAR_DIR: nothing reaches a Redis that others use
        "LOG_LEVEL": "WARNING",
        # The suite's labelling policy (tests/settings.py: no calibration round, no pausing), so a server or
        # worker started here serves the faces a test makes as the in-process code would.
        "CALIBRATION_FACES": str(settings.CALIBRATION_FACES),
        "GOLD_PAUSE_BELOW": str(settings.GOLD_PAUSE_BELOW),
        **{k: str(v) for k, v in extra.items()},
    }


def manage_command(*args) -> list:
    return [sys.executable, str(ROOT / "manage.py"), *args]


def session_processes(sid: int) -> list:
    """Return the ids of the live processes in session sid (a subprocess started with start_new_session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def kill_session(sid: int) -> None:
    """SIGKILL whatever is left of a session this test started (its leader's id is sid)."""
    for pid in session_processes(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_until(predicate, timeout: float, interval: float = 0.05):
    """Return predicate()'s first truthy value within timeout seconds, else its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
