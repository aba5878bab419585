"""The prover side: training runs, their checkpoints, problems and the solutions (samples)
the prover wrote for them, and the sources Celery workers fetch samples from."""

from django.db import models
from django.db.models import Q


class TrainingRun(models.Model):
    """One training method, e.g. the checkability game or a correctness-only RL baseline."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Checkpoint(models.Model):
    """A snapshot of a run, placed by game round and/or optimiser step."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="checkpoints")
    name = models.CharField(max_length=100)
    round = models.PositiveIntegerField(null=True, blank=True)
    step = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "round", "step", "name"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="uniq_checkpoint_name_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.run.name}/{self.name}"


class Problem(models.Model):
    """A task with a known ground-truth answer (GSM8K: the text after ``####``)."""

    external_id = models.CharField(max_length=200, unique=True)
    question = models.TextField()
    answer = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["external_id"]

    def __str__(self) -> str:
        return self.external_id


class Role(models.TextChoices):
    HELPFUL = "helpful"
    SNEAKY = "sneaky"
    NONE = "none", "none (not a game run)"


class SampleSource(models.Model):
    """Somewhere Celery beat polls for new samples; configured by staff in the admin."""

    class Kind(models.TextChoices):
        WATCHED_DIRECTORY = "watched_dir", "watched directory of JSONL files"
        OPENAI_ENDPOINT = "openai", "OpenAI-compatible endpoint"

    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    poll_interval_s = models.PositiveIntegerField(default=60)
    # watched directory
    path = models.CharField(max_length=500, blank=True)
    # OpenAI-compatible endpoint serving one checkpoint
    base_url = models.URLField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    checkpoint = models.ForeignKey(
        Checkpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="sources"
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of the environment variable holding the API key; the key itself is "
        "never stored.",
    )
    last_polled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Sample(models.Model):
    """One prover solution to one problem at one checkpoint, graded against the ground truth."""

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.CASCADE, related_name="samples")
    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="samples")
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField()
    extracted_answer = models.CharField(max_length=200, blank=True)
    is_correct = models.BooleanField(
        null=True, help_text="Empty when the final answer could not be read (unparseable)."
    )
    verifier_score = models.FloatField(null=True, blank=True)
    sample_index = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64)
    source = models.ForeignKey(
        SampleSource, null=True, blank=True, on_delete=models.SET_NULL, related_name="samples"
    )
    meta = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Ingest is idempotent: the same record arriving twice stores one sample.
            models.UniqueConstraint(
                fields=["checkpoint", "content_hash"], name="uniq_sample_per_checkpoint"
            ),
            models.CheckConstraint(
                condition=Q(role__in=[choice.value for choice in Role]), name="sample_role_valid"
            ),
        ]
        indexes = [
            # item selection: a checkpoint's samples per role and problem, split by correctness
            models.Index(
                fields=["checkpoint", "role", "problem", "is_correct"],
                name="sample_selection_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"sample {self.pk}"
