import httpx
from celery import shared_task
from django.db import OperationalError

from legibility.ingest.polling import source_poll, sources_claim_due


@shared_task(acks_late=True)
def sources_poll_due_task() -> list[int]:
    """Run by beat every few seconds: queue a poll for every source whose interval has passed."""
    due = sources_claim_due()
    for source_id in due:
        source_poll_task.delay(source_id)
    return due


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, httpx.TransportError),
    retry_backoff=True,
    max_retries=5,
)
def source_poll_task(source_id: int) -> int | None:
    ingest_run = source_poll(source_id=source_id)
    return ingest_run.pk if ingest_run else None
