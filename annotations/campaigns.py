"""Setting up campaigns: choosing their items, taking in new checkpoints, creating raters. The
commands, the admin and beat's task call these services."""

import random
import re
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TypedDict, Unpack

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotations.designs.verdict import Candidate, select_main_items, select_practice_items
from annotations.models import Campaign, CampaignItem, Rater
from legibility.models import Checkpoint, Sample, TrainingRun

# A new checkpoint is taken into a live campaign once no sample has arrived for it this long:
# items are chosen from its samples once, so they should all be there.
CHECKPOINT_SETTLE = timedelta(minutes=2)
SLUG = re.compile(r"[-a-zA-Z0-9_]+")


class CampaignSettings(TypedDict, total=False):
    """A campaign's settings as staff give them; what is left out takes the model's default."""

    name: str
    public_title: str
    status: str
    time_limit_s: int
    grace_s: int
    judgments_per_item: int
    questions_per_session: int
    practice_items: int
    rater_cap_s: int


# bounds a setting must keep: inclusive, in the setting's own unit
LIMITS = {
    "time_limit_s": (1, 3600),
    "grace_s": (0, 600),
    "judgments_per_item": (1, 1000),
    "questions_per_session": (1, 1000),
    "practice_items": (0, 100),
    "rater_cap_s": (60, 7 * 24 * 3600),
}


class CampaignInvalid(ValueError):
    """A campaign that cannot be created as asked; the message says why, in one line, and
    ``setting`` names the setting at fault, if one is."""

    def __init__(self, message: str, *, setting: str = "") -> None:
        super().__init__(message)
        self.setting = setting


def campaign_settings_check(*, slug: str, settings: CampaignSettings) -> None:
    """Raise CampaignInvalid for a slug or a setting the app cannot serve."""
    if not slug or len(slug) > 100 or not SLUG.fullmatch(slug):
        raise CampaignInvalid(
            f"the slug {slug!r} must be 1 to 100 letters, digits, '-' or '_' (it is in URLs)"
        )
    for name, (low, high) in LIMITS.items():
        value = settings.get(name)
        if isinstance(value, int) and value < low:
            raise CampaignInvalid(f"{name} must be at least {low:,}", setting=name)
        if isinstance(value, int) and value > high:
            raise CampaignInvalid(f"{name} must be at most {high:,}, not {value:,}", setting=name)
    if settings.get("status", Campaign.Status.LIVE) not in Campaign.Status.values:
        raise CampaignInvalid(f"status must be one of {', '.join(Campaign.Status.values)}")


@transaction.atomic
def campaign_create(
    *,
    slug: str,
    runs: list[TrainingRun],
    seed: int | None = None,
    **settings: Unpack[CampaignSettings],
) -> Campaign:
    """A campaign over every checkpoint the runs have now, items chosen by the protocol.
    Raises CampaignInvalid for settings it cannot serve."""
    campaign_settings_check(slug=slug, settings=settings)
    settings.setdefault("status", Campaign.Status.LIVE)
    campaign = Campaign.objects.create(slug=slug, **settings)
    campaign.runs.set(runs)
    checkpoints = list(Checkpoint.objects.filter(run__in=runs))
    campaign_checkpoints_add(campaign=campaign, checkpoints=checkpoints, seed=seed)
    return campaign


@transaction.atomic
def campaign_checkpoints_add(
    *, campaign: Campaign, checkpoints: Sequence[Checkpoint], seed: int | None = None
) -> int:
    """Choose items from the checkpoints' samples and add them; return how many were added."""
    rng = random.Random(seed)
    present = set(campaign.checkpoints.values_list("pk", flat=True))
    new = [checkpoint for checkpoint in checkpoints if checkpoint.pk not in present]
    candidates = [
        Candidate(sample_id, problem_id, checkpoint_id, role, bool(is_correct))
        for sample_id, problem_id, checkpoint_id, role, is_correct in Sample.objects.filter(
            checkpoint__in=new, is_correct__isnull=False
        ).values_list("id", "problem_id", "checkpoint_id", "role", "is_correct")
    ]
    main = select_main_items(candidates, rng=rng)
    practice: list[Candidate] = []
    has_practice = CampaignItem.objects.filter(campaign=campaign, is_practice=True).exists()
    if campaign.practice_items and not has_practice:
        practice = select_practice_items(candidates, main, count=campaign.practice_items, rng=rng)
        in_practice = set(practice)
        main = [candidate for candidate in main if candidate not in in_practice]
    items = [
        CampaignItem(
            **asdict(candidate),
            campaign=campaign,
            balance_key=candidate.balance_key,
            is_practice=is_practice,
            remaining=campaign.judgments_per_item,
            random_key=rng.random(),
        )
        for candidates_, is_practice in ((main, False), (practice, True))
        for candidate in candidates_
    ]
    CampaignItem.objects.bulk_create(items, batch_size=5000)
    campaign.checkpoints.add(*new)
    campaign.balance_keys = sorted(
        CampaignItem.objects.filter(campaign=campaign, is_practice=False)
        .values_list("balance_key", flat=True)
        .distinct()
    )
    campaign.save(update_fields=["balance_keys"])
    return len(items)


def campaigns_take_in_new_checkpoints(*, now: datetime | None = None) -> int:
    """For each live campaign that follows its runs, add the runs' settled new checkpoints."""
    settled_before = (now or timezone.now()) - CHECKPOINT_SETTLE
    added = 0
    campaigns = Campaign.objects.filter(status=Campaign.Status.LIVE, follow_new_checkpoints=True)
    for campaign in campaigns:
        fresh = (
            Checkpoint.objects.filter(run__in=campaign.runs.all())
            .exclude(campaigns=campaign)
            .annotate(last_sample=Max("samples__created_at"))
            .filter(last_sample__lt=settled_before)
        )
        checkpoints = list(fresh)
        if checkpoints:
            added += campaign_checkpoints_add(campaign=campaign, checkpoints=checkpoints)
    return added


@dataclass(frozen=True)
class RaterLogin:
    rater: Rater
    username: str
    password: str


@transaction.atomic
def raters_create(*, campaign: Campaign, count: int) -> list[RaterLogin]:
    logins = []
    for _ in range(count):
        pseudonym = f"r-{secrets.token_hex(4)}"
        username = f"{campaign.slug}-{pseudonym}"
        password = secrets.token_urlsafe(9)
        user = get_user_model().objects.create_user(username=username, password=password)
        rater = Rater.objects.create(user=user, campaign=campaign, pseudonym=pseudonym)
        logins.append(RaterLogin(rater, username, password))
    return logins
