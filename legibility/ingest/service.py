"""The one ingest service. Every entry point (watched directories, model endpoints, the REST
push, ``ingest_samples``) hands it batches of entries through ``samples_ingest``, which owns the
ingest run: it starts it, stores each batch in a transaction of its own (with the reader's file
position, and the run's counts), and finishes it, as failed with the reason whatever the error.
Storing validates, creates runs, checkpoints and problems on first sight, grades, and inserts in
bulk. The same record stored twice keeps one sample: the unique (checkpoint, content hash)
constraint decides."""

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from legibility.grading import AnswerStatus, grade, normalize_number
from legibility.ingest.errors import SourceUnavailable
from legibility.ingest.records import Batch, Entry, FilePosition, RecordError, SampleRecord
from legibility.models import (
    Checkpoint,
    IngestRun,
    Problem,
    Sample,
    SampleSource,
    TrainingRun,
    WatchedFile,
)

logger = logging.getLogger(__name__)

INSERT_CHUNK = 2000  # rows per INSERT where COPY is not available (SQLite)
MAX_STORED_ERRORS = 1000


@dataclass(frozen=True)
class Rejection:
    position: int  # a file's line number (from 1), or a REST batch's record index (from 0)
    reason: str


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    def add(self, other: "IngestResult") -> None:
        self.created += other.created
        self.duplicates += other.duplicates
        self.rejections.extend(other.rejections)


