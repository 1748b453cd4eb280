"""Model suggestions: the suggester registry (record, activate), compute and store suggestions,
queue the missing, and the active-learning queue order they set.

The model work is in annotator.suggestions.inference (Django-free); this module loads crops from
storage, feeds the model in batches (decoding the next batch in a thread pool while the model
computes), and stores the results idempotently (one suggestion per face and suggester).
"""
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Optional, Sequence

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from PIL import Image

from annotator import signals
from annotator.domain.categories import rarity_priority
from annotator.faces.store import CROP_SIZE
from annotator.suggestions.inference import registry
from annotator.suggestions.priority import mixed_priority
from annotator.models import Annotation, Face, Suggester, Suggestion

logger = logging.getLogger(__name__)


def suggester_active_get_or_create() -> Suggester:
    """Return the active suggester; make the built-in model the active one when none is."""
    from annotator.suggestions.inference import builtin

    active = Suggester.objects.filter(is_active=True).first()
    if active is not None:
        return active
    try:
        with transaction.atomic():
            suggester, _ = Suggester.objects.get_or_create(
                name=builtin.NAME, version=builtin.VERSION, defaults={"kind": Suggester.Kind.BUILTIN}
            )
            suggester.is_active = True
            suggester.save(update_fields=["is_active"])
            return suggester
    except IntegrityError:  # another process activated one at the same moment
        return Suggester.objects.get(is_active=True)


def suggester_config(suggester: Suggester) -> dict:
    """Return the suggester's config over the defaults of settings (SUGGEST_ONNX_CONFIG for ONNX)."""
    defaults = settings.SUGGEST_ONNX_CONFIG if suggester.kind == Suggester.Kind.ONNX else {}
    return {**defaults, **(suggester.config or {})}


def suggester_model(suggester: Suggester):
    """Return this process's loaded model for the suggester (loaded once, then reused)."""
    return registry.cached_model(
        (suggester.id, suggester.version, suggester.kind, suggester.path),
        suggester.kind, suggester.path, suggester_config(suggester), suggester.name, suggester.version,
        device=settings.SUGGEST_DEVICE,
    )


def faces_lacking_suggestion(*, suggester: Suggester):
    """Return the faces with no suggestion from this suggester (a queryset, by id)."""
    has = Suggestion.objects.filter(face=OuterRef("pk"), suggester=suggester)
    return Face.objects.filter(~Exists(has)).order_by("id")


def crop_load(name: str) -> np.ndarray:
    """Return a stored crop as uint8 (224, 224, 3) RGB."""
    with default_storage.open(name, "rb") as fh:
        data = fh.read()
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        if image.size != (CROP_SIZE, CROP_SIZE):
            image = image.resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BICUBIC)
        return np.asarray(image)


