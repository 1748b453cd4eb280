"""Listen to the core's signals (sent on commit) and queue the face's flag refresh."""
import logging

from annotator import signals

logger = logging.getLogger(__name__)


def face_flags_enqueue(sender=None, *, face_id, **kwargs):
    """Queue a flag refresh; a broker that is down is logged, never raised to the page.

    The answer is already stored; `manage.py refresh_flags --stale` (or the periodic
    flags_refresh_stale task) evaluates the faces whose refresh was lost.
    """
    from .tasks import face_flags_refresh

    try:
        face_flags_refresh.delay(face_id)
    except Exception:  # kombu/redis raise many types when the broker is unreachable
        logger.exception("could not queue the flag refresh of face %s (broker down?)", face_id)


def connect():
    signals.answer_saved.connect(face_flags_enqueue, dispatch_uid="reviews.flags.answer_saved")
    signals.suggestion_saved.connect(face_flags_enqueue, dispatch_uid="reviews.flags.suggestion_saved")
