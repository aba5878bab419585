"""Drill: PostgreSQL restarted under load, on a private cluster. While it is away raters get the
short 'back in a moment' page (503) and nothing half-written is kept; once it is back, gunicorn
and the worker carry on by themselves."""

import argparse
import time
from dataclasses import dataclass

from stack import PrivatePostgres, Services, say, scratch_database, version_of_postgres, wait_until

from drills.common import (
    Drill,
    RaterRecord,
    RatersAtWork,
    app_on_private_redis,
    drop_late_file,
    judgment_rows,
    raters_at_work,
    raters_done,
)


def run(args: argparse.Namespace) -> Drill:
    drill = Drill(
        "drill-postgres-restart", "PostgreSQL restarted under load",
        columns=("before", "during the restart", "after"),
        where="a private PostgreSQL cluster and a private redis-server on 127.0.0.1",
    )  # fmt: skip
    with Services("postgres-restart") as services:
        postgres = PrivatePostgres(services)
        postgres.start()
        url = scratch_database(postgres.url(), "legibility_drill")
        _, env = app_on_private_redis(services, url)
        from django.db import connection

        version = version_of_postgres(url)
        at_work = raters_at_work(services, env, raters=args.raters, fault_s=args.down,
                                 patient=True)  # fmt: skip
        restart = postgres_restarted(postgres, args.down, at_work)
        seen, exit_status = raters_done(drill, services, at_work, timeout_s=at_work.after_s + 400)
        report(drill, restart, seen, campaign=at_work.campaign, exit_status=exit_status)
        drill.notes.append(
            f"{args.raters} simulated raters judged over HTTP (gunicorn, 2 workers × 4 threads, "
            f"DEBUG off) at 1/20 of their reading time. Once they were all judging, after "
            f"{at_work.warm_up:g} s more, the private PostgreSQL was stopped in 'fast' mode "
            f"(open sessions ended, their transactions rolled back) and started again "
            f"{args.down:g} s later; they went on for at least {at_work.after_s:g} s after it. "
            "The raters, like people, reloaded the page each second after an error. Nothing "
            "was restarted by hand: gunicorn's connections are health-checked and reopened, the "
            "worker's tasks retry."
        )
        failed = [error for error in seen.errors if error["status"] is not None]
        if failed:
            times = [error["at"] for error in failed]
            first, last = min(times) - restart.stopped_at, max(times) - restart.stopped_at
            drill.notes.append(
                f"Error responses came from {first:.1f} s to {last:.1f} s after the stop "
                f"(PostgreSQL was back {restart.back_at - restart.stopped_at:.1f} s after it)."
            )
        connection.close()
    drill.title += f" (PostgreSQL {version})"
    return drill


@dataclass(frozen=True)
class Restart:
    """The counts before the stop, when it stopped and came back, and the worker's catch-up."""

    stopped_at: float
    back_at: float
    judgments_before: int
    samples_before: int
    new_samples: int  # in a file dropped once PostgreSQL was back
    worker_back: bool  # the worker stored them


def postgres_restarted(postgres: PrivatePostgres, down_s: float, at_work: RatersAtWork) -> Restart:
    """Stop PostgreSQL in 'fast' mode for ``down_s`` seconds, start it again, then drop a file
    for the worker and wait until it is stored."""
    from django.db import connection

    from annotations.models import Judgment
    from legibility.models import Sample

    judgments_before = Judgment.objects.count()
    samples_before = Sample.objects.count()
    connection.close()
    stopped_at = time.time()
    postgres.stop("fast")  # sessions are ended and their open transactions rolled back
    say(f"PostgreSQL stopped for {down_s:g} s")
    time.sleep(down_s)
    postgres.start()
    back_at = time.time()
    say("PostgreSQL is back")
    new_samples = drop_late_file(at_work.watched, "after.jsonl")
    worker_back = wait_until(lambda: Sample.objects.count() >= samples_before + new_samples,
                             timeout_s=120, step_s=0.5)  # fmt: skip
    return Restart(stopped_at, back_at, judgments_before, samples_before, new_samples, worker_back)


def report(
    drill: Drill, restart: Restart, seen: RaterRecord, *, campaign: object, exit_status: int
) -> None:
    from legibility.models import Sample

    failed = [error for error in seen.errors if error["status"] is not None]
    other = sum(n for code, n in seen.statuses.items() if code >= 400 and code != 503)
    unclean = [e for e in failed if "Traceback" in e["detail"]
               or "Back in a moment" not in e["detail"]]  # fmt: skip
    after_restart = sorted(at for at in seen.answered_at if at >= restart.back_at)
    recovered_s = after_restart[0] - restart.back_at if after_restart else None
    judgment_rows(drill, campaign, seen.confirmed, before=restart.judgments_before, during=None)
    drill.row("responses 503 (the short 'back in a moment' page)", 0, seen.statuses[503],
              None, expected="> 0", ok=seen.statuses[503] > 0)  # fmt: skip
    drill.row("other 4xx or 5xx responses / error pages not the short one", 0,
              f"{other} / {len(unclean)}", None, expected="0 / 0",
              ok=other == 0 and not unclean)  # fmt: skip
    drill.row("lost connections to gunicorn", 0, seen.lost_connections, None,
              expected="0", ok=seen.lost_connections == 0)  # fmt: skip
    drill.row("seconds from PostgreSQL's return to the next stored answer", None, None,
              None if recovered_s is None else f"{recovered_s:.1f}", expected="< 30",
              ok=recovered_s is not None and recovered_s < 30)  # fmt: skip
    drill.row("answers confirmed after the restart", None, None, len(after_restart),
              expected="> 0", ok=len(after_restart) > 0)  # fmt: skip
    drill.row("raters who gave up", 0, None, seen.stopped + (exit_status != 0),
              expected="0", ok=seen.stopped == 0 and exit_status == 0)  # fmt: skip
    drill.row("worker: samples of a file dropped after the restart", restart.samples_before,
              None, Sample.objects.count(), expected=f"+{restart.new_samples}",
              ok=restart.worker_back)  # fmt: skip
