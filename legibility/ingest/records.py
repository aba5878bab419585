"""Sample records: parsing and validating one (a JSONL line or an element of a REST batch), and
the batches of them that readers hand to the ingest service."""

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from legibility.grading import normalize_number, parse_ground_truth
from legibility.models import Role

BATCH_SIZE = 2000  # entries stored per transaction
MAX_SOLUTION_CHARS = 100_000
_ROLES = frozenset(Role.values)
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")


class RecordError(ValueError):
    """A record that cannot be stored; the message is shown to whoever sent it."""


@dataclass(frozen=True)
class SampleRecord:
    run: str
    checkpoint: str
    role: str
    problem_id: str
    solution: str
    round: int | None = None
    step: int | None = None
    question: str | None = None
    answer: str | None = None
    verifier_score: float | None = None
    sample_index: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


# A record as handed in: its position (a file's line number from 1, or a REST batch's index from
# 0) and either the parsed record or the reason it cannot be stored.
Entry = tuple[int, SampleRecord | RecordError]


@dataclass(frozen=True)
class FilePosition:
    """How far a watched file has been read once a batch is stored: saved with the batch."""

    source_id: int
    name: str
    inode: int
    head_hash: str  # sha256 of the file's first line: a file replaced under its name differs
    offset: int  # bytes read, up to a newline
    lines: int  # complete lines read


@dataclass(frozen=True)
class Batch:
    """Entries stored in one transaction, with what the reader knows about its progress."""

    entries: list[Entry]
    # units (records, or bytes of a file) this batch completes; None: its number of entries
    progress: int | None = None
    # units the whole run covers, once the reader knows (a file's size, a work list's length)
    total: int | None = None
    position: FilePosition | None = None


def record_entry(position: int, raw: object) -> Entry:
    """One raw record, a JSONL line (bytes) or a decoded JSON value, as an entry: the record,
    or the reason it was refused."""
    try:
        if isinstance(raw, bytes):
            return position, record_from_json_line(raw)
        return position, record_from_value(raw)
    except RecordError as error:
        return position, error


def batches_of(entries: Iterable[Entry], *, size: int = BATCH_SIZE) -> Iterator[Batch]:
    entries = iter(entries)
    while batch := list(islice(entries, size)):
        yield Batch(entries=batch)


def record_from_json_line(line: bytes) -> SampleRecord:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RecordError(f"not UTF-8 ({error.reason} at byte {error.start})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    return record_from_value(value)


def record_from_value(value: object) -> SampleRecord:
    if not isinstance(value, dict):
        raise RecordError(f"a record must be a JSON object, not {type(value).__name__}")
    run = _text(value, "run", required=True)
    if not _SLUG.match(run):
        raise RecordError(f"run {run!r} must be letters, digits, '-' or '_' (at most 100)")
    checkpoint = _text(value, "checkpoint", required=True)
    if len(checkpoint) > 100:
        raise RecordError("checkpoint is longer than 100 characters")
    role = value.get("role", Role.NONE)
    if role not in _ROLES:
        raise RecordError(f"role {role!r} is not one of {', '.join(Role.values)}")
    problem_id = _text(value, "problem_id", required=True)
    if len(problem_id) > 200:
        raise RecordError("problem_id is longer than 200 characters")
    solution = _text(value, "solution", required=True)
    if len(solution) > MAX_SOLUTION_CHARS:
        raise RecordError(f"solution is longer than {MAX_SOLUTION_CHARS} characters")
    answer = value.get("answer")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    meta = value.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise RecordError("meta must be a JSON object")
    if "\\u0000" in json.dumps(meta):
        raise RecordError("meta contains a NUL character")
    return SampleRecord(
        run=run,
        checkpoint=checkpoint,
        role=role,
        problem_id=problem_id,
        solution=solution,
        round=_count(value, "round"),
        step=_count(value, "step"),
        question=_text(value, "question", required=False) or None,
        answer=_ground_truth(answer),
        verifier_score=_score(value.get("verifier_score")),
        sample_index=_count(value, "sample_index") or 0,
        meta=meta,
    )


def _text(value: dict[str, Any], key: str, *, required: bool) -> str:
    item = value.get(key)
    if item is None or item == "":
        if required:
            raise RecordError(f"{key} is missing")
        return ""
    if not isinstance(item, str):
        raise RecordError(f"{key} must be a string, not {type(item).__name__}")
    if "\x00" in item:
        # PostgreSQL cannot store NUL in text; refused here, it would sink the whole batch
        raise RecordError(f"{key} contains a NUL character")
    stripped = item.strip() if key != "solution" else item
    if required and not stripped.strip():
        raise RecordError(f"{key} is blank")
    return stripped


def _count(value: dict[str, Any], key: str) -> int | None:
    item = value.get(key)
    if item is None:
        return None
    if isinstance(item, bool) or not isinstance(item, int) or item < 0:
        raise RecordError(f"{key} must be a non-negative integer, not {item!r}")
    return item


def _score(item: object) -> float | None:
    if item is None:
        return None
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
        raise RecordError(f"verifier_score must be a finite number, not {item!r}")
    return float(item)


def _ground_truth(answer: object) -> str | None:
    """The ground truth as stored on a problem: the number after '####', checked to be one."""
    if answer is None or answer == "":
        return None
    if not isinstance(answer, str):
        raise RecordError(f"answer must be a string or a number, not {type(answer).__name__}")
    final = parse_ground_truth(answer)
    if normalize_number(final) is None:
        raise RecordError(f"answer {final!r} is not a number")
    return final
