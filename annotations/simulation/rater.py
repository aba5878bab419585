"""A simulated rater: reads what the page shows and nothing else, the way a person would.

It reads the solution, checks the arithmetic it can see ("a op b = c") line by line, each line
with a chance that falls as the solution grows longer (time pressure), and now and then compares
the numbers of the first line with the question. An error it catches makes it answer
"incorrect"; otherwise it answers "correct", with some noise that grows when it could not follow
the solution. What the solution looks like sets both the chance of catching an error and the
time taken:

- sentences that say what each number is let it check that the right quantities are combined;
  bare arithmetic ("11*10=110") leaves that to guesswork, and a chained expression is slower
  still and rarely checked in full;
- numbered steps and a closing "the answer is" save it the time of finding its way around.

So explicit step-by-step solutions are quick and easy to check, a misread number is caught less
often than a wrong sum, and terse solutions are slow and hard to follow: the shape of the
paper's curves, without the simulation knowing any answer."""

import random
import re
from dataclasses import dataclass

_EQUATION = re.compile(r"(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)")
_CHAINED = re.compile(r"\(.*\)")
_NUMBER = re.compile(r"\d+")
_LETTERS = re.compile(r"[A-Za-z]{2,}")
_STEP_LABEL = re.compile(r"^Step \d+:\s*")


@dataclass(frozen=True)
class Judgement:
    verdict: str  # "correct" or "incorrect"
    seconds: float  # how long reading and checking took


@dataclass(frozen=True)
class RaterProfile:
    care: float  # chance of checking a visible equation on a short solution
    at_chance: bool = False


@dataclass(frozen=True)
class _Reading:
    """What a reader can tell about a solution's form before checking anything."""

    words: int  # words that carry the working (numbers, quantities)
    filler: int  # words of lines without a number ("Let me work through this ...")
    numbered: bool  # "Step 1: ..." lines
    summarised: bool  # "So the answer is ..."
    explained: bool  # the working is in sentences, not bare arithmetic
    chained: bool  # one nested expression such as "((11*10)+13)/3=41"


def _read(solution: str) -> _Reading:
    lines = [line.strip() for line in solution.splitlines()]
    lines = [line for line in lines if line and not line.startswith("####")]
    working = [_STEP_LABEL.sub("", line) for line in lines if _NUMBER.search(line)]
    return _Reading(
        words=sum(len(line.split()) for line in working),
        filler=sum(len(line.split()) for line in lines if not _NUMBER.search(line)),
        numbered=any(_STEP_LABEL.match(line) for line in lines),
        summarised="answer is" in solution,
        explained=any(_LETTERS.search(line) for line in working),
        chained=bool(_CHAINED.search(solution)),
    )


def judge(question: str, solution: str, profile: RaterProfile, rng: random.Random) -> Judgement:
    form = _read(solution)
    seconds = 9 + 0.12 * len(question.split()) + 0.3 * form.words + 0.05 * form.filler
    seconds += (0 if form.numbered else 2.5) + (0 if form.summarised else 1.0)
    seconds += rng.gauss(0, 3)
    if profile.at_chance:
        return Judgement(rng.choice(["correct", "incorrect"]), max(2.0, seconds * 0.4))

    # working out what the numbers stand for, when the solution does not say
    if form.chained:
        puzzle, check_chance, check_cost, map_chance, trust = 12.0, 0.4, 5.0, 0.25, 0.75
    elif not form.explained:
        puzzle, check_chance, check_cost, map_chance, trust = 7.0, 0.7, 3.0, 0.25, 0.72
    else:
        puzzle, check_chance, check_cost, map_chance, trust = 0.0, 1.0, 2.0, 1.0, 0.85
    seconds += puzzle
    pressure = min(1.0, 40 / max(form.words, 1)) ** 0.3  # long solutions get skimmed
    equations = _EQUATION.findall(solution)
    found_error = False
    for a, op, b, result in equations:
        if rng.random() < profile.care * pressure * check_chance:
            seconds += check_cost
            found_error = found_error or _wrong(int(a), op, int(b), int(result))
    if equations and rng.random() < 0.45 * profile.care * map_chance:
        seconds += 3
        a, _, b, _ = equations[0]
        found_error = found_error or _misread(a, question) or _misread(b, question)
    if found_error:
        return Judgement("incorrect", max(2.0, seconds))
    verdict = "correct" if rng.random() < trust else "incorrect"
    return Judgement(verdict, max(2.0, seconds))


def _misread(number: str, question: str) -> bool:
    """A number that is not in the question but one or two off a number that is: copied wrong.
    (Others, such as 2 for "half", were worked out, not copied.)"""
    given = {int(n) for n in _NUMBER.findall(question)}
    return int(number) not in given and any(abs(int(number) - n) <= 2 for n in given)


def _wrong(a: int, op: str, b: int, result: int) -> bool:
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else None}[op]
    return value != result
