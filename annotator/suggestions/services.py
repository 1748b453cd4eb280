"""Model suggestions: the suggester registry (record, activate), compute and store suggestions,
queue the missing, and the active-learning queue order they set.

The model work is in annotator.suggestions.inference (Django-free); this module loads crops from
storage, feeds the model in batches (decoding the next batch in a thread pool while the model
computes), and stores the results idempotently (one suggestion per face and suggester).
"""
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Optional, Sequence

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from annotator import signals
from annotator.common.tasks import task_send_on_commit
from annotator.domain.batching import chunked
from annotator.domain.categories import rarity_priority
from annotator.domain.crops import crop_pixels, image_decode
from annotator.models import Annotation, Face, Project, Suggester, Suggestion
from annotator.projects.selectors import project_named
from annotator.suggestions.inference import registry
from annotator.suggestions.priority import mixed_priority
from annotator.suggestions.selectors import suggester_active

logger = logging.getLogger(__name__)


def suggester_active_get_or_create(project=None) -> Suggester:
    """Return the project's active suggester; make the built-in model its active one when it has none.

    For the code about to compute suggestions (the task, the suggest command); a read that only
    wants the active model takes suggestions.selectors.suggester_active, which creates nothing.
    """
    from annotator.suggestions.inference import builtin

    project = project or project_named()
    active = suggester_active(project)
    if active is not None:
        return active
    try:
        with transaction.atomic():
            suggester, _ = Suggester.objects.get_or_create(
                name=builtin.NAME, version=builtin.VERSION, defaults={"kind": Suggester.Kind.BUILTIN}
            )
    except IntegrityError:  # another process made it at the same moment
        suggester = Suggester.objects.get(name=builtin.NAME, version=builtin.VERSION)
    # Only where still none is active: another process may have activated one meanwhile.
    Project.objects.filter(pk=project.pk, active_suggester__isnull=True).update(active_suggester=suggester)
    return suggester_active(project)


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


def faces_lacking_suggestion(*, suggester: Suggester, project=None):
    """Return the faces with no suggestion from this suggester (a queryset, by id): of the project, or
    (none given) of every project the suggester is active in."""
    has = Suggestion.objects.filter(face=OuterRef("pk"), suggester=suggester)
    faces = Face.objects.filter(project=project) if project is not None else Face.objects.filter(
        project__active_suggester=suggester)
    return faces.filter(~Exists(has)).order_by("id")


def crop_load(name: str) -> np.ndarray:
    """Return a stored crop as uint8 (224, 224, 3) RGB; ImageUnreadable (a ValueError) names a bad one."""
    with default_storage.open(name, "rb") as fh:
        data = fh.read()
    return crop_pixels(image_decode(data, name=name))


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
        batches = list(chunked(faces, batch_size))
        pending = ahead.submit(_decode_batch, pool, batches[0]) if batches else None
        for index in range(len(batches)):
            kept, crops = pending.result()
            if index + 1 < len(batches):
                pending = ahead.submit(_decode_batch, pool, batches[index + 1])
            if crops is not None:
                yield kept, model.predict(crops)


def _suggestion_rows(*, faces: Sequence[Face], predictions) -> list[Suggestion]:
    """Return one unsaved suggestion per face from a model's predictions for them."""
    rows = []
    for face, probs, valence, arousal in zip(faces, predictions.probabilities, predictions.valence,
                                             predictions.arousal):
        category = int(np.argmax(probs[:9]))  # a model's guess is a category with a V/A point
        rows.append(Suggestion(
            face_id=face.id, probabilities=[round(float(p), 6) for p in probs],
            category=category, confidence=min(1.0, max(0.0, float(probs[category]))),
            valence=float(np.clip(valence, -1, 1)), arousal=float(np.clip(arousal, -1, 1)),
        ))
    return rows


def suggestions_store(*, suggester: Suggester, rows: Sequence[Suggestion]) -> list[int]:
    """Store the suggester's suggestions (unsaved rows, one per face), skipping faces that have one
    from it already; return the face ids stored now.

    The one way suggestions are written, whoever made them (a model, the photo importer's
    detector): each new suggestion also sets the face's queue priority from the rarity of the
    suggested category, and suggestions_saved is sent for the batch once the transaction commits.
    """
    for row in rows:
        row.suggester = suggester
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
        stored = set(Suggestion.objects.filter(suggester=suggester, face_id__in=[row.face_id for row in new_rows])
                     .values_list("face_id", flat=True))
        if stored:
            face_ids = sorted(stored)
            transaction.on_commit(lambda: signals.suggestions_announce(
                suggester_id=suggester.pk, face_ids=face_ids, answered_face_ids=sorted(answered & stored)))
    return sorted(stored)


