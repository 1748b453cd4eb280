"""Review tasks (queue default): thin, id-based, idempotent."""
import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from annotator.models import Face

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, RedisConnectionError)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=120, max_retries=20)
def face_flags_refresh(face_id):
    """Re-evaluate one face's flags."""
    from .flagging import face_flags_evaluate

    try:
        face_flags_evaluate(face_id=face_id)
    except Face.DoesNotExist:  # deleted since: nothing to flag, no retry
        logger.info("face %s is gone; no flags to refresh", face_id)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=120, max_retries=20)
def faces_flags_refresh(face_ids):
    """Re-evaluate the flags of a batch of faces (those a batch of suggestions reached); each face is
    its own transaction, so a retry after a failure redoes only what is idempotent anyway."""
    from .flagging import face_flags_evaluate

    for face_id in face_ids:
        try:
            face_flags_evaluate(face_id=face_id)
        except Face.DoesNotExist:  # deleted since: nothing to flag
            logger.info("face %s is gone; no flags to refresh", face_id)
    return len(face_ids)


@shared_task(acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=120, max_retries=5)
def flags_refresh_stale(limit=10000):
    """Evaluate the faces whose flags are older than their latest answer or suggestion."""
    from .flagging import face_flags_evaluate, faces_with_stale_flags

    count = 0
    for face_id in faces_with_stale_flags()[:limit].iterator():
        try:
            face_flags_evaluate(face_id=face_id)
            count += 1
        except Face.DoesNotExist:
            continue
    return count
