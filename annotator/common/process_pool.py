"""Run a function over a stream of items in worker processes (with Django set up, unless told not to).

The one process pool: AffectNet import and export readers/writers, and photo detection. Kept free
of model imports: a worker process imports this module before django.setup().
"""

import multiprocessing
import os
import select
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Iterable, Iterator, Optional

import django
from django.conf import settings

from annotator.domain.batching import chunked

POOL_FROM_ITEMS = 2000  # below this, work in this process: starting workers (~1 s) costs more than they save
CHUNKS_IN_FLIGHT = 4  # per worker: enough to keep it busy, few enough to keep memory flat
# Settings that tests and callers change at run time and that workers must share (where files go).
SHARED_SETTINGS = ("MEDIA_ROOT", "STORAGES")


def _exit_when_gone(pid: int) -> None:
    """End this worker process as soon as process pid (the one that started the pool) has ended.

    A pool's workers wait on their queues for ever when the process that started them is killed
    (kill -9, the OOM killer): they block writing results nobody reads, keep the forkserver alive,
    and an import's readers would go on storing crops. A pidfd (Linux 5.3+) becomes readable when
    the process ends; elsewhere the process is polled every second.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)  # already gone
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
        os._exit(1)
    while True:
        time.sleep(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass


def _worker_setup(parent_pid: int, overrides: dict | None, initializer: Callable | None, initargs: tuple) -> None:
    """Start a pool's worker: Django set up (when overrides are given), then the caller's initializer."""
    if overrides is None:
        threading.Thread(target=_exit_when_gone, args=(parent_pid,), name="parent-watch", daemon=True).start()
    else:
        django_process_setup(overrides, parent_pid)  # starts the same watch
    if initializer is not None:
        initializer(*initargs)


def django_process_setup(overrides: dict, parent_pid: Optional[int] = None) -> None:
    """Set Django up in a fresh worker process, with the parent's values for the named settings.

    A forkserver child reads its settings from the environment; settings the parent changed at run
    time (tests point MEDIA_ROOT at a temporary folder) must follow it, or its files land elsewhere.
    The worker ends by itself when the process that started the pool is gone (parent_pid).
    """
    if parent_pid is not None:
        threading.Thread(target=_exit_when_gone, args=(parent_pid,), name="parent-watch", daemon=True).start()
    django.setup()
    for name, value in overrides.items():
        setattr(settings, name, value)


def default_workers(total: Optional[int]) -> int:
    """One worker per core, so the workers' part goes on while this process does its own.

    1 (work in this process) for a small job, and when the total is unknown nothing is lost by
    starting them.
    """
    if total is not None and total < POOL_FROM_ITEMS:
        return 1
    return os.cpu_count() or 1


def _apply_chunk(function: Callable, items: list) -> list:
    return [function(item) for item in items]


def _results_next(pending, ordered: bool) -> list:
    """Return the results of the oldest chunk (ordered), else of the chunks that finish first, waiting for one."""
    if ordered:
        return pending.popleft().result()
    done, _ = wait(pending, return_when=FIRST_COMPLETED)
    results = []
    for future in done:
        pending.remove(future)
        results += future.result()
    return results


def process_map(
    function: Callable,
    items: Iterable,
    *,
    workers: int,
    chunk_size: int,
    ordered: bool = True,
    initializer: Callable | None = None,
    initargs: tuple = (),
    with_django: bool = True,
) -> Iterator:
    """Yield function(item) for each item: in order, or as the calls finish (ordered=False).

    With several workers the calls run in worker processes (Python work holds the GIL, so threads
    would not overlap it with this process's), in chunks, with a bounded number of chunks in flight
    so memory stays flat at any size. function must be picklable: a module-level function or a
    functools.partial of one. initializer(*initargs) runs once in each process that will call
    function (this one when workers <= 1), e.g. to load models once. with_django=False: the workers
    do not set Django up (function needs none, and they start faster).
    """
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            yield function(item)
        return
    # forkserver: workers start from a clean process, not a fork of one holding database
    # connections; each sets Django up once (with_django), with this process's storage settings.
    context = multiprocessing.get_context("forkserver")
    window = workers * CHUNKS_IN_FLIGHT
    overrides = {name: getattr(settings, name) for name in SHARED_SETTINGS} if with_django else None
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_worker_setup,
        initargs=(os.getpid(), overrides, initializer, initargs),
    ) as pool:
        pending = deque() if ordered else set()
        add = pending.append if ordered else pending.add
        try:
            for chunk in chunked(items, chunk_size):
                add(pool.submit(_apply_chunk, function, chunk))
                while len(pending) > window:
                    yield from _results_next(pending, ordered)
            while pending:
                yield from _results_next(pending, ordered)
        except BaseException:
            # A chunk failed, or the caller stopped early (GeneratorExit: close() it, or use
            # contextlib.closing, to stop the workers before it cleans up). The chunks not started are
            # dropped; leaving the with waits for those running, so no worker is busy after this.
            for future in pending:
                future.cancel()
            raise
