"""Writes of the learning loop: a recorded model's predictions on the faces it is evaluated on."""
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from annotator.domain.batching import chunked
from annotator.models import Suggester
from annotator.suggestions.services import suggestions_compute
from annotator.suggestions.tasks import suggestions_enqueue
from annotator.training.selectors import evaluation_faces_pending

# Faces a call of suggestions_compute takes with --now: the model runs in SUGGEST_BATCH_SIZE batches
# within it; a chunk bounds the faces held in memory and paces the progress report.
NOW_CHUNK = 1000


@dataclass(frozen=True)
class PendingPredictions:
    pending: int  # evaluation faces without a prediction before this call
    computed: int = 0  # predicted and stored here (now)
    queued: int = 0  # faces sent to the model queue
    unsent: int = 0  # faces whose task could not be sent (broker down)


def evaluation_predictions_complete(*, suggester: Suggester, split: str | None, categories=None, now: bool,
                                    progress: Callable[[int], None] | None = None,
                                    project=None) -> PendingPredictions:
    """Compute (now) or queue on the model queue the suggester's predictions for the evaluation faces
    that lack one (annotator.training.selectors.evaluation_faces; of `project`, None: every project's);
    return what was done.

    Either way in batches: in-process, NOW_CHUNK faces a call (the model itself runs SUGGEST_BATCH_SIZE
    at a time); queued, SUGGEST_TASK_SIZE faces a task of the model queue, which stores them as the
    worker gets to them (a later evaluation reads them). Idempotent: a face predicted meanwhile is
    skipped.
    """
    ids = list(evaluation_faces_pending(suggester, split, categories, None if project is None else [project]))
    if not ids:
        return PendingPredictions(pending=0)
    if now:
        computed = 0
        for chunk in chunked(ids, NOW_CHUNK):
            computed += len(suggestions_compute(face_ids=chunk, suggester=suggester))
            if progress:
                progress(len(chunk))
        return PendingPredictions(pending=len(ids), computed=computed)
    tasks = suggestions_enqueue(face_ids=ids, suggester_id=suggester.pk)
    queued = min(len(ids), tasks * settings.SUGGEST_TASK_SIZE)
    return PendingPredictions(pending=len(ids), queued=queued, unsent=len(ids) - queued)
