"""Signals the core sends after a commit, so that other apps (reviews) can react without being imported."""
import logging

from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Sent with face_id and annotation_id after an answer is saved or changed (on commit).
answer_saved = Signal()
# Sent once per stored batch of suggestions (on commit), with suggester_id, face_ids (the faces that got
# one now) and answered_face_ids (those of them that had answers when it was stored). One signal a
# batch, not one a face: receivers queue work per batch, so an import of N faces costs O(N / batch) tasks.
suggestions_saved = Signal()
# Sent once per stored batch of new faces (on commit), with face_ids: the suggestions receive it and queue
# the model's work, so the intake does not import them.
faces_stored = Signal()
# Sent (at once, not on commit) by the answer tables of an export with face_ids: a receiver returns
# {face_id: {"open": [reason, ...], "resolved": [reason, ...]}} for those of the faces it has flags
# about. The flags live in reviews, which the core does not import; reviews answers through this.
face_flags_wanted = Signal()


def suggestions_announce(*, suggester_id: int, face_ids: list, answered_face_ids: list) -> None:
    """Send suggestions_saved; the suggestions are stored whatever a receiver does (the broker may be down)."""
    _send(suggestions_saved, "suggestions_saved", face_ids=face_ids, suggester_id=suggester_id,
          answered_face_ids=answered_face_ids)


def faces_announce(*, face_ids: list) -> None:
    """Send faces_stored; the faces are stored whatever a receiver does (the broker may be down)."""
    _send(faces_stored, "faces_stored", face_ids=face_ids)


def _send(signal: Signal, name: str, *, face_ids: list, **kwargs) -> None:
    """Send a batch's signal to every receiver; one that fails is logged, the others still run."""
    for receiver, response in signal.send_robust(sender=None, face_ids=face_ids, **kwargs):
        if isinstance(response, Exception):
            logger.error("%s receiver %r failed for %d faces: %r", name, receiver, len(face_ids), response)


def faces_flag_reasons(face_ids: list) -> dict:
    """Return {face_id: {"open": [...], "resolved": [...]}} from every receiver of face_flags_wanted.

    A receiver that fails raises: an export must not write empty flag columns for faces that have flags.
    """
    merged = {}
    for _receiver, response in face_flags_wanted.send(sender=None, face_ids=face_ids):
        for face_id, reasons in (response or {}).items():
            entry = merged.setdefault(face_id, {"open": [], "resolved": []})
            entry["open"] += reasons.get("open", [])
            entry["resolved"] += reasons.get("resolved", [])
    return merged
