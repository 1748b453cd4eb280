"""Evaluate one face's flags from its answers, its suggestion and its gold label.

The suggestion compared is the one that counts (suggestions.selectors.suggestion_counting): the one
the annotator was shown.

Idempotent: the flags a face should have are computed from scratch, then compared with its open
flags: new causes open a flag, lasting ones get fresh evidence, and a flag whose cause is gone
(an answer changed) is closed. A flag a reviewer resolved is not opened again for the same evidence.
"""
import logging
import math
from typing import Iterable

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from annotator.domain.batching import chunked
from annotator.domain.categories import CATEGORY_NAMES, has_va
from annotator.domain.va_regions import point_in_region
from annotator.faces.services import face_set_needs_review
from annotator.models import Annotation, Face, Suggestion
from annotator.suggestions.selectors import suggestions_counting
from reviews.models import Flag, FlagCheck, GoldItem

logger = logging.getLogger(__name__)


def va_distance(a, b):
    """Return the Euclidean distance of two (valence, arousal) points, None if either has none."""
    if None in (a[0], a[1], b[0], b[1]):
        return None
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _answer(annotation):
    return {"annotation_id": annotation.id, "annotator_id": annotation.annotator_id,
            "category": annotation.category, "category_name": CATEGORY_NAMES[annotation.category],
            "point": [annotation.valence, annotation.arousal]}


# An imported label's flags come after every flag about this tool's answers (whose highest-ranked
# reasons start at 0.3): the imported label stays final whatever they say.
IMPORTED_SEVERITY_SCALE = 0.2


def desired_flags(*, annotations, suggestion, gold, region_check: bool = True):
    """Return {(reason, key): (evidence, severity)} for the causes present now (pure function).

    region_check off (the face's project checks no regions): a point outside its category's region
    is no cause.

    An imported answer (a released label) is compared like any other, but its flags carry their own
    reason, IMPORTED_LABEL, with the cause in the evidence's "cause" and a lower severity.
    """
    flags = {}
    va_limit = settings.FLAG_VA_DISTANCE

    def add(answer, reason, key, evidence, severity):
        if answer.imported:
            cause = str(reason)
            reason, key = Flag.Reason.IMPORTED_LABEL, f"{key}:{cause}"
            evidence = {**evidence, "cause": cause}
            severity *= IMPORTED_SEVERITY_SCALE
        flags[(reason, key)] = (evidence, severity)

    for a in annotations:
        point = (a.valence, a.arousal)
        if suggestion is not None:
            probs = suggestion.probabilities
            model_p = float(probs[suggestion.category])
            distance = va_distance(point, (suggestion.valence, suggestion.arousal))
            category_hit = a.category != suggestion.category and model_p >= settings.FLAG_MODEL_MIN_PROBABILITY
            va_hit = distance is not None and distance > settings.FLAG_MODEL_VA_DISTANCE
            if category_hit or va_hit:
                add(a, Flag.Reason.ANNOTATOR_VS_MODEL, f"annotation:{a.id}:suggestion:{suggestion.id}",
                    {"answer": _answer(a),
                     "suggestion": {"suggestion_id": suggestion.id, "suggester_id": suggestion.suggester_id,
                                    "category": suggestion.category,
                                    "category_name": CATEGORY_NAMES[suggestion.category],
                                    "probability": model_p,
                                    "probability_of_answer": float(probs[a.category]),
                                    "point": [suggestion.valence, suggestion.arousal]},
                     "category_differs": category_hit, "va_distance": distance},
                    model_p if category_hit else (distance or 0.0) / 2)
        if region_check and has_va(a.category) and not point_in_region(a.category, a.valence, a.arousal):
            add(a, Flag.Reason.OUTSIDE_REGION, f"annotation:{a.id}",
                {"answer": _answer(a), "confirmed_by_annotator": a.outside_region_confirmed}, 0.3)
        if gold is not None:
            distance = va_distance(point, (gold.valence, gold.arousal))
            if a.category != gold.category or (distance is not None and distance > va_limit):
                add(a, Flag.Reason.GOLD_MISMATCH, f"annotation:{a.id}",
                    {"answer": _answer(a), "gold": {"category": gold.category, "point": [gold.valence, gold.arousal]},
                     "va_distance": distance}, 0.5)
    ordered = sorted(annotations, key=lambda x: x.id)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            distance = va_distance((a.valence, a.arousal), (b.valence, b.arousal))
            if a.category != b.category or (distance is not None and distance > va_limit):
                flags[(Flag.Reason.ANNOTATOR_VS_ANNOTATOR, f"annotations:{a.id}:{b.id}")] = (
                    {"answers": [_answer(a), _answer(b)], "category_differs": a.category != b.category,
                     "va_distance": distance},
                    1.0 if a.category != b.category else distance,
                )
    return flags


def _signature(evidence):
    # What a reviewer saw when resolving: the answers' labels and the model's category.
    answers = evidence.get("answers") or [evidence.get("answer")]
    model = evidence.get("suggestion") or {}
    return [[x["category"], x["point"]] for x in answers if x], model.get("category")


def face_flags_evaluate(*, face_id: int) -> list[Flag]:
    """Bring the face's flags in line with its current answers; return its open flags (Face.DoesNotExist
    when it is gone)."""
    checked = _faces_evaluate([face_id])
    if face_id not in checked:
        raise Face.DoesNotExist(f"face {face_id} does not exist")
    return checked[face_id]


