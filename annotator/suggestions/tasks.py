"""Celery tasks of the core: thin, id-based, idempotent. Queues are set in CELERY_TASK_ROUTES."""
import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError

from annotator.models import Suggester

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError, RedisConnectionError, BrokerError, ConnectionError)


@shared_task(name="annotator.tasks.suggest_faces", bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=300,
             retry_jitter=True, max_retries=20)
def suggest_faces(self, face_ids, suggester_id=None):
    """Compute the suggester's (else the active one's) suggestions for the faces that lack one."""
    from annotator.suggestions.services import suggester_active_get_or_create, suggestions_compute

    if suggester_id is None:
        suggester = suggester_active_get_or_create()
    else:
        try:
            suggester = Suggester.objects.get(pk=suggester_id)
        except Suggester.DoesNotExist:  # deleted since it was queued: nothing to do, no retry
            logger.warning("suggester %s is gone; %d faces not suggested", suggester_id, len(face_ids))
            return 0
    return len(suggestions_compute(face_ids=face_ids, suggester=suggester))


@shared_task(name="annotator.tasks.suggest_missing", autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=300, max_retries=20)
def suggest_missing(suggester_id):
    """Queue model tasks for the not-yet-final faces that lack this suggester's suggestion (on activation)."""
    from annotator.suggestions.services import faces_lacking_suggestion, suggestions_enqueue

    try:
        suggester = Suggester.objects.get(pk=suggester_id)
    except Suggester.DoesNotExist:
        return 0
    ids = faces_lacking_suggestion(suggester=suggester).filter(final_category__isnull=True).values_list("id", flat=True)
    return suggestions_enqueue(face_ids=list(ids.iterator(chunk_size=10000)), suggester_id=suggester_id)


@shared_task(name="annotator.tasks.claims_delete_forgotten", autoretry_for=TRANSIENT, retry_backoff=2, retry_backoff_max=300, max_retries=5)
def claims_delete_forgotten():
    """Periodic (CELERY_BEAT_SCHEDULE): delete claims lapsed for more than one lease."""
    from annotator.queue.services import claims_delete_forgotten as delete

    deleted = delete()
    logger.info("deleted %s forgotten claims", deleted)
    return deleted
