"""Synthetic grade-school word problems for the demo: templates with varied names and numbers,
each with its worked steps and the computed answer. All text is ours."""

import random
from collections.abc import Callable
from dataclasses import dataclass

NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Farah", "Gus", "Hana", "Ivo", "Jun", "Kofi",
         "Lena", "Mateo", "Nia", "Omar", "Pia", "Quinn", "Rosa", "Sami", "Tess"]  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One line of working: what it says, the arithmetic, and its result."""

    text: str  # with {a}, {b} and {result} to fill in
    a: int
    op: str  # "+", "-", "*" or "/"
    b: int
    stated: int | None = None  # a wrong result the solution writes instead of the true one

    @property
    def shown(self) -> int:
        return self.result if self.stated is None else self.stated

    @property
    def result(self) -> int:
        return {"+": self.a + self.b, "-": self.a - self.b, "*": self.a * self.b,
                "/": self.a // self.b}[self.op]  # fmt: skip


@dataclass(frozen=True)
class DemoProblem:
    problem_id: str
    question: str
    steps: list[Step]

    @property
    def answer(self) -> int:
        return self.steps[-1].result


def _bakery(rng: random.Random, name: str) -> tuple[str, list[Step]]:
    trays, per_tray, sold = rng.randint(3, 9), rng.randint(6, 14), rng.randint(5, 20)
    baked = trays * per_tray
    return (
        f"{name} bakes {trays} trays of muffins with {per_tray} muffins on each tray. "
        f"{name} sells {sold} muffins in the morning. How many muffins are left?",
        [Step("{name} bakes {a} * {b} = {result} muffins.", trays, "*", per_tray),
         Step("After selling, {a} - {b} = {result} muffins are left.", baked, "-", sold)],
    )  # fmt: skip


def _savings(rng: random.Random, name: str) -> tuple[str, list[Step]]:
    weekly, weeks = rng.randint(4, 15), rng.randint(3, 10)
    saved = weekly * weeks
    spent = rng.randint(5, min(25, saved - 1))
    return (
        f"{name} saves ${weekly} every week for {weeks} weeks, then spends ${spent} on a "
        f"book. How many dollars does {name} have left?",
        [Step("{name} saves {a} * {b} = {result} dollars.", weekly, "*", weeks),
         Step("After the book, {a} - {b} = {result} dollars are left.", saved, "-", spent)],
    )  # fmt: skip


def _garden(rng: random.Random, name: str) -> tuple[str, list[Step]]:
    rows, per_row, extra = rng.randint(4, 12), rng.randint(5, 12), rng.randint(3, 15)
    planted = rows * per_row
    total = planted + extra
    friends = rng.choice([2, 3, 4, 5])
    total += (-total) % friends  # so the share comes out whole
    extra = total - planted
    return (
        f"{name} plants {rows} rows of {per_row} tulips and {extra} more tulips by the gate. "
        f"{name} shares all the tulips equally among {friends} friends. How many tulips "
        "does each friend get?",
        [Step("The rows hold {a} * {b} = {result} tulips.", rows, "*", per_row),
         Step("With the ones by the gate, {a} + {b} = {result} tulips.", planted, "+", extra),
         Step("Each friend gets {a} / {b} = {result} tulips.", total, "/", friends)],
    )  # fmt: skip


def _bus(rng: random.Random, name: str) -> tuple[str, list[Step]]:
    start, on, off = rng.randint(10, 30), rng.randint(5, 20), rng.randint(3, 12)
    return (
        f"A bus leaves with {start} passengers. At the first stop {on} people get on, and at "
        f"the second stop {off} people get off. {name} counts the passengers. How many are "
        "on the bus now?",
        [Step("After the first stop, {a} + {b} = {result} passengers.", start, "+", on),
         Step("After the second stop, {a} - {b} = {result} passengers.", start + on, "-", off)],
    )  # fmt: skip


def _books(rng: random.Random, name: str) -> tuple[str, list[Step]]:
    shelves, per_shelf, price = rng.randint(2, 6), 2 * rng.randint(4, 10), rng.randint(2, 9)
    books = shelves * per_shelf
    half = books // 2
    return (
        f"{name} has {shelves} shelves with {per_shelf} books each and sells half of the books "
        f"for ${price} each. How many dollars does {name} earn?",
        [Step("There are {a} * {b} = {result} books.", shelves, "*", per_shelf),
         Step("Half of them is {a} / {b} = {result} books.", books, "/", 2),
         Step("{name} earns {a} * {b} = {result} dollars.", half, "*", price)],
    )  # fmt: skip


TEMPLATES: list[Callable[[random.Random, str], tuple[str, list[Step]]]] = [
    _bakery, _savings, _garden, _bus, _books,
]  # fmt: skip


def demo_problems(count: int, *, seed: int = 0) -> list[DemoProblem]:
    rng = random.Random(seed)
    problems = []
    for index in range(count):
        name = rng.choice(NAMES)
        question, steps = TEMPLATES[index % len(TEMPLATES)](rng, name)
        filled = [
            Step(step.text.replace("{name}", name), step.a, step.op, step.b) for step in steps
        ]
        problems.append(DemoProblem(f"demo-{index}", question, filled))
    return problems
