from celery import shared_task
from django.db import OperationalError

from annotations.services import assignments_expire, campaigns_take_in_new_checkpoints


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def assignments_expire_task() -> int:
    return assignments_expire()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def campaigns_take_in_task() -> int:
    """Live campaigns take in their runs' new checkpoints once their samples have settled."""
    return campaigns_take_in_new_checkpoints()
