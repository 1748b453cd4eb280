from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from annotator.web.admin_paging import BigTableAdmin
from reviews import services
from reviews.models import Decision, Flag, GoldItem


@admin.register(Flag)
class FlagAdmin(BigTableAdmin, admin.ModelAdmin):
    list_display = ("id", "face_id", "reason", "status", "severity", "created_at", "closed_at")
    list_filter = ("reason", "status")
    search_fields = ("face__id",)
    search_id_fields = ("face_id",)
    search_help_text = "A face id."
    raw_id_fields = ("face",)


@admin.register(Decision)
class DecisionAdmin(BigTableAdmin, SimpleHistoryAdmin):
    list_display = ("face_id", "reviewer", "category", "valence", "arousal", "source", "decided_at")
    list_filter = ("source", "category", "reviewer")
    list_select_related = ("reviewer",)
    search_fields = ("face__id", "reviewer__username")
    search_id_fields = ("face_id",)
    search_prefix_fields = ("reviewer__username",)
    search_help_text = "A face id, or the start of a reviewer's user name."
    raw_id_fields = ("face", "annotation", "suggestion")


@admin.register(GoldItem)
class GoldItemAdmin(admin.ModelAdmin):
    list_display = ("face_id", "category", "valence", "arousal", "created_by", "created_at")
    list_filter = ("category",)
    raw_id_fields = ("face",)
    exclude = ("created_by",)

    def save_model(self, request, obj, form, change):
        # Through the service, so the label is checked and who marked it is recorded.
        gold = services.gold_mark(face=obj.face, category=obj.category, valence=obj.valence, arousal=obj.arousal,
                                  by=request.user)
        obj.pk = gold.pk

    def delete_model(self, request, obj):
        # Through the service, so the face stops being gold for the queue too.
        services.gold_unmark(face=obj.face)

    def delete_queryset(self, request, queryset):
        for gold in queryset.select_related("face"):
            services.gold_unmark(face=gold.face)
