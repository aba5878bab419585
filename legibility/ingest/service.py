"""The one ingest service. Every entry point (watched directories, model endpoints, the REST
push, ``ingest_samples``) hands it batches of entries through ``samples_ingest``, which owns the
ingest run: it starts it, stores each batch in a transaction of its own (with the reader's file
position, and the run's counts), and finishes it, as failed with the reason whatever the error.
What storing a record means is storage.py's."""

import logging
from collections.abc import Iterable

from django.db import DataError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from legibility.ingest import storage
from legibility.ingest.errors import SourceUnavailable
from legibility.ingest.records import Batch, Entry, FilePosition
from legibility.ingest.storage import IngestResult, Rejection
from legibility.models import IngestRun, SampleSource, WatchedFile

logger = logging.getLogger(__name__)

MAX_STORED_ERRORS = 1000


# --- the ingest run ----------------------------------------------------------------------


def samples_ingest(
    *,
    via: str,
    batches: Iterable[Batch],
    source: SampleSource | None = None,
    total: int | None = None,
    message: str = "",
) -> tuple[IngestRun, IngestResult]:
    """Store the batches as one ingest run, and finish the run: succeeded, or failed with the
    reason. A source that cannot be read (SourceUnavailable) fails the run quietly, as a poll
    expects; any other error fails it and is raised again. What was stored stays stored."""
    ingest_run = IngestRun.objects.create(via=via, source=source, total=total)
    result = IngestResult()
    try:
        for batch in batches:
            result.add(_store(batch, ingest_run, source))
    except SourceUnavailable as error:
        return _finish(ingest_run, failure=str(error)), result
    except BaseException as error:
        # BaseException: a worker's soft time limit or a Ctrl-C must not leave it "running"
        _finish(ingest_run, failure=f"{type(error).__name__}: {error}")
        raise
    return _finish(ingest_run, message=message), result


def ingest_runs_fail_interrupted(*, source: SampleSource) -> int:
    """Mark the source's runs still "running" as failed. Only the holder of the source's poll
    lock calls this: any such run belongs to a worker that died mid-run."""
    return IngestRun.objects.filter(source=source, status=IngestRun.Status.RUNNING).update(
        status=IngestRun.Status.FAILED,
        finished_at=timezone.now(),
        message="interrupted: the worker stopped before the run finished; the next run resumed",
    )


def _finish(ingest_run: IngestRun, *, failure: str = "", message: str = "") -> IngestRun:
    status = IngestRun.Status.FAILED if failure else IngestRun.Status.SUCCEEDED
    try:
        IngestRun.objects.filter(pk=ingest_run.pk).update(
            status=status, finished_at=timezone.now(), message=failure or message
        )
    except Exception:
        # the database itself is what failed: the next poll marks the run interrupted
        logger.exception("ingest run %s could not be marked %s", ingest_run.pk, status)
        return ingest_run
    ingest_run.refresh_from_db()
    return ingest_run


@transaction.atomic
def _store(batch: Batch, ingest_run: IngestRun, source: SampleSource | None) -> IngestResult:
    """One batch in one transaction: its samples, the reader's position, the run's counts."""
    result = _store_isolating_refusals(batch.entries, ingest_run, source)
    if batch.position is not None:
        _save_position(batch.position)
    progress = len(batch.entries) if batch.progress is None else batch.progress
    _count_on_run(ingest_run, result, progress=progress, total=batch.total)
    return result


# What the database (or the grading of an odd text) may answer a record with that validation
# did not foresee. A connection that failed (OperationalError) is not among them: the batch
# fails and is read again later.
REFUSALS = (DataError, IntegrityError, ValueError, TypeError, RecursionError)


def _store_isolating_refusals(
    entries: list[Entry], ingest_run: IngestRun, source: SampleSource | None
) -> IngestResult:
    """Store the entries in a savepoint; if something refuses them, store them again one by
    one, so that only the record at fault is rejected and the rest of the batch lands."""
    if not entries:
        return IngestResult()
    try:
        with transaction.atomic():
            return storage.samples_store(entries=entries, ingest_run=ingest_run, source=source)
    except REFUSALS as error:
        if len(entries) > 1:
            result = IngestResult()
            for entry in entries:
                result.add(_store_isolating_refusals([entry], ingest_run, source))
            return result
        logger.warning("record %s refused on storing", entries[0][0], exc_info=True)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return IngestResult(rejections=[
            Rejection(entries[0][0], f"could not be stored ({type(error).__name__}: {reason})")
        ])  # fmt: skip


def _save_position(position: FilePosition) -> None:
    WatchedFile.objects.update_or_create(
        source_id=position.source_id,
        name=position.name,
        defaults={
            "inode": position.inode,
            "head_hash": position.head_hash,
            "offset": position.offset,
            "lines": position.lines,
        },
    )


def _count_on_run(
    ingest_run: IngestRun, result: IngestResult, *, progress: int, total: int | None
) -> None:
    stored_errors = len(ingest_run.errors)
    room = max(0, MAX_STORED_ERRORS - stored_errors)
    new_errors = [
        {"position": rejection.position, "reason": rejection.reason}
        for rejection in result.rejections[:room]
    ]
    updates: dict[str, object] = {
        "created": F("created") + result.created,
        "duplicates": F("duplicates") + result.duplicates,
        "rejected": F("rejected") + result.rejected,
        "done": F("done") + progress,
    }
    if total is not None:
        updates["total"] = total
    if new_errors:
        ingest_run.errors = [*ingest_run.errors, *new_errors]
        updates["errors"] = ingest_run.errors
    IngestRun.objects.filter(pk=ingest_run.pk).update(**updates)
