from celery import shared_task
from django.db import OperationalError

from annotations.campaigns import campaigns_take_in_new_checkpoints
from annotations.rating.services import assignments_expire


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def assignments_expire_task() -> int:
    return assignments_expire()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def campaigns_take_in_task() -> int:
    """Live campaigns take in their runs' new checkpoints once their samples have settled."""
    return campaigns_take_in_new_checkpoints()


@shared_task(acks_late=True, soft_time_limit=30 * 60, time_limit=31 * 60)
def campaigns_analyse_task() -> int:
    """Compute live campaigns' curves ahead of the dashboard (the bootstrap takes a while on a
    large campaign); the result waits in the shared cache, keyed by the judgments it covers."""
    from annotations.models import Campaign
    from annotations.selectors import campaign_analysis

    campaigns = list(Campaign.objects.filter(status=Campaign.Status.LIVE))
    for campaign in campaigns:
        campaign_analysis(campaign, fresh=True)
    return len(campaigns)
