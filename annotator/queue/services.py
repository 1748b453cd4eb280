"""The annotation queue: claim faces (leases), submit and change answers.

Invariant: a face is never handed to more annotators than it needs, i.e. for every face that is not
a gold item, answers + live claims <= required_annotations (but a claim on a face a reviewer returned
to its annotator: that answer is counted already, and replaced). Claims lock the face rows first
(PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so 50 annotators asking at once take different
faces without waiting on each other; SQLite: the database write lock serialises claimers), then
count answers and live claims again in a fresh statement: under READ COMMITTED a new statement sees
every claim committed by whoever held the row lock before us. Submits take the same row lock.
"""
import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable, Optional

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone

from annotator import signals
from annotator.domain.categories import CATEGORY_NAMES, has_va, validate_label, validate_point_in_circle
from annotator.domain.errors import CONFLICT, INVALID, NOT_FOUND, DomainError
from annotator.domain.va_regions import point_in_region
from annotator.faces.services import face_refresh_final_label
from annotator.feedback import selectors as feedback_selectors
from annotator.feedback import services as feedback_services
from annotator.guidelines.selectors import guideline_version_current
from annotator.models import (
    MAX_SECONDS_SPENT,
    Annotation,
    AnnotatorStanding,
    CalibrationAnswer,
    Claim,
    Face,
    FinalSource,
    Suggestion,
)
from annotator.projects.selectors import ProjectNotFound, face_visible_to, project_for_user, user_in_project
from annotator.qualification import services as qualification
from annotator.qualification.selectors import standing_of
from annotator.suggestions.selectors import suggestions_counting

logger = logging.getLogger(__name__)

# An answer "kept" the suggestion when it names the same category and its point moved less than this.
KEEP_TOLERANCE = 0.02


class QueueError(DomainError):
    """A request the queue cannot honour in the state it is in; `field` names the input at fault where there is one."""

    kind = CONFLICT


class NoSuchFace(QueueError):
    """The face id names no face."""

    kind = NOT_FOUND


class NoSuchAnswer(QueueError):
    """The answer id names none of the annotator's answers (someone else's is as invisible as none)."""

    kind = NOT_FOUND


class AlreadyAnswered(QueueError):
    """The annotator answered this face already (with another client key): change it instead."""


class NotClaimed(QueueError):
    """The annotator holds no live claim on the face (never claimed it, skipped it, or the lease ran out)."""


class KeyReused(QueueError):
    """A client_key already used for a different answer: a retry must send the same answer."""


class ReviewDecided(QueueError):
    """A reviewer has decided this face; its answers can no longer change."""


class TooOldToChange(QueueError):
    """Only the annotator's latest answers can be changed."""


class OutsideRegion(QueueError):
    """The point lies outside the category's expected region and was not confirmed."""

    kind = INVALID


@dataclass
class ClaimedFace:
    face_id: int
    landmarks: Optional[list]
    claim: Claim
    suggestion: Optional[Suggestion]
    # A reviewer's note when the face was returned to this annotator (annotator.feedback), else None.
    note: Optional[dict] = None


def _now():
    """Return the current time (a seam for tests of leases)."""
    return timezone.now()


def _lease():
    return timedelta(seconds=settings.CLAIM_LEASE_SECONDS)


def _forgotten_claims(now):
    """Claims lapsed for more than one lease: the lease after lapsing keeps a skipped face from its
    skipper; after that the claim is forgotten."""
    return Claim.objects.filter(expires_at__lte=now - _lease())


def _not_mine(qs, *, annotator, exclude: Iterable[int]):
    """Drop faces the annotator answered or holds a claim on (NOT EXISTS: one index probe per row)."""
    exclude = list(exclude)
    if exclude:
        qs = qs.exclude(pk__in=exclude)
    return qs.filter(
        ~Exists(Annotation.objects.filter(face=OuterRef("pk"), annotator=annotator)),
        ~Exists(Claim.objects.filter(face=OuterRef("pk"), annotator=annotator)),
    )


