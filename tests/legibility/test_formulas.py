"""Answers written as formulas are graded by mathematical equivalence (Math-Verify), bounded in
time from any thread; plain numbers keep the exact fast path."""

import threading
import time

import pytest

from legibility import formulas
from legibility.formulas import formulas_compare
from legibility.grading import AnswerStatus, grade

EQUAL = [
    ("\\frac{1}{2}", "0.5"),  # fractions
    ("\\dfrac{9}{7}", "\\frac{9}{7}"),
    ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2"),  # roots
    ("2\\pi", "\\pi \\cdot 2"),  # pi
    ("[0,\\infty)", "[0, \\infty)"),  # intervals
    ("\\{1,2\\}", "\\{2,1\\}"),  # sets
    ("(1,2,3)", "(1, 2, 3)"),  # tuples
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
     "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}"),  # matrices
    ("10\\%", "0.1"),  # percentages
    ("5\\text{ cm}", "5"),  # units
    ("8\\sqrt{3} \\text { square inches}", "8\\sqrt{3}"),
    ("\\text{(A)}", "A"),  # text
    ("\\text{A,D}", "A,D"),
    ("30^\\circ", "30"),  # degrees
    ("x=2", "2"),
]  # fmt: skip
DIFFERENT = [
    ("\\frac{1}{2}", "0.6"),
    ("[1,2]", "(1,2)"),
    ("\\{1,2\\}", "\\{1,3\\}"),
    ("\\sqrt{2}", "\\sqrt{3}"),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
     "\\begin{pmatrix} 1 & 2 \\\\ 4 & 3 \\end{pmatrix}"),
]  # fmt: skip


@pytest.mark.parametrize(("truth", "answer"), EQUAL)
def test_equal_formulas_grade_correct(truth, answer):
    assert formulas_compare(answer, truth) == AnswerStatus.CORRECT


@pytest.mark.parametrize(("truth", "answer"), DIFFERENT)
def test_different_formulas_grade_incorrect(truth, answer):
    assert formulas_compare(answer, truth) == AnswerStatus.INCORRECT


def test_a_solution_with_a_boxed_formula_is_graded_by_equivalence():
    solution = "So the area is $\\boxed{\\tfrac{8\\pi}{5}}$ square units."
    graded = grade(solution, "\\frac{8\\pi}5", formulas=formulas_compare)
    assert (graded.status, graded.extracted) == (AnswerStatus.CORRECT, "\\tfrac{8\\pi}{5}")
    assert grade("\\boxed{\\sqrt{324}}", "18", formulas=formulas_compare).status == "correct"
    assert grade("\\boxed{2^{110}}", "1", formulas=formulas_compare).status == "incorrect"


def test_numbers_keep_the_exact_path_and_word_answers_stay_unparseable():
    calls = []

    def spy(answer, truth):
        calls.append((answer, truth))
        return AnswerStatus.CORRECT

    assert grade("#### 18.0", "18", formulas=spy).status == AnswerStatus.CORRECT
    unread = grade("\\boxed{3 \\text{ hours and } 20 \\text{ minutes}}", "18", formulas=spy)
    assert unread.status == AnswerStatus.UNPARSEABLE
    assert grade("So the result is \\boxed{x+1}.", "18", formulas=spy).status == "unparseable"
    assert calls == []  # none of them reached the formula check


def test_a_markdown_heading_is_not_taken_for_gsm8ks_answer_marker():
    solution = "#### Part 3: From x = 3 to x = 6\nThe area is 9.\n\nSo it is \\(\\boxed{30}\\)."
    assert grade(solution, "30", formulas=formulas_compare).status == AnswerStatus.CORRECT


def test_an_answer_that_cannot_be_read_as_mathematics_is_unparseable():
    assert formulas_compare("\\frac{", "\\frac{1}{2}") == AnswerStatus.UNPARSEABLE


POWER_TOWER = "2^{2^{2^{2^{2^{5}}}}}"  # far too large to compare


def test_a_comparison_that_takes_too_long_times_out_in_the_main_thread(monkeypatch):
    monkeypatch.setattr(formulas, "TIMEOUT_S", 1)
    formulas._compare.cache_clear()
    started = time.monotonic()
    assert formulas_compare(POWER_TOWER, "7") == AnswerStatus.TIMED_OUT
    assert time.monotonic() - started < 4


def test_from_another_thread_a_worker_process_compares_and_is_killed_when_it_overruns(
    monkeypatch,
):
    found = []
    thread = threading.Thread(target=lambda: found.append(formulas_compare("0.5", "\\frac12")))
    thread.start()
    thread.join(60)
    assert found == [AnswerStatus.CORRECT]

    monkeypatch.setattr(formulas, "DEADLINE_S", 2)  # the worker's own bound is 5 s
    slow = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: slow.append(formulas_compare(POWER_TOWER, "8")))
    thread.start()
    thread.join(30)
    assert slow == [AnswerStatus.TIMED_OUT]
    assert time.monotonic() - started < 5
    again = []  # a fresh worker takes over
    thread = threading.Thread(target=lambda: again.append(formulas_compare("1/4", "0.25")))
    thread.start()
    thread.join(60)
    assert again == [AnswerStatus.CORRECT]
