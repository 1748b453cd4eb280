"""Faces, human annotations, model suggestions and claims (the core of the tool)."""
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from annotator.domain.categories import CATEGORIES_WITHOUT_VA, CATEGORY_NAMES

CATEGORY_CHOICES = [(i, f"{i} {name}") for i, name in enumerate(CATEGORY_NAMES)]
# The largest id a BigAutoField holds (a signed 64-bit integer): a larger one is no id of ours.
MAX_ID = 2**63 - 1


def label_constraint_q(category="category", valence="valence", arousal="arousal", *, allow_empty=False):
    """Return a Q that holds only for a possible (category, valence, arousal) triple.

    Categories 0-8 carry valence and arousal in [-1, 1]; 9 (Uncertain) and 10 (No-Face) carry
    none. With allow_empty, all three may also be empty together (no label yet).
    """
    # SQL's CHECK passes when it evaluates to NULL, so every branch rules NULLs in or out explicitly.
    not_null = {f"{name}__isnull": False for name in (category, valence, arousal)}
    with_va = (
        Q(**not_null)
        & Q(**{f"{category}__gte": 0, f"{category}__lte": 8})
        & Q(**{f"{valence}__gte": -1.0, f"{valence}__lte": 1.0})
        & Q(**{f"{arousal}__gte": -1.0, f"{arousal}__lte": 1.0})
    )
    without_va = Q(**{f"{category}__in": sorted(CATEGORIES_WITHOUT_VA), f"{valence}__isnull": True,
                      f"{arousal}__isnull": True})
    q = with_va | without_va
    if allow_empty:
        q |= Q(**{f"{category}__isnull": True, f"{valence}__isnull": True, f"{arousal}__isnull": True})
    return q


class Split(models.TextChoices):
    TRAIN = "train", "train"
    VAL = "val", "validation"
    UNASSIGNED = "unassigned", "unassigned"


class FinalSource(models.TextChoices):
    """Where a face's final label came from (what happened to it, not only who wrote it last)."""

    NONE = "", "not final"
    SINGLE = "single", "one annotator"
    AGREEMENT = "agreement", "annotators agree"
    REVIEW = "review", "reviewer's decision"
    IMPORT = "import", "imported label"
    GOLD = "gold", "gold reference"


# Final labels that someone already decided: an open flag about them is listed for review but never
# withholds them, and new answers do not change them (only a label made by this tool's annotators
# and not yet reviewed waits for review). A gold face's final label is its reference label.
DECIDED_SOURCES = (FinalSource.IMPORT, FinalSource.REVIEW, FinalSource.GOLD)


# A project's labelling policy field -> the setting (env variable) that is its default in a new project.
POLICY_SETTINGS = {
    "annotators_per_face": "ANNOTATORS_PER_FACE",
    "overlap_share": "OVERLAP_SHARE",
    "blind_share": "BLIND_SHARE",
    "gold_share": "GOLD_SHARE",
    "queue_order": "QUEUE_ORDER",
    "calibration_faces": "CALIBRATION_FACES",
    "calibration_min_accuracy": "CALIBRATION_MIN_ACCURACY",
    "calibration_max_va_distance": "CALIBRATION_MAX_VA_DISTANCE",
    "calibration_without_gold": "CALIBRATION_WITHOUT_GOLD",
    "gold_feedback": "GOLD_FEEDBACK",
    "gold_rolling_answers": "GOLD_ROLLING_ANSWERS",
    "gold_pause_min_answers": "GOLD_PAUSE_MIN_ANSWERS",
    "gold_pause_below": "GOLD_PAUSE_BELOW",
    "region_check": "REGION_CHECK",
    "export_categories": "EXPORT_CATEGORIES",
}


def project_policy_defaults() -> dict:
    """Return the policy a new project starts with: today's settings."""
    return {field: getattr(settings, name) for field, name in POLICY_SETTINGS.items()}


SHARE = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class ProjectManager(models.Manager):
    def default(self) -> "Project":
        """Return the "default" project, made with today's settings where it is missing (a fresh database
        has it from migration 0014; a test database flushed between tests may not)."""
        project = self.filter(slug="default").first()
        if project is None:
            project, created = self.get_or_create(slug="default",
                                                  defaults={"name": "Default project", **project_policy_defaults()})
            if created:
                guidelines_install_defaults(project)
        return project


