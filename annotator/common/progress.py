"""Progress of a long operation: a tqdm bar on the terminal, and done/total for the console's job that runs it.

The import and export code counts through progress_bar (a tqdm) instead of tqdm itself. Run by a command
on the terminal nothing changes. Run by a console job (annotator.jobs), the job sets a reporter in the
context (job_reporting); each update then hands done/total to it, and raises JobCancelled once the job's
cancel was asked for. The update is called between batches, never inside one's transaction, so a
cancelled import keeps every batch it stored and none half-written, and an export's caller removes its
partial folder as for any error.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from typing import Optional, Protocol

from tqdm import tqdm


class JobCancelled(Exception):
    """The console's job was cancelled: the commands let it through (they catch their own errors only)."""


class Reporter(Protocol):
    def progress(self, done: int, total: Optional[int]) -> None: ...

    def cancelled(self) -> bool: ...


current_reporter: contextvars.ContextVar[Optional[Reporter]] = contextvars.ContextVar("current_reporter", default=None)


@contextlib.contextmanager
def job_reporting(reporter: Reporter):
    """Send the progress of every bar made inside this block to reporter."""
    token = current_reporter.set(reporter)
    try:
        yield reporter
    finally:
        current_reporter.reset(token)


def cancel_check() -> None:
    """Raise JobCancelled if a job runs this code and its cancel was asked for (for loops without a bar)."""
    reporter = current_reporter.get()
    if reporter is not None and reporter.cancelled():
        raise JobCancelled("cancelled")


class progress_bar(tqdm):  # noqa: N801  (used as tqdm is)
    """tqdm that also reports to the running job, if any. Its own count: a disabled bar (no terminal, as in a
    job) does not count in tqdm. Cancellation is raised only in the thread that made the bar: a generator
    that a reader thread drains must not die of it there."""

    def __init__(self, *args, **kwargs):
        self._reporter = current_reporter.get()
        self._thread = threading.get_ident()
        self._done = kwargs.get("initial", 0) or 0
        self._job_total = kwargs.get("total")
        super().__init__(*args, **kwargs)

    def update(self, n=1):
        shown = super().update(n)
        self._done += n
        if self._reporter is not None:
            self._reporter.progress(self._done, self._job_total)
            if threading.get_ident() == self._thread and self._reporter.cancelled():
                raise JobCancelled("cancelled")
        return shown
