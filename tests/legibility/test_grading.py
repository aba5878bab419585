from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legibility.grading import (
    AnswerStatus,
    Grade,
    extract_final_answer,
    grade,
    normalize_number,
    parse_ground_truth,
)

TORA_SOLUTION = (
    "```python\n"
    "def income():\n"
    '    """She sells 16 eggs at $2."""\n'
    "    return (16 - 3 - 4) * 2\n"
    "print(income())\n"
    "```\n"
    "```output\n"
    "18\n"
    "```\n"
    "Janet makes $\\boxed{18}$ dollars every day, 7 days a week."
)


@pytest.mark.parametrize(
    ("solution", "expected"),
    [
        ("She has 16 - 3 = 13 eggs.\n#### 26", "26"),
        ("#### 5\nOn second thought:\n#### 7", "7"),
        ("#### 1,000", "1,000"),
        ("Step one.\nA: 18", "18"),
        ("Step one.\nA: 18 dollars a day", "18 dollars a day"),
        ("A: 5\nWait, that is wrong.\nA: 6", "6"),
        ("  A: 12", "12"),
        ("So $\\boxed{18}$ it is.", "18"),
        ("\\boxed{3} or maybe \\boxed{4}", "4"),
        ("It is \\boxed{\\frac{3}{4}} of the cake.", "\\frac{3}{4}"),
        ("\\boxed {42}", "42"),
        ("The answer is 18.", "18"),
        ("the answer is 3.5 hours. That is long.", "3.5 hours"),
        ("Therefore, the final answer is $1,234.50.", "$1,234.50"),
        ("The answer is: 42", "42"),
        ("The answer is 5.\nLater, the answer is 6.", "6"),
        ("She has 3 apples and buys 4 more, so 7 apples.", "7"),
        ("The temperature drops to -5", "-5"),
        ("It costs $12.", "$12"),
        ("Half of it: \\frac{3}{4}", "\\frac{3}{4}"),
        ("She ate 2 1/2 pies", "2 1/2"),
    ],
)
def test_extracts_answer_text_from_each_format(solution: str, expected: str) -> None:
    assert extract_final_answer(solution) == expected


@pytest.mark.parametrize(
    ("solution", "expected"),
    [
        ("A: 3\n\\boxed{4}\nThe answer is 5.\n#### 6\n7", "6"),
        ("\\boxed{4}\nThe answer is 5.\nA: 3\n7", "3"),
        ("The answer is 5.\n\\boxed{4} and 7", "4"),
        ("The answer is 5. Check: 2 + 3 = 5, and 8", "5"),
    ],
)
def test_markers_take_priority_in_the_documented_order(solution: str, expected: str) -> None:
    assert extract_final_answer(solution) == expected


def test_boxed_answer_wins_over_last_number() -> None:
    assert extract_final_answer("The total is \\boxed{18}, after 3 days.") == "18"


def test_boxed_answer_with_nested_braces_is_read_whole() -> None:
    assert extract_final_answer("\\boxed{\\text{18 {big} dollars}}") == "\\text{18 {big} dollars}"


def test_unclosed_boxed_is_ignored() -> None:
    assert extract_final_answer("So 18 is \\boxed{18") == "18"


def test_calculator_annotations_are_not_taken_for_answers() -> None:
    solution = "She had 5 apples <<5+100=105>>\nthen 2 more <<5+2=7>>"
    assert extract_final_answer(solution) == "2"


def test_truncated_calculator_annotation_is_ignored() -> None:
    assert extract_final_answer("It grows to 4096 * 2 = <<4096*2") == "2"


def test_annotation_contents_do_not_confuse_markers() -> None:
    assert extract_final_answer("Total <<A: 9=9>> is 3\nA: 4") == "4"


def test_tora_boxed_answer_wins_over_code_and_output() -> None:
    assert extract_final_answer(TORA_SOLUTION) == "18"


def test_interpreter_output_is_preferred_over_numbers_restated_in_prose() -> None:
    solution = "```python\nprint(3 * 4)\n```\n```output\n12\n```\nSo she needs 12 boxes for 5 days."
    assert extract_final_answer(solution) == "12"