def guidelines_install_defaults(project) -> None:
    """Give a project with no guidelines the shipped default of each category (version 1)."""
    from annotator.domain.guideline_defaults import DEFAULTS

    if Guideline.objects.filter(project=project).exists():
        return
    Guideline.objects.bulk_create(
        Guideline(project=project, category=category, version=1, definition=definition, not_this=not_this)
        for category, (definition, not_this) in DEFAULTS.items()
    )


class Project(models.Model):
    """One dataset being built: its faces, members, guidelines, active suggester and labelling policy.

    The policy fields start from the settings of the same names in capitals (ANNOTATORS_PER_FACE, ...;
    annotator.projects.services.project_policy_defaults); a change applies to faces not yet finished
    and is kept in the project's history.
    """

    class QueueOrder(models.TextChoices):
        RARE_FIRST = "rare_first", "rare categories first (active learning)"
        ARRIVAL = "arrival", "in order of arrival"

    class WithoutGold(models.TextChoices):
        WAIT = "wait", "wait until gold faces are marked"
        SKIP = "skip", "let annotators in without calibration"

    slug = models.SlugField(max_length=50, unique=True, help_text="Short name for URLs and --project")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProjectMembership", related_name="projects", blank=True
    )
    annotators_per_face = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)],
                                                           help_text="Answers every face needs")
    overlap_share = models.FloatField(validators=SHARE, help_text="Share of faces that need one more answer (agreement is measured on them)")
    blind_share = models.FloatField(validators=SHARE, help_text="Share of handed-out faces shown without the model's suggestion")
    gold_share = models.FloatField(validators=SHARE, help_text="Share of handed-out faces that are gold items")
    queue_order = models.CharField(max_length=16, choices=QueueOrder.choices)
    calibration_faces = models.PositiveSmallIntegerField(help_text="Answers a calibration round is scored over; 0: none")
    calibration_min_accuracy = models.FloatField(validators=SHARE, help_text="Share of right categories to pass calibration")
    calibration_max_va_distance = models.FloatField(help_text="Largest mean distance to the reference points to pass")
    calibration_without_gold = models.CharField(max_length=8, choices=WithoutGold.choices)
    gold_feedback = models.BooleanField(help_text="Show the reference after a gold answer in the real queue too")
    gold_rolling_answers = models.PositiveSmallIntegerField(help_text="Rolling gold accuracy: the latest N gold answers")
    gold_pause_min_answers = models.PositiveSmallIntegerField(help_text="Gold answers needed before pausing is judged")
    gold_pause_below = models.FloatField(validators=SHARE,
                                         help_text="Rolling gold accuracy below this pauses the annotator; 0: never")
    region_check = models.BooleanField(help_text="Ask to confirm a point outside the category's usual region")
    export_categories = models.CharField(
        max_length=40, help_text="Categories the export writes, e.g. 0-10 (all 11) or 0-7 (the 8-label release)"
    )
    active_suggester = models.ForeignKey(
        "Suggester", null=True, blank=True, on_delete=models.PROTECT, related_name="active_in_projects",
        help_text="The model whose suggestions this project's annotators see (model files may be shared)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()
    objects = ProjectManager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(annotators_per_face__gte=1), name="project_one_annotator_at_least"),
            models.CheckConstraint(
                condition=Q(overlap_share__gte=0, overlap_share__lte=1, blind_share__gte=0, blind_share__lte=1,
                            gold_share__gte=0, gold_share__lte=1, gold_pause_below__gte=0, gold_pause_below__lte=1,
                            calibration_min_accuracy__gte=0, calibration_min_accuracy__lte=1),
                name="project_shares_in_range",
            ),
        ]

    def __str__(self):
        return self.name


