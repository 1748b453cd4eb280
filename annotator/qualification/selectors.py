"""Reads of annotators' standing: calibration scores, rolling gold accuracy, feedback on an answer, and
the dashboard's overview."""
from typing import Optional

from django.db.models import F

from annotator.domain.categories import CATEGORY_NAMES
from annotator.domain.qualification import CalibrationScore, calibration_score, va_distance
from annotator.models import Annotation, AnnotatorStanding, CalibrationAnswer, Face, GoldReference
from annotator.projects.selectors import project_for_user

State = AnnotatorStanding.State


def gold_faces_count(project) -> int:
    """Return how many of the project's faces are gold with a known reference (what a calibration round can show)."""
    return Face.objects.filter(project=project, is_gold=True, gold_reference__isnull=False).count()


def standing_of(user, project=None) -> Optional[AnnotatorStanding]:
    """Return the standing of the user (a User, or a user id with a project) in the project (None: the
    user's only one), None before their first claim there."""
    if project is None:
        project = project_for_user(user)
    return AnnotatorStanding.objects.filter(user=user, project=project).select_related("project").first()


def standing_calibration_score(standing: AnnotatorStanding) -> CalibrationScore:
    """Score the latest calibration_faces answers of the standing's current calibration round (its project's)."""
    project = standing.project
    needed = project.calibration_faces
    latest = (
        CalibrationAnswer.objects.filter(annotator_id=standing.user_id, face__project_id=standing.project_id,
                                         created_at__gte=standing.round_started_at)
        .order_by("-created_at", "-id").values_list("correct", "va_distance")[: max(needed, 1)]
    )
    return calibration_score(latest, needed=needed, min_accuracy=project.calibration_min_accuracy,
                             max_va_distance=project.calibration_max_va_distance)


def standing_gold_results(standing: AnnotatorStanding) -> list:
    """Return the latest gold_rolling_answers real answers on the project's gold faces since the standing
    was last qualified or reinstated, newest first, as True where the category is the reference's."""
    answers = Annotation.objects.filter(annotator_id=standing.user_id, face__project_id=standing.project_id,
                                        face__gold_reference__isnull=False)
    if standing.measured_since is not None:
        answers = answers.filter(created_at__gte=standing.measured_since)
    rows = (answers.annotate(reference=F("face__gold_reference__category")).order_by("-created_at", "-id")
            .values_list("category", "reference")[: standing.project.gold_rolling_answers])
    return [category == reference for category, reference in rows]


def _rolling(results: list, window: int) -> dict:
    return {"answers": len(results), "correct": sum(results),
            "accuracy": sum(results) / len(results) if results else None, "window": window}


def standing_summary(standing: AnnotatorStanding) -> dict:
    """Return what the annotate page and the dashboard say about one standing, as plain data."""
    calibrating = standing.state == State.CALIBRATING
    return {
        "state": standing.state,
        "reason": standing.reason,
        "changed_at": standing.changed_at.isoformat(),
        "calibration_skipped": standing.calibration_skipped,
        "calibration": standing_calibration_score(standing).as_dict() if calibrating else None,
        "gold": None if calibrating else _rolling(standing_gold_results(standing), standing.project.gold_rolling_answers),
    }


def _label(category, valence, arousal) -> dict:
    return {"category": category, "category_name": CATEGORY_NAMES[category], "valence": valence, "arousal": arousal}


def answer_feedback(answer) -> Optional[dict]:
    """Return the feedback on a stored answer, or None when there is none to give.

    A calibration answer always gets it (the reference, the distance, the round's score). An answer
    in the real queue gets it only on a gold face and with the project's gold_feedback on; otherwise
    None, the same as for any ordinary face, so the answer's response does not tell a gold face apart.
    """
    project = Face.objects.select_related("project").only("project").get(pk=answer.face_id).project
    if isinstance(answer, CalibrationAnswer):
        reference = _label(answer.reference_category, answer.reference_valence, answer.reference_arousal)
        correct, distance = answer.correct, answer.va_distance
    else:
        if not project.gold_feedback:
            return None
        gold = GoldReference.objects.filter(face_id=answer.face_id).first()
        if gold is None:
            return None
        reference = _label(gold.category, gold.valence, gold.arousal)
        correct = answer.category == gold.category
        distance = va_distance((answer.valence, answer.arousal), (gold.valence, gold.arousal))
    standing = standing_of(answer.annotator_id, project)
    calibration = isinstance(answer, CalibrationAnswer)
    return {
        "calibration": calibration,
        "face": answer.face_id,
        "reference": reference,
        "answer": _label(answer.category, answer.valence, answer.arousal),
        "correct": correct,
        "va_distance": distance,
        "standing": None if standing is None else {
            "state": standing.state, "reason": standing.reason,
            "calibration": standing_calibration_score(standing).as_dict() if calibration else None,
        },
    }


def standings_overview(project) -> dict:
    """Return the dashboard's section on a project's standings: one row per annotator who has claimed
    its faces (paused first), how many gold faces it has, and what the lead should know."""
    state_order = {State.PAUSED: 0, State.CALIBRATING: 1, State.QUALIFIED: 2}
    standings = sorted(AnnotatorStanding.objects.filter(project=project).select_related("user", "changed_by", "project"),
                       key=lambda s: (state_order.get(s.state, 3), s.user.username))
    rows = [{"annotator_id": s.user_id, "annotator": s.user.username,
             "changed_by": s.changed_by.username if s.changed_by else "", **standing_summary(s)} for s in standings]
    gold = gold_faces_count(project)
    needed = project.calibration_faces
    warnings = []
    if needed > 0 and gold == 0:
        if project.calibration_without_gold == "skip":
            warnings.append("No gold face is marked: new annotators are let into the queue without calibration "
                            "(CALIBRATION_WITHOUT_GOLD=skip). Mark gold faces, then restart their calibration here.")
        else:
            warnings.append("No gold face is marked: new annotators cannot start their calibration round and get no "
                            "faces until you mark gold faces (CALIBRATION_WITHOUT_GOLD=wait).")
    elif 0 < gold < needed:
        warnings.append(f"Only {gold} gold faces for a calibration round scored over {needed} answers: faces repeat "
                        "within the round, and faces answered in calibration are not used as gold in the real queue.")
    skipped = sum(1 for r in rows if r["calibration_skipped"] and r["state"] == State.QUALIFIED)
    if skipped:
        warnings.append(f"{skipped} annotator(s) work without having calibrated (no gold face was marked then).")
    return {"rows": rows, "gold_faces": gold, "paused": sum(1 for r in rows if r["state"] == State.PAUSED),
            "warnings": warnings, "calibration_faces": needed}
