"""The running side of a console job: its log (the lines the command prints), its progress, and a
heartbeat thread that writes both to the Job row every JOB_HEARTBEAT_SECONDS and reads its cancel flag.

All database writes of a run go through that thread (its own connection): the command's own transactions
never carry them, and a progress update costs nothing but setting two numbers.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from typing import Optional

from django.conf import settings
from django.db import connection

from annotator.common.progress import job_reporting
from annotator.jobs.services import job_finish, job_progress_write
from annotator.models import Job

logger = logging.getLogger(__name__)


class BoundedLines:
    """The first tenth of `limit` lines and the latest rest, with a line saying how many were left out."""

    def __init__(self, limit: int):
        self.head_limit = max(1, limit // 10)
        self.head: list[str] = []
        self.tail: deque[str] = deque(maxlen=max(1, limit - self.head_limit))
        self.dropped = 0
        self.partial = ""

    def write(self, text: str) -> None:
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        for line in lines:
            if len(self.head) < self.head_limit:
                self.head.append(line)
                continue
            if len(self.tail) == self.tail.maxlen:
                self.dropped += 1
            self.tail.append(line)

    def text(self) -> str:
        middle = [f"... {self.dropped} lines left out ..."] if self.dropped else []
        return "\n".join([*self.head, *middle, *self.tail, *([self.partial] if self.partial else [])])


class JobOutput:
    """A file for a command's stdout or stderr (call_command(stdout=...)): every line goes to the job's
    log; stdout's also to its summary."""

    def __init__(self, run: "JobRun", *, summary: bool):
        self.run, self.to_summary = run, summary

    def write(self, text: str) -> int:
        with self.run.lock:
            self.run.log.write(text)
            if self.to_summary:
                self.run.summary.write(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class JobRun:
    """One run of a claimed job: the reporter of annotator.common.progress, the log files, the heartbeat."""

    def __init__(self, job: Job):
        self.job_id, self.attempt = job.id, job.attempts
        self.lock = threading.Lock()
        self.log = BoundedLines(settings.JOB_LOG_LINES)
        if job.log:
            self.log.write(job.log.rstrip("\n") + "\n")
        self.summary = BoundedLines(200)
        self.done, self.total = 0, job.total  # a run again counts from the start (stored faces skipped)
        self._cancel = threading.Event()
        self._stop = threading.Event()
        self.lost = False  # a later run took the job over
        self.stdout, self.stderr = JobOutput(self, summary=True), JobOutput(self, summary=False)
        self._thread = threading.Thread(target=self._beat, name=f"job-{job.id}-heartbeat", daemon=True)

    # --- annotator.common.progress.Reporter
    def progress(self, done: int, total: Optional[int]) -> None:
        self.done, self.total = done, total

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # --- the heartbeat
    def _fields(self) -> dict:
        with self.lock:
            return {"done": self.done, "total": self.total, "log": self.log.text(), "summary": self.summary.text()}

    def _beat(self):
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_SECONDS):
                self.write_now()
        finally:
            connection.close()  # this thread's own connection

    def write_now(self) -> None:
        try:
            cancel = job_progress_write(self.job_id, self.attempt, **self._fields())
        except Exception as exc:  # noqa: BLE001  (a busy or restarting database: the next beat writes it)
            logger.warning("job %s: progress not written (%r); next beat", self.job_id, exc)
            return
        if cancel is None:
            self.lost = True
        if cancel or cancel is None:
            self._cancel.set()

    @contextlib.contextmanager
    def running(self):
        """Report progress to this run inside the block, with the heartbeat going."""
        self._thread.start()
        try:
            with job_reporting(self):
                yield self
        finally:
            self._stop.set()
            self._thread.join()

    def finish(self, state: str, **fields) -> None:
        if not job_finish(self.job_id, self.attempt, state, **self._fields(), **fields):
            logger.warning("job %s: run %s ended as %s, but a later run owns the job", self.job_id, self.attempt, state)