def content_hash(record: SampleRecord) -> str:
    """Identity of a sample within its checkpoint: same problem, role, index and text. The index
    keeps apart identical draws (at temperature 0, say) that a run asked for on purpose."""
    key = json.dumps(
        [record.problem_id, record.role, record.sample_index, record.solution], ensure_ascii=False
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


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
            return samples_store(entries=entries, ingest_run=ingest_run, source=source)
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


# --- storing records ---------------------------------------------------------------------


def samples_store(
    *, entries: list[Entry], ingest_run: IngestRun, source: SampleSource | None = None
) -> IngestResult:
    """Store entries, in the caller's transaction; return what became of them."""
    result = IngestResult()
    records: list[tuple[int, SampleRecord]] = []
    for position, entry in entries:
        if isinstance(entry, RecordError):
            result.rejections.append(Rejection(position, str(entry)))
        else:
            records.append((position, entry))
    if records:
        problems = _problems_for(records)
        checkpoints = _checkpoints_for(records)
        samples = _new_samples(records, problems, checkpoints, ingest_run, source, result)
        if samples:
            result.created = _insert_new(samples)
            result.duplicates += len(samples) - result.created
    result.rejections.sort(key=lambda rejection: rejection.position)
    return result


def _reject(result: IngestResult, position: int, reason: str) -> None:
    result.rejections.append(Rejection(position, reason))


@dataclass(frozen=True)
class _KnownProblem:
    pk: int
    answer: str


def _problems_for(records: list[tuple[int, SampleRecord]]) -> dict[str, _KnownProblem]:
    """Known problems by id; unknown ones created from records that carry question and answer."""
    ids = {record.problem_id for _, record in records}
    known = _known_problems(ids)
    new = {
        record.problem_id: Problem(
            external_id=record.problem_id, question=record.question, answer=record.answer
        )
        for _, record in records
        if record.problem_id not in known and record.question and record.answer
    }
    if new:
        Problem.objects.bulk_create(new.values(), ignore_conflicts=True)
        known.update(_known_problems(set(new)))
    return known


def _known_problems(ids: set[str]) -> dict[str, _KnownProblem]:
    rows = Problem.objects.filter(external_id__in=ids).values_list("external_id", "pk", "answer")
    return {external_id: _KnownProblem(pk, answer) for external_id, pk, answer in rows}


def _checkpoints_for(
    records: list[tuple[int, SampleRecord]],
) -> dict[tuple[str, str], Checkpoint]:
    """Checkpoints by (run name, checkpoint name), with their runs created on first sight."""
    wanted: dict[tuple[str, str], SampleRecord] = {}
    for _, record in records:
        wanted.setdefault((record.run, record.checkpoint), record)
    run_names = {run for run, _ in wanted}
    TrainingRun.objects.bulk_create(
        [TrainingRun(name=name) for name in run_names], ignore_conflicts=True
    )
    runs = dict(TrainingRun.objects.filter(name__in=run_names).values_list("name", "pk"))
    Checkpoint.objects.bulk_create(
        [
            Checkpoint(run_id=runs[run], name=name, round=record.round, step=record.step)
            for (run, name), record in wanted.items()
        ],
        ignore_conflicts=True,
    )
    found = Checkpoint.objects.select_related("run").filter(
        run__name__in=run_names, name__in={name for _, name in wanted}
    )
    return {(checkpoint.run.name, checkpoint.name): checkpoint for checkpoint in found}


class _NewSample(NamedTuple):
    """A sample about to be stored, in the order of _COPY_COLUMNS (less created_at)."""

    checkpoint_id: int
    problem_id: int
    role: str
    text: str
    extracted_answer: str
    is_correct: bool | None
    verifier_score: float | None
    sample_index: int
    content_hash: str
    source_id: int | None
    ingest_run_id: int
    meta: dict[str, object]


def _new_samples(
    records: list[tuple[int, SampleRecord]],
    problems: dict[str, _KnownProblem],
    checkpoints: dict[tuple[str, str], Checkpoint],
    ingest_run: IngestRun,
    source: SampleSource | None,
    result: IngestResult,
) -> list[_NewSample]:
    samples: dict[tuple[int, str], _NewSample] = {}
    for position, record in records:
        problem = problems.get(record.problem_id)
        if problem is None:
            _reject(
                result,
                position,
                f"problem {record.problem_id!r} is unknown and the record has no question "
                "and answer",
            )
            continue
        if record.answer is not None and normalize_number(record.answer) != normalize_number(
            problem.answer
        ):
            _reject(
                result,
                position,
                f"answer {record.answer!r} disagrees with the known answer {problem.answer!r} "
                f"of problem {record.problem_id!r}",
            )
            continue
        checkpoint = checkpoints[(record.run, record.checkpoint)]
        mismatch = _placement_mismatch(checkpoint, record)
        if mismatch:
            _reject(result, position, mismatch)
            continue
        graded = grade(record.solution, problem.answer)
        sample = _NewSample(
            checkpoint_id=checkpoint.pk,
            problem_id=problem.pk,
            role=record.role,
            text=record.solution,
            extracted_answer=graded.extracted[:200],
            is_correct=None
            if graded.status == AnswerStatus.UNPARSEABLE
            else graded.status == AnswerStatus.CORRECT,
            verifier_score=record.verifier_score,
            sample_index=record.sample_index,
            content_hash=content_hash(record),
            source_id=source.pk if source else None,
            ingest_run_id=ingest_run.pk,
            meta=record.meta,
        )
        key = (checkpoint.pk, sample.content_hash)
        if key in samples:
            result.duplicates += 1
        else:
            samples[key] = sample
    return list(samples.values())


def _placement_mismatch(checkpoint: Checkpoint, record: SampleRecord) -> str:
    """Why a record's round or step contradicts its checkpoint's; fills in ones not yet known."""
    for name in ("round", "step"):
        stored, given = getattr(checkpoint, name), getattr(record, name)
        if given is not None and stored is None:
            setattr(checkpoint, name, given)
            Checkpoint.objects.filter(pk=checkpoint.pk, **{f"{name}__isnull": True}).update(
                **{name: given}
            )
        elif given is not None and stored != given:
            return (
                f"checkpoint {record.run}/{record.checkpoint} has {name} {stored}, "
                f"the record says {given}"
            )
    return ""


# Columns written at ingest, in COPY order.
_COPY_COLUMNS = (*_NewSample._fields, "created_at")


def _insert_new(samples: list[_NewSample]) -> int:
    """Insert the samples not stored yet and return how many that was.

    On PostgreSQL the rows are streamed with COPY into a temporary table and moved over with
    ON CONFLICT DO NOTHING: several times faster than a multi-row INSERT, and the row count
    says exactly how many were new even when two ingests race over the same records."""
    if connection.vendor != "postgresql":
        fresh = _without_stored(samples)
        Sample.objects.bulk_create(
            [Sample(**sample._asdict()) for sample in fresh],
            batch_size=INSERT_CHUNK,
            ignore_conflicts=True,
        )
        return len(fresh)
    columns = ", ".join(_COPY_COLUMNS)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS legibility_sample_stage "
            f"ON COMMIT DELETE ROWS AS SELECT {columns} FROM legibility_sample WITH NO DATA"
        )
        with cursor.copy(f"COPY legibility_sample_stage ({columns}) FROM STDIN") as copy:
            for sample in samples:
                copy.write_row((*sample[:-1], json.dumps(sample.meta), now))
        cursor.execute(
            f"INSERT INTO legibility_sample ({columns}) SELECT {columns} "
            "FROM legibility_sample_stage ON CONFLICT (checkpoint_id, content_hash) DO NOTHING"
        )
        created = cursor.rowcount
        cursor.execute("TRUNCATE legibility_sample_stage")
    return created


def _without_stored(samples: list[_NewSample]) -> list[_NewSample]:
    """The samples not stored yet."""
    stored = set(
        Sample.objects.filter(
            checkpoint__in={sample.checkpoint_id for sample in samples},
            content_hash__in=[sample.content_hash for sample in samples],
        ).values_list("checkpoint_id", "content_hash")
    )
    return [s for s in samples if (s.checkpoint_id, s.content_hash) not in stored]


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
