"""The base of every Celery task (the app's task_cls): which errors are worth a retry, the retry policy,
sending that never lets a broker that is down reach the caller, and sweeps that go in batches.

Tasks are thin, id-based and idempotent, so a retry or a second delivery redoes nothing harmful.
"""
import functools
import logging
from collections.abc import Sequence

from celery import current_app
from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError, transaction
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

# The errors that pass by themselves: the database or the broker was briefly unreachable. Anything
# else is a bug or bad data, which a retry would only repeat.
TRANSIENT = (OperationalError, InterfaceError, RedisConnectionError, BrokerError, ConnectionError)


class RetryingTask(DjangoTask):
    """Retry on TRANSIENT errors with exponential backoff; acknowledge after the work is done (a killed
    worker's message is delivered again). A task may lower max_retries (a periodic one is sent again anyway)."""

    autoretry_for = TRANSIENT
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = 20
    acks_late = True

    def enqueue(self, *args, **kwargs) -> bool:
        """Queue the task now; return whether it was sent.

        A broker that is down is logged, never raised to the page or the worker: what was stored stays
        stored, and a sweep (flags_refresh_stale, `manage.py suggest`) catches up on what was lost.
        """
        try:
            self.delay(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001  (kombu/redis raise many types when the broker is unreachable)
            logger.warning("could not queue %s (broker down?): %r", self.name, exc)
            return False
        return True

    def delay_on_commit(self, *args, **kwargs) -> None:
        """Queue the task once the transaction commits (a worker must see the rows), as enqueue does."""
        transaction.on_commit(functools.partial(self.enqueue, *args, **kwargs))

    def sweep_continue(self, ids: Sequence[int], size: int, **kwargs) -> bool:
        """Queue this sweep's next batch, after the last id of this one, when this one was full (more may
        remain); return whether it did.

        One batch a task, each found by keyset (id > the last one), so no task holds every id and each
        costs one index range scan however far the sweep has gone. Not through enqueue: a broker that is
        down raises, and the task is retried, its batch redone (idempotent), the chain kept.
        """
        if len(ids) < size:
            return False
        self.apply_async(kwargs={**kwargs, "after": ids[-1]})
        return True


def task_route(name, args, kwargs, options, task=None, **kw):
    """The app's router: a task goes to the queue it names where it is defined (queue_name=...).

    Not Celery's own `queue` task attribute: Celery 5.7 deprecates it and 6.0 will ignore it. A task this
    process has not imported, or that names no queue, goes to the default queue.
    """
    queue = getattr(task, "queue_name", None)
    return {"queue": queue} if queue else None


def task_send_on_commit(name: str, **kwargs) -> None:
    """Queue the task of this pinned name once the transaction commits; a broker that is down is logged.

    For a module that the task's own module imports (the task calls it), so it cannot import the
    task. The registered task is used when this process has it (its queue, eager mode); else the name
    alone goes to the default queue.
    """

    def send():
        task = current_app.tasks.get(name)
        if task is not None:
            task.enqueue(**kwargs)
            return
        try:
            current_app.send_task(name, kwargs=kwargs)
        except Exception as exc:  # noqa: BLE001  (as RetryingTask.enqueue)
            logger.warning("could not queue %s (broker down?): %r", name, exc)

    transaction.on_commit(send)
