"""Which item a rater sees next.

Balanced per rater: the next item comes from the cell (checkpoint × role × sample correctness)
the rater has seen least, ties broken at random, so checkpoints are interleaved at random and
each rater sees as many correct as incorrect solutions of every checkpoint. Never a problem the
rater has seen (practice included), never an item with no judgments left to hand out.

Picking is an index range scan: every item carries a fixed random key, and the pick is the
first free item of the cell at or after a fresh random point (wrapping around), under the
partial index of free items. Rows other raters are taking are skipped (SKIP LOCKED), not
waited for."""

import random
from collections import Counter

from django.db.models import Count, QuerySet

from annotations.models import Assignment, Campaign, CampaignItem, Rater

Cell = tuple[int, str, bool]  # checkpoint id, role, sample is correct


def cells_least_seen_first(
    cells: list[Cell], seen: Counter[Cell], *, rng: random.Random
) -> list[Cell]:
    return sorted(cells, key=lambda cell: (seen[cell], rng.random()))


def rater_cell_counts(rater: Rater) -> Counter[Cell]:
    rows = (
        Assignment.objects.filter(rater=rater, is_practice=False)
        .exclude(state=Assignment.State.EXPIRED)
        .values("item__checkpoint_id", "item__role", "item__sample_is_correct")
        .annotate(n=Count("id"))
    )
    return Counter(
        {
            (row["item__checkpoint_id"], row["item__role"], row["item__sample_is_correct"]): row[
                "n"
            ]
            for row in rows
        }
    )


def next_main_item(*, rater: Rater, campaign: Campaign, rng: random.Random) -> CampaignItem | None:
    """The next item for the rater, row-locked for the caller's transaction; None when none is
    left for this rater."""
    cells: list[Cell] = [(int(c), str(r), bool(k)) for c, r, k in campaign.cells]
    seen_problems = Assignment.objects.filter(rater=rater).values("problem_id")
    for checkpoint_id, role, correct in cells_least_seen_first(
        cells, rater_cell_counts(rater), rng=rng
    ):
        free = CampaignItem.objects.filter(
            campaign=campaign,
            checkpoint_id=checkpoint_id,
            role=role,
            sample_is_correct=correct,
            is_practice=False,
            remaining__gt=0,
        ).exclude(problem_id__in=seen_problems)
        item = _first_from_random_point(free, rng.random())
        if item is not None:
            return item
    return None


def _first_from_random_point(free: QuerySet[CampaignItem], point: float) -> CampaignItem | None:
    for part in (free.filter(random_key__gte=point), free.filter(random_key__lt=point)):
        item = part.order_by("random_key").select_for_update(skip_locked=True, of=("self",)).first()
        if item is not None:
            return item
    return None


def next_practice_item(*, rater: Rater, campaign: Campaign) -> CampaignItem | None:
    done = Assignment.objects.filter(rater=rater, is_practice=True).values("item_id")
    return (
        CampaignItem.objects.filter(campaign=campaign, is_practice=True)
        .exclude(pk__in=done)
        .order_by("random_key")
        .first()
    )
