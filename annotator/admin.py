from django import forms
from django.contrib import admin
from django.db.models import Count
from django.db.models.expressions import RawSQL
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from annotator.guidelines.services import GuidelineError, guideline_examples_check, guideline_save
from annotator.models import Annotation, AnnotatorStanding, Claim, Face, Guideline, Photo, Suggester, Suggestion
from annotator.suggestions.services import suggester_activate


@admin.register(Face)
class FaceAdmin(admin.ModelAdmin):
    list_display = ("id", "thumbnail", "split", "final_category", "final_source", "answer_count",
                    "required_annotations", "needs_review", "created_at")
    list_filter = ("split", "final_source", "final_category", "needs_review", "required_annotations")
    search_fields = ("=id", "source", "content_hash")
    readonly_fields = ("content_hash", "preview", "created_at", "final_at", "answer_count")
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over a million faces on every page is slow

    @admin.display(description="face")
    def thumbnail(self, face):
        return format_html('<img src="/api/faces/{}/image/" width="48" height="48" loading="lazy">', face.id)

    @admin.display(description="crop")
    def preview(self, face):
        return format_html('<img src="/api/faces/{}/image/" width="224" height="224">', face.id)


@admin.register(Annotation)
class AnnotationAdmin(SimpleHistoryAdmin):
    list_display = ("id", "face_id", "annotator", "category", "valence", "arousal", "seconds_spent",
                    "shown_blind", "kept_suggestion", "guideline_version", "updated_at")
    list_filter = ("category", "shown_blind", "kept_suggestion", "annotator")
    search_fields = ("=face__id", "annotator__username")
    raw_id_fields = ("face", "suggestion")
    show_full_result_count = False


@admin.register(AnnotatorStanding)
class AnnotatorStandingAdmin(SimpleHistoryAdmin):
    """Read here, with its history; the lead changes a standing on the dashboard, through the service
    that also ends the annotator's claims and restarts their windows. Deleting one makes the annotator
    start over as a new one (a calibration round first)."""

    list_display = ("user", "state", "reason", "calibration_skipped", "changed_at", "changed_by")
    list_filter = ("state", "calibration_skipped")
    search_fields = ("user__username",)
    readonly_fields = ("user", "state", "reason", "calibration_skipped", "round_started_at", "measured_since",
                       "changed_at", "changed_by")

    def has_add_permission(self, request):
        return False  # made on an annotator's first claim


@admin.register(Suggester)
class SuggesterAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "kind", "active_in", "progress", "val_accuracy", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "version")
    actions = ["make_active"]

    @admin.display(description="active in")
    def active_in(self, suggester):
        return ", ".join(p.slug for p in suggester.active_in_projects.all()) or "-"

    @admin.display(description="val ACC")
    def val_accuracy(self, suggester):
        """The accuracy of its evaluation table (what train_suggester recorded), to choose by."""
        acc = (suggester.evaluation or {}).get("categorical", {}).get("acc")
        return "-" if acc is None else f"{acc:.3f} on {suggester.evaluation['categorical'].get('n', '?')}"

    @admin.action(description="Make active (and queue its suggestions for faces not final yet)",
                  permissions=["change"])
    def make_active(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one suggester to make active.", level="error")
            return
        suggester = suggester_activate(suggester_id=queryset.get().pk)
        self.message_user(request, f"{suggester} is now the active suggester.")

    def get_queryset(self, request):
        # The face total rides along as one uncorrelated subquery, not one COUNT per listed row.
        face_total = RawSQL(f"SELECT COUNT(*) FROM {Face._meta.db_table}", [])  # noqa: S611 (no user input)
        return super().get_queryset(request).annotate(suggestion_count=Count("suggestions"), face_total=face_total)

    @admin.display(description="suggested faces")
    def progress(self, suggester):
        # The worker's progress: faces with a suggestion from this model / all faces.
        total = suggester.face_total
        done = suggester.suggestion_count
        return f"{done} / {total} ({100 * done / total:.1f}%)" if total else "0 / 0"


@admin.register(Suggestion)
class SuggestionAdmin(admin.ModelAdmin):
    list_display = ("id", "face_id", "suggester", "category", "confidence", "valence", "arousal", "created_at")
    list_filter = ("suggester", "category")
    search_fields = ("=face__id",)
    raw_id_fields = ("face",)
    show_full_result_count = False


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ("face_id", "annotator", "claimed_at", "expires_at", "shown_blind")
    list_filter = ("annotator",)
    raw_id_fields = ("face",)


@admin.register(Photo)
class PhotoAdmin(admin.ModelAdmin):
    list_display = ("id", "source", "width", "height", "face_count", "detector", "imported_at")
    list_filter = ("face_count", "detector")
    search_fields = ("source", "=sha256")
    readonly_fields = ("sha256", "source", "width", "height", "face_count", "detector", "imported_at")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # a record of what import_images saw; made by the import only


class GuidelineForm(forms.ModelForm):
    example_faces = forms.CharField(
        required=False, label="Example faces",
        help_text="Up to 3 face ids, separated by commas (see Faces); gold faces are refused.",
    )

    class Meta:
        model = Guideline
        fields = ["category", "definition", "not_this"]
        labels = {"not_this": "What it is not"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["example_faces"] = ", ".join(map(str, self.instance.example_face_ids))

    def clean_example_faces(self):
        parts = [p for p in self.cleaned_data["example_faces"].replace(" ", ",").split(",") if p]
        try:
            return guideline_examples_check(parts)
        except GuidelineError as e:
            raise forms.ValidationError(e.message) from None


@admin.register(Guideline)
class GuidelineAdmin(admin.ModelAdmin):
    """Every save stores a new version (through guideline_save); no version is changed or deleted,
    because answers record the version they were given under."""

    form = GuidelineForm
    list_display = ("category", "version", "is_current", "short_definition", "created_by", "created_at")
    list_filter = ("category",)
    readonly_fields = ("version", "examples", "created_by", "created_at")
    fields = ("category", "definition", "not_this", "example_faces", "examples", "version", "created_by", "created_at")

    @admin.display(description="definition")
    def short_definition(self, guideline):
        text = guideline.definition
        return text if len(text) <= 80 else text[:79] + "\u2026"

    @admin.display(description="in force", boolean=True)
    def is_current(self, guideline):
        return not Guideline.objects.filter(category=guideline.category, version__gt=guideline.version).exists()

    @admin.display(description="example crops")
    def examples(self, guideline):
        return format_html_join(
            " ", '<img src="/api/faces/{}/image/" width="96" height="96" alt="face {}">',
            ((i, i) for i in guideline.example_face_ids),
        ) or "-"

    def save_model(self, request, obj, form, change):
        # Not obj.save(): an edit of any version is stored as the next version; the old row stays.
        saved = guideline_save(
            category=form.cleaned_data["category"], definition=form.cleaned_data["definition"],
            not_this=form.cleaned_data["not_this"], example_face_ids=form.cleaned_data["example_faces"],
            by=request.user,
        )
        obj.pk, obj.version, obj.created_by, obj.created_at = saved.pk, saved.version, saved.created_by, saved.created_at
        obj.example_face_ids = saved.example_face_ids
        self.message_user(request, f"Saved as guideline set version {saved.version} "
                                   f"(answers from now on record it; was {saved.version - 1}).")

    def has_delete_permission(self, request, obj=None):
        return False  # answers refer to versions; an edit adds one

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")
