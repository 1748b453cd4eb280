"""Flags, reviewers' decisions and gold items."""
from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from annotator.models import CATEGORY_CHOICES, Annotation, Face, Suggestion, label_constraint_q


class Flag(models.Model):
    """A reason a face needs review, with its evidence."""

    class Reason(models.TextChoices):
        ANNOTATOR_VS_ANNOTATOR = "annotator_vs_annotator", "annotator vs annotator"
        ANNOTATOR_VS_MODEL = "annotator_vs_model", "annotator vs model"
        OUTSIDE_REGION = "outside_region", "point outside the category's region"
        GOLD_MISMATCH = "gold_mismatch", "gold mismatch"
        # About a label that came with an import: listed for review (after the others), never withheld.
        IMPORTED_LABEL = "imported_label", "imported label questioned"
        # An agreed label drawn at random by the lead for a second look (reviews.services.spot_checks_add):
        # no answer or model causes it, so re-evaluating the face's flags never closes it; a decision does.
        SPOT_CHECK = "spot_check", "spot check"

    class Status(models.TextChoices):
        OPEN = "open", "open"
        RESOLVED = "resolved", "resolved by a reviewer"
        CLOSED = "closed", "closed: its cause is gone"

    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="flags")
    reason = models.CharField(max_length=32, choices=Reason.choices, db_index=True)
    key = models.CharField(max_length=200, help_text="What exactly disagrees, e.g. the two annotation ids")
    evidence = models.JSONField(default=dict)
    severity = models.FloatField(default=0.0, help_text="Higher is reviewed first")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-severity", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["face", "reason", "key"], condition=Q(status="open"), name="one_open_flag_per_cause"
            ),
        ]
        indexes = [
            # The review queue walks the open flags in its order and keeps each face's leading one
            # (reviews.selectors): a page reads its own rows, at any depth, however many flags are open.
            models.Index(fields=["-severity", "created_at", "id"], condition=Q(status="open"),
                         name="flag_open_queue_order"),
            # Faces per reason (the queue's counts): a walk of one reason's open flags by face.
            models.Index(fields=["reason", "face"], condition=Q(status="open"), name="flag_open_reason_face"),
        ]

    def __str__(self):
        return f"{self.get_reason_display()} on face {self.face_id} ({self.status})"


class Decision(models.Model):
    """A reviewer's final label for a face; it outranks the annotators' answers."""

    class Source(models.TextChoices):
        ANNOTATION = "annotation", "accepted an annotator's answer"
        SUGGESTION = "suggestion", "accepted the model's suggestion"
        MANUAL = "manual", "set by the reviewer"

    face = models.OneToOneField(Face, on_delete=models.CASCADE, related_name="decision")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions")
    category = models.SmallIntegerField(choices=CATEGORY_CHOICES)
    valence = models.FloatField(null=True, blank=True)
    arousal = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    annotation = models.ForeignKey(Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    suggestion = models.ForeignKey(Suggestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.CheckConstraint(condition=label_constraint_q(), name="decision_label_possible")]
        # The feedback page's newest overturned answers walk the decisions newest first.
        indexes = [models.Index(fields=["decided_at", "face"], name="decision_by_time")]

    def __str__(self):
        return f"Decision on face {self.face_id} by {self.reviewer}"


class GoldItem(models.Model):
    """A face whose label is known; mixed into queues to measure annotators."""

    face = models.OneToOneField(Face, on_delete=models.CASCADE, related_name="gold")
    category = models.SmallIntegerField(choices=CATEGORY_CHOICES)
    valence = models.FloatField(null=True, blank=True)
    arousal = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=label_constraint_q(), name="gold_label_possible")]

    def __str__(self):
        return f"Gold face {self.face_id}"


class FlagCheck(models.Model):
    """When a face's flags were last evaluated; a face answered or suggested since is stale."""

    face = models.OneToOneField(Face, on_delete=models.CASCADE, primary_key=True, related_name="flag_check")
    checked_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return f"Flags of face {self.face_id} checked at {self.checked_at:%Y-%m-%d %H:%M:%S}"


class FlagPending(models.Model):
    """A face answered since its flags were last checked, waiting for a drain (reviews/pending.py).

    One row a face however many answers come: the checks are coalesced. `claim` is the drain that took
    the face (none: waiting); a new answer clears it, so a face answered during its check is checked again.
    """

    face = models.OneToOneField(Face, on_delete=models.CASCADE, primary_key=True, related_name="flag_pending")
    queued_at = models.DateTimeField(db_index=True)
    claim = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Flags of face {self.face_id} pending since {self.queued_at:%Y-%m-%d %H:%M:%S}"


class FlagDrain(models.Model):
    """One row: when a drain of the pending flag checks was last queued (none: no drain is queued).

    Answers queue a drain only when none is queued, so the broker holds one or two drains however fast
    answers come.
    """

    queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Flag drain queued at {self.queued_at}" if self.queued_at else "No flag drain queued"


class BlockChange(models.Model):
    """The change log behind the dashboard's block fingerprints (reviews.aggregates), PostgreSQL only.

    Statement-level triggers on every table the figures read (faces, answers, suggestions, flags,
    decisions, gold labels; migration 0011) add, per statement, a row for each run of 64 face ids it
    touched: [lo, hi], the least and greatest of them. A block's fingerprint is the count and the xmin
    sum of the rows that overlap it, so any committed change shows and a recompute reads this small
    table instead of scanning the figures' tables. Beat folds a block's rows into one summary row
    (carried_n, carried_xmins: the count and xmin sum of the rows it replaced), which keeps every
    fingerprint as it was (block_changes_compact).
    """

    lo = models.BigIntegerField()
    hi = models.BigIntegerField()
    carried_n = models.BigIntegerField(null=True, blank=True)
    carried_xmins = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lo"], condition=models.Q(carried_n__isnull=False),
                                               name="reviews_blockchange_one_summary")]

    def __str__(self):
        return f"Faces {self.lo}-{self.hi} changed"