def lock_candidates_sql(*, annotator_id: int, project, now, limit: int, exclude: Iterable[int]) -> tuple:
    """Return (sql, params) of the claim scan: the project's faces with room for one more annotator that
    this annotator has neither answered nor claimed, in the project's queue order, locked FOR UPDATE SKIP LOCKED where
    the database can (on SQLite the write lock taken first serialises claimers).

    Hand-written because it runs for every face shown: the ORM's compile time was most of a claim's
    cost. Its first condition is the partial indexes' predicate (migration 0003), so the scan reads
    only open faces, in index order, and stops after a few rows at any table size.
    """
    face, claim, annotation = Face._meta.db_table, Claim._meta.db_table, Annotation._meta.db_table
    now = connection.ops.adapt_datetimefield_value(now)
    exclude = list(exclude)
    order = {"rare_first": "f.queue_priority DESC, f.id", "arrival": "f.id"}.get(project.queue_order)
    if order is None:
        raise ValueError(f"queue_order of {project.slug}: {project.queue_order!r} is not 'rare_first' or 'arrival'")
    sql = [
        f"SELECT f.id, f.landmarks FROM {face} f WHERE f.answer_count < f.required_annotations",
        "AND f.project_id = %s",
        # Gold faces come through the gold share only, where they are always shown blind.
        "AND f.is_gold = %s",
        f"AND NOT EXISTS (SELECT 1 FROM {annotation} a WHERE a.face_id = f.id AND a.annotator_id = %s)",
        f"AND NOT EXISTS (SELECT 1 FROM {claim} m WHERE m.face_id = f.id AND m.annotator_id = %s)",
        f"AND f.answer_count + (SELECT COUNT(*) FROM {claim} c WHERE c.face_id = f.id AND c.expires_at > %s)"
        " < f.required_annotations",
    ]
    params = [project.pk, False, annotator_id, annotator_id, now]
    if exclude:
        sql.append(f"AND f.id NOT IN ({', '.join(['%s'] * len(exclude))})")
        params.extend(exclude)
    sql.append(f"ORDER BY {order} LIMIT %s")
    params.append(limit)
    if connection.features.has_select_for_update_skip_locked:
        sql.append("FOR UPDATE OF f SKIP LOCKED")
    return " ".join(sql), params


def _lock_candidates(*, annotator, project, now, limit: int, exclude: Iterable[int]) -> list:
    """Return [(face id, landmarks)] of the faces the claim scan locked."""
    sql, params = lock_candidates_sql(annotator_id=annotator.pk, project=project, now=now, limit=limit, exclude=exclude)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [(pk, json.loads(marks) if isinstance(marks, (str, bytes)) else marks) for pk, marks in rows]


def _insert_claims_if_open(face_ids: list, *, annotator, now, expires_at, blind: set) -> dict:
    """Insert claims on those faces whose answers + live claims are still below what they need;
    return {face_id: Claim}.

    One statement, run after the row locks are held: its fresh snapshot sees every claim committed
    by whoever held a lock before us, which the locking statement's older snapshot may not.
    """
    if not face_ids:
        return {}
    adapt = connection.ops.adapt_datetimefield_value
    claim_table, face_table = Claim._meta.db_table, Face._meta.db_table
    blind_ids = [pk for pk in face_ids if pk in blind]
    blind_sql = f"f.id IN ({', '.join(['%s'] * len(blind_ids))})" if blind_ids else "FALSE"
    sql = (
        f"INSERT INTO {claim_table} (face_id, annotator_id, shown_blind, claimed_at, expires_at) "
        f"SELECT f.id, %s, {blind_sql}, %s, %s FROM {face_table} f "
        f"WHERE f.id IN ({', '.join(['%s'] * len(face_ids))}) AND f.answer_count + "
        f"(SELECT COUNT(*) FROM {claim_table} c WHERE c.face_id = f.id AND c.expires_at > %s) < f.required_annotations "
        # Claim ids follow the queue order of face_ids: a reload lists own claims by (claimed_at, id), and
        # these share claimed_at, so without this the rows' physical order (which updates change) decides.
        f"ORDER BY CASE f.id {' '.join(['WHEN %s THEN %s'] * len(face_ids))} END "
        "RETURNING id, face_id"
    )
    order = [v for position, pk in enumerate(face_ids) for v in (pk, position)]
    params = [annotator.pk, *blind_ids, adapt(now), adapt(expires_at), *face_ids, adapt(now), *order]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {
        face_id: Claim(pk=pk, face_id=face_id, annotator=annotator, shown_blind=face_id in blind, claimed_at=now,
                       expires_at=expires_at)
        for pk, face_id in rows
    }