# Faces locked and read together: a chunk is one transaction, its faces locked until it commits (an
# annotator answering one of them waits that long), its reads one statement each for the whole chunk.
CHECK_CHUNK = 50
# The database briefly unreachable: the task retries the whole chunk (the flag check touches no broker).
TRANSIENT = (OperationalError, InterfaceError)


def faces_flags_evaluate(face_ids: Iterable[int]) -> int:
    """Bring the flags of the faces in line with their answers, CHECK_CHUNK faces a transaction; skip faces
    deleted since. Return how many were evaluated."""
    count = 0
    for chunk in chunked(sorted(set(face_ids)), CHECK_CHUNK):
        try:
            checked = _faces_evaluate(chunk)
        except TRANSIENT:
            raise  # the task is retried
        except Exception:  # noqa: BLE001  (a face's bad data: the others of its chunk are checked without it)
            if len(chunk) == 1:
                raise
            checked = {}
            for face_id in chunk:
                try:
                    checked.update(_faces_evaluate([face_id]))
                except TRANSIENT:
                    raise
                except Exception:  # noqa: BLE001  (the stale sweep tries it again; the log says why)
                    logger.exception("the flag check of face %s failed", face_id)
        for face_id in set(chunk) - set(checked):  # deleted since it was named: nothing to flag
            logger.info("face %s is gone; no flags to refresh", face_id)
        count += len(checked)
    return count


@transaction.atomic
def _faces_evaluate(face_ids: list[int]) -> dict[int, list[Flag]]:
    """Evaluate the faces in one transaction; return {face_id: its open flags} for those that exist.

    The worker runs this for every face answered, so its round trips are few and do not grow with the
    faces: the faces with their projects' setting locked in one read (in id order, so two chunks never
    deadlock), then their answers, suggestions, gold items and open and resolved flags in one read each,
    the check's time in one upsert; a face's flags and review state are written only when they change
    (what the answer itself changed, the queue's services have written already).
    """
    faces = list(Face.objects.select_for_update(of=("self",)).select_related("project")
                 .only("id", "project_id", "needs_review", "project__region_check")
                 .filter(id__in=face_ids).order_by("id"))
    if not faces:
        return {}
    ids = [f.id for f in faces]
    answers = {}
    for a in Annotation.objects.filter(face_id__in=ids).order_by("face_id", "id"):
        answers.setdefault(a.face_id, []).append(a)
    suggestions = suggestions_counting(ids)
    golds = {g.face_id: g for g in GoldItem.objects.filter(face_id__in=ids)}
    flags = {}
    for f in Flag.objects.filter(face_id__in=ids, status__in=(Flag.Status.OPEN, Flag.Status.RESOLVED)).order_by("id"):
        flags.setdefault(f.face_id, []).append(f)
    now = timezone.now()
    checked = {face.id: _face_apply(face, answers=answers.get(face.id, []), suggestion=suggestions.get(face.id),
                                    gold=golds.get(face.id), flags=flags.get(face.id, []), now=now)
               for face in faces}
    FlagCheck.objects.bulk_create([FlagCheck(face_id=face_id, checked_at=now) for face_id in ids],
                                  update_conflicts=True, unique_fields=["face"], update_fields=["checked_at"])
    return checked


def _face_apply(face, *, answers, suggestion, gold, flags, now) -> list[Flag]:
    """Open, refresh and close one face's flags against the causes present now; return its open flags."""
    wanted = desired_flags(annotations=answers, suggestion=suggestion, gold=gold,
                           region_check=face.project.region_check)
    open_flags, resolved, still_open = {}, {}, []
    for f in flags:
        if f.status == Flag.Status.RESOLVED:
            resolved.setdefault((f.reason, f.key), []).append(_signature(f.evidence))
        elif f.reason == Flag.Reason.SPOT_CHECK:
            # A spot check is no cause computed here (the lead asked for it): only a reviewer's decision closes it.
            still_open.append(f)
        else:
            open_flags[(f.reason, f.key)] = f
    for cause, flag in open_flags.items():
        if cause not in wanted:
            flag.status, flag.closed_at = Flag.Status.CLOSED, now
            flag.save(update_fields=["status", "closed_at"])
    for (reason, key), (evidence, severity) in wanted.items():
        flag = open_flags.get((reason, key))
        if flag is not None:
            if flag.evidence != evidence or flag.severity != severity:
                flag.evidence, flag.severity = evidence, severity
                flag.save(update_fields=["evidence", "severity"])
            still_open.append(flag)
        elif _signature(evidence) not in resolved.get((reason, key), []):
            still_open.append(Flag.objects.create(face=face, reason=reason, key=key, evidence=evidence,
                                                  severity=severity))
    if face.needs_review != bool(still_open):
        face_set_needs_review(face_id=face.id, needs_review=bool(still_open))
    still_open.sort(key=lambda f: (-f.severity, f.created_at))  # Flag's own order
    return still_open


def faces_with_stale_flags():
    """Return ids of faces answered or suggested after their flags were last checked (or never checked)."""
    checked = FlagCheck.objects.filter(face=OuterRef("pk"))
    newer_answer = Annotation.objects.filter(face=OuterRef("pk"), updated_at__gt=OuterRef("flag_check__checked_at"))
    newer_suggestion = Suggestion.objects.filter(face=OuterRef("pk"), created_at__gt=OuterRef("flag_check__checked_at"))
    has_answer = Annotation.objects.filter(face=OuterRef("pk"))
    return (
        Face.objects.filter(Exists(has_answer))
        .filter(~Exists(checked) | Exists(newer_answer) | Exists(newer_suggestion))
        .order_by("id").values_list("id", flat=True)
    )
