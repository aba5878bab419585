"""Load test: simulated raters judging over HTTP against gunicorn and PostgreSQL for a fixed
time. What the clients were told was stored is counted against the database, with every
response's status.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/load.py \\
        [--raters 200] [--seconds 300] [--time-scale 0.25] [--client-processes 4]

It works in a scratch database of its own (``<name>_drill_load``, next to DATABASE_URL's) and
runs the app as deployed (gunicorn with DEBUG off, a Celery worker and beat over a private
redis-server). The raters are ``simulate_raters`` processes, each with its share of the raters
in threads of its own; they log in through their login links (as the links sent to raters),
read each solution for a fraction (``--time-scale``) of the time a person takes, and answer.
"""

import argparse
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass

from drills.common import (
    Accounting,
    RaterRecord,
    account,
    app_on_private_redis,
    database_name,
    finish,
    seed_campaign,
    simulate_raters,
    start_the_app,
)
from report import write_section
from stack import (
    Services,
    base_database_url,
    drop_database,
    machine,
    scratch_database,
    version_of_postgres,
)

READING_S = 27  # a person's mean time per solution in the paper; the simulated raters' too
CHECKPOINTS = 9  # as in the paper's campaign


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raters", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--time-scale", type=float, default=0.25,
                        help="fraction of a person's reading time the raters wait")  # fmt: skip
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--no-readme", action="store_true")
    return parser.parse_args()


@dataclass
class Load:
    """What a load run saw: its campaign, what the clients recorded against what is stored, the
    client processes' exit statuses and failures, and gunicorn's log."""

    version: str  # PostgreSQL's
    problems: int
    items: int
    processes: int
    seen: RaterRecord
    tally: Accounting
    exits: list[int]
    notes: list[str]
    gunicorn_log: str


def run_load(args: argparse.Namespace) -> Load:
    """The app and its campaign in a scratch database, the raters in ``simulate_raters``
    processes until they stop; the database dropped afterwards."""
    base = base_database_url()
    name = database_name(base, "load")
    # enough items and problems that no rater runs out: twice what the pace allows
    per_rater = args.seconds / (READING_S * args.time_scale + 0.2)
    problems = max(100, math.ceil(2 * per_rater), math.ceil(args.raters * per_rater / 18))
    processes = max(1, min(args.client_processes, args.raters))
    with Services("load") as services:
        url = scratch_database(base, name)
        _, env = app_on_private_redis(services, url)
        version = version_of_postgres(url)
        campaign = seed_campaign(checkpoints=CHECKPOINTS, problems=problems)
        items = campaign.items.filter(is_practice=False).count()
        base_url = start_the_app(services, env, workers=args.workers, threads=args.threads)

        shares = [
            args.raters // processes + (i < args.raters % processes) for i in range(processes)
        ]
        records = [services.folder / f"raters-{i}.jsonl" for i in range(processes)]
        clients = [
            simulate_raters(services, env, base_url=base_url, raters=share, seconds=args.seconds,
                            time_scale=args.time_scale, record=record, patient=True, seed=i)
            for i, (share, record) in enumerate(zip(shares, records, strict=True))
        ]  # fmt: skip
        notes: list[str] = []  # the failures of client processes, if any
        exits = [
            finish(notes, services, client, timeout_s=args.seconds + 600) for client in clients
        ]
        seen = RaterRecord()
        for record in records:
            seen.read(record)
        tally = account(campaign, seen.confirmed)
        gunicorn_log = services.log("gunicorn")
    drop_database(base, name)
    return Load(version, problems, items, processes, seen, tally, exits, notes, gunicorn_log)


def checks(load: Load) -> dict[str, bool]:
    seen, tally = load.seen, load.tally
    timeouts = load.gunicorn_log.count("WORKER TIMEOUT")
    tracebacks = load.gunicorn_log.count("Traceback")
    return {
        "5xx responses": seen.server_errors == 0,
        "lost connections": seen.lost_connections == 0,
        "confirmed answers missing from the database": tally.lost == 0,
        "verdicts changed": tally.changed == 0,
        "judgments beyond one per assignment": tally.duplicated == 0,
        "half-written assignments": tally.half_written == 0,
        "item counts": tally.items_off == 0,
        "raters stopped by an error": seen.stopped == 0 and not any(load.exits),
        "gunicorn worker timeouts and tracebacks": timeouts == tracebacks == 0,
    }


