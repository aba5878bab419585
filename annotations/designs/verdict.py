"""The paper's design: one solution, "correct or incorrect?". Its items are chosen by the
protocol, as pure functions over candidate samples, and balanced over checkpoint × role × the
sample's correctness.

Per checkpoint, a problem is used only if that checkpoint's samples for it include both a
correct and an incorrect solution; from it, up to one correct and one incorrect sample per role
are taken. Practice items come from the samples left over, on problems outside the main items
where possible."""

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Candidate:
    sample_id: int
    problem_id: int
    checkpoint_id: int
    role: str
    sample_is_correct: bool

    @property
    def balance_key(self) -> str:
        return balance_key(self.checkpoint_id, self.role, self.sample_is_correct)


def balance_key(checkpoint_id: int, role: str, sample_is_correct: bool) -> str:
    """What a rater sees in balance: each checkpoint's correct and incorrect solutions of each
    role alike."""
    return f"{checkpoint_id}:{role}:{int(sample_is_correct)}"


def select_main_items(candidates: Iterable[Candidate], *, rng: random.Random) -> list[Candidate]:
    by_checkpoint_problem: dict[tuple[int, int], list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_checkpoint_problem[(candidate.checkpoint_id, candidate.problem_id)].append(candidate)
    chosen: list[Candidate] = []
    for key in sorted(by_checkpoint_problem):
        group = by_checkpoint_problem[key]
        if len({candidate.sample_is_correct for candidate in group}) < 2:
            continue  # all correct or all incorrect at this checkpoint: left out
        for cell in sorted({(c.role, c.sample_is_correct) for c in group}):
            pool = sorted(c for c in group if (c.role, c.sample_is_correct) == cell)
            chosen.append(rng.choice(pool))
    return chosen


def select_practice_items(
    candidates: Iterable[Candidate], main: list[Candidate], *, count: int, rng: random.Random
) -> list[Candidate]:
    """``count`` samples on distinct problems, alternating correct and incorrect.

    Samples no main item uses come first, on problems no main item uses first of all; when
    those run short, main items are taken (the caller drops them from the main items)."""
    used_samples = {candidate.sample_id for candidate in main}
    main_problems = {candidate.problem_id for candidate in main}
    pool = sorted(candidates)
    rng.shuffle(pool)
    pool.sort(key=lambda c: (c.sample_id in used_samples, c.problem_id in main_problems))
    practice: list[Candidate] = []
    problems: set[int] = set()
    for want_correct in [index % 2 == 0 for index in range(count)]:
        for candidate in pool:
            if candidate.problem_id not in problems and candidate.sample_is_correct == want_correct:
                practice.append(candidate)
                problems.add(candidate.problem_id)
                break
    return practice
