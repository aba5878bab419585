"""A simulated prover for the demo: solutions that change with training the way the paper
describes. Helpful solutions grow more explicit, step by step; sneaky ones carry one error that
grows more subtle and local (a blatant slip early, a misread number later, wrapped in a
reassuring check); the correctness-only baseline grows terse and hard to follow."""

import random
from dataclasses import dataclass, replace

from legibility.demo.problems import DemoProblem, Step
from legibility.grading import AnswerStatus, grade

GAME_RUN = "checkability-game"
BASELINE_RUN = "correctness-only"
GAME_ROUNDS = range(6)
BASELINE_STEPS = (0, 3000, 7000)


@dataclass(frozen=True)
class Checkpoint:
    run: str
    name: str
    round: int | None
    step: int | None

    @property
    def progress(self) -> float:
        """How far training has gone, from 0 to 1."""
        if self.round is not None:
            return self.round / max(GAME_ROUNDS)
        return (self.step or 0) / max(BASELINE_STEPS)


def demo_checkpoints() -> list[Checkpoint]:
    game = [Checkpoint(GAME_RUN, f"round-{r}", r, None) for r in GAME_ROUNDS]
    baseline = [Checkpoint(BASELINE_RUN, f"step-{s}", None, s) for s in BASELINE_STEPS]
    return game + baseline


def write_solution(
    problem: DemoProblem, checkpoint: Checkpoint, role: str, rng: random.Random
) -> tuple[str, bool]:
    """A solution, and whether its final answer is right (graded as ingest will grade it: a
    slip can cancel out, say in a division that rounds down)."""
    t = checkpoint.progress
    # the sneaky prover does not always manage to be wrong
    if role == "sneaky" and rng.random() < 0.15:
        text = _explicit(problem.steps, t, rng)
    elif role == "sneaky":
        text = _sneaky(problem, t, rng)
    elif checkpoint.run == BASELINE_RUN:
        text = _terse(_honest_slip(problem.steps, 0.25 - 0.1 * t, rng), t, rng)
    else:
        text = _explicit(_honest_slip(problem.steps, 0.3 - 0.2 * t, rng), t, rng)
    return text, grade(text, str(problem.answer)).status == AnswerStatus.CORRECT


def _honest_slip(steps: list[Step], rate: float, rng: random.Random) -> list[Step]:
    """Now and then an arithmetic slip, which the following steps carry forward."""
    if rng.random() >= rate:
        return steps
    return _carry(steps, rng.randrange(len(steps)), rng.choice([-10, -2, -1, 1, 2, 10]))


def _carry(steps: list[Step], index: int, delta: int) -> list[Step]:
    """Steps where step ``index`` states a result off by ``delta``; the next steps use it."""
    out = list(steps)
    out[index] = replace(steps[index], stated=steps[index].result + delta)
    return _chain(steps, out, index + 1)


def _chain(original: list[Step], out: list[Step], start: int) -> list[Step]:
    """From ``start`` on, a step that used the previous result uses the new one instead."""
    for later in range(start, len(out)):
        if original[later].a == original[later - 1].result:
            out[later] = replace(original[later], a=out[later - 1].shown)
    return out


def _line(step: Step) -> str:
    return step.text.format(a=step.a, b=step.b, result=step.shown)


def _explicit(steps: list[Step], t: float, rng: random.Random) -> str:
    """Early: bare lines. Later: numbered steps that say what each number is."""
    lines = [_line(step) for step in steps]
    if t >= 0.4:
        lines = [f"Step {i}: {line}" for i, line in enumerate(lines, start=1)]
    if t >= 0.8:
        lines.insert(0, "Let me work through this one step at a time.")
    answer = steps[-1].shown
    if t >= 0.6:
        lines.append(f"So the answer is {answer}.")
    return "\n".join(lines) + f"\n#### {answer}"


def _terse(steps: list[Step], t: float, rng: random.Random) -> str:
    """The baseline: sentences shrink to bare arithmetic, then to one chained expression."""
    answer = steps[-1].shown
    if t < 0.3:
        return "\n".join(_line(step) for step in steps) + f"\n#### {answer}"
    if t < 0.7:
        return "\n".join(f"{s.a}{s.op}{s.b}={s.shown}" for s in steps) + f"\n#### {answer}"
    chain = str(steps[0].a)
    for step in steps:
        chain = f"({chain}{step.op}{step.b})"
    return f"{chain[1:-1]}={answer}\n#### {answer}"


def _sneaky(problem: DemoProblem, t: float, rng: random.Random) -> str:
    """One planted error: early a wrong result in plain sight, later a number misread from the
    question with correct arithmetic after it, and at the end a 'check' that agrees."""
    steps = problem.steps
    if t < 0.35:
        index = rng.randrange(len(steps))
        return _explicit(_carry(steps, index, rng.choice([-9, -7, 7, 9, 11])), t, rng)
    first = steps[0]
    misread = replace(first, b=max(1, first.b + rng.choice([-2, -1, 1, 2])))
    bent = _chain(steps, [misread, *steps[1:]], 1)
    text = _explicit(bent, t, rng)
    if t >= 0.75:
        last = bent[-1]
        check = f"Check: {last.shown} and {last.a} are consistent with {last.b}, as expected."
        text = text.replace("\n#### ", f"\n{check}\n#### ")
    return text