def _pick_gold(*, annotator, project, exclude: Iterable[int], limit: int) -> list:
    """Return the ids of up to `limit` of the project's gold faces, in random order, this annotator has neither answered nor holds.

    Gold faces measure annotators, so every annotator may see each one; they are exempt from the
    required_annotations cap. Faces the annotator answered in calibration are left out: they saw
    the reference.
    """
    if limit <= 0:
        return []
    return list(
        _not_mine(Face.objects.filter(project=project, is_gold=True), annotator=annotator, exclude=exclude)
        .filter(~Exists(CalibrationAnswer.objects.filter(face=OuterRef("pk"), annotator=annotator)))
        .order_by("?")
        .values_list("pk", flat=True)[:limit]
    )


def _claims_create_or_get(blind_by_face: dict, *, annotator, expires_at, calibration: bool = False) -> list:
    """Claim these faces ({face_id: shown_blind}) for the annotator, in the order given; return the claims.

    These picks (gold, calibration, returned faces) lock no row, so the same annotator claiming in two
    tabs at once may pick the same face: the later insert is skipped (not an IntegrityError 500) and
    both tabs get the one claim. One INSERT and one SELECT however many faces."""
    if not blind_by_face:
        return []
    Claim.objects.bulk_create(
        [Claim(face_id=pk, annotator=annotator, expires_at=expires_at, shown_blind=blind, calibration=calibration)
         for pk, blind in blind_by_face.items()],
        ignore_conflicts=True,
    )
    claims = {c.face_id: c for c in Claim.objects.filter(annotator=annotator, face_id__in=list(blind_by_face))}
    return [claims[pk] for pk in blind_by_face if pk in claims]


def _claim_calibration(*, annotator, standing, room: int, exclude: set, expires_at) -> dict:
    """Claim up to `room` of the standing's project's gold faces for the annotator's calibration round, always blind: faces not yet
    answered in this round first (in random order), then repeats, the longest unseen first."""
    if room <= 0:
        return {}
    gold = list(Face.objects.filter(project_id=standing.project_id, is_gold=True, gold_reference__isnull=False)
                .exclude(pk__in=list(exclude)).values_list("pk", flat=True))
    last_seen = dict(
        CalibrationAnswer.objects.filter(annotator=annotator, face__project_id=standing.project_id,
                                         created_at__gte=standing.round_started_at).order_by()
        .values("face_id").annotate(last=Max("created_at")).values_list("face_id", "last")
    )
    random.shuffle(gold)
    fresh = [pk for pk in gold if pk not in last_seen]
    repeats = sorted((pk for pk in gold if pk in last_seen), key=lambda pk: last_seen[pk])
    claims = _claims_create_or_get(dict.fromkeys((fresh + repeats)[:room], True), annotator=annotator,
                                   expires_at=expires_at, calibration=True)
    return {c.face_id: c for c in claims}


