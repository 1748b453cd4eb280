"""The learning loop's reads and writes: training data from final labels, recorded models, activation,
and the active-learning queue order."""
import logging
from typing import Iterable, Optional

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from annotator.common.tasks import task_send_on_commit
from annotator.domain.crops import crop_pixels
from annotator.suggestions.priority import mixed_priority
from annotator.models import Face, Suggester, Suggestion
from annotator.faces.selectors import faces_with_final_label

logger = logging.getLogger(__name__)


def training_samples(*, splits: Iterable[str], limit: Optional[int] = None, warn=logger.warning) -> list:
    """Return a training.Sample per face with a final label in the splits (id order, at most limit).

    Crops are read from a local path when the storage has one (no million crops in memory), else as
    bytes. A face whose crop is missing is reported by id and left out; the rest proceed.
    """
    from annotator.training.trainer import Sample

    samples = []
    faces = faces_with_final_label(splits=splits).only("id", "image", "final_category", "final_valence",
                                                       "final_arousal")
    if limit:
        faces = faces[:limit]
    for face in faces.iterator(chunk_size=2000):
        try:
            try:
                image = default_storage.path(face.image.name)
                if not default_storage.exists(face.image.name):
                    raise FileNotFoundError(image)
            except NotImplementedError:  # remote storage (S3...): no local path
                with default_storage.open(face.image.name, "rb") as handle:
                    image = handle.read()
        except OSError as exc:
            warn(f"face {face.id}: crop {face.image.name} cannot be read ({exc}); left out")
            continue
        samples.append(Sample(image, face.final_category, face.final_valence, face.final_arousal, face.id))
    return samples


def suggester_evaluate(*, model, splits: Iterable[str] = ("val",), categories=None, batch_size: int = 64,
                       limit: Optional[int] = None, warn=logger.warning) -> Optional[dict]:
    """Run a loaded model (any ExpressionModel) on the faces with a final label in the splits; return the
    seed's table (evaluation.evaluate_predictions), or None when no face qualifies.

    For the `evaluate` command: load the suggester with the worker's registry, then call this. A face
    whose crop cannot be read is reported by id and left out.
    """
    import numpy as np

    from annotator.training.evaluation import EIGHT, evaluate_predictions
    from annotator.suggestions.inference.base import Predictions
    from annotator.training.trainer import TrainingError, sample_image

    labels, parts = [], []
    pending_labels, pending_crops = [], []

    def flush():
        if pending_crops:
            parts.append(model.predict(np.stack(pending_crops)))
            labels.extend(pending_labels)
            pending_crops.clear()
            pending_labels.clear()

    for sample in training_samples(splits=splits, limit=limit, warn=warn):
        try:
            image = sample_image(sample)
        except TrainingError as exc:
            warn(f"{exc}; left out")
            continue
        pending_crops.append(crop_pixels(image))
        pending_labels.append((sample.category, sample.valence, sample.arousal))
        if len(pending_crops) >= batch_size:
            flush()
    flush()
    if not labels:
        return None
    predictions = Predictions(
        np.concatenate([p.probabilities for p in parts]),
        np.concatenate([p.valence for p in parts]),
        np.concatenate([p.arousal for p in parts]),
    )
    return evaluate_predictions(labels, predictions, categories=EIGHT if categories is None else categories)


def suggester_record(*, name: str, version: str, path: str, config: dict, training: dict, evaluation: dict) -> Suggester:
    """Record a trained checkpoint as a suggester (a rerun of the same name and version updates it)."""
    suggester, _ = Suggester.objects.update_or_create(
        name=name, version=version,
        defaults={"kind": Suggester.Kind.CHECKPOINT, "path": str(path), "config": config, "training": training,
                  "evaluation": evaluation},
    )
    return suggester


