"""Celery tasks of the annotation queue (base: annotator.common.tasks.RetryingTask)."""
import logging

from celery import shared_task
from django.conf import settings

from annotator.queue import services

logger = logging.getLogger(__name__)


# Pinned to its name in annotator/tasks.py: the beat schedule (CELERY_BEAT_SCHEDULE) and queued messages name it.
# Five retries: beat sends it again within the hour anyway.
@shared_task(name="annotator.tasks.claims_delete_forgotten", queue_name=settings.CELERY_TASK_DEFAULT_QUEUE, max_retries=5)
def claims_delete_forgotten():
    """Periodic (CELERY_BEAT_SCHEDULE): delete claims lapsed for more than one lease."""
    deleted = services.claims_delete_forgotten()
    logger.info("deleted %s forgotten claims", deleted)
    return deleted