def test_tora_output_number_is_used_when_prose_has_none() -> None:
    solution = "```python\nprint(24 / 6)\n```\n```output\n4.0\n```\nFour containers were imported."
    assert extract_final_answer(solution) == "4.0"


def test_numbers_inside_source_code_are_never_answers() -> None:
    solution = "```python\nx = 500\ntotal = 3 * x\nprint(total)\n```"
    assert extract_final_answer(solution) is None


@pytest.mark.parametrize(
    "solution",
    ["", "I do not know.", "No numbers here at all", "#### \nnothing"],
)
def test_nothing_is_extracted_without_marker_or_number(solution: str) -> None:
    assert extract_final_answer(solution) is None


def test_empty_marker_falls_through_to_next_format() -> None:
    assert extract_final_answer("A: \nso 12 in total") == "12"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18", Fraction(18)),
        ("18.0", Fraction(18)),
        ("18.00", Fraction(18)),
        ("1,000", Fraction(1000)),
        ("1,000,000", Fraction(1_000_000)),
        ("$1,234.50", Fraction("1234.5")),
        ("$ 18", Fraction(18)),
        ("€5", Fraction(5)),
        ("£7.5", Fraction("7.5")),
        ("\\$18", Fraction(18)),
        ("18 dollars", Fraction(18)),
        ("5 cm", Fraction(5)),
        ("3 hours", Fraction(3)),
        ("18\\text{ dollars}", Fraction(18)),
        ("18-year-old", Fraction(18)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("5.", Fraction(5)),
        ("3/4", Fraction(3, 4)),
        ("\\frac{3}{4}", Fraction(3, 4)),
        ("\\dfrac{3}{4}", Fraction(3, 4)),
        ("\\tfrac{1}{2}", Fraction(1, 2)),
        ("\\frac{840}{13}", Fraction(840, 13)),
        ("3 1/2", Fraction(7, 2)),
        ("25%", Fraction(25)),
        ("25\\%", Fraction(25)),
        ("33.33 %", Fraction("33.33")),
        ("25 percent", Fraction(25)),
        ("-5", Fraction(-5)),
        ("\u22125", Fraction(-5)),
        ("+5", Fraction(5)),
        ("-$5", Fraction(-5)),
        ("$-5", Fraction(-5)),
        ("-\\frac{1}{2}", Fraction(-1, 2)),
        ("-2.5", Fraction(-5, 2)),
        ("10{,}000", Fraction(10_000)),
        ("1,\\!000", Fraction(1000)),
        ("90^\\circ", Fraction(90)),
        ("**18**", Fraction(18)),
        ("x = 5", Fraction(5)),
        ("10 - 3 = 7", Fraction(7)),
        ("\\approx 33.3", Fraction("33.3")),
        ("Janet makes $18", Fraction(18)),
    ],
)
def test_normalizes_number_formats(text: str, expected: Fraction) -> None:
    assert normalize_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "none",
        "x+1",
        "2x+1",
        "x - 5",
        "5 + x",
        "2^3",
        "2x",
        "\\sqrt{2}",
        "3\\pi",
        "3 hours and 20 minutes",
        "1, 2, 3",
        "5/0",
        "v2",
    ],
)
def test_text_without_a_single_plain_number_is_not_normalized(text: str) -> None:
    assert normalize_number(text) is None


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\n#### 18", "18"),
        ("#### 1,450,000", "1450000"),
        ("#### 3\n#### 4 ", "4"),
        ("  42 \n", "42"),
        ("-7", "-7"),
    ],
)
def test_parses_ground_truth_from_gsm8k_answer_field(answer: str, expected: str) -> None:
    assert parse_ground_truth(answer) == expected


