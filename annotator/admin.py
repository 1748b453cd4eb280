from django.contrib import admin
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from .models import Annotation, Claim, Face, Photo, Suggester, Suggestion


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
                    "shown_blind", "kept_suggestion", "updated_at")
    list_filter = ("category", "shown_blind", "kept_suggestion", "annotator")
    search_fields = ("=face__id", "annotator__username")
    raw_id_fields = ("face", "suggestion")
    show_full_result_count = False


@admin.register(Suggester)
class SuggesterAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "kind", "is_active", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "version")


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
