"""Which item a rater sees next.

Balanced per rater, without being predictable: the next item comes from a balance key drawn at
random among those that keep the rater's counts within bounds (balance.py), and from the other
keys, least seen first, only when those have nothing left for the rater. The campaign's design
sets each item's key (verdict: checkpoint × role × sample correctness), so checkpoints are
interleaved at random and each rater sees about as many correct as incorrect solutions of every
checkpoint. Never a problem the rater has seen (practice included), never an item with no
judgments left to hand out.

Picking is an index range scan: every item carries a fixed random key, and the pick is the
first free item of the key at or after a fresh random point (wrapping around), under the
partial index of free items. Rows other raters are taking are skipped (SKIP LOCKED), not
waited for."""

import random

from django.db.models import Exists, OuterRef, QuerySet

from annotations.models import Assignment, Campaign, CampaignItem, Rater
from annotations.rating.balance import eligible_keys
from annotations.rating.flow import place_in_session


def keys_least_seen_first(
    keys: list[str], seen: dict[str, int], *, rng: random.Random
) -> list[str]:
    return sorted(keys, key=lambda key: (seen.get(key, 0), rng.random()))


def keys_in_order(rater: Rater, campaign: Campaign, rng: random.Random) -> list[str]:
    """The keys to try, in order: the eligible ones shuffled, then the rest least seen first."""
    counts, keys = rater.balance_counts, campaign.balance_keys
    per_session = campaign.questions_per_session
    _, number = place_in_session(rater.main_assigned + 1, per_session)
    eligible = eligible_keys(keys, counts, left_in_session=per_session - number + 1)
    rng.shuffle(eligible)
    chosen = set(eligible)
    rest = [key for key in keys if key not in chosen]
    return eligible + keys_least_seen_first(rest, counts, rng=rng)


def next_main_item(*, rater: Rater, campaign: Campaign, rng: random.Random) -> CampaignItem | None:
    """The next item for the rater, row-locked for the caller's transaction, its sample and
    problem loaded for the page; None when none is left for this rater."""
    # probed per candidate through the (rater, problem) index: the first free items of a key
    # are mostly problems the rater has not seen, so a handful of probes settle the pick
    seen = Assignment.objects.filter(rater=rater, problem_id=OuterRef("problem_id"))
    for key in keys_in_order(rater, campaign, rng):
        free = CampaignItem.objects.filter(
            ~Exists(seen), campaign=campaign, balance_key=key, is_practice=False, remaining__gt=0
        )
        item = _first_from_random_point(free, rng.random())
        if item is not None:
            return item
    return None


def _first_from_random_point(free: QuerySet[CampaignItem], point: float) -> CampaignItem | None:
    for part in (free.filter(random_key__gte=point), free.filter(random_key__lt=point)):
        item = (
            part.order_by("random_key")
            .select_related("sample__problem")
            .select_for_update(skip_locked=True, of=("self",))
            .first()
        )
        if item is not None:
            return item
    return None


def next_practice_item(*, rater: Rater, campaign: Campaign) -> CampaignItem | None:
    done = Assignment.objects.filter(rater=rater, is_practice=True).values("item_id")
    return (
        CampaignItem.objects.filter(campaign=campaign, is_practice=True)
        .exclude(pk__in=done)
        .order_by("random_key")
        .select_related("sample__problem")
        .first()
    )
