from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from annotator.domain.categories import parse_categories
from annotator.guidelines.services import GuidelineError, guideline_examples_check, guideline_save
from annotator.models import (
    Annotation,
    AnnotatorStanding,
    Claim,
    ConsoleAction,
    Face,
    Guideline,
    Photo,
    Project,
    Suggester,
    Suggestion,
)
from annotator.projects.policy import POLICY_FIELDS
from annotator.projects.selectors import project_named, projects_overview
from annotator.projects.services import (
    project_create,
    project_members_add,
    project_members_remove,
    project_policy_update,
)
from annotator.suggestions.services import suggester_activate
from annotator.web.admin_paging import BigTableAdmin, figures_cached, per_row


class RequiredAnnotationsFilter(admin.SimpleListFilter):
    """Answers a face needs, from a fixed list: Django's default filter for a number field lists the
    values with SELECT DISTINCT over the whole face table on every page view."""

    title = "required annotations"
    parameter_name = "required_annotations"

    def lookups(self, request, model_admin):
        return [(str(n), str(n)) for n in range(1, 6)] + [("6+", "6 or more")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "6+":
            return queryset.filter(required_annotations__gte=6)
        if value and value.isdigit():
            return queryset.filter(required_annotations=int(value))
        return queryset


class ProjectForm(forms.ModelForm):
    """The project's settings, with its members (kept through the membership rows, which the
    project services write)."""

    project_members = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.order_by("username"), required=False, label="Members",
        widget=FilteredSelectMultiple("members", is_stacked=False),
        help_text="Annotators claim and reviewers review only the faces of their projects (admins see all).",
    )

    class Meta:
        model = Project
        fields = ["slug", "name", "description", *POLICY_FIELDS, "active_suggester"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["project_members"] = list(self.instance.members.values_list("pk", flat=True))
        else:  # a new project starts from today's settings (the environment variables)
            from annotator.projects.policy import project_policy_defaults

            for name, value in project_policy_defaults().items():
                self.initial.setdefault(name, value)

    def clean_export_categories(self):
        value = self.cleaned_data["export_categories"]
        try:
            parse_categories(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc).replace("--categories: ", "")) from None
        return value


