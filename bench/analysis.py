"""Analysis benchmark: a million judgments in PostgreSQL, the campaign's curves (with the
bootstrap) and its judgments CSV, against PostgreSQL's own COPY of the same rows, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/analysis.py \\
        [--judgments 1000000]

It works in a scratch database of its own (``<name>_bench_analysis``, dropped at the start),
seeds it with bench/seed.py in a child process (so the measuring process starts with a clean
heap), prints the figures and writes them into bench/README.md between the analysis markers.
Memory is read from /proc (Linux): the peak resident set is reset before each step.
"""

import argparse
import gc
import os
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from report import write_section  # bench/report.py: python puts the script's folder first
from seed import RUNS, Shape, postgres_version, scratch_name, scratch_url, seed_scratch
from stack import machine

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# 3 runs x 7 rounds, 3,000 problems with 2 samples per checkpoint and role
SHAPE = Shape(samples=252_000, judgments=1_000_000, checkpoints=21, samples_per_cell=2)


# --- measuring ------------------------------------------------------------------------------


def memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


class Peak:
    """Growth of the resident set over one step: the kernel's high-water mark (VmHWM, reset
    on entry through /proc/self/clear_refs) above the resident set on entry."""

    def __enter__(self) -> "Peak":
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")
        self.start = memory_kb("VmRSS")
        return self

    def __exit__(self, *exc: object) -> None:
        self.growth_mb = self.now_mb()

    def now_mb(self) -> float:
        return (memory_kb("VmHWM") - self.start) / 1024


def time_export(export: Callable[[], Iterable[str]], quarter: int) -> dict[str, float]:
    """Write the CSV to /dev/null: seconds, rows, megabytes, when the first row came, and the
    RSS growth after a quarter of the rows and at the end (flat memory: the two are close)."""
    rows, size = -1, 0  # the header is no row
    with Peak() as peak, open(os.devnull, "w") as sink:
        started = time.perf_counter()
        for line in export():
            sink.write(line)
            rows += 1
            size += len(line)
            if rows == 1:
                first_row = time.perf_counter() - started
            if rows == quarter:
                at_quarter = peak.now_mb()
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds, "rows": rows, "mb": size / 1e6, "first_row": first_row,
        "rss_quarter_mb": at_quarter, "rss_mb": peak.growth_mb,
    }  # fmt: skip


def traced_export(export: Callable[[], Iterable[str]], quarter: int) -> tuple[float, float]:
    """Python's own allocations at their peak (tracemalloc), after a quarter of the rows and at
    the end; a separate, untimed pass, since tracing slows every allocation."""
    gc.collect()
    tracemalloc.start()
    rows = -1
    with open(os.devnull, "w") as sink:
        for line in export():
            sink.write(line)
            rows += 1
            if rows == quarter:
                at_quarter = tracemalloc.get_traced_memory()[1]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return at_quarter / 2**20, peak / 2**20


ANALYSIS_PARTS = {
    "analysis_rows": "reading the rows (`analysis_rows`)",
    "rater_stats": "rater checks",
    "checkpoint_curves": "curves with the bootstrap",
    "accuracy_by_pass_rate_quartile": "pass-rate quartiles",
    "round_trends": "GEE trends",
}


@contextmanager
def parts_timed(spent: dict[str, float]) -> Iterator[None]:
    """Time the analysis's parts within the measured call itself: the functions are looked up
    in their modules when called, so they are wrapped there for the call, then put back."""
    from annotations import selectors
    from annotations.analysis import report

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return wrapper

    # analyse() calls its parts through the report module's names, campaign_analysis() the
    # rows through the selectors'
    modules = {name: report for name in ANALYSIS_PARTS} | {"analysis_rows": selectors}
    originals = {name: getattr(module, name) for name, module in modules.items()}
    for name, module in modules.items():
        setattr(module, name, timed(name, originals[name]))
    try:
        yield
    finally:
        for name, module in modules.items():
            setattr(module, name, originals[name])


COPY_EXPORT = """
COPY (
    SELECT j.id AS judgment_id, c.slug AS campaign, r.pseudonym AS rater, i.sample_id,
        p.external_id AS problem_id, run.name AS run, cp.name AS checkpoint, cp.round, cp.step,
        i.role, i.sample_is_correct, j.verdict,
        NOT j.timed_out AND (j.verdict = 'correct') = i.sample_is_correct AS rater_correct,
        j.timed_out, j.late, j.client_ms, j.hidden_ms, j.server_ms, a.issued_at, j.answered_at,
        (a.position - 1) / c.questions_per_session + 1 AS session,
        (a.position - 1) % c.questions_per_session + 1 AS position_in_session,
        r.pseudonym = ANY({excluded}) AS excluded_rater
    FROM annotations_judgment j
    JOIN annotations_assignment a ON a.id = j.assignment_id
    JOIN annotations_rater r ON r.id = a.rater_id
    JOIN annotations_campaign c ON c.id = r.campaign_id
    JOIN annotations_campaignitem i ON i.id = a.item_id
    JOIN legibility_problem p ON p.id = a.problem_id
    JOIN legibility_checkpoint cp ON cp.id = i.checkpoint_id
    JOIN legibility_trainingrun run ON run.id = cp.run_id
    WHERE r.campaign_id = {campaign} AND NOT a.is_practice
    ORDER BY j.id
) TO STDOUT WITH (FORMAT csv, HEADER)
"""


