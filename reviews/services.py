"""Writes of the review app: reviewers' decisions and gold items."""
from typing import Optional

from django.db import transaction
from django.utils import timezone

from annotator.console.services import console_action_record
from annotator.domain.categories import validate_label, validate_point_in_circle
from annotator.domain.errors import DomainError
from annotator.domain.labels import Label
from annotator.faces import services as core_services
from annotator.feedback import services as feedback_services
from annotator.models import Annotation, Face, Project, Suggestion
from reviews import selectors
from reviews.models import Decision, Flag, GoldItem

# After every flag an answer or the model caused (the lowest, an imported label's, start at 0.06):
# a second look at an agreed label waits for the disagreements.
SPOT_CHECK_SEVERITY = 0.05


class DecisionError(DomainError, ValueError):
    """A decision that cannot be stored: the answer or suggestion it accepts is not of this face.

    `field` names decision_make's argument at fault (source, annotation or suggestion).
    """


@transaction.atomic
def decision_make(
    *,
    face: Face,
    reviewer,
    category: int,
    valence,
    arousal,
    source: str = Decision.Source.MANUAL,
    annotation: Optional[Annotation] = None,
    suggestion: Optional[Suggestion] = None,
) -> Decision:
    """Store a reviewer's final label for a face, resolve its open flags and make the label final.

    Requests still open on the face (returned to an annotator, one more answer) are withdrawn.
    Deciding again replaces the earlier decision (simple_history keeps the old one).
    """
    category, valence, arousal = validate_label(category, valence, arousal)
    if source not in Decision.Source.values:
        raise DecisionError(f"{source!r} is not one of {', '.join(Decision.Source.values)}", field="source")
    if annotation is not None and annotation.face_id != face.id:
        raise DecisionError(f"{annotation.id} is an answer for face {annotation.face_id}, not {face.id}",
                            field="annotation")
    if suggestion is not None and suggestion.face_id != face.id:
        raise DecisionError(f"{suggestion.id} is for face {suggestion.face_id}, not {face.id}", field="suggestion")
    if source == Decision.Source.ANNOTATION and annotation is None:
        raise DecisionError("accepting an answer needs the answer's id", field="annotation")
    if source == Decision.Source.SUGGESTION and suggestion is None:
        raise DecisionError("accepting a suggestion needs the suggestion's id", field="suggestion")
    accepted = annotation if source == Decision.Source.ANNOTATION else suggestion
    if accepted is None or (accepted.valence, accepted.arousal) != (valence, arousal):
        # A point the reviewer placed stays inside the circle, as on the page; an answer or a
        # suggestion accepted as it stands may keep an imported point or a model's raw output.
        validate_point_in_circle(valence, arousal)
    # Lock the face so two reviewers deciding at once end with one decision and all flags closed.
    Face.objects.select_for_update().only("id").get(pk=face.id)
    decision, _ = Decision.objects.update_or_create(
        face=face,
        defaults={
            "reviewer": reviewer,
            "category": category,
            "valence": valence,
            "arousal": arousal,
            "source": source,
            "annotation": annotation,
            "suggestion": suggestion,
        },
    )
    Flag.objects.filter(face=face, status=Flag.Status.OPEN).update(
        status=Flag.Status.RESOLVED, closed_by=reviewer, closed_at=timezone.now()
    )
    feedback_services.requests_withdraw(face_id=face.id)
    core_services.face_set_reviewed_label(face_id=face.id, category=category, valence=valence, arousal=arousal)
    core_services.face_set_needs_review(face_id=face.id, needs_review=False)
    return decision


@transaction.atomic
def gold_mark(*, face: Face, category: int, valence, arousal, by) -> GoldItem:
    """Mark a face as a gold item with its known label (marking again changes the label); the core's
    Face.is_gold and GoldReference follow in the same transaction (the queue and calibration read
    those, not this app's table), and the label becomes the face's final label (source gold)."""
    category, valence, arousal = validate_label(category, valence, arousal)
    validate_point_in_circle(valence, arousal)
    gold, _ = GoldItem.objects.update_or_create(
        face=face, defaults={"category": category, "valence": valence, "arousal": arousal, "created_by": by}
    )
    core_services.face_gold_set(face_id=face.id, gold=True, label=Label(category, valence, arousal))
    return gold


@transaction.atomic
def gold_unmark(*, face: Face) -> bool:
    """Make a gold face an ordinary face again; return False if it was no gold item."""
    deleted, _ = GoldItem.objects.filter(face=face).delete()
    core_services.face_gold_set(face_id=face.id, gold=False)
    return bool(deleted)


def spot_check_words(plan) -> str:
    """"Spot check: 12 of 240 agreed faces (5%, seed 0) put into the review queue" — the history's summary."""
    asked = f"{100 * plan.share:g}%" if plan.share is not None else f"{plan.count} asked"
    return (f"Spot check: {plan.drawn:,} of {plan.eligible:,} agreed faces ({asked}, seed {plan.seed}) "
            "put into the review queue")


@transaction.atomic
def spot_checks_add(plan, *, user=None) -> list[Flag]:
    """Open a spot-check flag on each face of the plan (selectors.spot_check_plan), put the faces into
    the review queue, and record it in the console's history; all or nothing.

    The sample is drawn again under a lock on the project, so two admins at once cannot flag a face
    twice, and a face that went into review since the preview is not drawn. The flag's evidence keeps
    the agreed label (an open flag withholds it until a reviewer decides: keeping it is accepting an
    answer, changing it is any other decision).
    """
    list(Project.objects.select_for_update().filter(pk=plan.project.pk).values_list("id", flat=True))
    plan = selectors.spot_check_plan(plan.project, share=plan.share, count=plan.count, seed=plan.seed)
    who = user.username if user is not None and user.is_authenticated else "a command"
    labels = Face.objects.filter(pk__in=plan.face_ids).values_list("id", "final_category", "final_valence",
                                                                    "final_arousal")
    flags = [
        Flag(face_id=face_id, reason=Flag.Reason.SPOT_CHECK, key="spot_check", severity=SPOT_CHECK_SEVERITY,
             evidence={"spot_check": {"agreed": {"category": category, "point": [valence, arousal]}, "by": who,
                                      "share": plan.share, "count": plan.count, "seed": plan.seed,
                                      "of": plan.eligible}})
        for face_id, category, valence, arousal in labels
    ]
    flags = Flag.objects.bulk_create(flags, batch_size=1000)
    core_services.faces_put_under_review(plan.face_ids)
    console_action_record(user, "spot_checks.add", spot_check_words(plan), project=plan.project,
                          details={"share": plan.share, "count": plan.count, "seed": plan.seed,
                                   "eligible": plan.eligible, "drawn": plan.drawn})
    return flags