@admin.register(Project)
class ProjectAdmin(SimpleHistoryAdmin):
    """Projects side by side; every save goes through the project services, so a policy change applies
    to the faces not yet finished and is kept in the history (History, top right) with who made it,
    and a newly chosen active suggester gets its suggestions queued."""

    form = ProjectForm
    list_display = ("slug", "name", "faces", "final", "flagged", "answers_24h", "members_n",
                    "annotators_per_face", "blind_share", "export_categories", "active_suggester")
    search_fields = ("slug", "name")
    history_list_display = [*POLICY_FIELDS, "active_suggester"]

    def get_fieldsets(self, request, obj=None):
        return [
            (None, {"fields": ["slug", "name", "description", "project_members"]}),
            ("Labelling policy (a change applies to the faces not yet finished)", {"fields": list(POLICY_FIELDS)}),
            ("Suggestions", {"fields": ["active_suggester"]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        return ("slug",) if obj else ()  # the slug is in commands and URLs

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "active_suggester":  # chosen here; added, changed and deleted on its own page
            for attr in ("can_add_related", "can_change_related", "can_delete_related", "can_view_related"):
                setattr(field.widget, attr, False)
        return field

    FIGURES = ("face_count", "final_count", "flagged_count", "answers_24h")

    def get_queryset(self, request):
        # The figures over every face are kept (figures_cached, their age shown above the list), and
        # ride along per row so that they still sort: counting a million faces per view took seconds.
        figures, _ = figures_cached("projects", lambda: {
            p.pk: {name: getattr(p, name) for name in self.FIGURES} for p in projects_overview()})
        queryset = super().get_queryset(request).select_related("active_suggester").annotate(
            member_count=Count("memberships", distinct=True))
        return queryset.annotate(**{name: per_row(figures, name) for name in self.FIGURES})

    def changelist_view(self, request, extra_context=None):
        _, computed_at = figures_cached("projects", lambda: {
            p.pk: {name: getattr(p, name) for name in self.FIGURES} for p in projects_overview()})
        return super().changelist_view(request, {**(extra_context or {}), "figures_computed_at": computed_at})

    @admin.display(description="faces", ordering="face_count")
    def faces(self, project):
        return project.face_count

    @admin.display(description="final", ordering="final_count")
    def final(self, project):
        done = project.final_count
        return f"{done} ({100 * done / project.face_count:.0f}%)" if project.face_count else "0"

    @admin.display(description="open flags", ordering="flagged_count")
    def flagged(self, project):
        return project.flagged_count

    @admin.display(description="answers 24 h", ordering="answers_24h")
    def answers_24h(self, project):
        return project.answers_24h

    @admin.display(description="members", ordering="member_count")
    def members_n(self, project):
        return project.member_count

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            saved = project_create(slug=data["slug"], name=data["name"], description=data["description"],
                                   by=request.user, **{name: data[name] for name in POLICY_FIELDS})
        else:
            changes = {name: data[name] for name in form.changed_data
                       if name in (*POLICY_FIELDS, "name", "description")}
            saved = project_policy_update(project=obj, by=request.user, **changes) if changes else obj
        if "active_suggester" in form.changed_data:
            chosen = data["active_suggester"]
            if chosen is None:
                project_policy_update(project=saved, by=request.user, active_suggester=None)
            else:  # its suggestions are queued for the project's faces not final yet
                suggester_activate(suggester_id=chosen.pk, project=saved, by=request.user)
        obj.pk = obj.id = saved.pk

    def save_related(self, request, form, formsets, change):
        project = form.instance
        chosen = set(form.cleaned_data["project_members"])
        now = set(project.members.all())
        project_members_add(project=project, users=chosen - now)
        project_members_remove(project=project, users=now - chosen)
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


@admin.register(Face)
class FaceAdmin(BigTableAdmin, admin.ModelAdmin):
    list_display = ("id", "thumbnail", "split", "final_category", "final_source", "answer_count",
                    "required_annotations", "needs_review", "created_at")
    list_filter = ("project", "split", "final_source", "final_category", "needs_review", RequiredAnnotationsFilter)
    search_fields = ("id", "content_hash")  # shows the box; get_search_results (BigTableAdmin) does the lookup
    search_id_fields = ("id",)
    search_exact_fields = ("content_hash",)
    search_hex_length = 64
    search_help_text = "A face id, or a crop's SHA-256 (64 hex digits)."
    readonly_fields = ("content_hash", "preview", "created_at", "final_at", "answer_count")

    @admin.display(description="face")
    def thumbnail(self, face):
        return format_html('<img src="/api/faces/{}/image/" width="48" height="48" loading="lazy">', face.id)

    @admin.display(description="crop")
    def preview(self, face):
        return format_html('<img src="/api/faces/{}/image/" width="224" height="224">', face.id)


@admin.register(Annotation)
class AnnotationAdmin(BigTableAdmin, SimpleHistoryAdmin):
    list_display = ("id", "face_id", "annotator", "category", "valence", "arousal", "seconds_spent",
                    "shown_blind", "kept_suggestion", "guideline_version", "updated_at")
    list_filter = ("category", "shown_blind", "kept_suggestion", "annotator")
    list_select_related = ("annotator",)
    search_fields = ("face__id", "annotator__username")
    search_id_fields = ("face_id",)
    search_prefix_fields = ("annotator__username",)
    search_help_text = "A face id, or the start of an annotator's user name."
    raw_id_fields = ("face", "suggestion")


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
        projects = list(Project.objects.order_by("id")[:2])
        if len(projects) != 1:  # which project's? Each chooses its own, on its page
            self.message_user(request, "This instance has several projects, each with its own active suggester: "
                                       "choose it on the project's page (Projects, then the project, then "
                                       "Active suggester).", level="error")
            return
        suggester = suggester_activate(suggester_id=queryset.get().pk, project=projects[0], by=request.user)
        self.message_user(request, f"{suggester} is now the active suggester of {projects[0].slug}.")

    def _progress(self):
        """({suggester id: faces it suggested for, "faces": all faces}, computed at), kept (figures_cached):
        two counts over every face and suggestion, seconds at a million, not made on every view."""
        def count():
            counts = dict(Suggestion.objects.order_by().values("suggester_id").annotate(n=Count("id"))
                          .values_list("suggester_id", "n"))
            return {**counts, "faces": Face.objects.count()}
        return figures_cached("suggester-progress", count)

    def changelist_view(self, request, extra_context=None):
        self._figures, computed_at = self._progress()
        return super().changelist_view(request, {**(extra_context or {}), "figures_computed_at": computed_at})

    @admin.display(description="suggested faces")
    def progress(self, suggester):
        # The worker's progress: faces with a suggestion from this model / all faces (as of the time shown).
        figures = getattr(self, "_figures", None) or self._progress()[0]
        total, done = figures["faces"], figures.get(suggester.pk, 0)
        return f"{done} / {total} ({100 * done / total:.1f}%)" if total else "0 / 0"


@admin.register(Suggestion)
class SuggestionAdmin(BigTableAdmin, admin.ModelAdmin):
    list_display = ("id", "face_id", "suggester", "category", "confidence", "valence", "arousal", "created_at")
    list_filter = ("suggester", "category")
    list_select_related = ("suggester",)
    search_fields = ("face__id",)
    search_id_fields = ("face_id",)
    search_help_text = "A face id."
    raw_id_fields = ("face",)


@admin.register(Claim)
class ClaimAdmin(BigTableAdmin, admin.ModelAdmin):
    list_display = ("face_id", "annotator", "claimed_at", "expires_at", "shown_blind")
    list_filter = ("annotator",)
    raw_id_fields = ("face",)


@admin.register(ConsoleAction)
class ConsoleActionAdmin(admin.ModelAdmin):
    """The console's history: read-only (it records what happened)."""

    list_display = ("created_at", "user", "project", "action", "summary")
    list_filter = ("action", "project")
    search_fields = ("summary", "user__username")
    readonly_fields = ("created_at", "user", "project", "action", "summary", "details")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
        fields = ["project", "category", "definition", "not_this"]
        labels = {"not_this": "What it is not"}
        help_texts = {"project": "Each project has its own guideline set and version numbers"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].empty_label = None
        if self.instance.pk:
            self.initial["example_faces"] = ", ".join(map(str, self.instance.example_face_ids))
            self.fields["project"].disabled = True  # an edit is the next version of the same project's set
        else:
            first_two = list(Project.objects.order_by("id")[:2])
            if len(first_two) < 2:  # one project: nothing to choose (a form sent without it means that one)
                self.initial.setdefault("project", first_two[0].pk if first_two else None)
                self.fields["project"].required = False

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("project") is None and not self.fields["project"].required:
            cleaned["project"] = project_named()
        parts = [p for p in cleaned.get("example_faces", "").replace(" ", ",").split(",") if p]
        if cleaned.get("project") is not None:
            try:  # the examples must be faces of the same project
                cleaned["example_faces"] = guideline_examples_check(parts, project=cleaned["project"])
            except GuidelineError as e:
                self.add_error("example_faces", e.message)
        return cleaned


@admin.register(Guideline)
class GuidelineAdmin(admin.ModelAdmin):
    """Every save stores a new version (through guideline_save); no version is changed or deleted,
    because answers record the version they were given under."""

    form = GuidelineForm
    list_display = ("project", "category", "version", "is_current", "short_definition", "created_by", "created_at")
    list_filter = ("project", "category")
    readonly_fields = ("version", "examples", "created_by", "created_at")
    fields = ("project", "category", "definition", "not_this", "example_faces", "examples", "version", "created_by",
              "created_at")

    @admin.display(description="definition")
    def short_definition(self, guideline):
        text = guideline.definition
        return text if len(text) <= 80 else text[:79] + "\u2026"

    @admin.display(description="in force", boolean=True)
    def is_current(self, guideline):
        return not Guideline.objects.filter(project_id=guideline.project_id, category=guideline.category,
                                            version__gt=guideline.version).exists()

    @admin.display(description="example crops")
    def examples(self, guideline):
        return format_html_join(
            " ", '<img src="/api/faces/{}/image/" width="96" height="96" alt="face {}">',
            ((i, i) for i in guideline.example_face_ids),
        ) or "-"

    def save_model(self, request, obj, form, change):
        # Not obj.save(): an edit of any version is stored as the next version; the old row stays.
        saved = guideline_save(
            project=obj.project if change else form.cleaned_data["project"],
            category=form.cleaned_data["category"], definition=form.cleaned_data["definition"],
            not_this=form.cleaned_data["not_this"], example_face_ids=form.cleaned_data["example_faces"],
            by=request.user,
        )
        obj.pk, obj.version, obj.created_by, obj.created_at = saved.pk, saved.version, saved.created_by, saved.created_at
        obj.example_face_ids = saved.example_face_ids
        obj.project_id = saved.project_id
        self.message_user(request, f"Saved as {saved.project.slug}'s guideline set version {saved.version} "
                                   f"(answers from now on record it; was {saved.version - 1}).")

    def has_delete_permission(self, request, obj=None):
        return False  # answers refer to versions; an edit adds one

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by", "project")