def queue_claim(*, annotator, project=None, count: int = 1, holding: Iterable[int] = ()) -> list:
    """Hand the annotator up to `count` of the project's faces: their own live claims there not in
    `holding` first, then new ones (project None: the annotator's only project). Raises ProjectNotFound
    unless the annotator works in the project, ProjectNeeded when none is named and they have several.

    Each new claim is a lease of CLAIM_LEASE_SECONDS; the project's gold_share of new faces are gold
    items and its blind_share are shown without their suggestion. Gold faces are always shown blind, and
    hand out as any other face, so nothing in the payload tells them apart. One annotator holds at
    most QUEUE_MAX_CLAIMS live claims. Round trips are few on purpose: this runs for every face shown.

    An annotator in their calibration round gets gold faces only (annotator.qualification); a paused
    one gets AnnotatorPaused, and one waiting for gold faces to be marked CalibrationUnavailable.
    """
    holding = {int(pk) for pk in holding}
    if project is None:
        project = project_for_user(annotator)
    elif not user_in_project(annotator, project.pk):
        raise ProjectNotFound(f"no project {project.slug!r} of yours", field="project")
    standing = qualification.standing_gate(annotator=annotator, project=project)
    now = _now()
    lease = _lease()
    expires_at = now + lease
    landmarks = {}
    with transaction.atomic():
        if not connection.features.has_select_for_update_skip_locked:
            # SQLite: make a write the first statement, so the database write lock is taken before
            # anything is read and claimers run one after another.
            _forgotten_claims(now).filter(annotator=annotator).delete()
        own = list(Claim.objects.filter(annotator=annotator, face__project=project).order_by("claimed_at", "id"))
        # A skipped or abandoned claim keeps the face from this annotator for one more lease, then is forgotten.
        stale = [c.pk for c in own if c.expires_at <= now - lease]
        if stale:
            Claim.objects.filter(pk__in=stale).delete()
        live = [c for c in own if c.expires_at > now]
        result = [c for c in live if c.face_id not in holding][:count]
        room = min(count - len(result), settings.QUEUE_MAX_CLAIMS - len(live))
        taken = {c.face_id for c in own} | holding
        if standing.state == AnnotatorStanding.State.CALIBRATING:
            # Not `holding`: the client lists faces it answered lately, and a round repeats answered faces.
            result.extend(_claim_calibration(annotator=annotator, standing=standing, room=room,
                                             exclude={c.face_id for c in own}, expires_at=expires_at).values())
            return _claimed_faces(result, landmarks, annotator=annotator)
        # Faces a reviewer returned to this annotator come first, reserved for them (past the answer cap:
        # their answer is counted already), shown as the returned answer was (blind or not).
        returns = dict(feedback_selectors.returns_open_for(annotator=annotator, project=project,
                                                           exclude=taken)[:max(room, 0)])
        returned_claims = _claims_create_or_get(returns, annotator=annotator, expires_at=expires_at)
        new_claims = {c.face_id: c for c in returned_claims}
        gold_slots = sum(1 for _ in range(max(room - len(new_claims), 0)) if random.random() < project.gold_share)
        # One pick and one insert for all gold slots, not a round trip pair per slot.
        gold_ids = _pick_gold(annotator=annotator, project=project, exclude=taken | set(new_claims), limit=gold_slots)
        # Gold faces measure annotators: exempt from the required_annotations cap.
        # Always blind: gold measures the annotator, not their agreement with the model.
        gold_claims = _claims_create_or_get(dict.fromkeys(gold_ids, True), annotator=annotator, expires_at=expires_at)
        new_claims.update((c.face_id, c) for c in gold_claims)
        seen = set(taken)
        for _ in range(3):  # a candidate may turn out full once its lock is held; look a little further
            want = room - len(new_claims)
            if want <= 0:
                break
            locked = _lock_candidates(annotator=annotator, project=project, now=now, limit=want,
                                      exclude=seen | set(new_claims))
            if not locked:
                break
            ids = [pk for pk, _ in locked]
            seen.update(ids)
            landmarks.update(locked)
            blind = {pk for pk in ids if random.random() < project.blind_share}
            inserted = _insert_claims_if_open(ids, annotator=annotator, now=now, expires_at=expires_at, blind=blind)
            new_claims.update((pk, inserted[pk]) for pk in ids if pk in inserted)
        fresh = [c for c in new_claims.values() if c not in gold_claims and c not in returned_claims]
        for claim in gold_claims:  # anywhere among the new faces, not always first
            fresh.insert(random.randint(0, len(fresh)), claim)
        result.extend(returned_claims + fresh)  # returned faces first, as their annotator was told
    return _claimed_faces(result, landmarks, annotator=annotator)


def _claimed_faces(claims: list, landmarks: dict, *, annotator) -> list:
    missing = [c.face_id for c in claims if c.face_id not in landmarks]
    if missing:
        landmarks = {**landmarks, **dict(Face.objects.filter(pk__in=missing).values_list("pk", "landmarks"))}
    suggestions = suggestions_counting([c.face_id for c in claims if not c.shown_blind])
    notes = feedback_selectors.return_notes(annotator=annotator, face_ids=[c.face_id for c in claims])
    return [
        ClaimedFace(
            face_id=c.face_id, landmarks=landmarks[c.face_id], claim=c,
            suggestion=None if c.shown_blind else suggestions.get(c.face_id), note=notes.get(c.face_id),
        )
        for c in claims
        if c.face_id in landmarks
    ]