def time_copy(campaign_id: int, excluded: list[str]) -> dict[str, float]:
    """The same joined rows and columns, formatted by PostgreSQL, read and thrown away."""
    from django.db import connection
    from psycopg import sql

    from annotations.exports import JUDGMENT_COLUMNS

    lines, size, header = 0, 0, b""
    # COPY takes no bound parameters: the values are quoted into the statement
    statement = sql.SQL(COPY_EXPORT).format(
        campaign=sql.Literal(campaign_id), excluded=sql.Literal(excluded)
    )
    with connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy(statement.as_string(connection.connection)) as copy:
            for block in copy:
                if not header:
                    header = bytes(block).split(b"\n", 1)[0]
                lines += bytes(block).count(b"\n")  # no field holds a newline
                size += len(block)
        seconds = time.perf_counter() - started
    if header.decode().split(",") != JUDGMENT_COLUMNS:
        sys.exit(f"the COPY's columns are not the export's: {header!r}")
    return {"seconds": seconds, "rows": lines - 1, "mb": size / 1e6}


# --- the report -----------------------------------------------------------------------------


@dataclass
class Figures:
    """What the steps measured, over the seeded campaign."""

    judged: int  # main judgments
    export: dict[str, float]  # time_export's
    traced_quarter_mb: float
    traced_mb: float
    chance_s: float  # counting the raters at chance, which the COPY is handed
    baseline: dict[str, float]  # time_copy's
    analysis: Any  # campaign_analysis's result
    analysis_s: float
    analysis_mb: float
    cached_s: float
    spent: dict[str, float]  # seconds per part of the analysis


def measure(campaign: Any, *, judged: int) -> Figures:
    """The export (its memory measured on the heap as it is after start-up), the COPY of the same
    rows, then the curves with the Django cache cleared, and again from the cache."""
    from django.core.cache import cache

    from annotations.exports import judgments_csv
    from annotations.selectors import campaign_analysis, chance_raters

    quarter = judged // 4
    export = time_export(lambda: judgments_csv(campaign), quarter)
    print(f"export: {export}", flush=True)
    traced_quarter_mb, traced_mb = traced_export(lambda: judgments_csv(campaign), quarter)
    print(f"export, traced: {traced_quarter_mb:.1f} / {traced_mb:.1f} MB", flush=True)

    chance_started = time.perf_counter()
    excluded = sorted(chance_raters(campaign))
    chance_s = time.perf_counter() - chance_started
    baseline = time_copy(campaign.pk, excluded)
    print(f"copy: {baseline}", flush=True)
    if baseline["rows"] != export["rows"]:
        sys.exit(f"COPY wrote {baseline['rows']} rows, the export {export['rows']}")

    cache.clear()
    spent: dict[str, float] = {}
    with Peak() as peak, parts_timed(spent):
        started = time.perf_counter()
        analysis = campaign_analysis(campaign)
        analysis_s = time.perf_counter() - started
    print(f"analysis: {analysis_s:.1f} s, RSS +{peak.growth_mb:.0f} MB", flush=True)
    started = time.perf_counter()
    campaign_analysis(campaign)
    cached_s = time.perf_counter() - started
    return Figures(
        judged, export, traced_quarter_mb, traced_mb, chance_s, baseline, analysis, analysis_s,
        peak.growth_mb, cached_s, spent,
    )  # fmt: skip


@dataclass(frozen=True)
class Seeded:
    """What was seeded, counted in the database before the steps."""

    judged: int  # main judgments
    timeouts: int
    samples: int
    items: int
    practice: int  # practice judgments
    database_mb: float


def seeded(campaign: Any) -> Seeded:
    from django.db import connection

    from annotations.models import CampaignItem, Judgment
    from annotations.selectors import main_judgments
    from legibility.models import Sample

    judged = main_judgments(campaign).count()
    timeouts = main_judgments(campaign).filter(timed_out=True).count()
    samples, items = Sample.objects.count(), CampaignItem.objects.count()
    practice = Judgment.objects.filter(assignment__is_practice=True).count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        (db_bytes,) = cursor.fetchone()
    return Seeded(judged, timeouts, samples, items, practice, db_bytes / 2**20)


