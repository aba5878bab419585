"""Read the final answer of a math-word-problem solution and grade it against the ground truth.

Pure functions with no Django dependency, so that grading can be tested and reused anywhere.
Plain numbers are compared here, exactly (the fast path: GSM8K and most word problems);
answers that are formulas (MATH's LaTeX) are compared by the check the caller passes in
(legibility.formulas: Math-Verify, bounded in time).

The protocol marks an answer that cannot be read as UNPARSEABLE rather than guessing: once an
explicit answer marker is found ('####', 'A:', '\\boxed{}', 'the answer is'), its text is the
answer even when it holds no number, and text that looks like an expression ('x+1', '2x+1')
or carries several numbers ('3 hours and 20 minutes') is not reduced to one of its numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

__all__ = [
    "AnswerStatus",
    "FormulaCheck",
    "Grade",
    "extract_final_answer",
    "grade",
    "is_formula",
    "last_boxed",
    "normalize_number",
    "parse_ground_truth",
]


class AnswerStatus(StrEnum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNPARSEABLE = "unparseable"
    TIMED_OUT = "timed_out"  # comparing formulas took longer than allowed: no verdict


# (answer, ground truth) -> CORRECT, INCORRECT, UNPARSEABLE or TIMED_OUT, for formulas
FormulaCheck = Callable[[str, str], AnswerStatus]


@dataclass(frozen=True)
class Grade:
    status: AnswerStatus
    extracted: str
    """The answer text as the solution wrote it; "" when nothing could be extracted."""
    normalized: str | None
    """Canonical form of the extracted number ("18", "-2.5", "0.75", "840/13"); None if none."""


# GSM8K calculator annotations ("<<16-3=13>>") repeat the arithmetic inline; their numbers would
# otherwise be taken for the model's own. A truncated solution can stop inside one, hence "\Z".
_CALCULATOR_ANNOTATION = re.compile(r"<<[^<>]*(?:>>|\Z)")

# Fenced blocks, e.g. ToRA's ```python ...``` followed by ```output ...``` (interpreter output,
# not model-written). A truncated solution can stop inside one, hence "\Z".
_FENCED_BLOCK = re.compile(r"```(?P<lang>[^\n`]*)\n(?P<body>.*?)(?:```|\Z)", re.DOTALL)

# GSM8K's "#### 18". A line such as "#### Part 3: ..." is a Markdown heading, not an answer: an
# answer does not start with a letter.
_HASH_ANSWER = re.compile(r"####[ \t]*(?P<answer>[^\sA-Za-z#][^\n]*)")
_A_ANSWER = re.compile(r"^[ \t]*A:[ \t]*(?P<answer>\S[^\n]*)", re.MULTILINE)
# The answer runs to the end of its sentence: a period not followed by a digit (so "18." and
# "$1,234.50." both end at the last period) or the end of the line.
_ANSWER_IS = re.compile(
    r"\bthe\s+(?:final\s+)?answer\s+is\b\s*(?::\s*)?(?P<answer>\S[^\n]*?)\s*(?:\.(?!\d)|$)",
    re.IGNORECASE | re.MULTILINE,
)
_BOXED_OPEN = re.compile(r"\\boxed\s*\{")

# One number as written in prose or LaTeX.
_NUMBER = re.compile(
    r"""
    (?P<sign>
        # A sign is unary only where no operand precedes it; "x-5", "10 - 5" and "x - 5" are
        # subtractions, while "is -5" and "(-5)" are negative numbers.
        (?<![\w)\]}]) (?<![\d)\]}]\s) (?<!\b[A-Za-z]\s)
        [-+]
    )?
    (?P<currency>[$€£]\s?)?
    (?<![\w.])  # not the tail of a word or of a longer number: "x2", "v1.2"
    (?P<body>
        (?P<mixed>\d+[ ]\d+/\d+)
      | \d+/\d+
      | \\[dt]?frac\{\d+\}\{\d+\}
      | \d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?
      | \d+(?:\.\d+)?
      | \.\d+
    )
    (?P<percent>\s?%)?
    """,
    re.VERBOSE,
)

# LaTeX that only dresses a number up ("18\text{ dollars}", "\$18", "10{,}000", "90^\circ").
_LATEX_TEXT = re.compile(
    r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{(?P<inner>[^{}]*)\}"
)
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(?P<num>[^{}]*?)\s*\}\s*\{\s*(?P<den>[^{}]*?)\s*\}")
_LATEX_REPLACEMENTS: tuple[tuple[str, str], ...] = (
    ("\u2212", "-"),  # unicode minus sign
    ("\u00a0", " "),
    ("\u202f", " "),
    ("\\$", "$"),
    ("\\%", "%"),
    ("{,}", ","),
    ("\\!", ""),
    ("\\,", ""),  # thin space, used as a thousands separator
    ("\\;", " "),
    ("\\ ", " "),
    ("\\quad", " "),
    ("\\left", ""),
    ("\\right", ""),
    ("^{\\circ}", ""),
    ("^\\circ", ""),
    ("\\approx", "="),
    ("\u2248", "="),  # "≈"
    ("\\(", ""),
    ("\\)", ""),
    ("\\[", ""),
    ("\\]", ""),
    ("**", ""),  # markdown bold, which would otherwise read as an operator
)
# Any LaTeX command left after clean-up (\sqrt, \pi, ...) means the answer is not a plain number.
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_LATEX_SYNTAX = re.compile(r"\\[A-Za-z]+|[\^_{}]")

_OPERATORS = "-+*/^\u00d7\u00f7\u00b7"  # ASCII ones, then times, divide, middle dot
# An operator right before the number makes it an operand ("x+1", "2*3").
_OPERATOR_BEFORE = re.compile(rf"[{re.escape(_OPERATORS)}]\s*$")
# After the number: an operator applied to another operand ("5 - x", "5^2"), or a variable
# ("2x"). A dash before a word is prose ("18-year-old", "18 - that is all").
_OPERAND_AFTER = re.compile(rf"^\s*(?:[{re.escape(_OPERATORS)}]\s*(?:[\d(.\\]|[A-Za-z]\b)|[xyz]\b)")
_DIGIT = re.compile(r"\d")


def extract_final_answer(solution: str) -> str | None:
    """Return the raw text of the solution's final answer, or None if it gives none.

    Markers are tried in priority order, each taking its last occurrence: '#### n', 'A: n' at a
    line start, '\\boxed{...}', 'the (final) answer is n'; failing those, the last number.
    Markers are looked for in the prose, outside fenced code blocks. Without a marker, the last
    number of an interpreter ```output``` block is the answer when there is one: the sentence
    after it often restates numbers of the question ("5 cars ... in 15 minutes"). Numbers in
    source code are never taken: they are the program's constants, not its result.
    """
    prose, outputs = _split_code_blocks(_CALCULATOR_ANNOTATION.sub("", solution))
    markers: tuple[Callable[[str], str | None], ...] = (
        _last_hash_answer,
        _last_a_answer,
        last_boxed,
        _last_answer_is,
    )
    for finder in markers:
        found = finder(prose)
        if found is not None:
            return found
    return _last_number("\n".join(outputs)) or _last_number(prose)


# Ingest grades thousands of solutions against the same few ground truths.
@lru_cache(maxsize=8192)
def normalize_number(text: str) -> Fraction | None:
    """Read the number an answer text states, or None when it states no single plain number.

    Accepts thousands separators, currency signs, units or words after the number, decimals,
    fractions ("3/4", "\\frac{3}{4}"), mixed numbers ("3 1/2"), negative numbers (with "-" or
    the U+2212 minus sign) and a leading "+". A percentage reads as its number ("25%" is 25),
    as GSM8K writes answers to percent questions without the sign. Of an equation, the
    right-hand side counts ("x = 5" is 5).
    """
    cleaned = _strip_latex(text)
    if _LATEX_COMMAND.search(cleaned):
        return None
    value_side = cleaned.rsplit("=", 1)[-1]
    match = _NUMBER.search(value_side)
    if match is None:
        return None
    before, after = value_side[: match.start()], value_side[match.end() :]
    if _is_operand(before, after):
        return None
    return _number_value(match)


def parse_ground_truth(answer: str) -> str:
    """Return the final answer of an answer field: the text after its last '####' (GSM8K), or
    the whole field (MATH's LaTeX). Thousands separators are dropped from numbers only: in a
    formula a comma separates ("(1, 2)")."""
    final = answer.rsplit("####", 1)[-1].strip()
    # "1,450,000" is a number; "4,6,14,15" is a list
    return final.replace(",", "") if normalize_number(final) is not None else final


# What a ground truth that is not a number must look like to be a formula: some mathematics
# (a digit, a LaTeX command, an operator or bracket), or symbols of one or two letters ("i",
# "A", "pi", MATH's choices "B, C"). A word such as "seven" is neither.
_MATHEMATICAL = re.compile(r"[\\\d^_{}()\[\]=+\-*/<>|]")
_SYMBOL = re.compile(r"[A-Za-z]{1,2}(?:\s*,\s*[A-Za-z]{1,2})*")


def is_formula(text: str) -> bool:
    """Whether a ground truth that is not a plain number reads as mathematics."""
    text = text.strip()
    return bool(text) and bool(_MATHEMATICAL.search(text) or _SYMBOL.fullmatch(text))


def grade(solution: str, ground_truth: str, *, formulas: FormulaCheck | None = None) -> Grade:
    """Grade a solution against a ground truth (an answer field, a number or a formula).

    Two numbers are compared exactly as fractions, so 18, 18.0 and 18.00 are equal. When either
    side is a formula (a LaTeX command left once the number's dressing is stripped), ``formulas``
    decides; without one, such an answer is UNPARSEABLE. Against a numeric ground truth, an
    answer without LaTeX that is no single number stays UNPARSEABLE ("3 hours and 20 minutes").
    Raises ValueError when the ground truth is neither a number nor a formula.
    """
    truth_text = parse_ground_truth(ground_truth)
    truth = normalize_number(truth_text)
    if truth is None and not is_formula(truth_text):
        raise ValueError(f"ground truth {ground_truth!r} is not a number")
    extracted = extract_final_answer(solution)
    if extracted is None:
        return Grade(AnswerStatus.UNPARSEABLE, "", None)
    value = normalize_number(extracted)
    if truth is not None and value is not None:
        status = AnswerStatus.CORRECT if value == truth else AnswerStatus.INCORRECT
        return Grade(status, extracted, _canonical(value))
    if formulas is None or (truth is not None and not _is_latex(extracted)):
        return Grade(AnswerStatus.UNPARSEABLE, extracted, None)
    status = formulas(extracted, truth_text)
    return Grade(status, extracted, _canonical(value) if value is not None else None)


def _is_latex(answer: str) -> bool:
    """Whether an answer holds LaTeX mathematics beyond a number's dressing: a command (\\sqrt,
    \\pi), a power or an index ("2^{110}", "x_1")."""
    return bool(_LATEX_SYNTAX.search(_strip_latex(answer)))


def _split_code_blocks(text: str) -> tuple[str, list[str]]:
    """Return the text without its fenced blocks, and the bodies of its output blocks."""
    outputs = [
        block["body"]
        for block in _FENCED_BLOCK.finditer(text)
        if block["lang"].strip().lower() == "output"
    ]
    return _FENCED_BLOCK.sub("\n", text), outputs


def _last_hash_answer(text: str) -> str | None:
    return _last_group(_HASH_ANSWER, text)


def _last_a_answer(text: str) -> str | None:
    return _last_group(_A_ANSWER, text)


def _last_answer_is(text: str) -> str | None:
    return _last_group(_ANSWER_IS, text)


def _last_group(pattern: re.Pattern[str], text: str) -> str | None:
    answers = [match["answer"] for match in pattern.finditer(text)]
    return _tidy(answers[-1]) if answers else None


def _tidy(answer: str) -> str:
    # A sentence's closing period belongs to the sentence, not to the answer.
    return answer.strip().rstrip(".").rstrip()


def last_boxed(text: str) -> str | None:
    """Return the content of the last non-empty, brace-balanced \\boxed{...}.

    One pass over the text whatever it holds: a solution of many unclosed \\boxed{ (a model
    that degenerates, or a hostile record) must not cost time growing with its square."""
    openings = {match.end() for match in _BOXED_OPEN.finditer(text)}
    if not openings:
        return None
    stack: list[int] = []  # where each open brace's content starts
    answers: list[tuple[int, str]] = []
    for index, char in enumerate(text):
        if char == "{":
            stack.append(index + 1)
        elif char == "}" and stack:
            start = stack.pop()
            if start in openings and text[start:index].strip():
                answers.append((start, text[start:index].strip()))
    return max(answers)[1] if answers else None


def _last_number(text: str) -> str | None:
    numbers = [match.group().strip() for match in _NUMBER.finditer(text)]
    return numbers[-1] if numbers else None


def _strip_latex(text: str) -> str:
    text = _LATEX_TEXT.sub(lambda match: f" {match['inner']} ", text)
    text = _fracs_as_slashes(text)
    for old, new in _LATEX_REPLACEMENTS:
        text = text.replace(old, new)
    return text


def _fracs_as_slashes(text: str) -> str:
    return _LATEX_FRAC.sub(lambda match: f"{match['num']}/{match['den']}", text)


def _is_operand(before: str, after: str) -> bool:
    """Whether the text around a number shows it is part of an expression or of a list."""
    return bool(
        _DIGIT.search(before)
        or _DIGIT.search(after)
        or _OPERATOR_BEFORE.search(before)
        or _OPERAND_AFTER.search(after)
    )


def _number_value(match: re.Match[str]) -> Fraction | None:
    value = _body_value(match["body"], mixed=match["mixed"] is not None)
    if value is None:
        return None
    return -value if match["sign"] == "-" else value


def _body_value(body: str, *, mixed: bool) -> Fraction | None:
    whole = Fraction(0)
    if mixed:
        whole_text, body = body.split(" ", 1)
        whole = Fraction(int(whole_text))
    if body.startswith("\\"):
        body = _fracs_as_slashes(body)
    if "/" in body:
        numerator, denominator = body.split("/")
        if int(denominator) == 0:
            return None
        return whole + Fraction(int(numerator), int(denominator))
    return whole + Fraction(body.replace(",", ""))


def _canonical(value: Fraction) -> str:
    """Write a number as an integer, an exact decimal, or "p/q" when no decimal is exact."""
    if value.denominator == 1:
        return str(value.numerator)
    places = _decimal_places(value.denominator)
    if places is None:
        return f"{value.numerator}/{value.denominator}"
    whole, fraction = divmod(abs(value.numerator) * 10**places // value.denominator, 10**places)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole}.{fraction:0{places}d}"


def _decimal_places(denominator: int) -> int | None:
    """Digits after the point needed to write 1/denominator exactly; None if it recurs."""
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None