class ProjectMembership(models.Model):
    """A user works in a project: annotators claim its faces, reviewers review them (admins see all)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="project_member_once")]

    def __str__(self):
        return f"{self.user} in {self.project}"


def default_project_id() -> int:
    """The project a face lands in when the code names none: "default" (made if missing)."""
    return Project.objects.default().pk


class Face(models.Model):
    """One 224x224 face crop and what is known of it; its id is the export's <id>."""

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="faces", default=default_project_id)
    # Crops are stored by content, once: the same crop in two projects is two rows, one file.
    image = models.FileField(upload_to="faces/", max_length=255)
    content_hash = models.CharField(max_length=64, db_index=True, help_text="SHA-256 of the stored crop")
    source = models.CharField(max_length=2048, blank=True, help_text="Original file path or URL")
    original_width = models.PositiveIntegerField(null=True, blank=True)
    original_height = models.PositiveIntegerField(null=True, blank=True)
    box_x = models.FloatField(null=True, blank=True, help_text="Face box in the original image")
    box_y = models.FloatField(null=True, blank=True)
    box_width = models.FloatField(null=True, blank=True)
    box_height = models.FloatField(null=True, blank=True)
    landmarks = models.JSONField(
        null=True, blank=True, help_text="68 landmarks as 136 numbers x0, y0, x1, y1, ... in crop pixels"
    )
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.UNASSIGNED, db_index=True)
    required_annotations = models.PositiveSmallIntegerField(default=1)
    answer_count = models.PositiveSmallIntegerField(default=0, help_text="Kept in step with the annotations")
    queue_priority = models.FloatField(default=0.0, help_text="Higher is served first")
    needs_review = models.BooleanField(default=False, db_index=True, help_text="Has an open flag")
    # db_default as well: rows inserted by SQL (bulk loaders, bench_queue) are not gold either.
    is_gold = models.BooleanField(
        default=False, db_default=False, help_text="A gold item: its label is known, and it is mixed into queues to measure annotators"
    )
    final_category = models.SmallIntegerField(choices=CATEGORY_CHOICES, null=True, blank=True, db_index=True)
    final_valence = models.FloatField(null=True, blank=True)
    final_arousal = models.FloatField(null=True, blank=True)
    final_source = models.CharField(max_length=16, choices=FinalSource.choices, default=FinalSource.NONE, blank=True)
    final_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=label_constraint_q("final_category", "final_valence", "final_arousal", allow_empty=True),
                name="face_final_label_possible",
            ),
            models.CheckConstraint(condition=Q(required_annotations__gte=1), name="face_needs_one_annotator"),
            models.UniqueConstraint(fields=["project", "content_hash"], name="face_once_per_project"),
        ]
        indexes = [
            models.Index(fields=["-queue_priority", "id"], name="face_queue_order"),
            # The queue reads only one project's faces that still need answers, in either order
            # (annotator.queue.services): the project leads, so ten projects cost what one does.
            models.Index(
                fields=["project", "-queue_priority", "id"],
                condition=Q(answer_count__lt=F("required_annotations")),
                name="face_queue_open_rare",
            ),
            models.Index(fields=["project", "id"], condition=Q(answer_count__lt=F("required_annotations")),
                         name="face_queue_open_arrival"),
            # Gold faces are few; the queue draws from them alone.
            models.Index(fields=["project", "id"], condition=Q(is_gold=True), name="face_gold"),
        ]

    def __str__(self):
        return f"Face {self.id}"


class Suggester(models.Model):
    """A model that makes suggestions: its name and version are stored with each one."""

    class Kind(models.TextChoices):
        BUILTIN = "builtin", "built-in"
        CHECKPOINT = "checkpoint", "PyTorch checkpoint"
        ONNX = "onnx", "ONNX"

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.BUILTIN)
    path = models.CharField(max_length=1024, blank=True, help_text="Weights file, for checkpoint and ONNX")
    config = models.JSONField(default=dict, blank=True, help_text="Label order, preprocessing, ...")
    training = models.JSONField(default=dict, blank=True, help_text="What data it saw, how long it trained")
    evaluation = models.JSONField(default=dict, blank=True, help_text="Its evaluation table")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="suggester_name_version_unique"),
        ]

    def __str__(self):
        return f"{self.name} {self.version}"


class Suggestion(models.Model):
    """One model's answer for one face. Never a human label."""

    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="suggestions")
    suggester = models.ForeignKey(Suggester, on_delete=models.PROTECT, related_name="suggestions")
    probabilities = models.JSONField(help_text="Probability of each of the 11 categories")
    category = models.SmallIntegerField(choices=CATEGORY_CHOICES, help_text="The most probable category")
    confidence = models.FloatField(help_text="Probability of the most probable category")
    valence = models.FloatField(null=True, blank=True)
    arousal = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["face", "suggester"], name="suggestion_once_per_model_version"),
            models.CheckConstraint(condition=label_constraint_q(), name="suggestion_label_possible"),
            models.CheckConstraint(condition=Q(confidence__gte=0.0, confidence__lte=1.0), name="suggestion_confidence_range"),
        ]

    def __str__(self):
        return f"{self.suggester} on face {self.face_id}: {CATEGORY_NAMES[self.category]}"


