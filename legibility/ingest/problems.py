"""Problems with their ground truth, imported before the samples that answer them, from GSM8K's
JSONL format or MATH's.

- GSM8K: ``question`` and an ``answer`` whose last line is ``#### n``; the ground truth is n, a
  number. Ids: ``problem_id``, else the prefix and the line's index.
- MATH: ``problem`` (or ``question``); ``answer``, else the last ``\\boxed{}`` of ``solution``
  or ``reference_solution``; ``level`` (1 to 5, or "Level 5"), ``subject`` (or MATH's own
  ``type``). The ground truth is a number or a formula (LaTeX). Ids: ``problem_id``, else
  ``unique_id``, else the prefix and the line's index.

A file's format is told from its first row."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from legibility.grading import is_formula, last_boxed, normalize_number, parse_ground_truth
from legibility.ingest.records import MAX_CHARS, RecordError, clean_text
from legibility.models import Problem

INSERT_CHUNK = 2000
MAX_ANSWER_CHARS = 200
_LEVEL = re.compile(r"(?:level\s*)?(?P<level>[1-9]\d?)", re.IGNORECASE)


class ProblemFormat(StrEnum):
    GSM8K = "GSM8K"
    MATH = "MATH"

    @property
    def default_prefix(self) -> str:
        return "gsm8k-test-" if self == ProblemFormat.GSM8K else "math-test-"


class ProblemError(ValueError):
    """A row that is not a problem; the message says why."""


@dataclass(frozen=True)
class ProblemRow:
    external_id: str
    question: str
    answer: str
    level: int | None = None
    subject: str = ""


def problem_format(row: object) -> ProblemFormat:
    """MATH when the row has MATH's fields or an answer without '####'; else GSM8K."""
    if not isinstance(row, dict):
        return ProblemFormat.GSM8K
    if {"problem", "level", "subject", "type", "unique_id"} & set(row):
        return ProblemFormat.MATH
    answer = row.get("answer")
    if isinstance(answer, str) and "####" in answer:
        return ProblemFormat.GSM8K
    if answer is None and ({"solution", "reference_solution"} & set(row)):
        return ProblemFormat.MATH
    return ProblemFormat.GSM8K


def problem_row(row: object, *, index: int, prefix: str, form: ProblemFormat) -> ProblemRow:
    """The problem of one JSONL row (``index`` from 0). Raises ProblemError."""
    if not isinstance(row, dict):
        raise ProblemError("expected a JSON object")
    question = _question(row.get("problem") if form == ProblemFormat.MATH else None, row)
    truth = _ground_truth(row, form)
    external_id = row.get("problem_id")
    if external_id is None and form == ProblemFormat.MATH:
        external_id = row.get("unique_id")
    if external_id is None:
        external_id = f"{prefix}{index}"
    if not isinstance(external_id, str | int) or not str(external_id).strip():
        raise ProblemError("'problem_id' must be a string")
    if len(str(external_id)) > MAX_CHARS["problem_id"]:
        raise ProblemError(f"'problem_id' is longer than {MAX_CHARS['problem_id']} characters")
    if form == ProblemFormat.GSM8K:
        return ProblemRow(str(external_id), question, truth)
    return ProblemRow(str(external_id), question, truth, _level(row), _subject(row))


def _question(problem: object, row: dict[str, Any]) -> str:
    question = problem if problem is not None else row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ProblemError("'question' is missing")
    if len(question) > MAX_CHARS["question"]:
        raise ProblemError(f"'question' is longer than {MAX_CHARS['question']:,} characters")
    try:
        return clean_text(question, "question").strip()
    except RecordError as error:
        raise ProblemError(str(error)) from None


def _ground_truth(row: dict[str, Any], form: ProblemFormat) -> str:
    answer = row.get("answer")
    if answer is None and form == ProblemFormat.MATH:
        for key in ("solution", "reference_solution"):
            if isinstance(row.get(key), str) and (boxed := last_boxed(row[key])):
                answer = boxed
                break
    if not isinstance(answer, str | int | float) or isinstance(answer, bool):
        raise ProblemError("'answer' is missing")
    try:
        truth = parse_ground_truth(clean_text(str(answer), "answer"))
    except RecordError as error:
        raise ProblemError(str(error)) from None
    if len(truth) > MAX_ANSWER_CHARS:
        raise ProblemError(f"the answer is longer than {MAX_ANSWER_CHARS} characters")
    if normalize_number(truth) is None and (form == ProblemFormat.GSM8K or not is_formula(truth)):
        kind = "a number" if form == ProblemFormat.GSM8K else "a number or a formula"
        raise ProblemError(f"the answer {truth!r} is not {kind}")
    return truth


def _level(row: dict[str, Any]) -> int | None:
    level = row.get("level")
    if level is None or level == "":
        return None
    match = _LEVEL.fullmatch(str(level).strip())
    if isinstance(level, bool) or match is None:
        raise ProblemError(f"'level' {level!r} is not a level such as 3 or 'Level 3'")
    return int(match["level"])


def _subject(row: dict[str, Any]) -> str:
    subject = row.get("subject", row.get("type", ""))
    if not isinstance(subject, str) or len(subject) > MAX_CHARS["subject"]:
        raise ProblemError(f"'subject' must be a string of at most {MAX_CHARS['subject']}")
    return subject.strip()


def problems_import(*, problems: Iterable[ProblemRow]) -> tuple[int, int]:
    """Store problems not known yet; return (created, already known)."""
    rows = list(problems)
    known = set(
        Problem.objects.filter(external_id__in=[row.external_id for row in rows]).values_list(
            "external_id", flat=True
        )
    )
    fresh = [
        Problem(
            external_id=row.external_id,
            question=row.question,
            answer=row.answer,
            level=row.level,
            subject=row.subject,
        )
        for row in rows
        if row.external_id not in known
    ]
    Problem.objects.bulk_create(fresh, batch_size=INSERT_CHUNK, ignore_conflicts=True)
    return len(fresh), len(rows) - len(fresh)