@pytest.mark.parametrize(
    ("solution", "ground_truth", "expected"),
    [
        ("A: 18", "18", Grade(AnswerStatus.CORRECT, "18", "18")),
        ("A: 18.00", "18", Grade(AnswerStatus.CORRECT, "18.00", "18")),
        ("The answer is 18.0.", "18", Grade(AnswerStatus.CORRECT, "18.0", "18")),
        ("A: 17", "18", Grade(AnswerStatus.INCORRECT, "17", "17")),
        ("\\boxed{25\\%}", "25", Grade(AnswerStatus.CORRECT, "25\\%", "25")),
        ("\\boxed{0.25}", "25", Grade(AnswerStatus.INCORRECT, "0.25", "0.25")),
        ("#### -2.5", "-2.5", Grade(AnswerStatus.CORRECT, "-2.5", "-2.5")),
        ("\\boxed{\\frac{3}{4}}", "0.75", Grade(AnswerStatus.CORRECT, "\\frac{3}{4}", "0.75")),
        (
            "\\boxed{\\frac{840}{13}}",
            "65",
            Grade(AnswerStatus.INCORRECT, "\\frac{840}{13}", "840/13"),
        ),
        ("A: $1,234.50", "1234.5", Grade(AnswerStatus.CORRECT, "$1,234.50", "1234.5")),
        ("A: 1,000", "So...\n#### 1,000", Grade(AnswerStatus.CORRECT, "1,000", "1000")),
    ],
)
def test_grades_against_ground_truth(solution: str, ground_truth: str, expected: Grade) -> None:
    assert grade(solution, ground_truth) == expected


@pytest.mark.parametrize(
    ("solution", "extracted"),
    [
        ("So the result is \\boxed{x+1}.", "x+1"),
        ("Let me think: 2 + 3.\nA: none", "none"),
        ("The answer is unknown. 18", "unknown"),
        ("I cannot tell.", ""),
        (
            "\\boxed{3 \\text{ hours and } 20 \\text{ minutes}}",
            "3 \\text{ hours and } 20 \\text{ minutes}",
        ),
    ],
)
def test_unreadable_answers_are_unparseable_not_guessed(solution: str, extracted: str) -> None:
    assert grade(solution, "18") == Grade(AnswerStatus.UNPARSEABLE, extracted, None)


def test_unparseable_ground_truth_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a number"):
        grade("A: 18", "#### eighteen")


def test_answer_status_values_are_stable_strings() -> None:
    assert [status.value for status in AnswerStatus] == [
        "correct", "incorrect", "unparseable", "timed_out",
    ]  # fmt: skip
    assert str(AnswerStatus.CORRECT) == "correct"


@given(st.integers(), st.sampled_from(["$", "€", "£", ""]))
def test_any_integer_with_separators_and_currency_normalizes_to_itself(
    number: int, currency: str
) -> None:
    sign = "-" if number < 0 else ""
    assert normalize_number(f"{sign}{currency}{abs(number):,}") == number


@given(st.integers())
def test_hash_marked_integer_grades_correct_against_itself(number: int) -> None:
    assert grade(f"#### {number}", str(number)).status == AnswerStatus.CORRECT


@given(st.integers(), st.integers(min_value=1, max_value=4))
def test_trailing_decimal_zeros_do_not_change_the_value(number: int, zeros: int) -> None:
    assert normalize_number(f"{number}.{'0' * zeros}") == number


@given(
    st.integers(min_value=-(10**9), max_value=10**9),
    st.integers(min_value=0, max_value=6),
    st.integers(min_value=0, max_value=6),
)
def test_normalized_decimal_reads_back_as_the_same_number(
    numerator: int, twos: int, fives: int
) -> None:
    denominator = 2**twos * 5**fives
    normalized = grade(f"A: {numerator}/{denominator}", "0").normalized
    assert normalized is not None
    assert "/" not in normalized
    assert normalize_number(normalized) == Fraction(numerator, denominator)


@given(st.text())
def test_grading_arbitrary_text_never_raises(solution: str) -> None:
    result = grade(solution, "18")
    assert result.status in AnswerStatus
    assert (result.normalized is None) == (result.status == AnswerStatus.UNPARSEABLE)
