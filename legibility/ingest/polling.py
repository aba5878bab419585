"""Polling sources: which are due, one poll of one source as an ingest run, and the lock that
keeps two workers from polling the same source at once."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from legibility.ingest.endpoint import endpoint_batches
from legibility.ingest.service import ingest_runs_fail_interrupted, samples_ingest
from legibility.ingest.watched_directory import watched_directory_batches
from legibility.models import IngestRun, SampleSource

logger = logging.getLogger(__name__)

# first key of PostgreSQL's two-key advisory locks, naming this app's "poll a source" lock
_POLL_LOCK_CLASS = 0x4C45  # "LE"


class SourceBusy(Exception):
    """Another worker is polling this source right now."""


@contextmanager
def source_lock(source_id: int) -> Iterator[None]:
    """Hold a session-level advisory lock while polling. PostgreSQL drops it when the holder's
    connection dies, so a worker killed mid-poll never leaves the source locked. SQLite runs
    the demo in one process, where IMMEDIATE transactions already serialise writers."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_POLL_LOCK_CLASS, source_id])
        (acquired,) = cursor.fetchone()
    if not acquired:
        raise SourceBusy(source_id)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_POLL_LOCK_CLASS, source_id])


def sources_claim_due(*, now: datetime | None = None) -> list[int]:
    """Ids of enabled sources whose interval has passed, marked as polled now so that a slow
    worker does not get the same source queued again and again."""
    now = now or timezone.now()
    due = []
    for source in SampleSource.objects.filter(enabled=True).only("id", "poll_interval_s"):
        interval_ago = now - timedelta(seconds=source.poll_interval_s)
        claimed = (
            SampleSource.objects.filter(pk=source.pk)
            .filter(Q(last_polled_at__isnull=True) | Q(last_polled_at__lte=interval_ago))
            .update(last_polled_at=now)
        )
        if claimed:
            due.append(source.pk)
    return due


def source_poll(*, source_id: int) -> IngestRun | None:
    """Poll one source as one ingest run; None when another worker is already polling it."""
    source = SampleSource.objects.get(pk=source_id)
    try:
        with source_lock(source.pk):
            SampleSource.objects.filter(pk=source.pk).update(last_polled_at=timezone.now())
            return _poll_as_run(source)
    except SourceBusy:
        logger.info("source %s is being polled by another worker", source.name)
        return None


def _poll_as_run(source: SampleSource) -> IngestRun:
    # Holding the lock, any run of this source still "running" belongs to a dead worker.
    ingest_runs_fail_interrupted(source=source)
    if source.kind == SampleSource.Kind.WATCHED_DIRECTORY:
        batches = watched_directory_batches(source)
    else:
        batches = endpoint_batches(source)
    ingest_run, _ = samples_ingest(via=IngestRun.Via.SOURCE, source=source, batches=batches)
    if source.kind == SampleSource.Kind.OPENAI_ENDPOINT and ingest_run.duplicates:
        # A completion identical to a stored one (temperature 0 with several samples per
        # problem) is not stored, so its (problem, role, index) stays owed and is asked for
        # again at every poll.
        logger.warning(
            "source %s: %d completions repeated stored solutions word for word and were not "
            "stored; they will be asked for again (is the temperature 0?)",
            source.name,
            ingest_run.duplicates,
        )
    return ingest_run
