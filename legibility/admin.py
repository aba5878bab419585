from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from legibility.ingest.tasks import source_poll_task
from legibility.models import (
    Checkpoint,
    IngestRun,
    Problem,
    Sample,
    SampleSource,
    TrainingRun,
    WatchedFile,
)


class CheckpointListFilter(admin.RelatedFieldListFilter):
    """Checkpoint choices named "run/checkpoint", read in one query (not one per checkpoint)."""

    def field_choices(self, field, request, model_admin):  # type: ignore[no-untyped-def]
        return [
            (checkpoint.pk, str(checkpoint))
            for checkpoint in Checkpoint.objects.select_related("run")
        ]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin[TrainingRun]):
    list_display = ["name", "created_at"]
    search_fields = ["name", "description"]


@admin.register(Checkpoint)
class CheckpointAdmin(admin.ModelAdmin[Checkpoint]):
    list_display = ["name", "run", "round", "step", "created_at"]
    list_filter = ["run"]
    list_select_related = ["run"]
    search_fields = ["name", "run__name"]


@admin.register(Problem)
class ProblemAdmin(admin.ModelAdmin[Problem]):
    list_display = ["external_id", "answer", "created_at"]
    search_fields = ["external_id", "question"]
    show_full_result_count = False


class RecentIngestRunInline(admin.TabularInline[IngestRun, SampleSource]):
    model = IngestRun
    fields = readonly_fields = (
        "started_at", "status", "created", "duplicates", "rejected", "progress", "message",
    )  # fmt: skip
    ordering = ["-started_at"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "ingest runs"

    @admin.display(description="progress")
    def progress(self, run: IngestRun) -> str:
        return ingest_progress(run)


def ingest_progress(run: IngestRun) -> str:
    if not run.total:
        return "" if run.status != IngestRun.Status.RUNNING else "…"
    return f"{min(100, 100 * run.done // run.total)}%"


ENDPOINT_FIELDS = (
    "base_url", "api_style", "model", "checkpoint", "api_key_env", "problem_prefix",
    "samples_per_problem", "helpful_prompt", "sneaky_prompt", "max_concurrency",
    "request_timeout_s", "max_retries", "max_tokens", "temperature",
)  # fmt: skip


@admin.register(SampleSource)
class SampleSourceAdmin(admin.ModelAdmin[SampleSource]):
    list_display = ["name", "kind", "enabled", "poll_interval_s", "last_polled_at"]
    list_filter = ["kind", "enabled"]
    raw_id_fields = ["checkpoint"]
    search_fields = ["name", "path", "base_url"]
    actions = ["poll_now"]
    inlines = [RecentIngestRunInline]
    fieldsets = [
        (None, {"fields": ["name", "kind", "enabled", "poll_interval_s"]}),
        ("Watched directory", {"fields": ["path"]}),
        ("OpenAI-compatible endpoint", {"fields": ENDPOINT_FIELDS}),
    ]

    def get_inline_instances(self, request: HttpRequest, obj: SampleSource | None = None) -> list:  # type: ignore[type-arg]
        return super().get_inline_instances(request, obj) if obj else []

    @admin.action(description="Poll the selected sources now")
    def poll_now(self, request: HttpRequest, queryset: QuerySet[SampleSource]) -> None:
        for source in queryset:
            source_poll_task.delay(source.pk)
        self.message_user(request, f"{queryset.count()} poll(s) queued.", messages.SUCCESS)


@admin.register(IngestRun)
class IngestRunAdmin(admin.ModelAdmin[IngestRun]):
    list_display = [
        "id", "source", "via", "status", "started_at", "seconds", "progress",
        "created", "duplicates", "rejected",
    ]  # fmt: skip
    list_filter = ["status", "via", "source"]
    list_select_related = ["source"]
    readonly_fields = [field.name for field in IngestRun._meta.fields]
    show_full_result_count = False

    @admin.display(description="progress")
    def progress(self, run: IngestRun) -> str:
        return ingest_progress(run)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(WatchedFile)
class WatchedFileAdmin(admin.ModelAdmin[WatchedFile]):
    list_display = ["name", "source", "lines", "offset", "updated_at"]
    list_filter = ["source"]
    list_select_related = ["source"]
    readonly_fields = ["inode", "head_hash"]


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin[Sample]):
    list_display = ["id", "checkpoint", "problem", "role", "is_correct", "extracted_answer"]
    list_filter = [
        "checkpoint__run",
        ("checkpoint", CheckpointListFilter),
        "role",
        "is_correct",
    ]
    list_select_related = ["checkpoint__run", "problem"]
    raw_id_fields = ["checkpoint", "problem", "source", "ingest_run"]
    search_fields = ["problem__external_id", "content_hash"]
    # a count over a million rows on every page load is the slowest thing the admin does
    show_full_result_count = False
    readonly_fields = ["as_raters_see_it", "grade_status", "content_hash", "created_at"]

    class Media:
        # the problem and solution typeset as on the rater's page
        css = {"all": ["vendor/katex/katex.min.css", "legibility/admin-math.css"]}
        js = ["vendor/katex/katex.min.js", "legibility/math.js"]

    @admin.display(description="as raters see it")
    def as_raters_see_it(self, sample: Sample) -> str:
        return format_html(
            '<div class="math-preview" data-math>{}</div>'
            '<div class="math-preview" data-math>{}</div>',
            sample.problem.question,
            sample.text,
        )