def suggestions_compute(*, face_ids: Iterable[int], suggester: Optional[Suggester] = None,
                        model=None, batch_size: Optional[int] = None) -> list[int]:
    """Compute and store the suggester's suggestions for those faces that lack one; return ids stored.

    Without a suggester, each face gets its project's active one's."""
    if suggester is None:
        stored = []
        for project_id, ids in faces_by_project(face_ids).items():
            project = Project.objects.get(pk=project_id)
            stored += suggestions_compute(face_ids=ids, suggester=suggester_active_get_or_create(project),
                                          model=model, batch_size=batch_size)
        return sorted(stored)
    has = Suggestion.objects.filter(face=OuterRef("pk"), suggester=suggester)
    faces = list(Face.objects.filter(~Exists(has), id__in=list(face_ids)).order_by("id").only("id", "image"))
    if not faces:
        return []
    model = model or suggester_model(suggester)
    stored = []
    for batch_faces, predictions in predictions_iter(
        model, faces, batch_size=batch_size or settings.SUGGEST_BATCH_SIZE, threads=settings.SUGGEST_DECODE_THREADS
    ):
        stored += suggestions_store(suggester=suggester, rows=_suggestion_rows(faces=batch_faces, predictions=predictions))
    return stored


def faces_by_project(face_ids: Iterable[int]) -> dict:
    """Return {project_id: [face ids]} of these faces."""
    grouped = {}
    for face_id, project_id in Face.objects.filter(id__in=list(face_ids)).values_list("id", "project_id"):
        grouped.setdefault(project_id, []).append(face_id)
    return grouped


def suggester_progress(*, suggester: Suggester, project=None) -> tuple[int, int]:
    """Return (the project's faces with a suggestion from this suggester, the project's faces); None: the only project."""
    project = project or project_named()
    return (Suggestion.objects.filter(suggester=suggester, face__project=project).count(),
            Face.objects.filter(project=project).count())


def suggester_record(*, name: str, version: str, path: str, config: dict, training: dict, evaluation: dict) -> Suggester:
    """Record a trained checkpoint as a suggester (a rerun of the same name and version updates it)."""
    suggester, _ = Suggester.objects.update_or_create(
        name=name, version=version,
        defaults={"kind": Suggester.Kind.CHECKPOINT, "path": str(path), "config": config, "training": training,
                  "evaluation": evaluation},
    )
    return suggester


@transaction.atomic
def suggester_activate(*, suggester_id: int, project=None, queue_suggestions: Optional[bool] = None,
                       by=None) -> Suggester:
    """Make the suggester the project's active one (the change is kept in the project's history; the
    same model may be active in other projects too).

    After the commit, the project's queue order is recomputed from its suggestions (when active
    learning is on) and suggestions are queued for its faces that are not final yet (queue_suggestions,
    by default the SUGGEST_ON_ACTIVATE setting).
    """
    if queue_suggestions is None:
        queue_suggestions = getattr(settings, "SUGGEST_ON_ACTIVATE", True)
    suggester = Suggester.objects.get(pk=suggester_id)
    project = Project.objects.select_for_update().get(pk=(project or project_named()).pk)
    if project.active_suggester_id != suggester.pk:
        project.active_suggester = suggester
        project._history_user = by
        project.save(update_fields=["active_suggester"])
    if getattr(settings, "QUEUE_ACTIVE_LEARNING", False):
        # A task, in batches: a million open faces do not hold the admin's request.
        task_send_on_commit("annotator.tasks.faces_reprioritise", suggester_id=suggester.pk, project_id=project.pk)
    if queue_suggestions:
        # By name (SUGGEST_TASK_NAME): the task module imports this one. A broker that is down is
        # logged; the activation stands, and `python manage.py suggest` queues the same later.
        task_send_on_commit(settings.SUGGEST_TASK_NAME, suggester_id=suggester.pk, project_id=project.pk)
    return suggester


def faces_reprioritise(*, suggester_id: int, batch_size: int = 1000, face_ids: Optional[Iterable[int]] = None) -> int:
    """Set queue_priority of the not-yet-final faces from this suggester's suggestions, in the projects
    where it is the active one; return how many.

    The priority mixes the model's uncertainty (entropy) with the rarity of what it predicts
    (suggestions.priority.mixed_priority, weights from QUEUE_RARITY_WEIGHT and QUEUE_UNCERTAINTY_WEIGHT).
    Written in batches of batch_size faces with bulk_update, so a million faces never sit in memory.
    """
    rarity_weight = getattr(settings, "QUEUE_RARITY_WEIGHT", 1.0)
    uncertainty_weight = getattr(settings, "QUEUE_UNCERTAINTY_WEIGHT", 1.0)
    suggestions = Suggestion.objects.filter(suggester_id=suggester_id, face__final_category__isnull=True,
                                            face__project__active_suggester_id=suggester_id)
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
    """Receiver of annotator.signals.suggestions_saved: reorder the faces their project's active model
    suggested for (faces_reprioritise leaves out the others)."""
    if not getattr(settings, "QUEUE_ACTIVE_LEARNING", False):
        return
    if Project.objects.filter(active_suggester_id=suggester_id).exists():
        faces_reprioritise(suggester_id=suggester_id, face_ids=face_ids)
