"""Grading benchmark: ProcessBench's 1,000 MATH solutions graded against their LaTeX ground
truths, by equivalence (Math-Verify, as ingest grades them), against today's numeric-only path
(the exact comparison of plain numbers, which marks every LaTeX answer unparseable), in the
same run.

    .venv/bin/python bench/grading.py [--repeat 3] [--no-readme]

It needs ../shared/data/real/solutions_processbench_math.jsonl beside the repository, and no
database: grading is pure. Three ways are timed: the numeric-only path; the formula check in
this main thread (as ingest_samples and a Celery worker run it: Math-Verify in place, its own
time bounds); and from another thread (as gunicorn's threads run it: a worker process). Each
starts with the formula check's cache empty; Math-Verify's import and the worker process's
start are timed apart. It prints the figures and writes them into bench/README.md between the
grading markers.
"""

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from report import write_section  # bench/report.py: python puts the script's folder first

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "real" / "solutions_processbench_math.jsonl"
sys.path.insert(0, str(REPO))

from legibility import formulas  # noqa: E402
from legibility.grading import AnswerStatus, FormulaCheck, grade  # noqa: E402

Solutions = list[tuple[str, str, bool]]  # solution, ground truth, the source's label


def solutions() -> Solutions:
    if not DATA.exists():
        sys.exit(f"{DATA} is absent: this benchmark reads ProcessBench's MATH solutions")
    rows = [json.loads(line) for line in DATA.open(encoding="utf-8")]
    return [(row["solution"], row["answer"], row["source_label"]) for row in rows]


def graded(items: Solutions, check: FormulaCheck | None) -> tuple[float, Counter[str]]:
    """Seconds to grade every solution, and how many ended in each status."""
    formulas._compare.cache_clear()
    statuses: Counter[str] = Counter()
    started = time.perf_counter()
    for solution, truth, _ in items:
        statuses[grade(solution, truth, formulas=check).status] += 1
    return time.perf_counter() - started, statuses


def in_a_thread(work: Callable[[], tuple[float, Counter[str]]]) -> tuple[float, Counter[str]]:
    found: list[tuple[float, Counter[str]]] = []
    thread = threading.Thread(target=lambda: found.append(work()))
    thread.start()
    thread.join()
    return found[0]


def agreement(items: Solutions, check: FormulaCheck | None) -> float:
    right = sum(
        (grade(solution, truth, formulas=check).status == AnswerStatus.CORRECT) == label
        for solution, truth, label in items
    )
    return right / len(items)


def warm_ups() -> dict[str, float]:
    """Math-Verify's import and first comparison, and a worker process's start, timed apart."""
    started = time.perf_counter()
    formulas.formulas_compare("\\frac{1}{2}", "0.5")
    imported = time.perf_counter() - started
    started = time.perf_counter()
    in_a_thread(lambda: (0.0, Counter([formulas.formulas_compare("\\frac{1}{3}", "1/3")])))
    return {"import_s": imported, "worker_start_s": time.perf_counter() - started}


def measure(items: Solutions, repeat: int) -> dict[str, object]:
    warm = warm_ups()
    runs: dict[str, list[float]] = {"numeric": [], "main": [], "thread": []}
    statuses: dict[str, Counter[str]] = {}
    for _ in range(repeat):
        for name, work in (
            ("numeric", lambda: graded(items, None)),
            ("main", lambda: graded(items, formulas.formulas_compare)),
            ("thread", lambda: in_a_thread(lambda: graded(items, formulas.formulas_compare))),
        ):
            seconds, statuses[name] = work()
            runs[name].append(seconds)
    return {
        "warm": warm,
        "seconds": {name: statistics.median(values) for name, values in runs.items()},
        "statuses": statuses,
        "agreement": {
            "numeric": agreement(items, None),
            "formulas": agreement(items, formulas.formulas_compare),
        },
    }


def section(figures: dict[str, object], count: int, repeat: int) -> str:
    seconds: dict[str, float] = figures["seconds"]  # type: ignore[assignment]
    statuses: dict[str, Counter[str]] = figures["statuses"]  # type: ignore[assignment]
    agree: dict[str, float] = figures["agreement"]  # type: ignore[assignment]
    warm: dict[str, float] = figures["warm"]  # type: ignore[assignment]
    labels = {
        "numeric": "numeric-only path (today's before LaTeX): exact numbers, LaTeX unparseable",
        "main": "formulas by equivalence, in a main thread (commands, Celery workers)",
        "thread": "formulas by equivalence, from another thread (worker process; gunicorn)",
    }
    rows = [
        f"| {labels[name]} | {seconds[name]:.2f} | {count / seconds[name]:,.0f} | "
        f"{seconds[name] / seconds['numeric']:.1f} | "
        + ", ".join(f"{status} {n}" for status, n in sorted(statuses[name].items()))
        + " |"
        for name in ("numeric", "main", "thread")
    ]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "## Grading: MATH solutions by equivalence vs the numeric-only path",
        "",
        f"Run {when} on {machine()}, no database. Command: `.venv/bin/python bench/grading.py`",
        "",
        f"ProcessBench's {count:,} MATH solutions (../shared/data/real), each graded against its "
        f"LaTeX ground truth; the median of {repeat} passes, each with the formula check's "
        "cache empty.",
        "",
        "| path | seconds | solutions/s | × numeric | how grading ended |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Set apart: importing Math-Verify and its first comparison {warm['import_s']:.2f} s; "
        f"starting the worker process {warm['worker_start_s']:.2f} s. Agreement with the "
        f"source's own final-answer labels: {agree['formulas']:.1%} by equivalence, "
        f"{agree['numeric']:.1%} on the numeric-only path (which can only say correct for "
        "plain numbers).",
    ])  # fmt: skip


def machine() -> str:
    from stack import machine as described

    return described()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    items = solutions()
    figures = measure(items, args.repeat)
    text = section(figures, len(items), args.repeat)
    print(text)
    if not args.no_readme:
        write_section("grading", text)


if __name__ == "__main__":
    main()