def data_line(data: Seeded, shape: Shape, figures: Figures, seed_s: float) -> str:
    return (
        f"Data, seeded by `bench/seed.py` in {seed_s:.0f} s ({data.database_mb:,.0f} MB "
        f"database): one live campaign over {len(RUNS)} runs × "
        f"{shape.checkpoints // len(RUNS)} rounds × helpful/sneaky, {shape.problems:,} "
        f"problems, {data.samples:,} samples, {data.items:,} items, {shape.raters:,} raters, "
        f"**{data.judged:,} main judgments** ({data.timeouts / data.judged:.1%} timeouts, "
        f"{len(figures.analysis.excluded_raters)} raters at chance) plus {data.practice:,} "
        "practice ones."
    )


def section(figures: Figures, *, data: str, command: str) -> str:
    export, baseline, judged = figures.export, figures.baseline, figures.judged
    parts = [
        f"{ANALYSIS_PARTS[name]} {figures.spent.get(name, 0):.1f} s" for name in ANALYSIS_PARTS
    ]
    rest = figures.analysis_s - sum(figures.spent.values())
    parts.append(f"the rest (the cache key's two queries, dropping chance raters) {rest:.1f} s")
    export_rate = export["rows"] / export["seconds"]
    copy_rate = baseline["rows"] / baseline["seconds"]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "## Analysis: the curves and the judgments CSV vs COPY",
            "",
            f"Run {when} on {machine()}, PostgreSQL {postgres_version()} on 127.0.0.1.",
            f"Command: `{command}`",
            "",
            data,
            "",
            "| step | rows | seconds | rows/s | peak memory growth |",
            "|---|---|---|---|---|",
            f"| curves: `campaign_analysis`, Django cache cleared (`analysis_rows`, rater "
            f"checks, {len(figures.analysis.curves)} curves with a 1,000-replicate rater × "
            f"problem bootstrap, Fig. 4d quartiles, GEE trends) | {judged:,} | "
            f"{figures.analysis_s:.1f} | {judged / figures.analysis_s:,.0f} | "
            f"RSS +{figures.analysis_mb:,.0f} MB |",
            f"| curves again, from the cache | {judged:,} | {figures.cached_s:.2f} | | |",
            f"| CSV export: `judgments_csv` → /dev/null ({export['mb']:,.0f} MB) | "
            f"{export['rows']:,} | {export['seconds']:.1f} | {export_rate:,.0f} "
            f"| RSS +{export['rss_mb']:,.0f} MB (+{export['rss_quarter_mb']:,.0f} MB after a "
            f"quarter of the rows); Python heap peak {figures.traced_mb:,.1f} MB "
            f"({figures.traced_quarter_mb:,.1f} MB after a quarter) |",
            f"| `COPY (SELECT …) TO STDOUT WITH CSV HEADER` of the same rows and columns, read "
            f"and dropped (baseline; {baseline['mb']:,.0f} MB) | {baseline['rows']:,} "
            f"| {baseline['seconds']:.1f} | {copy_rate:,.0f} | |",
            "",
            f"Where the curves' {figures.analysis_s:.0f} s go: {'; '.join(parts)}.",
            "",
            f"The export runs at **{export_rate / copy_rate:.2f} times** the `COPY` rate. It "
            f"includes counting the raters at chance ({figures.chance_s:.1f} s on its own), "
            "which the `COPY` is handed ready-made. Its first row comes after "
            f"{export['first_row']:.1f} s, that count included: the rows are read in pages of "
            "5,000 by judgment id, each page a query of its own (a server-side cursor outside a "
            "transaction is declared `WITH HOLD`, and PostgreSQL built the whole result first: "
            "14.8 s before the first row when the export read through one). `COPY` writes "
            "PostgreSQL's own `t`/`f` and timestamps rather than the export's `true`/`false` "
            "and ISO 8601.",
            "",
            "RSS growth is the kernel's peak resident set (VmHWM, reset before each step) above "
            "the resident set at the step's start; the Python heap peak is tracemalloc's, from a "
            "second, untimed export pass.",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgments", type=int, default=SHAPE.judgments)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    shape = Shape(**{**SHAPE.__dict__, "judgments": args.judgments})
    if args.judgments < shape.raters:
        sys.exit(f"--judgments must be at least {shape.raters}")

    given_url = os.environ.get("DATABASE_URL", "")
    name = scratch_name("analysis")
    seed_s = seed_scratch(name, shape)
    print(f"seeded {args.judgments:,} judgments in {seed_s:.0f} s", flush=True)
    os.environ.update(DATABASE_URL=scratch_url(name), DJANGO_SETTINGS_MODULE="legibility.settings")
    import django

    django.setup()
    from annotations.models import Campaign

    campaign = Campaign.objects.get(slug="bench")
    data = seeded(campaign)
    figures = measure(campaign, judged=data.judged)
    command = (
        f"DATABASE_URL={given_url} .venv/bin/python bench/analysis.py --judgments {args.judgments}"
    )
    text = section(figures, data=data_line(data, shape, figures, seed_s), command=command)
    print(text)
    if not args.no_readme:
        write_section("analysis", text)


if __name__ == "__main__":
    main()