def _batches(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _decode_batch(pool, faces):
    """Decode a batch's crops in the pool; return (faces that decoded, array)."""
    futures = [(face, pool.submit(crop_load, face.image.name)) for face in faces]
    kept, arrays = [], []
    for face, future in futures:
        try:
            arrays.append(future.result())
            kept.append(face)
        except (OSError, ValueError) as exc:  # a missing or corrupt crop skips that face only
            logger.warning("face %s: crop %s unreadable, no suggestion (%s)", face.id, face.image.name, exc)
    return kept, (np.stack(arrays) if arrays else None)


def predictions_iter(model, faces: Sequence[Face], *, batch_size: int, threads: int):
    """Yield (faces, Predictions) per batch; the next batch decodes while the model runs this one."""
    # Two pools: the batch coordinator waits on decode futures, so it must not take a decode thread.
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool, ThreadPoolExecutor(max_workers=1) as ahead:
        batches = list(_batches(list(faces), batch_size))
        pending = ahead.submit(_decode_batch, pool, batches[0]) if batches else None
        for index in range(len(batches)):
            kept, crops = pending.result()
            if index + 1 < len(batches):
                pending = ahead.submit(_decode_batch, pool, batches[index + 1])
            if crops is not None:
                yield kept, model.predict(crops)


def suggestions_store(*, suggester: Suggester, faces: Sequence[Face], predictions) -> list[int]:
    """Store one suggestion per face (skipping those stored already); return the face ids stored now.

    Each new suggestion also sets the face's queue priority from the rarity of the suggested
    category, and sends suggestions_saved for the batch once the transaction commits.
    """
    rows = []
    for face, probs, valence, arousal in zip(faces, predictions.probabilities, predictions.valence,
                                             predictions.arousal):
        category = int(np.argmax(probs[:9]))  # a model's guess is a category with a V/A point
        rows.append(Suggestion(
            face_id=face.id, suggester=suggester, probabilities=[round(float(p), 6) for p in probs],
            category=category, confidence=min(1.0, max(0.0, float(probs[category]))),
            valence=float(np.clip(valence, -1, 1)), arousal=float(np.clip(arousal, -1, 1)),
        ))
    with transaction.atomic():
        ids = [row.face_id for row in rows]
        existing = set(Suggestion.objects.filter(suggester=suggester, face_id__in=ids).values_list("face_id", flat=True))
        new_rows = [row for row in rows if row.face_id not in existing]
        # ignore_conflicts: a second worker that stored the same face meanwhile wins, nothing twice.
        Suggestion.objects.bulk_create(new_rows, ignore_conflicts=True)
        by_category = {}
        for row in new_rows:
            by_category.setdefault(row.category, []).append(row.face_id)
        for category, face_ids in by_category.items():  # one UPDATE per category, not per face
            Face.objects.filter(id__in=face_ids).update(queue_priority=rarity_priority(category))
        answered = set(Annotation.objects.filter(face_id__in=ids).values_list("face_id", flat=True))
        stored = {
            face_id: suggestion_id
            for face_id, suggestion_id in Suggestion.objects.filter(
                suggester=suggester, face_id__in=[row.face_id for row in new_rows]
            ).values_list("face_id", "id")
        }

        if stored:
            face_ids = sorted(stored)
            transaction.on_commit(lambda: signals.suggestions_announce(
                suggester_id=suggester.pk, face_ids=face_ids, answered_face_ids=sorted(answered & stored.keys())))
    return sorted(stored)


def suggestions_compute(*, face_ids: Iterable[int], suggester: Optional[Suggester] = None,
                        model=None, batch_size: Optional[int] = None) -> list[int]:
    """Compute and store the suggester's suggestions for those faces that lack one; return ids stored."""
    suggester = suggester or suggester_active_get_or_create()
    faces = list(faces_lacking_suggestion(suggester=suggester).filter(id__in=list(face_ids)).only("id", "image"))
    if not faces:
        return []
    model = model or suggester_model(suggester)
    stored = []
    for batch_faces, predictions in predictions_iter(
        model, faces, batch_size=batch_size or settings.SUGGEST_BATCH_SIZE, threads=settings.SUGGEST_DECODE_THREADS
    ):
        stored += suggestions_store(suggester=suggester, faces=batch_faces, predictions=predictions)
    return stored


def suggestions_enqueue(*, face_ids: Sequence[int], suggester_id: Optional[int] = None) -> int:
    """Queue model tasks for the faces in sized batches; return how many tasks were sent.

    A broker that is down is logged, not raised: the faces stay without a suggestion, and
    `manage.py suggest` queues them again.
    """
    from annotator.suggestions.tasks import suggest_faces

    sent = 0
    for chunk in _batches(list(face_ids), settings.SUGGEST_TASK_SIZE):
        try:
            suggest_faces.delay(list(chunk), suggester_id)
            sent += 1
        except Exception as exc:  # kombu/redis raise many types when the broker is unreachable
            logger.warning("could not queue suggestions for %d faces (broker down?): %r", len(chunk), exc)
            break
    return sent


def suggester_progress(*, suggester: Suggester) -> tuple[int, int]:
    """Return (faces with a suggestion from this suggester, all faces)."""
    return Suggestion.objects.filter(suggester=suggester).count(), Face.objects.count()


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
        transaction.on_commit(lambda: faces_reprioritise(suggester_id=suggester.pk))
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
    (suggestions.priority.mixed_priority, weights from QUEUE_RARITY_WEIGHT and QUEUE_UNCERTAINTY_WEIGHT).
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
