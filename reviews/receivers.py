"""Listen to the core's signals (sent on commit) and queue the flag refresh of the faces concerned.

Also answers the export's question about the faces' flags (face_flags_wanted, sent at once).
"""
from django.conf import settings

from annotator import signals
from annotator.domain.batching import chunked
from reviews.models import Flag
from reviews.pending import flags_pending_add
from reviews.tasks import faces_flags_refresh, flags_drain_send

# Sending is the tasks' own (enqueue): a broker that is down is logged, never raised to the page or the
# worker. What was stored stays stored; `manage.py refresh_flags --stale` (or the periodic
# flags_refresh_stale task) evaluates the faces whose refresh was lost.


def face_flags_enqueue(sender=None, *, face_id, **kwargs):
    """Add the face whose answer was saved to the pending flag checks, and queue a drain unless one is
    queued: however fast answers come, the broker holds a drain or two (reviews/pending.py)."""
    flags_pending_add(face_ids=[face_id])
    flags_drain_send()


def faces_flags_enqueue(sender=None, *, answered_face_ids, **kwargs):
    """Queue flag refreshes for a batch of new suggestions, FLAG_TASK_SIZE faces a task.

    Only faces with answers: every flag needs an answer, so an unlabelled import's suggestions queue
    nothing. (An answer racing the suggestion's commit is caught by the stale sweep: it compares
    created_at.)
    """
    size = settings.FLAG_TASK_SIZE
    for chunk in chunked(answered_face_ids, size):
        if not faces_flags_refresh.enqueue(chunk):
            break


def face_flag_reasons(sender=None, *, face_ids, **kwargs):
    """Answer face_flags_wanted: the reasons of each face's open and resolved flags (one query)."""
    found = {}
    wanted = (Flag.Status.OPEN, Flag.Status.RESOLVED)
    rows = Flag.objects.filter(face_id__in=face_ids, status__in=wanted).order_by("face_id", "reason", "id")
    for face_id, reason, status in rows.values_list("face_id", "reason", "status"):
        entry = found.setdefault(face_id, {"open": [], "resolved": []})
        entry["open" if status == Flag.Status.OPEN else "resolved"].append(reason)
    return found


def connect():
    signals.answer_saved.connect(face_flags_enqueue, dispatch_uid="reviews.flags.answer_saved")
    signals.suggestions_saved.connect(faces_flags_enqueue, dispatch_uid="reviews.flags.suggestions_saved")
    signals.face_flags_wanted.connect(face_flag_reasons, dispatch_uid="reviews.flags.face_flags_wanted")
