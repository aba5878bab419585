"""Check the grader against real GSM8K solutions and the verdicts their sources published.

The data sits beside the repository in ../shared/data/real (never copied into it); see its
README.md. These tests skip where it is absent, as in a user's fresh clone.
"""

import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from legibility.grading import (
    AnswerStatus,
    extract_final_answer,
    grade,
    normalize_number,
    parse_ground_truth,
)

OPENAI_FILES = [
    "solutions_openai-gsm_6b-finetuning.jsonl",
    "solutions_openai-gsm_6b-verification.jsonl",
    "solutions_openai-gsm_175b-finetuning.jsonl",
    "solutions_openai-gsm_175b-verification.jsonl",
]
TORA_FILES = [
    "solutions_tora_tora-code-34b.jsonl",
    "solutions_tora_tora-70b.jsonl",
]

# The protocol's bar: agree with the source's own correctness labels on 99% of solutions.
OPENAI_MIN_AGREEMENT = 0.99
# Measured 100% on both ToRA files, for the extracted answer and for correctness, once the
# interpreter output wins over numbers restated in the closing sentence. Row 146 of both files
# stops inside its code: we call it unparseable, as ToRA's grader finds no number either.
TORA_MIN_AGREEMENT = 0.998


@pytest.fixture(scope="module")
def gsm8k_answers(real_data: Path) -> list[str]:
    return [row["answer"] for row in _rows(real_data / "gsm8k_test.jsonl")]


def _rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def _fraction_agreeing(matches: Iterator[bool]) -> float:
    results = list(matches)
    return sum(results) / len(results)


def test_every_gsm8k_ground_truth_is_a_number(gsm8k_answers: list[str]) -> None:
    unreadable = [a for a in gsm8k_answers if normalize_number(parse_ground_truth(a)) is None]
    assert unreadable == []


@pytest.mark.parametrize("name", OPENAI_FILES)
def test_grade_agrees_with_openai_correctness_labels(
    name: str, real_data: Path, gsm8k_answers: list[str]
) -> None:
    rows = _rows(real_data / name)
    agreement = _fraction_agreeing(
        (grade(row["solution"], gsm8k_answers[row["problem_id"]]).status == AnswerStatus.CORRECT)
        == row["source_label"]
        for row in rows
    )
    assert agreement >= OPENAI_MIN_AGREEMENT


@pytest.mark.parametrize("name", TORA_FILES)
def test_extracted_answer_agrees_with_tora_prediction(name: str, real_data: Path) -> None:
    rows = _rows(real_data / name)
    agreement = _fraction_agreeing(
        _our_number(row["solution"]) == normalize_number(row["source_pred"]) for row in rows
    )
    assert agreement >= TORA_MIN_AGREEMENT


@pytest.mark.parametrize("name", TORA_FILES)
def test_grade_agrees_with_tora_prediction_matching_its_gold(
    name: str, real_data: Path, gsm8k_answers: list[str]
) -> None:
    rows = _rows(real_data / name)
    agreement = _fraction_agreeing(
        (grade(row["solution"], gsm8k_answers[row["problem_id"]]).status == AnswerStatus.CORRECT)
        == _tora_says_correct(row)
        for row in rows
    )
    assert agreement >= TORA_MIN_AGREEMENT


def _our_number(solution: str) -> Fraction | None:
    extracted = extract_final_answer(solution)
    return None if extracted is None else normalize_number(extracted)


def _tora_says_correct(row: dict[str, Any]) -> bool:
    predicted = normalize_number(row["source_pred"])
    return predicted is not None and predicted == normalize_number(row["source_gt"])
