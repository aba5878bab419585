from django.contrib import admin

from annotations.models import Assignment, Campaign, CampaignItem, Judgment, Rater
from legibility.admin import CheckpointListFilter


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin[Campaign]):
    list_display = ["slug", "name", "status", "time_limit_s", "judgments_per_item", "created_at"]
    list_filter = ["status"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["checkpoints"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(CampaignItem)
class CampaignItemAdmin(admin.ModelAdmin[CampaignItem]):
    list_display = [
        "id",
        "campaign",
        "checkpoint",
        "role",
        "sample_is_correct",
        "is_practice",
        "remaining",
    ]
    list_filter = [
        "campaign",
        "checkpoint__run",
        ("checkpoint", CheckpointListFilter),
        "role",
        "sample_is_correct",
        "is_practice",
    ]
    list_select_related = ["campaign", "checkpoint__run"]
    raw_id_fields = ["campaign", "sample", "problem", "checkpoint"]
    search_fields = ["problem__external_id"]
    show_full_result_count = False


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin[Rater]):
    list_display = ["pseudonym", "user", "campaign", "consented_at", "practice_done_at"]
    list_filter = ["campaign"]
    list_select_related = ["user", "campaign"]
    raw_id_fields = ["user", "campaign"]
    search_fields = ["pseudonym", "user__username"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin[Assignment]):
    list_display = ["id", "rater", "item", "position", "state", "is_practice", "issued_at"]
    list_filter = [
        "state",
        "is_practice",
        "rater__campaign",
        ("item__checkpoint", CheckpointListFilter),
        "item__role",
    ]
    list_select_related = ["rater", "item"]
    raw_id_fields = ["rater", "item", "problem"]
    search_fields = ["rater__pseudonym", "problem__external_id"]
    show_full_result_count = False


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin[Judgment]):
    list_display = ["id", "assignment", "verdict", "timed_out", "late", "server_ms", "client_ms"]
    list_filter = [
        "verdict",
        "timed_out",
        "late",
        "assignment__rater__campaign",
        "assignment__item__checkpoint__run",
        ("assignment__item__checkpoint", CheckpointListFilter),
        "assignment__item__role",
        "assignment__item__sample_is_correct",
    ]
    list_select_related = ["assignment"]
    raw_id_fields = ["assignment"]
    search_fields = ["assignment__rater__pseudonym"]
    show_full_result_count = False
