"""Writes of annotators' standing: the gate the queue passes through, calibration answers, pausing
on a low rolling gold accuracy, and the lead's reinstating.

A new annotator starts calibrating (unless calibration is off or they are an admin, who marks the
gold faces); they are qualified once their latest CALIBRATION_FACES calibration answers score well
enough; a qualified annotator whose rolling gold accuracy falls below GOLD_PAUSE_BELOW is paused
until the lead reinstates them.
"""
from django.db import transaction
from django.utils import timezone

from annotator.domain.categories import validate_label
from annotator.domain.errors import CONFLICT, DomainError
from annotator.domain.qualification import gold_pause_due, va_distance
from annotator.models import MAX_SECONDS_SPENT, AnnotatorStanding, CalibrationAnswer, Claim, GoldReference
from annotator.projects.selectors import project_for_user
from annotator.qualification.selectors import (
    gold_faces_count,
    standing_calibration_score,
    standing_gold_results,
)
from annotator.web.roles import is_admin

State = AnnotatorStanding.State
WITHOUT_GOLD_MODES = ("wait", "skip")


class StandingError(DomainError):
    """The annotator's standing refuses the request."""

    kind = CONFLICT


class AnnotatorPaused(StandingError):
    """The annotator is paused (low rolling gold accuracy) until the lead reinstates them."""


class CalibrationUnavailable(StandingError):
    """A calibration round cannot go on: no gold face is marked, or the face stopped being gold."""


def _change(standing: AnnotatorStanding, state: str, reason: str, *, by=None, **fields) -> AnnotatorStanding:
    standing.state, standing.reason, standing.changed_by = state, reason[:300], by
    standing.changed_at = timezone.now()
    for name, value in fields.items():
        setattr(standing, name, value)
    standing.save()
    return standing


def standing_ensure(*, annotator, project) -> AnnotatorStanding:
    """Return the annotator's standing in the project, creating it on first use: calibrating, or
    qualified where no calibration applies (calibration_faces 0, or an admin: the lead marks the gold faces)."""
    standing = AnnotatorStanding.objects.filter(user=annotator, project=project).select_related("project").first()
    if standing is not None:
        return standing
    now = timezone.now()
    if project.calibration_faces <= 0:
        state, reason = State.QUALIFIED, "calibration is off in this project (calibration faces 0)"
    elif is_admin(annotator):
        state, reason = State.QUALIFIED, "admin: marks the gold faces, so is not calibrated on them"
    else:
        state, reason = State.CALIBRATING, "new annotator: calibration round on gold faces"
    standing, _ = AnnotatorStanding.objects.get_or_create(
        user=annotator, project=project,
        defaults={"state": state, "reason": reason, "round_started_at": now, "changed_at": now,
                  "measured_since": now if state == State.QUALIFIED else None},
    )
    return standing


def standing_refuse_if_paused(standing) -> None:
    """Raise AnnotatorPaused if the standing (None: none yet) is paused."""
    if standing is not None and standing.state == State.PAUSED:
        raise AnnotatorPaused(
            f"You are paused: {standing.reason}. The lead sees this on the dashboard and can reinstate you."
        )


def standing_resolve(*, annotator, project) -> AnnotatorStanding:
    """Return the annotator's standing in the project after the changes that need nobody: a calibration
    round with calibration turned off since, or with no gold face while the project's
    calibration_without_gold is "skip", ends in qualified (the latter marked as not calibrated)."""
    standing = standing_ensure(annotator=annotator, project=project)
    if standing.state != State.CALIBRATING:
        return standing
    if project.calibration_faces <= 0:
        return _change(standing, State.QUALIFIED, "calibration was turned off in this project",
                       measured_since=timezone.now())
    mode = project.calibration_without_gold
    if mode not in WITHOUT_GOLD_MODES:
        raise ValueError(f"calibration_without_gold: {mode!r} is not one of {', '.join(WITHOUT_GOLD_MODES)}")
    if mode == "skip" and gold_faces_count(project) == 0:
        return _change(standing, State.QUALIFIED, "calibration skipped: no gold face was marked",
                       calibration_skipped=True, measured_since=timezone.now())
    return standing