@transaction.atomic
def suggester_activate(*, suggester_id: int, queue_suggestions: Optional[bool] = None) -> Suggester:
    """Make one suggester the active one (all others off, in one transaction).

    After the commit, the queue order is recomputed from its suggestions (when active learning is
    on) and suggestions are queued for the faces that are not final yet (queue_suggestions, by
    default the SUGGEST_ON_ACTIVATE setting).
    """
    if queue_suggestions is None:
        queue_suggestions = getattr(settings, "SUGGEST_ON_ACTIVATE", True)
    suggester = Suggester.objects.select_for_update().get(pk=suggester_id)
    # Unset first: the partial unique constraint allows only one row with is_active at any moment.
    Suggester.objects.filter(is_active=True).exclude(pk=suggester.pk).update(is_active=False)
    if not suggester.is_active:
        suggester.is_active = True
        suggester.save(update_fields=["is_active"])
    if getattr(settings, "QUEUE_ACTIVE_LEARNING", False):
        # A task, in batches: a million open faces do not hold the admin's request.
        task_send_on_commit("annotator.tasks.faces_reprioritise", suggester_id=suggester.pk)
    if queue_suggestions:
        transaction.on_commit(lambda: suggestions_queue_for_open_faces(suggester_id=suggester.pk))
    return suggester


def suggestions_queue_for_open_faces(*, suggester_id: int) -> bool:
    """Ask the worker to suggest, with this suggester, for the faces that are not final yet.

    The worker's task module owns the job; it is sent by name so the core does not import Celery
    task code here. Return whether it was sent (False when no broker is reachable: activation
    itself has happened, and `python manage.py suggest` does the same later).
    """
    from pathlib import Path

    from annotator.config.celery import app

    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        # kombu's filesystem transport fails on a missing folder; a fresh install may not have one yet.
        for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
            folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(key)
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)
    try:
        app.send_task(settings.SUGGEST_TASK_NAME, kwargs={"suggester_id": suggester_id},
                      queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    except Exception as exc:  # a broker that is down must not undo an activation that is committed
        logger.warning("suggester %s active, but the suggestion job could not be queued: %s", suggester_id, exc)
        return False
    return True


def faces_reprioritise(*, suggester_id: int, batch_size: int = 1000, face_ids: Optional[Iterable[int]] = None) -> int:
    """Set queue_priority of the not-yet-final faces from this suggester's suggestions; return how many.

    The priority mixes the model's uncertainty (entropy) with the rarity of what it predicts
    (active_learning.mixed_priority, weights from QUEUE_RARITY_WEIGHT and QUEUE_UNCERTAINTY_WEIGHT).
    Written in batches of batch_size faces with bulk_update, so a million faces never sit in memory.
    """
    rarity_weight = getattr(settings, "QUEUE_RARITY_WEIGHT", 1.0)
    uncertainty_weight = getattr(settings, "QUEUE_UNCERTAINTY_WEIGHT", 1.0)
    suggestions = Suggestion.objects.filter(suggester_id=suggester_id, face__final_category__isnull=True)
    if face_ids is not None:
        suggestions = suggestions.filter(face_id__in=list(face_ids))
    rows = suggestions.order_by("face_id").values_list("face_id", "probabilities")
    updated, batch = 0, []
    for face_id, probabilities in rows.iterator(chunk_size=batch_size):
        try:
            priority = mixed_priority(probabilities, rarity_weight=rarity_weight, uncertainty_weight=uncertainty_weight)
        except (TypeError, ValueError) as exc:
            logger.warning("face %s: suggestion probabilities unusable (%s); priority kept", face_id, exc)
            continue
        batch.append(Face(id=face_id, queue_priority=priority))
        if len(batch) >= batch_size:
            updated += _write_priorities(batch, batch_size)
            batch = []
    if batch:
        updated += _write_priorities(batch, batch_size)
    return updated


def _write_priorities(batch, batch_size) -> int:
    with transaction.atomic():
        Face.objects.bulk_update(batch, ["queue_priority"], batch_size=batch_size)
    return len(batch)


def on_suggestions_saved(sender, *, suggester_id, face_ids, **kwargs) -> None:
    """Receiver of annotator.signals.suggestions_saved: reorder the faces if the active model suggested them."""
    if not getattr(settings, "QUEUE_ACTIVE_LEARNING", False):
        return
    if Suggester.objects.filter(pk=suggester_id, is_active=True).exists():
        faces_reprioritise(suggester_id=suggester_id, face_ids=face_ids)
