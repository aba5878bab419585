"""Sample records: parsing and validating one (a JSONL line or an element of a REST batch), and
the batches of them that readers hand to the ingest service."""

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from legibility.grading import is_formula, normalize_number, parse_ground_truth
from legibility.models import Role

BATCH_SIZE = 2000  # entries stored per transaction
# Limits checked before the database sees a record: text sizes in characters, meta in bytes of
# JSON, integers within PostgreSQL's column types, nesting within what anyone needs
MAX_CHARS = {
    "question": 20_000, "solution": 100_000, "problem_id": 200, "checkpoint": 100, "subject": 100,
}  # fmt: skip
MAX_LEVEL = 100
MAX_ANSWER_CHARS = 200
MAX_META_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_INT = 2**31 - 1  # round, sample_index: integer columns
MAX_BIGINT = 2**63 - 1  # step: a bigint column
_ROLES = frozenset(Role.values)
_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,100}$")
# Characters that change the direction text is shown in: a rater would read "18" where the
# grader reads "81". Refused, since no honest solution needs them.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Invisible characters (zero-width spaces and joiners, invisible operators, soft hyphens, byte
# order marks): taken out, so the grader reads the digits the rater sees.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200d\u2060-\u2064\ufeff]")
# Half of a UTF-16 pair on its own: not a character; PostgreSQL cannot store it.
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    level: int | None = None  # the problem's, when the record creates it (MATH: 1 to 5)
    subject: str = ""


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
    except RecursionError:
        raise RecordError(f"JSON nested more than {MAX_DEPTH} deep") from None
    except ValueError as error:  # a number of more than 4,300 digits, say
        raise RecordError(f"not valid JSON ({error})") from None
    return record_from_value(value)


def clean_text(text: str, key: str) -> str:
    """The text as stored and shown: invisible characters taken out. Raises RecordError for
    text that cannot be stored (NUL, a lone surrogate) or reads differently on screen than to
    the grader (direction overrides)."""
    if "\x00" in text:
        # PostgreSQL cannot store NUL in text; refused here, it would sink the whole batch
        raise RecordError(f"{key} contains a NUL character")
    if _SURROGATE.search(text):
        raise RecordError(f"{key} contains a lone surrogate (half of a UTF-16 pair)")
    if _BIDI.search(text):
        raise RecordError(f"{key} contains a character that changes the text's direction")
    return _INVISIBLE.sub("", text)


def record_from_value(value: object) -> SampleRecord:
    if not isinstance(value, dict):
        raise RecordError(f"a record must be a JSON object, not {type(value).__name__}")
    run = _text(value, "run", required=True)
    if not _SLUG.match(run):
        raise RecordError(f"run {run!r} must be letters, digits, '-' or '_' (at most 100)")
    role = value.get("role", Role.NONE)
    if not isinstance(role, str) or role not in _ROLES:
        raise RecordError(f"role {_shown(role)} is not one of {', '.join(Role.values)}")
    return SampleRecord(
        run=run,
        checkpoint=_text(value, "checkpoint", required=True),
        role=role,
        problem_id=_text(value, "problem_id", required=True),
        solution=_text(value, "solution", required=True),
        round=_count(value, "round", MAX_INT),
        step=_count(value, "step", MAX_BIGINT),
        question=_text(value, "question", required=False) or None,
        answer=_ground_truth(value.get("answer")),
        verifier_score=_score(value.get("verifier_score")),
        sample_index=_count(value, "sample_index", MAX_INT) or 0,
        meta=_meta(value.get("meta")),
        level=_count(value, "level", MAX_LEVEL),
        subject=_text(value, "subject", required=False),
    )


def _shown(item: object) -> str:
    """A value as a reason quotes it: short, whatever it is."""
    text = repr(item)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: dict[str, Any], key: str, *, required: bool) -> str:
    item = value.get(key)
    if item is None or item == "":
        if required:
            raise RecordError(f"{key} is missing")
        return ""
    if not isinstance(item, str):
        raise RecordError(f"{key} must be a string, not {type(item).__name__}")
    limit = MAX_CHARS.get(key)
    if limit is not None and len(item) > limit:
        raise RecordError(f"{key} is longer than {limit:,} characters")
    text = clean_text(item, key)
    stripped = text.strip() if key != "solution" else text
    if required and not stripped.strip():
        raise RecordError(f"{key} is blank")
    return stripped


def _count(value: dict[str, Any], key: str, limit: int) -> int | None:
    item = value.get(key)
    if item is None:
        return None
    if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= limit:
        raise RecordError(
            f"{key} must be a non-negative integer up to {limit:,}, not {_shown(item)}"
        )
    return item


def _score(item: object) -> float | None:
    if item is None:
        return None
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
        raise RecordError(f"verifier_score must be a finite number, not {_shown(item)}")
    return float(item)


def _meta(meta: object) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise RecordError("meta must be a JSON object")
    if _depth(meta) > MAX_DEPTH:
        raise RecordError(f"meta is nested more than {MAX_DEPTH} deep")
    try:
        # ensure_ascii=False: a lone surrogate cannot be encoded, and is refused here
        encoded = json.dumps(meta, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        raise RecordError("meta holds a lone surrogate or a number JSON cannot carry") from None
    if len(encoded) > MAX_META_BYTES:
        raise RecordError(f"meta is larger than {MAX_META_BYTES // 1024} KB")
    if b"\\u0000" in encoded:
        raise RecordError("meta contains a NUL character")
    return meta


def _depth(item: object) -> int:
    """How deep JSON containers nest, counted without recursion (a hostile value may be nested
    deeper than Python's stack)."""
    deepest, stack = 0, [(item, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            children = current.values() if isinstance(current, dict) else current
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _ground_truth(answer: object) -> str | None:
    """The ground truth as stored on a problem: the number after '####', checked to be one."""
    if answer is None or answer == "":
        return None
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        if isinstance(answer, float) and not math.isfinite(answer):
            raise RecordError(f"answer must be a finite number, not {answer!r}")
        answer = str(answer)
    if not isinstance(answer, str):
        raise RecordError(f"answer must be a string or a number, not {type(answer).__name__}")
    if len(answer) > MAX_CHARS["solution"]:
        raise RecordError("answer is too long")
    final = parse_ground_truth(clean_text(answer, "answer"))
    if len(final) > MAX_ANSWER_CHARS:
        raise RecordError(f"answer is longer than {MAX_ANSWER_CHARS} characters")
    if normalize_number(final) is None:
        # GSM8K's '#### n' promises a number; otherwise a formula will do (MATH's LaTeX)
        if "####" in answer:
            raise RecordError(f"answer {_shown(final)} is not a number")
        if not is_formula(final):
            raise RecordError(f"answer {_shown(final)} is not a number or a formula")
    return final
