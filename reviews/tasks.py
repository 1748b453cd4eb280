"""Review tasks (queue default): thin, id-based, idempotent."""
from celery import shared_task
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

TRANSIENT = (OperationalError, InterfaceError, RedisConnectionError)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=120, max_retries=20)
def face_flags_refresh(face_id):
    """Re-evaluate one face's flags (an answer was saved)."""
    from reviews.flagging import faces_flags_evaluate

    return faces_flags_evaluate([face_id])


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=120, max_retries=20)
def faces_flags_refresh(face_ids):
    """Re-evaluate the flags of a batch of faces (those a batch of suggestions reached); each face is
    its own transaction, so a retry after a failure redoes only what is idempotent anyway."""
    from reviews.flagging import faces_flags_evaluate

    return faces_flags_evaluate(face_ids)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=120, max_retries=5)
def flags_refresh_stale(limit=10000):
    """Evaluate the faces whose flags are older than their latest answer or suggestion."""
    from reviews.flagging import faces_flags_evaluate, faces_with_stale_flags

    return faces_flags_evaluate(faces_with_stale_flags()[:limit].iterator())
