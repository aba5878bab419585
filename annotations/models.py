"""The human side: campaigns, the items they serve, raters, assignments and judgments."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from legibility.models import Checkpoint, Problem, Role, Sample, TrainingRun


class Campaign(models.Model):
    """One evaluation study: which checkpoints it covers and how raters are timed."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        LIVE = "live"
        PAUSED = "paused"
        CLOSED = "closed"

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(
        max_length=200, blank=True, help_text="For staff only: raters never see it."
    )
    public_title = models.CharField(
        max_length=200,
        blank=True,
        help_text="The study's title as raters see it; empty: a neutral one. Keep conditions "
        "(runs, checkpoints, roles) out of it.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    runs = models.ManyToManyField(TrainingRun, related_name="campaigns", blank=True)
    checkpoints = models.ManyToManyField(Checkpoint, related_name="campaigns", blank=True)
    follow_new_checkpoints = models.BooleanField(
        default=True,
        help_text="While live, take in new checkpoints of its runs as their samples arrive.",
    )
    time_limit_s = models.PositiveIntegerField(default=45)
    grace_s = models.PositiveIntegerField(
        default=5, help_text="An answer this many seconds after the limit counts, flagged late."
    )
    questions_per_session = models.PositiveIntegerField(default=20)
    judgments_per_item = models.PositiveIntegerField(default=1)
    practice_items = models.PositiveIntegerField(default=3)
    rater_cap_s = models.PositiveIntegerField(
        default=4 * 60 * 60, help_text="Judging time after which a rater is given no more items."
    )
    instructions = models.TextField(blank=True, help_text="Markdown; empty for the default text.")
    # the balance keys of its main items, written whenever items are added, so the scheduler
    # does not look for them on every request
    balance_keys = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(time_limit_s__gt=0), name="time_limit_positive"),
            models.CheckConstraint(
                condition=Q(judgments_per_item__gt=0), name="judgments_per_item_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.slug


class CampaignItem(models.Model):
    """A sample chosen for a campaign. What the scheduler needs (the item's balance key and
    problem) and what exports group by (checkpoint, role, correctness) are copied here when
    the campaign is built, so neither joins the samples."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="campaign_items")
    problem = models.ForeignKey(Problem, on_delete=models.PROTECT, related_name="+")
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=10, choices=Role.choices)
    sample_is_correct = models.BooleanField()
    # what each rater sees in balance: items with the same key are interchangeable for it. The
    # campaign's design sets it when the items are built (verdict: checkpoint, role and sample
    # correctness); the scheduler and the raters' counters use it as it is
    balance_key = models.CharField(max_length=200, editable=False)
    is_practice = models.BooleanField(default=False)
    # judgments still to hand out: set at build, one off per assignment issued, one back per
    # assignment expired (the services that issue and expire keep it)
    remaining = models.PositiveIntegerField(default=1)
    # a fixed random position, so picking "a random item" is an index range scan
    random_key = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "sample"], name="uniq_item_per_campaign"),
        ]
        indexes = [
            # scheduler: the next free item of one balance key, from a random point onwards;
            # items with nothing left to hand out drop out of the index, so the scan stays short
            models.Index(
                fields=["campaign", "balance_key", "random_key"],
                condition=Q(remaining__gt=0, is_practice=False),
                name="item_balance_free_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.pk}"


class Rater(models.Model):
    """A user who judges in one campaign, known in exports only by a pseudonym."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rater"
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="raters")
    pseudonym = models.CharField(max_length=32, unique=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    practice_done_at = models.DateTimeField(null=True, blank=True)
    sessions_started = models.PositiveIntegerField(
        default=0, help_text="Main items are served up to sessions_started × questions per session."
    )
    # counts of the rater's own history, kept by the services in the transaction that changes
    # it (the rater's row is locked first), so the next item needs no scan of that history
    main_assigned = models.PositiveIntegerField(
        default=0, editable=False, help_text="Main items issued (expired ones included)."
    )
    judged_ms = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Time spent on main items, against the cap."
    )
    balance_counts = models.JSONField(
        default=dict, blank=True, editable=False,
        help_text="Main items issued per balance key (expired ones included).",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pseudonym"]

    def __str__(self) -> str:
        return self.pseudonym


class Assignment(models.Model):
    """One item served to one rater. The id is a random UUID so it says nothing about order."""

    class State(models.TextChoices):
        OPEN = "open"
        ANSWERED = "answered"
        TIMED_OUT = "timed_out", "timed out"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="assignments")
    item = models.ForeignKey(CampaignItem, on_delete=models.PROTECT, related_name="assignments")
    problem = models.ForeignKey(Problem, on_delete=models.PROTECT, related_name="+")
    is_practice = models.BooleanField(default=False)
    position = models.PositiveIntegerField(help_text="k in 'Question k of N' of the session.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    issued_at = models.DateTimeField()
    deadline = models.DateTimeField()

    class Meta:
        constraints = [
            # the protocol: a rater never sees the same problem twice in a campaign
            models.UniqueConstraint(
                fields=["rater", "problem"],
                condition=Q(is_practice=False),
                name="uniq_problem_per_rater",
            ),
            models.UniqueConstraint(
                fields=["rater"], condition=Q(state="open"), name="one_open_assignment_per_rater"
            ),
            models.CheckConstraint(
                condition=Q(deadline__gt=F("issued_at")), name="deadline_after_issue"
            ),
        ]
        indexes = [
            # the expiry sweep: open assignments past their deadline
            models.Index(
                fields=["deadline"], condition=Q(state="open"), name="assignment_open_idx"
            ),
            # the scheduler: has the rater seen this problem, practice included; one probe per
            # candidate item instead of reading the rater's whole history
            models.Index(fields=["rater", "problem"], name="assignment_rater_problem_idx"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class Judgment(models.Model):
    """A rater's verdict on an assignment, or the timeout recorded in its place."""

    class Verdict(models.TextChoices):
        CORRECT = "correct"
        INCORRECT = "incorrect"

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="judgment")
    verdict = models.CharField(max_length=10, choices=Verdict.choices, blank=True)
    timed_out = models.BooleanField(default=False)
    late = models.BooleanField(default=False, help_text="Answered in the grace period.")
    client_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="From the solution becoming visible to the click."
    )
    hidden_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Time the tab was hidden while the item was open."
    )
    server_ms = models.PositiveIntegerField(help_text="From issue to the answer's arrival.")
    answered_at = models.DateTimeField()

    class Meta:
        constraints = [
            # a timeout carries no verdict; an answer carries exactly one
            models.CheckConstraint(
                condition=Q(timed_out=True, verdict="")
                | Q(timed_out=False, verdict__in=["correct", "incorrect"]),
                name="verdict_matches_timeout",
            ),
        ]

    def __str__(self) -> str:
        return f"judgment {self.pk}"
