"""A simulated rater: reads what the page shows and nothing else, the way a person would.

It checks the arithmetic it can see ("a op b = c") line by line, each line with a chance that
falls as the solution grows longer (time pressure), and compares the numbers of the first line
with the question now and then. An error it catches makes it answer "incorrect"; otherwise it
answers "correct", with some noise. Explicit step-by-step solutions are therefore easy to check,
a misread number is caught less often than a wrong sum, and terse chained arithmetic is hard to
follow: the shape of the paper's curves, without the simulation knowing any answer."""

import random
import re
from dataclasses import dataclass

_EQUATION = re.compile(r"(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)")
_CHAINED = re.compile(r"\(.*\)")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Judgement:
    verdict: str  # "correct" or "incorrect"
    seconds: float  # how long reading and checking took


@dataclass(frozen=True)
class RaterProfile:
    care: float  # chance of checking a visible equation on a short solution
    at_chance: bool = False


def judge(question: str, solution: str, profile: RaterProfile, rng: random.Random) -> Judgement:
    words = len(solution.split())
    seconds = 6 + 0.35 * words + rng.gauss(0, 3)
    if profile.at_chance:
        return Judgement(rng.choice(["correct", "incorrect"]), max(2.0, seconds * 0.4))
    equations = _EQUATION.findall(solution)
    pressure = min(1.0, 40 / max(words, 1)) ** 0.3  # long solutions get skimmed
    chained = bool(_CHAINED.search(solution))
    found_error = False
    for a, op, b, result in equations:
        if rng.random() < profile.care * pressure * (0.4 if chained else 1.0):
            seconds += 2.5
            if _wrong(int(a), op, int(b), int(result)):
                found_error = True
    question_numbers = set(_NUMBER.findall(question))
    if equations and rng.random() < 0.45 * profile.care:
        seconds += 3
        a, _, b, _ = equations[0]
        if a not in question_numbers or b not in question_numbers:
            found_error = True
    if found_error:
        return Judgement("incorrect", max(2.0, seconds))
    verdict = "correct" if rng.random() < 0.85 else "incorrect"
    return Judgement(verdict, max(2.0, seconds))


def _wrong(a: int, op: str, b: int, result: int) -> bool:
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else None}[op]
    return value != result