# Time on one face counts up to an hour: beyond that the annotator was away, not looking.
MAX_SECONDS_SPENT = 3600.0


class Annotation(models.Model):
    """One human's answer for one face."""

    face = models.ForeignKey(Face, on_delete=models.PROTECT, related_name="annotations")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations")
    category = models.SmallIntegerField(choices=CATEGORY_CHOICES)
    valence = models.FloatField(null=True, blank=True)
    arousal = models.FloatField(null=True, blank=True)
    seconds_spent = models.FloatField(default=0.0)
    suggestion = models.ForeignKey(
        Suggestion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The suggestion shown while answering, if any",
    )
    shown_blind = models.BooleanField(default=False, help_text="Shown without a suggestion on purpose")
    kept_suggestion = models.BooleanField(null=True, blank=True)
    outside_region_confirmed = models.BooleanField(
        default=False, help_text="The annotator confirmed a point outside the category's usual region"
    )
    imported = models.BooleanField(
        default=False, help_text="A label that came with an imported dataset, not an answer given here"
    )
    client_key = models.UUIDField(null=True, blank=True, unique=True, help_text="Idempotency key of the submit")
    guideline_version = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="The guideline set's version when the answer was given (set by the server; empty before guidelines)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["face", "annotator"], name="one_annotation_per_face_and_annotator"),
            models.CheckConstraint(condition=label_constraint_q(), name="annotation_label_possible"),
            models.CheckConstraint(
                condition=Q(seconds_spent__gte=0, seconds_spent__lte=MAX_SECONDS_SPENT), name="annotation_time_in_range"
            ),
        ]
        indexes = [
            # An annotator's latest answers (the annotate page's pace and today's count, the undo list):
            # read from the end of their own answers, not filtered out of all their answers.
            models.Index(fields=["annotator", "created_at", "id"], name="annotation_by_annotator_time"),
            # An annotator's feedback page from this index alone: their count and median seconds, and (face,
            # category) to meet the few decided and gold faces without reading their answers' rows.
            models.Index(fields=["annotator", "seconds_spent"], include=["face", "category"],
                         name="annotation_by_annotator_cover"),
            # The answers of the last hour, day and week (the projects overview): a range of this index.
            models.Index(fields=["created_at"], name="annotation_by_time"),
        ]

    def __str__(self):
        return f"{self.annotator} on face {self.face_id}: {CATEGORY_NAMES[self.category]}"


class Claim(models.Model):
    """A lease on a face for one annotator; it lapses at expires_at and the face returns to the queue."""

    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="claims")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="claims")
    shown_blind = models.BooleanField(default=False)
    # db_default too: the queue inserts claims with SQL. A calibration claim's answer is a CalibrationAnswer.
    calibration = models.BooleanField(default=False, db_default=False, help_text="A calibration round's gold face")
    claimed_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["face", "annotator"], name="one_claim_per_face_and_annotator"),
        ]

    def __str__(self):
        return f"{self.annotator} holds face {self.face_id} until {self.expires_at:%H:%M:%S}"


class GoldReference(models.Model):
    """The known label of a gold face, as the core keeps it: calibration feedback and the rolling gold
    accuracy read it here. Written only by faces.services.face_gold_set (the review app's gold service
    calls it in the transaction that marks its GoldItem)."""

    face = models.OneToOneField(Face, on_delete=models.CASCADE, primary_key=True, related_name="gold_reference")
    category = models.SmallIntegerField(choices=CATEGORY_CHOICES)
    valence = models.FloatField(null=True, blank=True)
    arousal = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=label_constraint_q(), name="gold_reference_label_possible")]

    def __str__(self):
        return f"Gold reference of face {self.face_id}: {CATEGORY_NAMES[self.category]}"