def claims_delete_forgotten() -> int:
    """Delete the claims lapsed for more than one lease: for every annotator, not only one who claims again.

    queue_claim forgets an annotator's lapsed claims when that annotator next claims; one who never
    comes back would keep theirs for ever. Return how many were deleted.
    """
    deleted, _ = _forgotten_claims(_now()).delete()
    return deleted


def queue_release(*, annotator, face_id: int) -> bool:
    """End the annotator's lease on a face now (skip): others may take it; this annotator gets it
    again only after one more lease time. Return whether a live claim was ended.

    A face the annotator holds no live claim on has nothing to end (a skip sent twice); an id that
    names no face raises NoSuchFace.
    """
    now = _now()
    ended = Claim.objects.filter(annotator=annotator, face_id=face_id, expires_at__gt=now).update(expires_at=now)
    if not ended and not face_visible_to(annotator, face_id):
        raise NoSuchFace(f"There is no face {face_id}.", field="face")
    return bool(ended)


def _kept(suggestion: Optional[Suggestion], category: int, valence, arousal) -> Optional[bool]:
    if suggestion is None:
        return None
    if suggestion.category != category:
        return False
    if not has_va(category) or suggestion.valence is None:
        return True
    return abs(suggestion.valence - valence) <= KEEP_TOLERANCE and abs(suggestion.arousal - arousal) <= KEEP_TOLERANCE


def _check_region(category, valence, arousal, confirmed: bool, *, project) -> bool:
    """Return whether the point is outside the region (and so confirmed); raise if unconfirmed and the
    project checks regions (with the check off, an outside point is stored as not confirmed)."""
    if point_in_region(category, valence, arousal):
        return False
    if not confirmed and project.region_check:
        raise OutsideRegion(
            f"The point ({valence:.2f}, {arousal:.2f}) is outside the usual region of {CATEGORY_NAMES[category]}; "
            "confirm it by sending outside_region_confirmed=true.",
            field="outside_region_confirmed",
        )
    return bool(confirmed)


def _announce(annotation: Annotation) -> None:
    face_id, annotation_id = annotation.face_id, annotation.pk

    def send():
        # The answer is stored whatever a receiver does (the broker may be down).
        for receiver, response in signals.answer_saved.send_robust(
            sender=Annotation, face_id=face_id, annotation_id=annotation_id
        ):
            if isinstance(response, Exception):
                logger.error("answer_saved receiver %r failed for annotation %s: %s", receiver, annotation_id, response)

    transaction.on_commit(send)


def _seconds(value) -> float:
    """Return time spent as stored: the API refuses values outside [0, MAX_SECONDS_SPENT]; callers in
    code get them clamped, so nothing out of range is ever stored."""
    return min(max(0.0, float(value or 0.0)), MAX_SECONDS_SPENT)


def _same_answer(answer: Annotation, *, face_id, category, valence, arousal) -> bool:
    """Return whether a retry carries the answer stored under its key (as first stored, or as now)."""
    wanted = (face_id, category, valence, arousal)
    if (answer.face_id, answer.category, answer.valence, answer.arousal) == wanted:
        return True
    first = answer.history.order_by("history_date", "history_id").first()  # before any undo changed it
    return first is not None and (first.face_id, first.category, first.valence, first.arousal) == wanted


