"""Listen to the core's signals (sent on commit) and queue the face's flag refresh."""
import logging

from annotator import signals
from annotator.models import Annotation

logger = logging.getLogger(__name__)


def face_flags_enqueue(sender=None, *, face_id, **kwargs):
    """Queue a flag refresh; a broker that is down is logged, never raised to the page.

    The answer is already stored; `manage.py refresh_flags --stale` (or the periodic
    flags_refresh_stale task) evaluates the faces whose refresh was lost.
    """
    from .tasks import face_flags_refresh

    try:
        face_flags_refresh.delay(face_id)
    except Exception as exc:  # kombu/redis raise many types when the broker is unreachable
        logger.warning("could not queue the flag refresh of face %s (broker down?): %r", face_id, exc)


def face_flags_enqueue_if_answered(sender=None, *, face_id, answered=None, **kwargs):
    """Queue a refresh for a new suggestion only where there are answers to compare it with.

    Every flag needs an answer, so the suggestions of a fresh import queue no flag tasks. (An
    answer racing the suggestion's commit is caught by the stale sweep: it compares created_at.)
    """
    if answered is None:
        answered = Annotation.objects.filter(face_id=face_id).exists()
    if answered:
        face_flags_enqueue(sender, face_id=face_id, **kwargs)


def connect():
    signals.answer_saved.connect(face_flags_enqueue, dispatch_uid="reviews.flags.answer_saved")
    signals.suggestion_saved.connect(face_flags_enqueue_if_answered, dispatch_uid="reviews.flags.suggestion_saved")
