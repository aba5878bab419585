import csv
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from annotations.campaigns import campaign_checkpoints_add, raters_create
from annotations.models import Assignment, Campaign, CampaignItem, Judgment, Rater
from annotations.rating.login_links import login_path
from legibility.admin import CheckpointListFilter
from legibility.models import Checkpoint

RATERS_PER_ACTION = 10


class CampaignForm(forms.ModelForm[Campaign]):
    add_checkpoints = forms.ModelMultipleChoiceField(
        queryset=Checkpoint.objects.select_related("run"),
        required=False,
        help_text="Checkpoints to add besides every checkpoint of the runs chosen above. Items "
        "are chosen from their samples by the protocol when the campaign is saved.",
    )

    class Meta:
        model = Campaign
        fields = [
            "slug", "name", "public_title", "status", "runs", "follow_new_checkpoints",
            "time_limit_s", "grace_s", "questions_per_session", "judgments_per_item",
            "practice_items", "rater_cap_s", "instructions",
        ]  # fmt: skip


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin[Campaign]):
    form = CampaignForm
    list_display = ["slug", "name", "status", "time_limit_s", "judgments_per_item", "created_at"]
    list_filter = ["status"]
    search_fields = ["slug", "name"]
    filter_horizontal = ["runs"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["checkpoint_list"]
    actions = ["create_raters", "take_in_checkpoints"]

    @admin.display(description="checkpoints in the campaign")
    def checkpoint_list(self, campaign: Campaign) -> str:
        names = [str(c) for c in campaign.checkpoints.select_related("run")]
        return ", ".join(names) or "none yet"

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        campaign = form.instance
        wanted = list(Checkpoint.objects.filter(run__in=campaign.runs.all()))
        wanted += list(form.cleaned_data.get("add_checkpoints") or [])
        added = campaign_checkpoints_add(campaign=campaign, checkpoints=wanted)
        if added:
            self.message_user(request, f"{added} items chosen for the campaign.", messages.INFO)

    @admin.action(description=f"Create {RATERS_PER_ACTION} rater accounts (downloads a CSV)")
    def create_raters(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="raters.csv"'
        writer = csv.writer(response)
        writer.writerow(["campaign", "username", "password", "login_url"])
        for campaign in queryset:
            for login in raters_create(campaign=campaign, count=RATERS_PER_ACTION):
                url = request.build_absolute_uri(login_path(login.rater.user))
                writer.writerow([campaign.slug, login.username, login.password, url])
        return response

    @admin.action(description="Take in the runs' new checkpoints now")
    def take_in_checkpoints(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        added = 0
        for campaign in queryset:
            checkpoints = list(Checkpoint.objects.filter(run__in=campaign.runs.all()))
            added += campaign_checkpoints_add(campaign=campaign, checkpoints=checkpoints)
        self.message_user(request, f"{added} items added.", messages.SUCCESS)


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
    # kept by the services that issue and expire assignments
    readonly_fields = ["balance_key", "remaining"]
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
    # kept by the rater's flow: changing them here would break the raters' and items' counters
    readonly_fields = ["state", "is_practice", "position", "issued_at", "deadline"]
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
    # what the rater answered and when, as the server recorded it
    readonly_fields = [
        "verdict", "timed_out", "late", "client_ms", "hidden_ms", "server_ms", "answered_at",
    ]  # fmt: skip
    search_fields = ["assignment__rater__pseudonym"]
    show_full_result_count = False