def annotation_submit(
    *,
    face,
    annotator,
    category,
    valence,
    arousal,
    client_key: uuid.UUID,
    seconds_spent: float = 0.0,
    suggestion_id: Optional[int] = None,
    outside_region_confirmed: bool = False,
) -> tuple:
    """Store one answer for a face the annotator holds a live claim on; return (answer, created).

    The answer is an Annotation, or, on a calibration claim, a CalibrationAnswer (training with
    feedback, never data; a round may repeat a face). It records the guideline set version in force
    now (whatever the client believes it read). A retry with the same client_key and the same answer
    returns the stored answer and stores nothing (even after the claim ended with that answer); the
    same key with another answer is refused. Every refusal reads the same for a gold face as for any
    other, so that gold faces cannot be told apart. On a face a reviewer returned to this annotator
    (annotator.feedback), the answer replaces their earlier one and closes the return.

    Raises LabelError (bad label), OutsideRegion, NoSuchFace, AlreadyAnswered, NotClaimed, KeyReused,
    AnnotatorPaused, QueueError.
    """
    face_id = getattr(face, "pk", face)
    client_key = uuid.UUID(str(client_key))
    category, valence, arousal = validate_label(category, valence, arousal)
    validate_point_in_circle(valence, arousal)
    now = _now()
    try:
        with transaction.atomic():
            face = (Face.objects.select_related("project").select_for_update(of=("self",))
                    .only("answer_count", "required_annotations", "is_gold", "project").filter(pk=face_id).first())
            if face is None or not user_in_project(annotator, face.project_id):
                # Another project's face reads as no face at all.
                raise NoSuchFace(f"There is no face {face_id}.", field="face")
            outside = _check_region(category, valence, arousal, outside_region_confirmed, project=face.project)
            previous = list(Annotation.objects.filter(Q(client_key=client_key) | Q(face=face, annotator=annotator)))
            for answer in previous:
                if answer.client_key == client_key:
                    return _retried(answer, annotator=annotator, face_id=face.pk, category=category,
                                    valence=valence, arousal=arousal), False
            calibrated = CalibrationAnswer.objects.filter(client_key=client_key).first()
            if calibrated is not None:
                return _retried(calibrated, annotator=annotator, face_id=face.pk, category=category,
                                valence=valence, arousal=arousal), False
            returned = reopened = None
            if previous:  # their earlier answer to this face (not this key's): only a return reopens it
                returned = feedback_selectors.return_open(face_id=face.pk, annotator=annotator)
                if returned is not None:
                    reopened = previous[0]  # a reviewer returned the face: this answer replaces that one
            claim = Claim.objects.filter(face=face, annotator=annotator, expires_at__gt=now).first()
            if claim is not None and claim.calibration:
                answer = qualification.calibration_answer_store(
                    annotator=annotator, face_id=face.pk, category=category, valence=valence, arousal=arousal,
                    client_key=client_key, seconds_spent=_seconds(seconds_spent),
                )
                claim.delete()
                return answer, True
            if previous and reopened is None:
                raise AlreadyAnswered("You have answered this face already; change that answer instead.", field="face")
            qualification.standing_refuse_if_paused(standing_of(annotator, face.project))
            if claim is None:
                raise NotClaimed(
                    f"You hold no claim on face {face.pk} (never handed to you, skipped, or your lease of "
                    f"{settings.CLAIM_LEASE_SECONDS} s ran out): ask for faces with /api/queue/next/.",
                    field="face",
                )
            suggestion = None
            if suggestion_id is not None:
                # Checked on blind faces too (then not kept): a refusal that only some faces give
                # would tell blind ones, and so gold ones, apart.
                suggestion = Suggestion.objects.filter(pk=suggestion_id, face=face).first()
                if suggestion is None:
                    raise QueueError(f"{suggestion_id} is not a suggestion for face {face.pk}", field="suggestion")
                if claim.shown_blind:
                    suggestion = None
            annotation = Annotation(
                face=face,
                annotator=annotator,
                category=category,
                valence=valence,
                arousal=arousal,
                seconds_spent=_seconds(seconds_spent),
                suggestion=suggestion,
                shown_blind=claim.shown_blind,
                kept_suggestion=_kept(suggestion, category, valence, arousal),
                outside_region_confirmed=outside,
                client_key=client_key,
                # From the server's current set, never from the client.
                guideline_version=guideline_version_current(face.project),
            )
            if reopened is not None:
                annotation = _answer_again(reopened, annotation, returned)
            else:
                annotation.save()
                Face.objects.filter(pk=face.pk).update(answer_count=F("answer_count") + 1)
                feedback_services.one_more_answered(face_id=face.pk, annotation=annotation)
            claim.delete()
            face_refresh_final_label(face_id=face.pk)
            if face.is_gold:
                qualification.standing_after_gold_answer(annotator=annotator, project=face.project)
            _announce(annotation)
    except IntegrityError:
        # Two requests with one key raced past the check; the key decides.
        previous = (Annotation.objects.filter(client_key=client_key).first()
                    or CalibrationAnswer.objects.filter(client_key=client_key).first())
        if previous is None:
            raise
        return _retried(previous, annotator=annotator, face_id=face_id, category=category, valence=valence,
                        arousal=arousal), False
    return annotation, True


