from django.contrib import admin

from legibility.models import Checkpoint, Problem, Sample, SampleSource, TrainingRun


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


@admin.register(SampleSource)
class SampleSourceAdmin(admin.ModelAdmin[SampleSource]):
    list_display = ["name", "kind", "enabled", "poll_interval_s", "last_polled_at"]
    list_filter = ["kind", "enabled"]
    raw_id_fields = ["checkpoint"]
    search_fields = ["name", "path", "base_url"]


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
    raw_id_fields = ["checkpoint", "problem", "source"]
    search_fields = ["problem__external_id", "content_hash"]
    # a count over a million rows on every page load is the slowest thing the admin does
    show_full_result_count = False
    readonly_fields = ["content_hash", "created_at"]
