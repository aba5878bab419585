"""Storing sample records: validate them against what is known (problems, checkpoints),
create runs, checkpoints and problems on first sight, grade, and insert what is new in bulk.
The same record stored twice keeps one sample: the unique (checkpoint, content hash)
constraint decides. Called by the ingest service, inside its transactions."""

import hashlib
import json
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import connection
from django.utils import timezone

from legibility.formulas import formulas_compare
from legibility.grading import AnswerStatus, grade, normalize_number
from legibility.ingest.records import Entry, RecordError, SampleRecord
from legibility.models import Checkpoint, IngestRun, Problem, Sample, SampleSource, TrainingRun

INSERT_CHUNK = 2000  # rows per INSERT where COPY is not available (SQLite)


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
            external_id=record.problem_id,
            question=record.question,
            answer=record.answer,
            level=record.level,
            subject=record.subject,
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
    grade_status: str


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
        checkpoint = checkpoints[(record.run, record.checkpoint)]
        refusal = _refusal(record, problem, checkpoint)
        if refusal or problem is None:
            _reject(result, position, refusal)
            continue
        sample = _sample_of(record, problem, checkpoint, ingest_run.pk, source)
        key = (checkpoint.pk, sample.content_hash)
        if key in samples:
            result.duplicates += 1
        else:
            samples[key] = sample
    return list(samples.values())


def _refusal(record: SampleRecord, problem: _KnownProblem | None, checkpoint: Checkpoint) -> str:
    """Why a record cannot be stored against what is known; "" when it can."""
    if problem is None:
        return f"problem {record.problem_id!r} is unknown and the record has no question and answer"
    if record.answer is not None and not _same_answer(record.answer, problem.answer):
        return (
            f"answer {record.answer!r} disagrees with the known answer {problem.answer!r} "
            f"of problem {record.problem_id!r}"
        )
    return _placement_mismatch(checkpoint, record)


def _same_answer(given: str, known: str) -> bool:
    number = normalize_number(given)
    if number is not None or normalize_number(known) is not None:
        return number == normalize_number(known)
    return " ".join(given.split()) == " ".join(known.split())


def _sample_of(
    record: SampleRecord,
    problem: _KnownProblem,
    checkpoint: Checkpoint,
    ingest_run_id: int,
    source: SampleSource | None,
) -> _NewSample:
    graded = grade(record.solution, problem.answer, formulas=formulas_compare)
    return _NewSample(
        checkpoint_id=checkpoint.pk,
        problem_id=problem.pk,
        role=record.role,
        text=record.solution,
        extracted_answer=graded.extracted[:200],
        is_correct={AnswerStatus.CORRECT: True, AnswerStatus.INCORRECT: False}.get(graded.status),
        verifier_score=record.verifier_score,
        sample_index=record.sample_index,
        content_hash=content_hash(record),
        source_id=source.pk if source else None,
        ingest_run_id=ingest_run_id,
        meta=record.meta,
        grade_status=graded.status.value,
    )


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
_META = _NewSample._fields.index("meta")  # written as JSON text


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
                values: list[object] = list(sample)
                values[_META] = json.dumps(sample.meta)
                copy.write_row((*values, now))
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