# What a re-answer to a returned face keeps of the returned answer; every other field is the new answer's.
_KEPT_ON_REANSWER = {"id", "face", "annotator", "imported", "created_at", "updated_at", "seconds_spent"}


def _answer_again(returned_answer: Annotation, new: Annotation, returned) -> Annotation:
    """Store the answer to a returned face in place of the returned one (the history keeps that one):
    one answer per annotator and face, counted once; the time spent adds up. Closes the return."""
    for field in Annotation._meta.concrete_fields:
        if field.name not in _KEPT_ON_REANSWER:
            setattr(returned_answer, field.attname, getattr(new, field.attname))
    returned_answer.seconds_spent = _seconds(returned_answer.seconds_spent + new.seconds_spent)
    # Given now: it is the annotator's newest answer, which undo (the latest UNDO_LIMIT) reaches.
    returned_answer.created_at = _now()
    returned_answer.save()
    feedback_services.return_answered(request=returned, annotation=returned_answer)
    return returned_answer


def _retried(previous, *, annotator, face_id, category, valence, arousal):
    """Return the answer (Annotation or CalibrationAnswer) stored under a client_key again, if this
    request is a retry of it; raise if not."""
    if previous.annotator_id != annotator.pk or previous.face_id != face_id:
        raise KeyReused("this key was used for another answer", field="client_key")
    if isinstance(previous, CalibrationAnswer):  # never changed, so as stored is as first stored
        same = (previous.category, previous.valence, previous.arousal) == (category, valence, arousal)
    else:
        same = _same_answer(previous, face_id=face_id, category=category, valence=valence, arousal=arousal)
    if not same:
        raise KeyReused(
            "this key was used for a different answer to this face; a retry must send the same "
            "answer (change an answer with PATCH /api/annotations/<id>/)",
            field="client_key",
        )
    return previous


def annotation_change(
    *, annotation_id: int, annotator, category, valence, arousal, outside_region_confirmed: bool = False,
    seconds_spent: Optional[float] = None,
) -> Annotation:
    """Change one of the annotator's latest UNDO_LIMIT answers, unless a reviewer has decided the face.

    The old answer stays in the history. Raises NoSuchAnswer for someone else's answer.
    """
    category, valence, arousal = validate_label(category, valence, arousal)
    validate_point_in_circle(valence, arousal)
    with transaction.atomic():
        mine = Annotation.objects.filter(pk=annotation_id, annotator=annotator)
        face_id = mine.values_list("face_id", flat=True).first()
        if face_id is None:
            raise NoSuchAnswer("No such answer of yours.")
        face = Face.objects.select_related("project").select_for_update(of=("self",)).get(pk=face_id)
        if not user_in_project(annotator, face.project_id):  # taken out of the project since
            raise NoSuchAnswer("No such answer of yours.")
        outside = _check_region(category, valence, arousal, outside_region_confirmed, project=face.project)
        annotation = mine.select_related("suggestion").first()
        if annotation is None:  # deleted while the face's lock was awaited
            raise NoSuchAnswer("No such answer of yours.")
        if face.final_source == FinalSource.REVIEW:
            raise ReviewDecided("A reviewer has decided this face; the answer can no longer change.")
        latest = Annotation.objects.filter(annotator=annotator).order_by("-created_at", "-id")[: settings.UNDO_LIMIT]
        if not any(pk == annotation.pk for pk in latest.values_list("pk", flat=True)):
            raise TooOldToChange(f"Only your latest {settings.UNDO_LIMIT} answers can be changed.")
        annotation.category, annotation.valence, annotation.arousal = category, valence, arousal
        annotation.outside_region_confirmed = outside
        annotation.kept_suggestion = _kept(annotation.suggestion, category, valence, arousal)
        annotation.guideline_version = guideline_version_current(face.project)  # the changed answer is given now
        if seconds_spent is not None:
            annotation.seconds_spent = _seconds(annotation.seconds_spent + _seconds(seconds_spent))
        annotation.save()
        face_refresh_final_label(face_id=face.pk)
        if face.is_gold:
            qualification.standing_after_gold_answer(annotator=annotator, project=face.project)
        _announce(annotation)
    return annotation