def section(args: argparse.Namespace, load: Load, command: str) -> tuple[str, bool]:
    """The README's section, and whether the run passed."""
    seen, tally = load.seen, load.tally
    first, last = min(seen.answered_at), max(seen.answered_at)
    span = max(last - first, 1e-9)
    requests = sum(seen.statuses.values())
    latency = sorted(seen.answer_ms)
    p50, p95, p99 = (
        latency[min(len(latency) - 1, int(q * len(latency)))] for q in (0.5, 0.95, 0.99)
    )
    statuses = ", ".join(f"{code}: {n:,}" for code, n in sorted(seen.statuses.items()))
    checked = checks(load)
    passed = all(checked.values()) and tally.confirmed > 0
    pace = f"{READING_S * args.time_scale:.1f} s"
    text = "\n".join([
        f"## Load: {args.raters} simulated raters for {args.seconds:g} s",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}, "
        f"PostgreSQL {load.version} and a private redis-server on 127.0.0.1; the load's "
        "clients on the same machine.",
        f"Command: `{command}`",
        "",
        f"The app as deployed: gunicorn ({args.workers} workers × {args.threads} threads, "
        f"DEBUG off), a Celery worker and beat. One live campaign of {load.items:,} items "
        f"({CHECKPOINTS} checkpoints × {load.problems:,} problems × helpful/sneaky × "
        f"correct/incorrect). {args.raters} raters in {load.processes} `simulate_raters` "
        "processes, all at once from the start, each logging in by its login link, consenting, "
        "answering the practice items, then judging session after session; each solution read "
        f"for {args.time_scale:g} of a person's time (about {pace} instead of {READING_S} s), "
        f"so the load is {1 / args.time_scale:g} times that of {args.raters} people judging.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| answers the clients were told were stored | {tally.confirmed:,} |",
        f"| judgments stored | {tally.stored:,} |",
        f"| … confirmed answers missing from the database (lost) | {tally.lost:,} |",
        f"| … stored with another verdict than the one confirmed | {tally.changed:,} |",
        f"| … judgments beyond one per assignment (duplicated) | {tally.duplicated:,} |",
        f"| … stored without a confirmation the client saw | {tally.unconfirmed:,} |",
        f"| … half-written assignments; items whose count disagrees | {tally.half_written:,}; "
        f"{tally.items_off:,} |",
        f"| answers per second (first to last answer) | {len(seen.answered_at) / span:,.1f} |",
        f"| HTTP responses | {requests:,} (about {requests / span:,.0f}/s) |",
        f"| responses by status | {statuses} |",
        f"| **5xx responses** | **{seen.server_errors:,}** |",
        f"| lost connections | {seen.lost_connections:,} |",
        f"| answer round trip (POST, redirect, next page) p50 / p95 / p99 / max | {p50:,} / "
        f"{p95:,} / {p99:,} / {latency[-1]:,} ms |",
        f"| mean round trip | {statistics.mean(latency):,.0f} ms |",
        f"| gunicorn worker timeouts / tracebacks in its log | "
        f"{load.gunicorn_log.count('WORKER TIMEOUT')} / {load.gunicorn_log.count('Traceback')} |",
        "",
        *[note + "\n" for note in load.notes],
        f"**{'PASS' if passed else 'FAIL'}**"
        + ("" if passed else ": " + ", ".join(k for k, ok in checked.items() if not ok)),
    ])  # fmt: skip
    return text, passed


def main() -> None:
    args = arguments()
    shown = os.environ.get("DATABASE_URL", "")
    load = run_load(args)
    command = (
        f"DATABASE_URL={shown} .venv/bin/python bench/load.py --raters {args.raters} --seconds "
        f"{args.seconds:g} --time-scale {args.time_scale:g} --client-processes "
        f"{load.processes} --workers {args.workers} --threads {args.threads}"
    )
    text, passed = section(args, load, command)
    print(text)
    if not args.no_readme:
        write_section("load", text)
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    main()
