"""The counters the rater's flow keeps so that issuing an item needs no scan of history: per
rater, main items issued (an expired one included: it was recorded as the rater's timeout), per
balance key, and judging time; per item, the judgments still to hand out (an expired assignment
gave its item back). The services keep them in the transactions that change them; the
functions here set them afresh from the assignments and judgments themselves, for whoever
writes those rows in bulk (a data migration, the benchmarks' seed) or mends drift.

Each takes the models to count with, so a data migration can pass its historical ones."""

from collections import defaultdict
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Greatest

UPDATE_CHUNK = 1000


def _models(apps: Any) -> tuple[Any, Any, Any, Any]:
    if apps is None:
        from django.apps import apps as current

        apps = current
    return tuple(
        apps.get_model("annotations", name)
        for name in ("Rater", "Assignment", "Judgment", "CampaignItem")
    )


def raters_recount(*, raters: QuerySet[Any] | None = None, apps: Any = None) -> int:
    """Set the counters of ``raters`` (all raters when None); return how many were set."""
    rater_model, assignment_model, judgment_model, _ = _models(apps)
    raters = rater_model.objects.all() if raters is None else raters
    ids = raters.values("pk")
    issued = assignment_model.objects.filter(rater_id__in=ids, is_practice=False)
    balance: dict[int, dict[str, int]] = defaultdict(dict)
    for rater_id, key, n in (
        issued.values_list("rater_id", "item__balance_key").annotate(n=Count("id")).order_by()
    ):
        balance[rater_id][key] = n
    judged = dict(
        judgment_model.objects.filter(assignment__rater_id__in=ids, assignment__is_practice=False)
        .values_list("assignment__rater_id")
        .annotate(total=Sum("server_ms"))
        .order_by()
    )
    found = list(rater_model.objects.filter(pk__in=ids).only("pk"))
    for rater in found:
        rater.balance_counts = balance.get(rater.pk, {})
        rater.main_assigned = sum(rater.balance_counts.values())
        rater.judged_ms = judged.get(rater.pk) or 0
    rater_model.objects.bulk_update(
        found, ["balance_counts", "main_assigned", "judged_ms"], batch_size=UPDATE_CHUNK
    )
    return len(found)


def items_recount(*, items: QuerySet[Any] | None = None, apps: Any = None) -> int:
    """Set each item's judgments still to hand out: its campaign's judgments per item less its
    main assignments that did not expire (never below zero). ``items``: all when None."""
    _, assignment_model, _, item_model = _models(apps)
    items = item_model.objects.all() if items is None else items
    live = (
        assignment_model.objects.filter(item_id=OuterRef("pk"), is_practice=False)
        .exclude(state="expired")
        .order_by()
        .values("item_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    taken = Coalesce(Subquery(live, output_field=IntegerField()), Value(0))
    updated = 0
    per_campaign = (
        items.order_by().values_list("campaign_id", "campaign__judgments_per_item").distinct()
    )
    for campaign_id, per_item in per_campaign:
        updated += item_model.objects.filter(
            pk__in=items.values("pk"), campaign_id=campaign_id
        ).update(remaining=Greatest(Value(0), Value(per_item) - taken))
    return updated
