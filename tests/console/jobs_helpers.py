"""Shared by the console job tests: a labelled AffectNet folder, and a real worker on the jobs queue."""
import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from tests.affectnet_helpers import write_face
from tests.process_helpers import manage_env

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")


def labelled_folder(folder: Path, faces: int, *, first_id: int = 1) -> Path:
    """An AffectNet folder of `faces` labelled faces (every fifth in val_set)."""
    for face_id in range(first_id, first_id + faces):
        split = "val" if face_id % 5 == 0 else "train"
        category = face_id % 8
        write_face(folder / f"{split}_set", face_id, category=category, valence=0.25, arousal=-0.5)
    return folder


class JobsWorker:
    """A real `celery -A annotator worker -Q jobs` subprocess against the test database and Redis."""

    def __init__(self, tmp_path: Path, broker_url: str, **env):
        self.log_path = tmp_path / f"jobs-worker-{os.getpid()}-{id(self)}.log"
        self.env = manage_env(tmp_path, REDIS_URL=broker_url, LOG_LEVEL="INFO", JOB_HEARTBEAT_SECONDS="0.2",
                              JOB_STALE_SECONDS="2", CELERY_VISIBILITY_TIMEOUT="3600", IMPORT_BATCH_SIZE="5", **env)
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "annotator", "worker", "-Q", settings.CELERY_JOBS_QUEUE,
             "--pool=solo", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]