def standing_gate(*, annotator, project) -> AnnotatorStanding:
    """Return the standing the project's queue serves the annotator by; raise when it serves them nothing.

    Raises AnnotatorPaused, or CalibrationUnavailable while no gold face is marked and the project's
    calibration_without_gold is "wait" (with "skip" the annotator is qualified, marked as not calibrated).
    """
    standing = standing_resolve(annotator=annotator, project=project)
    standing_refuse_if_paused(standing)
    if standing.state == State.CALIBRATING and gold_faces_count(project) == 0:
        raise CalibrationUnavailable(
            "Your calibration round cannot start: no gold face is marked yet. The lead must mark gold faces first."
        )
    return standing


@transaction.atomic
def calibration_answer_store(*, annotator, face_id: int, category, valence, arousal, client_key,
                             seconds_spent: float = 0.0) -> CalibrationAnswer:
    """Store a calibration answer scored against the face's reference; qualify the annotator when
    their round's latest answers pass. The caller holds the face's calibration claim and ends it."""
    category, valence, arousal = validate_label(category, valence, arousal)
    reference = GoldReference.objects.filter(face_id=face_id).first()
    if reference is None:
        raise CalibrationUnavailable(f"Face {face_id} is no longer a gold face; skip it.", field="face")
    answer = CalibrationAnswer.objects.create(
        annotator=annotator, face_id=face_id, category=category, valence=valence, arousal=arousal,
        reference_category=reference.category, reference_valence=reference.valence,
        reference_arousal=reference.arousal, correct=category == reference.category,
        va_distance=va_distance((valence, arousal), (reference.valence, reference.arousal)),
        seconds_spent=min(max(0.0, float(seconds_spent or 0.0)), MAX_SECONDS_SPENT), client_key=client_key,
    )
    project_id = GoldReference.objects.filter(face_id=face_id).values_list("face__project_id", flat=True).first()
    standing = (AnnotatorStanding.objects.select_for_update(of=("self",)).select_related("project")
                .filter(user=annotator, project_id=project_id).first())
    if standing is not None and standing.state == State.CALIBRATING:
        score = standing_calibration_score(standing)
        if score.passed:
            distance = "" if score.mean_va_distance is None else f", mean V/A distance {score.mean_va_distance:.2f}"
            _change(standing, State.QUALIFIED,
                    f"passed calibration: {score.correct}/{score.answers} categories right{distance}",
                    measured_since=timezone.now())
    return answer


def _claims_end(annotator, project) -> None:
    # A paused annotator answers nothing more in the project: the faces they held go back to the others now.
    Claim.objects.filter(annotator=annotator, face__project=project).delete()


@transaction.atomic
def standing_after_gold_answer(*, annotator, project) -> AnnotatorStanding:
    """Pause a qualified annotator whose rolling gold accuracy in the project fell below its
    gold_pause_below (called after each of their real answers on a gold face, new or changed)."""
    standing = (AnnotatorStanding.objects.select_for_update(of=("self",)).select_related("project")
                .filter(user=annotator, project=project).first())
    if standing is None or standing.state != State.QUALIFIED:
        return standing
    results = standing_gold_results(standing)
    if gold_pause_due(results, min_answers=project.gold_pause_min_answers, below=project.gold_pause_below):
        _change(standing, State.PAUSED,
                f"gold accuracy {sum(results)}/{len(results)} ({sum(results) / len(results):.0%}) over your latest "
                f"gold answers is below {project.gold_pause_below:.0%}")
        _claims_end(annotator, project)
    return standing


@transaction.atomic
def standing_reinstate(*, annotator, by, project=None, recalibrate: bool = False) -> AnnotatorStanding:
    """The lead's action: let a paused annotator back into the project's real queue with a fresh rolling
    window, or (recalibrate) start a new calibration round for any annotator, paused or not (project
    None: the annotator's only one)."""
    project = project or project_for_user(annotator)
    standing = standing_ensure(annotator=annotator, project=project)
    standing = AnnotatorStanding.objects.select_for_update(of=("self",)).select_related("project").get(pk=standing.pk)
    who = getattr(by, "username", "") or "the lead"
    if recalibrate:
        _claims_end(annotator, project)
        return _change(standing, State.CALIBRATING, f"calibration restarted by {who}", by=by,
                       round_started_at=timezone.now(), measured_since=None, calibration_skipped=False)
    if standing.state != State.PAUSED:
        raise StandingError(f"{annotator.username} is {standing.state}, not paused: nothing to reinstate.")
    return _change(standing, State.QUALIFIED, f"reinstated by {who} (was: {standing.reason})", by=by,
                   measured_since=timezone.now())