class AnnotatorStanding(models.Model):
    """Where an annotator stands: calibrating (gold faces with feedback only), qualified (the real
    queue), or paused (no faces until the lead reinstates them). Written by annotator.qualification."""

    class State(models.TextChoices):
        CALIBRATING = "calibrating", "calibrating"
        QUALIFIED = "qualified", "qualified"
        PAUSED = "paused", "paused"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="standings")
    # Per project: each has its own gold faces and calibration settings.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="standings")
    state = models.CharField(max_length=16, choices=State.choices, default=State.CALIBRATING, db_index=True)
    reason = models.CharField(max_length=300, blank=True, help_text="Why the annotator is in this state")
    calibration_skipped = models.BooleanField(
        default=False, help_text="Let into the real queue without calibration (no gold face was marked)"
    )
    round_started_at = models.DateTimeField(help_text="The calibration score counts answers from here")
    measured_since = models.DateTimeField(
        null=True, blank=True, help_text="The rolling gold accuracy counts real answers from here (qualified or reinstated)"
    )
    changed_at = models.DateTimeField(help_text="When the state last changed")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The lead who reinstated or recalibrated; empty when the tool changed it",
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="standing_once_per_project")]

    def __str__(self):
        return f"{self.user} {self.state} in {self.project_id}"


class CalibrationAnswer(models.Model):
    """One answer in a calibration round: training with feedback, not data. It is no Annotation, so it
    never reaches final labels, agreement, flags or exports, and a gold face may be answered again."""

    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calibration_answers")
    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="+")
    category = models.SmallIntegerField(choices=CATEGORY_CHOICES)
    valence = models.FloatField(null=True, blank=True)
    arousal = models.FloatField(null=True, blank=True)
    # The reference as it was when answered: feedback and score stay what the annotator was shown.
    reference_category = models.SmallIntegerField(choices=CATEGORY_CHOICES)
    reference_valence = models.FloatField(null=True, blank=True)
    reference_arousal = models.FloatField(null=True, blank=True)
    correct = models.BooleanField(help_text="Same category as the reference")
    va_distance = models.FloatField(null=True, blank=True, help_text="Distance to the reference point, when both have one")
    seconds_spent = models.FloatField(default=0.0)
    client_key = models.UUIDField(unique=True, help_text="Idempotency key of the submit")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["annotator", "created_at"], name="calibration_answer_by_time")]
        constraints = [
            models.CheckConstraint(condition=label_constraint_q(), name="calibration_answer_label_possible"),
            models.CheckConstraint(
                condition=Q(seconds_spent__gte=0, seconds_spent__lte=MAX_SECONDS_SPENT), name="calibration_time_in_range"
            ),
        ]

    def __str__(self):
        return f"{self.annotator} calibrating on face {self.face_id}: {CATEGORY_NAMES[self.category]}"


