"""The writes of the human side. Views, API views, tasks and commands all call these."""

from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotations.models import Assignment, Campaign, CampaignItem

# A page that is still open posts its own timeout when the grace period ends; the sweep waits
# this much longer so that it only catches pages that were closed or went offline.
EXPIRY_MARGIN = timedelta(seconds=60)


@transaction.atomic
def assignments_expire(*, now: datetime | None = None) -> int:
    """Expire open assignments nobody answered or timed out, and free their items.

    The assignment row stays (state ``expired``), so an abandoned item is never silently lost
    from the record; the item goes back to the pool for another rater.
    """
    now = now or timezone.now()
    expired = 0
    for campaign in Campaign.objects.exclude(status=Campaign.Status.DRAFT).only("id", "grace_s"):
        cutoff = now - timedelta(seconds=campaign.grace_s) - EXPIRY_MARGIN
        # rows a rater's submit holds are skipped: that submit decides their fate
        overdue = list(
            Assignment.objects.select_for_update(skip_locked=True)
            .filter(rater__campaign=campaign, state=Assignment.State.OPEN, deadline__lt=cutoff)
            .values_list("id", "item_id")
        )
        if not overdue:
            continue
        Assignment.objects.filter(pk__in=[pk for pk, _ in overdue]).update(
            state=Assignment.State.EXPIRED
        )
        for item_id, count in Counter(item_id for _, item_id in overdue).items():
            CampaignItem.objects.filter(pk=item_id).update(remaining=F("remaining") + count)
        expired += len(overdue)
    return expired
