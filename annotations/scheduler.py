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

from django.db.models import Exists, OuterRef, QuerySet

from annotations.models import Assignment, Campaign, CampaignItem, Rater

Cell = tuple[int, str, bool]  # checkpoint id, role, sample is correct


def cell_key(cell: Cell) -> str:
    """The cell's key in ``Rater.cell_counts``."""
    checkpoint_id, role, correct = cell
    return f"{checkpoint_id}:{role}:{int(correct)}"


def cells_least_seen_first(
    cells: list[Cell], seen: Counter[Cell], *, rng: random.Random
) -> list[Cell]:
    return sorted(cells, key=lambda cell: (seen[cell], rng.random()))


def rater_cell_counts(rater: Rater) -> Counter[Cell]:
    """How many main items of each cell the rater was given (and did not let expire)."""
    counts: Counter[Cell] = Counter()
    for key, n in rater.cell_counts.items():
        checkpoint_id, role, correct = key.split(":")
        counts[(int(checkpoint_id), role, correct == "1")] = n
    return counts


def next_main_item(*, rater: Rater, campaign: Campaign, rng: random.Random) -> CampaignItem | None:
    """The next item for the rater, row-locked for the caller's transaction, its sample and
    problem loaded for the page; None when none is left for this rater."""
    cells: list[Cell] = [(int(c), str(r), bool(k)) for c, r, k in campaign.cells]
    # probed per candidate through the (rater, problem) index: the first free items of a cell
    # are mostly problems the rater has not seen, so a handful of probes settle the pick
    seen = Assignment.objects.filter(rater=rater, problem_id=OuterRef("problem_id"))
    for checkpoint_id, role, correct in cells_least_seen_first(
        cells, rater_cell_counts(rater), rng=rng
    ):
        free = CampaignItem.objects.filter(
            ~Exists(seen),
            campaign=campaign,
            checkpoint_id=checkpoint_id,
            role=role,
            sample_is_correct=correct,
            is_practice=False,
            remaining__gt=0,
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