class Photo(models.Model):
    """A raw photo that import_images has seen (by the SHA-256 of its bytes), with how many faces it gave.

    It is how a photo seen before is skipped, and how photos with no face stay on record. Kept per
    project: a photo imported into one project is imported into another again (its crops are stored
    once, by content).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="photos",
                                default=default_project_id)
    sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=2048, help_text="Path of the file when it was imported")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    face_count = models.PositiveSmallIntegerField(help_text="Faces the detector found (0: no face)")
    detector = models.CharField(max_length=32)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "sha256"], name="photo_once_per_project")]

    def __str__(self):
        return f"{self.source} ({self.face_count} faces)"


class ReviewerRequest(models.Model):
    """A reviewer's request that annotators act on a face (written by annotator.feedback.services).

    RETURN: the face goes back to the annotator of `annotation`, with `note`; the queue serves it to
    them before new faces, and their next answer replaces the returned one. ONE_MORE: the face needed
    one more answer (required_annotations was raised by one); anyone who has not answered it may
    give it. Open until that answer comes, or until a reviewer decides the face (withdrawn).
    """

    class Kind(models.TextChoices):
        RETURN = "return", "returned with a note"
        ONE_MORE = "one_more", "one more annotator asked for"

    class Status(models.TextChoices):
        OPEN = "open", "waiting for an answer"
        ANSWERED = "answered", "answered"
        WITHDRAWN = "withdrawn", "withdrawn: a reviewer decided the face"

    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="reviewer_requests")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="reviewer_requests",
        help_text="RETURN: the annotator who must answer again",
    )
    annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="RETURN: the returned answer; ONE_MORE: the answer that fulfilled it",
    )
    note = models.TextField(blank=True, help_text="RETURN: what the reviewer tells the annotator")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["face", "annotator"], condition=Q(status="open", kind="return"),
                name="one_open_return_per_face_and_annotator",
            ),
            models.CheckConstraint(
                condition=(Q(kind="return", annotator__isnull=False) & ~Q(note=""))
                | Q(kind="one_more", annotator__isnull=True),
                name="reviewer_request_kind_fields",
            ),
        ]
        indexes = [
            # Every claim looks up the claimer's open returns.
            models.Index(fields=["annotator"], condition=Q(status="open"), name="reviewer_request_open"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} on face {self.face_id} ({self.status})"


class Guideline(models.Model):
    """One version of one category's guideline. An edit adds a row; old rows stay.

    `version` numbers the guideline *set*: the defaults are version 1, and every later edit, of any
    category, takes the next number, so the set an answer was given under is "for each category, its
    latest row with version <= V" (annotator.guidelines.selectors.guidelines_at).
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="guidelines")
    category = models.SmallIntegerField(choices=CATEGORY_CHOICES)
    version = models.PositiveIntegerField(db_index=True)
    definition = models.TextField(help_text="What the category is: what the face shows (plain text)")
    not_this = models.TextField(blank=True, help_text="What it is not: the usual confusions (plain text)")
    example_face_ids = models.JSONField(default=list, blank=True, help_text="Up to 3 face ids that show it")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["category", "-version"]
        constraints = [
            models.CheckConstraint(condition=Q(category__gte=0, category__lte=10), name="guideline_category_known"),
            models.CheckConstraint(condition=Q(version__gte=1), name="guideline_version_from_one"),
            models.UniqueConstraint(fields=["project", "category", "version"], name="guideline_once_per_category_version"),
        ]

    def __str__(self):
        return f"{CATEGORY_NAMES[self.category]} guideline (version {self.version})"


class GuidelineReading(models.Model):
    """An annotator dismissed the guidelines overlay of one guideline set version."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guideline_readings")
    version = models.PositiveIntegerField()
    read_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user", "version"], name="guideline_read_once_per_version")]

    def __str__(self):
        return f"{self.user} read guidelines version {self.version}"


class ConsoleAction(models.Model):
    """One thing an admin did in the lead's console (started or cancelled a job, assigned splits, put
    faces up for spot checks): who, when, in which project, what, with its options. Written only through
    annotator.console.services.console_action_record; shown on the console's page and in /admin/."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=64, help_text="e.g. export.start, job.cancel, splits.assign, spot_checks.add")
    summary = models.CharField(max_length=500, help_text="What was done, in words")
    details = models.JSONField(default=dict, blank=True, help_text="The options it was given and what it changed")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.user}: {self.summary}"


class Job(models.Model):
    """A data operation run by a worker (the `jobs` queue) for the console: an import, an export, a photo
    upload, a split assignment. Its state lives here, so a page reload or a worker restart loses nothing: the page polls this
    row, and a job whose worker died is run again (annotator.jobs.services.jobs_requeue_stale)."""

    class Kind(models.TextChoices):
        AFFECTNET_IMPORT = "affectnet_import", "AffectNet folder import"
        CSV_IMPORT = "csv_import", "AffectNet CSV + images import"
        PHOTOS_IMPORT = "photos_import", "Photos import"
        EXPORT_AFFECTNET = "export_affectnet", "AffectNet export"
        PHOTO_UPLOAD = "photo_upload", "Photo upload"
        ASSIGN_SPLITS = "assign_splits", "Split assignment"

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED)

    kind = models.CharField(max_length=32, choices=Kind.choices)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    options = models.JSONField(default=dict, blank=True, help_text="The command's options (paths relative to a DATA_ROOT)")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Unknown until counted")
    log = models.TextField(blank=True, help_text="The lines the command printed (bounded)")
    summary = models.TextField(blank=True, help_text="The command's own output (its summary lines)")
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Runs started (a worker that died starts another)")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Written every few seconds while it runs")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    result_name = models.CharField(max_length=300, blank=True, help_text="The export's zip in default storage")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"job {self.id} ({self.kind}, {self.state})"

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED

    @property
    def percent(self) -> int:
        if self.state == self.State.SUCCEEDED:
            return 100
        if not self.total:
            return 0
        return min(100, int(100 * self.done / self.total))
