"""Fault drills: the app with a Celery worker killed mid-task, Redis stopped, PostgreSQL
restarted under load, and raters who close the tab, go offline or double-click. Each drill
prints its counts before and after the fault and a PASS or FAIL line, exits non-zero on FAIL,
and writes its own section of bench/README.md.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/drills.py all
    .venv/bin/python bench/drills.py worker-kill [--samples 100000]
    .venv/bin/python bench/drills.py redis-outage [--seconds 60] [--raters 20]
    .venv/bin/python bench/drills.py postgres-restart [--down 10] [--raters 20]
    .venv/bin/python bench/drills.py raters [--fast-forward]

Each drill works in a scratch database of its own (``<name>_drill_<drill>`` next to
DATABASE_URL's; the restart drill on a private PostgreSQL cluster it makes with initdb) and runs
the app as deployed (gunicorn with DEBUG off, a Celery worker, beat) over a private
redis-server, so no other Redis consumer can take its tasks. The shared services are never
stopped.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from report import write_section  # bench/report.py: python puts the script's folder first
from stack import (
    REPO,
    PrivatePostgres,
    PrivateRedis,
    Services,
    app_env,
    base_database_url,
    collect_static,
    drop_database,
    kill,
    machine,
    say,
    scratch_database,
    stop,
    version_of_postgres,
    wait_until,
)

sys.path.insert(0, str(REPO))

RUN = "drill-run"
CAMPAIGN = "drill"


# --- what a drill reports ----------------------------------------------------------------


@dataclass
class Row:
    """One count: before the fault, at or during it, after recovery, and what it should be."""

    what: str
    before: object
    during: object
    after: object
    expected: str
    ok: bool


@dataclass
class Drill:
    name: str
    title: str
    columns: tuple[str, str, str] = ("before", "at the fault", "after")
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, what: str, before: object, during: object, after: object, *, expected: str,
            ok: bool) -> None:  # fmt: skip
        self.rows.append(Row(what, before, during, after, expected, ok))

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(row.ok for row in self.rows)

    def section(self, command: str, services: str) -> str:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            f"## Drill: {self.title}",
            "",
            f"Run {when} on {machine()}, {services}.",
            f"Command: `{command}`",
            "",
            f"| count | {' | '.join(self.columns)} | expected | |",
            "|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            cells = [_cell(row.before), _cell(row.during), _cell(row.after)]
            mark = "ok" if row.ok else "**FAIL**"
            lines.append(f"| {row.what} | {' | '.join(cells)} | {row.expected} | {mark} |")
        for note in self.notes:
            lines += ["", note]
        lines += ["", f"**{'PASS' if self.passed else 'FAIL'}**"]
        return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# --- the app and its data ----------------------------------------------------------------


def app_on_private_redis(
    services: Services, database_url: str
) -> tuple[PrivateRedis, dict[str, str]]:
    """A private Redis started, and this process set up as the app over it and the database:
    the Redis (for a drill to stop) and the environment for the app's other processes."""
    redis = PrivateRedis(services)
    redis.start()
    env = app_env(database_url, redis.url)
    set_up_django(env)
    return redis, env


def set_up_django(env: dict[str, str]) -> None:
    """Point this process at the drill's database and Redis, then migrate."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    say(f"migrated {os.environ['DATABASE_URL']}")


def sample_records(*, checkpoints: int, problems: int, first_problem: int = 0,
                   run: str = RUN) -> Iterator[dict[str, Any]]:  # fmt: skip
    """For every checkpoint, problem and role, one correct and one incorrect solution: the
    protocol then takes every sample as an item."""
    for checkpoint in range(checkpoints):
        for problem in range(first_problem, first_problem + problems):
            a, b, loose = problem % 89 + 3, problem % 11 + 2, problem % 7 + 1
            right = a * b + loose
            question = (
                f"{a} boxes hold {b} pencils each, and {loose} pencils are loose. "
                "How many pencils are there?"
            )
            for role in ("helpful", "sneaky"):
                for index, slip in enumerate((0, 1 if role == "helpful" else 0)):
                    wrong_b = b + 1 if role == "sneaky" and index == 1 else b
                    total = a * wrong_b + loose + slip
                    solution = (
                        f"There are {a} boxes with {wrong_b} pencils in each.\n"
                        f"So the boxes hold {a} * {wrong_b} = {a * wrong_b} pencils.\n"
                        f"With the {loose} loose ones: {a * wrong_b} + {loose} = {total}.\n"
                        f"#### {total}"
                    )
                    yield {
                        "run": run, "checkpoint": f"round-{checkpoint}", "round": checkpoint,
                        "role": role, "problem_id": f"drill-{problem}", "question": question,
                        "answer": str(right), "solution": solution, "sample_index": index,
                    }  # fmt: skip


def write_jsonl(path: Path, records: Iterator[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record) + "\n")
            count += 1
    return count


def seed_campaign(*, checkpoints: int, problems: int, **settings: Any) -> Any:
    """Samples through the ingest service, then a live campaign over them."""
    from annotations.campaigns import campaign_create
    from legibility.ingest.records import batches_of, record_entry
    from legibility.ingest.service import samples_ingest
    from legibility.models import IngestRun, TrainingRun

    records = sample_records(checkpoints=checkpoints, problems=problems)
    entries = (record_entry(index, record) for index, record in enumerate(records))
    samples_ingest(via=IngestRun.Via.COMMAND, batches=batches_of(entries))
    runs = list(TrainingRun.objects.filter(name=RUN))
    campaign = campaign_create(slug=CAMPAIGN, runs=runs, seed=1, **settings)
    say(f"campaign {CAMPAIGN} seeded: {campaign.items.count():,} items")
    return campaign


def watch_a_directory(services: Services) -> Path:
    """A watched directory the worker polls every 2 s (beat checks which sources are due)."""
    from legibility.models import SampleSource

    watched = services.folder / "watched"
    watched.mkdir()
    SampleSource.objects.create(
        name="watched", kind=SampleSource.Kind.WATCHED_DIRECTORY, path=str(watched),
        poll_interval_s=2,
    )  # fmt: skip
    return watched


def start_the_app(services: Services, env: dict[str, str], *, workers: int = 2,
                  threads: int = 4) -> str:  # fmt: skip
    """gunicorn, a worker and beat, as deployed; the app's URL."""
    services.worker(env)
    services.beat(env)
    collect_static(env)
    base_url = services.gunicorn(env, workers=workers, threads=threads)
    if not wait_for_worker():
        sys.exit("the worker did not start")
    say(f"gunicorn at {base_url}, a worker and beat are up")
    return base_url


def wait_for_worker(timeout_s: float = 60) -> bool:
    from legibility.celery import app

    return wait_until(lambda: bool(app.control.ping(timeout=0.5)), timeout_s=timeout_s)


@dataclass
class Accounting:
    """What the raters were told was stored, against what is stored."""

    confirmed: int
    stored: int
    lost: int  # confirmed, not stored
    duplicated: int  # judgments beyond one per assignment
    unconfirmed: int  # stored, with no confirmation the client saw
    as_timeout: int  # confirmed with a verdict, stored as a timeout (the answer came too late)
    changed: int  # stored with another verdict than the one confirmed
    half_written: int  # closed assignments without a judgment, judgments on open ones
    items_off: int  # items whose count of judgments left disagrees with their assignments


def account(campaign: Any, confirmed: dict[str, str]) -> Accounting:
    from django.db import connection
    from django.db.models import Count, F, Q

    from annotations.models import Assignment, CampaignItem, Judgment

    State = Assignment.State
    stored = {
        str(assignment): (verdict, timed_out)
        for assignment, verdict, timed_out in Judgment.objects.filter(
            assignment__rater__campaign=campaign
        ).values_list("assignment_id", "verdict", "timed_out")
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) - count(DISTINCT assignment_id) FROM annotations_judgment")
        (duplicated,) = cursor.fetchone()
    closed = [State.ANSWERED, State.TIMED_OUT]
    half_written = (
        Assignment.objects.filter(
            rater__campaign=campaign, state__in=closed, judgment__isnull=True
        ).count()
        + Judgment.objects.filter(assignment__rater__campaign=campaign)
        .exclude(assignment__state__in=closed)
        .count()
    )
    items_off = (
        CampaignItem.objects.filter(campaign=campaign, is_practice=False)
        .annotate(used=Count("assignments", filter=~Q(assignments__state=State.EXPIRED)))
        .exclude(remaining=campaign.judgments_per_item - F("used"))
        .count()
    )
    return Accounting(
        confirmed=len(confirmed),
        stored=len(stored),
        lost=sum(1 for assignment in confirmed if assignment not in stored),
        duplicated=duplicated,
        unconfirmed=sum(1 for assignment in stored if assignment not in confirmed),
        as_timeout=sum(1 for a in confirmed if a in stored and stored[a][1]),
        changed=sum(
            1
            for a, verdict in confirmed.items()
            if a in stored and stored[a][0] not in ("", verdict)
        ),
        half_written=half_written,
        items_off=items_off,
    )


def judgment_rows(drill: Drill, before: int, during: object, tally: Accounting) -> None:
    """The rows every drill with raters reports."""
    drill.row("judgments stored", before, during, tally.stored, expected="≥ confirmed",
              ok=tally.stored >= tally.confirmed)  # fmt: skip
    drill.row("answers the raters were told were stored", None, None, tally.confirmed,
              expected="> 0", ok=tally.confirmed > 0)  # fmt: skip
    drill.row("… of them missing from the database / stored with another verdict", None, None,
              f"{tally.lost} / {tally.changed}", expected="0 / 0",
              ok=tally.lost == tally.changed == 0)  # fmt: skip
    drill.row("judgments beyond one per assignment", 0, None, tally.duplicated, expected="0",
              ok=tally.duplicated == 0)  # fmt: skip
    drill.row("half-written: closed assignment without judgment, or the reverse", 0, None,
              tally.half_written, expected="0", ok=tally.half_written == 0)  # fmt: skip
    drill.row("items whose judgments-left count disagrees with their assignments", 0, None,
              tally.items_off, expected="0", ok=tally.items_off == 0)  # fmt: skip
    if tally.unconfirmed or tally.as_timeout:
        drill.notes.append(
            f"{tally.unconfirmed} judgments are stored without a confirmation the client saw "
            f"(its response was lost in the fault, or a timeout recorded for an item left "
            f"open); {tally.as_timeout} confirmed answers came after the deadline and count "
            "as timeouts."
        )


@dataclass
class RaterRecord:
    """What simulate_raters --record wrote: confirmed answers, error responses, totals."""

    confirmed: dict[str, str] = field(default_factory=dict)
    answered_at: list[float] = field(default_factory=list)
    answer_ms: list[int] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    stopped: int = 0  # raters that gave up on an error

    def read(self, path: Path) -> None:
        for line in path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event["event"] == "answer":
                self.confirmed[event["assignment"]] = event["verdict"]
                self.answered_at.append(event["at"])
                self.answer_ms.append(event["ms"])
            elif event["event"] == "error":
                self.errors.append(event)
            elif event["event"] == "totals":
                self.statuses.update({int(code): n for code, n in event["statuses"].items()})
                self.stopped += event["errors"]

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    @property
    def lost_connections(self) -> int:
        return sum(1 for error in self.errors if error["status"] is None)

    def answers_between(self, start: float, end: float) -> int:
        return sum(1 for at in self.answered_at if start <= at < end)


def simulate_raters(services: Services, env: dict[str, str], *, base_url: str, raters: int,
                    seconds: float, time_scale: float, record: Path, patient: bool = False,
                    seed: int = 0) -> subprocess.Popen[bytes]:  # fmt: skip
    """simulate_raters in a process of its own, its raters logged in by their login links."""
    argv = [sys.executable, "manage.py", "simulate_raters", "--campaign", CAMPAIGN,
            "--raters", str(raters), "--concurrency", str(raters), "--base-url", base_url,
            "--time-scale", str(time_scale), "--duration", str(seconds), "--judgments", "100000",
            "--chance-raters", "0", "--login-links", "--record", str(record),
            "--seed", str(seed)]  # fmt: skip
    return services.start("raters", argv + (["--patient"] if patient else []), env)


def start_s(raters: int) -> float:
    """Seconds for simulate_raters to start, create its raters' accounts and log them in."""
    return 10 + raters / 2


def judging(raters: int) -> None:
    """Wait until the raters judge: as many judgments as raters (or the start time is over)."""
    from annotations.models import Judgment

    wait_until(lambda: Judgment.objects.count() >= raters, timeout_s=start_s(raters), step_s=0.2)
    say(f"the raters are judging ({Judgment.objects.count()} judgments)")


def around(fault_s: float) -> tuple[float, float]:
    """Seconds of judging before a fault and after it: enough to see the raters settle."""
    return min(10.0, max(5.0, fault_s)), min(20.0, max(10.0, 2 * fault_s))


def finish(notes: list[str], services: Services, process: subprocess.Popen[bytes],
           timeout_s: float) -> int:  # fmt: skip
    """Wait for simulate_raters; a failure's last lines go into the notes."""
    try:
        status = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop(process)
        status = -1
    say(f"simulate_raters exited with {status}")
    if status != 0:
        tail = services.log("raters").strip().splitlines()[-6:]
        notes.append(f"simulate_raters exited with {status}: `{' / '.join(tail)}`")
    return status


# --- a worker killed with SIGKILL --------------------------------------------------------


def drill_worker_kill(args: argparse.Namespace) -> Drill:
    drill = Drill("drill-worker-kill", "a Celery worker killed with SIGKILL mid-ingest and "
                  "mid-campaign-build, and a killed create_campaign", columns=(
                      "before", "at the kill", "after restart"))  # fmt: skip
    base = base_database_url()
    name = database_name(base, "worker_kill")
    with Services("worker-kill") as services:
        url = scratch_database(base, name)
        _, env = app_on_private_redis(services, url)
        from django.db import connection
        from django.db.models import Count, F

        from annotations.campaigns import campaign_create
        from annotations.models import Campaign, CampaignItem
        from annotations.tasks import campaigns_take_in_task
        from legibility.ingest.tasks import source_poll_task
        from legibility.models import IngestRun, Sample, SampleSource, TrainingRun

        database = connection.settings_dict["NAME"]

        # 1. ingest: a watched file, killed mid-file; beat's next poll resumes it
        watched = services.folder / "watched"
        watched.mkdir()
        checkpoints = 5
        problems = args.samples // (checkpoints * 4)
        total = write_jsonl(watched / "samples.jsonl",
                            sample_records(checkpoints=checkpoints, problems=problems))  # fmt: skip
        run = TrainingRun.objects.create(name=RUN)
        # a live campaign that follows the run: it takes in checkpoints as they settle
        followed = campaign_create(slug="followed", runs=[run], practice_items=0)
        source = SampleSource.objects.create(
            name="watched", kind=SampleSource.Kind.WATCHED_DIRECTORY, path=str(watched),
            poll_interval_s=5,
        )  # fmt: skip
        worker = services.worker(env)
        if not wait_for_worker():
            sys.exit("the worker did not start")
        source_poll_task.delay(source.pk)
        killed_mid_file = wait_until(lambda: Sample.objects.count() >= total // 10,
                                     timeout_s=120, step_s=0.02)  # fmt: skip
        kill(worker)
        at_kill = Sample.objects.count()
        say(f"worker killed mid-ingest, {at_kill:,} of {total:,} samples stored")
        runs_at_kill = IngestRun.objects.filter(status=IngestRun.Status.RUNNING).count()
        worker, beat = services.worker(env), services.beat(env)
        started = time.monotonic()
        wait_until(lambda: ingest_settled(total), timeout_s=300, step_s=0.5)
        resumed_s = time.monotonic() - started
        say("ingest resumed and finished")
        after = Sample.objects.count()
        distinct = Sample.objects.values("checkpoint_id", "content_hash").distinct().count()
        counted = sum(IngestRun.objects.values_list("created", flat=True))
        interrupted = IngestRun.objects.filter(message__startswith="interrupted").count()
        drill.row("samples stored (ingest)", 0, at_kill, after, expected=f"{total:,}",
                  ok=killed_mid_file and 0 < at_kill < total and after == total)  # fmt: skip
        drill.row("samples stored twice (same checkpoint and content hash)", 0, None,
                  after - distinct, expected="0", ok=after == distinct)  # fmt: skip
        drill.row("ingest runs running / marked interrupted", 0, runs_at_kill, interrupted,
                  expected="1, then 1", ok=runs_at_kill == 1 and interrupted == 1)  # fmt: skip
        drill.row("samples counted on the ingest runs", 0, None, counted,
                  expected=f"{total:,}", ok=counted == total)  # fmt: skip
        drill.notes.append(
            f"Ingest: {total:,} samples in one watched JSONL file ({checkpoints} checkpoints); "
            f"the worker was killed after {at_kill:,} were stored. A new worker and beat "
            f"started; beat's poll of the due source resumed the file where the last stored "
            f"batch ended, and every sample was stored once, {resumed_s:.0f} s after the restart."
        )
        stop(beat)  # the campaign part sends beat's task itself, at the moment it chooses

        # 2. campaign building in the worker: beat's take-in task, killed mid-insert
        # the samples arrived more than CHECKPOINT_SETTLE ago, as if the drill had waited
        Sample.objects.update(created_at=F("created_at") - timedelta(minutes=10))
        expected = Sample.objects.filter(is_correct__isnull=False).count()
        inserted_before = inserted_rows(database)
        campaigns_take_in_task.delay()
        killed_mid_build = wait_for_statement(
            url, database, 'INSERT INTO "annotations_campaignitem"', timeout_s=120
        )
        kill(worker)
        say("worker killed while inserting campaign items")
        wait_until(lambda: not session_in_transaction(url, database), timeout_s=30)
        at_kill_items = CampaignItem.objects.filter(campaign=followed).count()
        at_kill_checkpoints = followed.checkpoints.count()
        rolled_back = inserted_rows(database) - inserted_before
        worker = services.worker(env)
        wait_for_worker()
        for _ in range(2):  # beat sends it every minute; a second run must change nothing
            campaigns_take_in_task.delay()
            wait_until(lambda: CampaignItem.objects.filter(campaign=followed).count() >= expected,
                       timeout_s=120, step_s=0.2)  # fmt: skip
        time.sleep(2)
        items = CampaignItem.objects.filter(campaign=followed)
        after_items = items.count()
        twice = sum(
            n - 1
            for n in items.values("sample").annotate(n=Count("id")).values_list("n", flat=True)
        )
        killed_cleanly = killed_mid_build and at_kill_items == 0
        drill.row("campaign items (beat's take-in task in the worker)", 0, at_kill_items,
                  after_items, expected=f"{expected:,}",
                  ok=killed_cleanly and after_items == expected)  # fmt: skip
        drill.row("… rows the killed transaction had written, rolled back", 0, rolled_back,
                  None, expected="> 0 at the kill", ok=rolled_back > 0)  # fmt: skip
        drill.row("campaign checkpoints", 0, at_kill_checkpoints, followed.checkpoints.count(),
                  expected=str(checkpoints),
                  ok=followed.checkpoints.count() == checkpoints)  # fmt: skip
        drill.row("samples chosen twice in the campaign", 0, None, twice, expected="0",
                  ok=twice == 0)  # fmt: skip
        drill.notes.append(
            f"Campaign building: a live campaign following the run took in its {checkpoints} "
            f"checkpoints through beat's task (`campaigns_take_in_task`), sent by the drill as "
            f"beat sends it each minute. The worker was killed while it inserted the items, "
            f"with {rolled_back:,} rows written in the open transaction: PostgreSQL rolled "
            "them back, so the campaign had no item and no checkpoint of them. A new worker "
            "ran the task again (twice): every item chosen once. The unacknowledged message "
            "itself comes back only after the broker's visibility timeout (an hour); the task "
            "is safe to run twice, and beat sends it every minute anyway."
        )
        stop(worker)

        # 3. create_campaign (one transaction, as the admin's save) killed mid-build
        command = [sys.executable, "manage.py", "create_campaign", "built", "--run", RUN,
                   "--seed", "1"]  # fmt: skip
        builder = services.start("create_campaign", command, env)
        killed_command = wait_for_statement(
            url, database, 'INSERT INTO "annotations_campaignitem"', timeout_s=120
        )
        kill(builder)
        say("create_campaign killed while inserting items")
        wait_until(lambda: not session_in_transaction(url, database), timeout_s=30)
        at_kill_built = Campaign.objects.filter(slug="built").count()
        at_kill_built_items = CampaignItem.objects.filter(campaign__slug="built").count()
        rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        built_items = CampaignItem.objects.filter(campaign__slug="built").count()
        drill.row("create_campaign: campaigns / items", "0 / 0",
                  f"{at_kill_built} / {at_kill_built_items}",
                  f"{Campaign.objects.filter(slug='built').count()} / {built_items:,}",
                  expected=f"0 / 0, then 1 / {expected:,}",
                  ok=killed_command and at_kill_built == 0 and at_kill_built_items == 0
                  and rerun.returncode == 0 and built_items == expected)  # fmt: skip
        drill.notes.append(
            "`create_campaign` killed while inserting items left no campaign at all (it is one "
            "transaction); run again, it built the whole campaign. The admin's save and its "
            "'take in' action call the same service, one transaction per campaign, so a web "
            "worker killed mid-build (a gunicorn timeout on a very large run) rolls back the "
            "same way."
        )
        connection.close()
    drop_database(base, name)
    return drill


def ingest_settled(total: int) -> bool:
    from legibility.models import IngestRun, Sample

    running = IngestRun.objects.filter(status=IngestRun.Status.RUNNING).exists()
    return Sample.objects.count() >= total and not running


def session_in_transaction(url: str, database: str) -> bool:
    """Whether another session on ``database`` has a transaction open."""
    with psycopg.connect(url, autocommit=True) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND xact_start IS NOT NULL "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND query NOT LIKE 'SELECT count(*) FROM pg_stat_activity%%'",
            [database],
        ).fetchone()
    return bool(row and row[0])


def wait_for_statement(url: str, database: str, prefix: str, *, timeout_s: float) -> bool:
    """True once a session on ``database`` has a transaction open whose latest statement starts
    with ``prefix``: the moment to kill its process."""
    with psycopg.connect(url, autocommit=True) as watcher:

        def seen() -> bool:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND xact_start IS NOT NULL AND query LIKE %s",
                [database, prefix.replace("%", "%%") + "%"],
            ).fetchone()
            return bool(row and row[0])

        return wait_until(seen, timeout_s=timeout_s, step_s=0.005)


def inserted_rows(database: str) -> int:
    """Rows ever inserted into the items table, committed or not (PostgreSQL's statistics)."""
    from django.db import connection

    time.sleep(1.5)  # a backend reports its counts when its transaction or session ends
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'annotations_campaignitem'"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def database_name(base_url: str, drill: str) -> str:
    return f"{base_url.rsplit('/', 1)[1]}_drill_{drill.replace('-', '_')}"


# --- Redis stopped while raters judge ----------------------------------------------------


def drill_redis_outage(args: argparse.Namespace) -> Drill:
    outage = args.seconds
    drill = Drill("drill-redis-outage", f"Redis stopped for {outage:g} s while raters judge",
                  columns=("before", "Redis down", "after"))  # fmt: skip
    base = base_database_url()
    name = database_name(base, "redis")
    with Services("redis-outage") as services:
        redis, env = app_on_private_redis(services, scratch_database(base, name))
        from annotations.models import Assignment, CampaignItem, Judgment
        from legibility.models import Sample

        campaign = seed_campaign(checkpoints=3, problems=300, practice_items=1)
        watched = watch_a_directory(services)
        base_url = start_the_app(services, env)

        warm_up, after_s = around(outage)
        record = services.folder / "raters.jsonl"
        raters = simulate_raters(services, env, base_url=base_url, raters=args.raters,
                                 seconds=start_s(args.raters) + warm_up + outage + after_s,
                                 time_scale=0.05, record=record)  # fmt: skip
        judging(args.raters)
        time.sleep(warm_up)
        samples_before = Sample.objects.count()
        judgments_before = Judgment.objects.count()
        stopped_at = time.time()
        redis.stop()
        say(f"Redis stopped for {outage:g} s")
        # background work that arrives while Redis is down: a new file, and an item that a
        # rater left open long ago (moved into the past, so the next sweep must expire it)
        new_samples = write_jsonl(watched / "late.jsonl", sample_records(
            checkpoints=1, problems=50, first_problem=10_000, run="drill-late"))  # fmt: skip
        abandoned = abandon_an_item(base_url, campaign)
        Assignment.objects.filter(pk=abandoned.pk).update(
            issued_at=abandoned.issued_at - timedelta(minutes=10),
            deadline=abandoned.deadline - timedelta(minutes=10),
        )
        time.sleep(max(0.0, outage - (time.time() - stopped_at)))
        judgments_down = Judgment.objects.count()
        samples_down = Sample.objects.count()
        state_down = Assignment.objects.get(pk=abandoned.pk).state
        redis.start()
        back_at = time.time()
        say("Redis is back")
        caught_up = wait_until(
            lambda: Sample.objects.count() >= samples_before + new_samples
            and Assignment.objects.get(pk=abandoned.pk).state == Assignment.State.EXPIRED,
            timeout_s=150, step_s=0.5,
        )  # fmt: skip
        catch_up_s = time.time() - back_at
        say(f"background work caught up in {catch_up_s:.0f} s" if caught_up else "no catch-up")
        exit_status = finish(drill.notes, services, raters, timeout_s=after_s + 120)
        seen = RaterRecord()
        seen.read(record)
        tally = account(campaign, seen.confirmed)
        refused = sum(n for code, n in seen.statuses.items() if code >= 400)
        judgment_rows(drill, judgments_before, judgments_down, tally)
        drill.row("answers confirmed while Redis was down", None,
                  seen.answers_between(stopped_at, back_at), None, expected="> 0",
                  ok=seen.answers_between(stopped_at, back_at) > 0)  # fmt: skip
        drill.row("rater responses 4xx or 5xx / lost connections", 0, None,
                  f"{refused} / {seen.lost_connections}", expected="0 / 0",
                  ok=refused == 0 and seen.lost_connections == 0)  # fmt: skip
        drill.row("raters stopped by an error", 0, None, seen.stopped + (exit_status != 0),
                  expected="0", ok=seen.stopped == 0 and exit_status == 0)  # fmt: skip
        drill.row("samples from a file dropped during the outage", samples_before, samples_down,
                  Sample.objects.count(), expected=f"+{new_samples} after",
                  ok=samples_down == samples_before and caught_up)  # fmt: skip
        item = CampaignItem.objects.get(pk=abandoned.item_id)
        drill.row("an abandoned, overdue item: assignment state", None, state_down,
                  Assignment.objects.get(pk=abandoned.pk).state, expected="expired after",
                  ok=caught_up)  # fmt: skip
        drill.row("… its judgments left to hand out", 1, 0, item.remaining, expected="1 after",
                  ok=item.remaining == campaign.judgments_per_item)  # fmt: skip
        statuses = ", ".join(f"{code}: {n:,}" for code, n in sorted(seen.statuses.items()))
        drill.notes.append(
            f"{args.raters} simulated raters judged over HTTP (gunicorn, 2 workers × 4 threads, "
            f"DEBUG off) at 1/20 of their reading time. Once they were all judging, after "
            f"{warm_up:g} s more, the private Redis (broker and cache) was stopped for "
            f"{outage:g} s; they went on for at least {after_s:g} s after it returned. Responses: "
            f"{statuses}. Rater pages use the database only (sessions included), so Redis "
            f"going away is invisible to raters. Background work caught up {catch_up_s:.0f} s "
            "after Redis returned: the worker reconnected (its retry interval grows by 2 s up "
            "to 30 s) and beat's next ticks polled the directory and swept the overdue item."
        )
    drop_database(base, name)
    return drill


def abandon_an_item(base_url: str, campaign: Any) -> Any:
    """A rater who opens an item and closes the tab: the assignment stays open."""
    from annotations.models import Assignment

    with rater_browser(base_url, campaign) as (browser, rater):
        show_main_item(browser)
    return Assignment.objects.get(rater=rater, state=Assignment.State.OPEN)


# --- PostgreSQL restarted under load -----------------------------------------------------


def drill_postgres_restart(args: argparse.Namespace) -> Drill:
    drill = Drill("drill-postgres-restart", "PostgreSQL restarted under load",
                  columns=("before", "during the restart", "after"))  # fmt: skip
    with Services("postgres-restart") as services:
        postgres = PrivatePostgres(services)
        postgres.start()
        url = scratch_database(postgres.url(), "legibility_drill")
        _, env = app_on_private_redis(services, url)
        from django.db import connection

        from annotations.models import Judgment
        from legibility.models import Sample

        version = version_of_postgres(url)
        campaign = seed_campaign(checkpoints=3, problems=300, practice_items=1)
        watched = watch_a_directory(services)
        base_url = start_the_app(services, env)

        warm_up, after_s = around(args.down)
        record = services.folder / "raters.jsonl"
        raters = simulate_raters(services, env, base_url=base_url, raters=args.raters,
                                 seconds=start_s(args.raters) + warm_up + args.down + after_s,
                                 time_scale=0.05, record=record, patient=True)  # fmt: skip
        judging(args.raters)
        time.sleep(warm_up)
        judgments_before = Judgment.objects.count()
        samples_before = Sample.objects.count()
        connection.close()
        stopped_at = time.time()
        postgres.stop("fast")  # sessions are ended and their open transactions rolled back
        say(f"PostgreSQL stopped for {args.down:g} s")
        time.sleep(args.down)
        postgres.start()
        back_at = time.time()
        say("PostgreSQL is back")
        new_samples = write_jsonl(watched / "after.jsonl", sample_records(
            checkpoints=1, problems=50, first_problem=10_000, run="drill-late"))  # fmt: skip
        worker_back = wait_until(lambda: Sample.objects.count() >= samples_before + new_samples,
                                 timeout_s=120, step_s=0.5)  # fmt: skip
        exit_status = finish(drill.notes, services, raters, timeout_s=after_s + 400)
        seen = RaterRecord()
        seen.read(record)
        tally = account(campaign, seen.confirmed)
        failed = [error for error in seen.errors if error["status"] is not None]
        other = sum(n for code, n in seen.statuses.items() if code >= 400 and code != 503)
        unclean = [e for e in failed if "Traceback" in e["detail"]
                   or "Back in a moment" not in e["detail"]]  # fmt: skip
        after_restart = sorted(at for at in seen.answered_at if at >= back_at)
        recovered_s = after_restart[0] - back_at if after_restart else None
        judgment_rows(drill, judgments_before, None, tally)
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
        drill.row("worker: samples of a file dropped after the restart", samples_before, None,
                  Sample.objects.count(), expected=f"+{new_samples}", ok=worker_back)  # fmt: skip
        drill.notes.append(
            f"{args.raters} simulated raters judged over HTTP (gunicorn, 2 workers × 4 threads, "
            f"DEBUG off) at 1/20 of their reading time. Once they were all judging, after "
            f"{warm_up:g} s more, the private PostgreSQL was stopped in 'fast' mode (open "
            f"sessions ended, their transactions rolled back) and started again {args.down:g} s "
            f"later; they went on for at least {after_s:g} s after it. The raters, like people, "
            f"reloaded the page each second after an error. Nothing was restarted by hand: "
            f"gunicorn's connections are health-checked and reopened, the worker's tasks retry."
        )
        if failed:
            times = [error["at"] for error in failed]
            first, last = min(times) - stopped_at, max(times) - stopped_at
            drill.notes.append(
                f"Error responses came from {first:.1f} s to {last:.1f} s after the stop "
                f"(PostgreSQL was back {back_at - stopped_at:.1f} s after it)."
            )
        connection.close()
    drill.title += f" (PostgreSQL {version})"
    return drill


# --- raters who close the tab, go offline or double-click --------------------------------


def drill_raters(args: argparse.Namespace) -> Drill:
    drill = Drill("drill-raters", "raters who close the tab, go offline or double-click",
                  columns=("before", "after the raters", "after the sweep"))  # fmt: skip
    base = base_database_url()
    name = database_name(base, "raters")

    def judgments_of(rater: Any) -> list[Any]:
        from annotations.models import Judgment

        return list(Judgment.objects.filter(assignment__rater=rater))

    with Services("raters") as services:
        _, env = app_on_private_redis(services, scratch_database(base, name))
        from django.utils import timezone

        from annotations.models import Assignment
        from annotations.rating.services import EXPIRY_MARGIN
        from annotations.tasks import assignments_expire_task

        # one main item per session: a rater's answer shows the session's end, not a new item
        campaign = seed_campaign(checkpoints=2, problems=40, practice_items=0,
                                 questions_per_session=1, time_limit_s=args.time_limit)  # fmt: skip
        base_url = start_the_app(services, env)
        before = counts(campaign)
        overdue = timedelta(seconds=campaign.time_limit_s + campaign.grace_s) + EXPIRY_MARGIN

        def move_past(assignment: Any, by: timedelta) -> None:
            """--fast-forward: the assignment was issued ``by`` earlier than it was."""
            if args.fast_forward:
                Assignment.objects.filter(pk=assignment.pk).update(
                    issued_at=assignment.issued_at - by, deadline=assignment.deadline - by
                )

        # closed the tab: the item stays with the rater until the sweep returns it
        closed = abandon_an_item(base_url, campaign)
        # offline past the deadline and back before the sweep; and offline past the sweep
        late_browser, late_rater = open_rater(base_url, campaign)
        late_page = show_main_item(late_browser)
        gone_browser, gone_rater = open_rater(base_url, campaign)
        gone_page = show_main_item(gone_browser)
        late = Assignment.objects.get(rater=late_rater, state=Assignment.State.OPEN)
        gone = Assignment.objects.get(rater=gone_rater, state=Assignment.State.OPEN)
        # double click: the same answer twice at once, then the other verdict
        with rater_browser(base_url, campaign) as (browser, clicker):
            page = show_main_item(browser)
            twin = httpx.Client(base_url=base_url, cookies=browser.cookies, timeout=30,
                                follow_redirects=True)  # fmt: skip
            double = all_at_once([lambda: answer(browser, page, "correct"),
                                  lambda: answer(twin, page, "correct"),
                                  lambda: answer(twin, page, "incorrect")])  # fmt: skip
            twin.close()
        # two tabs on the same item, answered in one, then in the other
        with rater_browser(base_url, campaign) as (browser, two_tabs):
            first_tab = show_main_item(browser)
            second = httpx.Client(base_url=base_url, cookies=browser.cookies, timeout=30,
                                  follow_redirects=True)  # fmt: skip
            second_tab = second.get("/rate/").text
            same_item = field_of(first_tab, "assignment") == field_of(second_tab, "assignment")
            tabs = [answer(browser, first_tab, "incorrect"), answer(second, second_tab, "correct")]
            second.close()
        # the answer reaches the server, the response does not (the connection drops): the
        # page is sent again when the rater is back online
        with rater_browser(base_url, campaign) as (browser, dropped):
            page = show_main_item(browser)
            lost = httpx.Client(base_url=base_url, cookies=browser.cookies,
                                timeout=httpx.Timeout(30, read=0.001))  # fmt: skip
            try:
                answer(lost, page, "correct")
                response_lost = False
            except httpx.ReadTimeout:
                response_lost = True
            lost.close()
            time.sleep(1)
            stored_unseen = len(judgments_of(dropped))
            resent = answer(browser, page, "correct")

        # back online after the deadline and its grace, before the sweep
        move_past(late, timedelta(seconds=campaign.time_limit_s + campaign.grace_s + 1))
        if not args.fast_forward:
            time.sleep(campaign.time_limit_s + campaign.grace_s + 2)
        late_answer = answer(late_browser, late_page, "correct")
        after_raters = counts(campaign)
        say("the raters are done; waiting for the sweep")

        # the sweep: beat's expiry task, every 30 s, once an item is overdue
        for assignment in (closed, gone):
            move_past(assignment, overdue + timedelta(seconds=1))
        if args.fast_forward:  # and no wait for beat's next tick either
            assignments_expire_task.delay()
        abandoned = Assignment.objects.filter(pk__in=[closed.pk, gone.pk])
        swept = wait_until(
            lambda: abandoned.filter(state=Assignment.State.EXPIRED).count() == 2,
            timeout_s=overdue.total_seconds() + 120, step_s=1,
        )  # fmt: skip
        overdue_since = max(assignment.issued_at for assignment in abandoned) + overdue
        sweep_s = (timezone.now() - overdue_since).total_seconds()
        after = counts(campaign)
        gone_answer = answer(gone_browser, gone_page, "incorrect")  # back after the sweep
        late_browser.close()
        gone_browser.close()

        clicked, tabbed = judgments_of(clicker), judgments_of(two_tabs)
        resent_judgments, late_judgments = judgments_of(dropped), judgments_of(late_rater)
        drill.row("judgments", before.judgments, after_raters.judgments, after.judgments,
                  expected="+4, then +0",
                  ok=after_raters.judgments == before.judgments + 4
                  and after.judgments == after_raters.judgments)  # fmt: skip
        drill.row("assignments open / answered / timed out / expired", before.states,
                  after_raters.states, after.states, expected="2 / 3 / 1 / 0, then 0 / 3 / 1 / 2",
                  ok=after_raters.states == "2 / 3 / 1 / 0"
                  and after.states == "0 / 3 / 1 / 2")  # fmt: skip
        drill.row("items free to hand out", before.free, after_raters.free, after.free,
                  expected=f"{before.free - 6}, then {before.free - 4}",
                  ok=after_raters.free == before.free - 6
                  and after.free == before.free - 4)  # fmt: skip
        drill.row("double click (2 × correct, 1 × incorrect at once): judgments / responses",
                  None, f"{len(clicked)} / {statuses_of(double)}", None,
                  expected="1 / 200 200 200",
                  ok=len(clicked) == 1 and statuses_of(double) == "200 200 200")  # fmt: skip
        drill.row("two tabs on one item, answered in both: judgments / responses", None,
                  f"{len(tabbed)} / {statuses_of(tabs)}", None, expected="1 / 200 200",
                  ok=same_item and len(tabbed) == 1 and tabbed[0].verdict == "incorrect"
                  and statuses_of(tabs) == "200 200")  # fmt: skip
        drill.row("response lost, answer sent again: judgments (before resending) / response",
                  None, f"{len(resent_judgments)} ({stored_unseen}) / {resent.status_code}", None,
                  expected="1 (1) / 200",
                  ok=response_lost and len(resent_judgments) == 1 and stored_unseen == 1
                  and resent.status_code == 200)  # fmt: skip
        drill.row("back online after the deadline: judgments (a timeout) / response", None,
                  f"{len(late_judgments)} / {late_answer.status_code}", None,
                  expected="1 timeout / 200",
                  ok=len(late_judgments) == 1 and late_judgments[0].timed_out
                  and late_answer.status_code == 200)  # fmt: skip
        drill.row("back online after the sweep: judgments / response", None, None,
                  f"{len(judgments_of(gone_rater))} / {gone_answer.status_code}",
                  expected="0 / 200",
                  ok=swept and not judgments_of(gone_rater)
                  and gone_answer.status_code == 200)  # fmt: skip
        waited = (
            "moved their issue times into the past and sent beat's expiry task itself "
            "(--fast-forward)" if args.fast_forward
            else "waited in real time, for the deadlines and for beat (its expiry task runs "
            "every 30 s)"
        )  # fmt: skip
        drill.notes.append(
            f"Six raters on a campaign with a {campaign.time_limit_s} s limit and "
            f"{campaign.grace_s} s grace, over HTTP (gunicorn, DEBUG off). One closed the tab "
            "with an item open; two went offline with an item open, one coming back after the "
            "deadline and one after the sweep; one double-clicked (three answers sent at "
            "once); one answered the same item in two tabs; one lost the response to its "
            "answer and sent it again. For the deadline and the sweep the drill "
            f"{waited}; the expiry task, run by the worker, returned both abandoned items "
            f"{sweep_s:.0f} s after they became overdue (an item is overdue "
            f"{overdue.total_seconds():.0f} s after issue: limit, grace and the sweep's "
            "margin for a page that posts its own timeout)."
        )
    drop_database(base, name)
    return drill


@dataclass(frozen=True)
class Counts:
    judgments: int
    states: str  # open / answered / timed out / expired
    free: int  # judgments left to hand out over the main items


def counts(campaign: Any) -> Counts:
    from django.db.models import Sum

    from annotations.models import Assignment, CampaignItem, Judgment

    by_state = Counter(
        Assignment.objects.filter(rater__campaign=campaign).values_list("state", flat=True)
    )
    State = Assignment.State
    states = " / ".join(
        str(by_state[s]) for s in (State.OPEN, State.ANSWERED, State.TIMED_OUT, State.EXPIRED)
    )
    free = CampaignItem.objects.filter(campaign=campaign, is_practice=False).aggregate(
        free=Sum("remaining")
    )["free"]
    return Counts(Judgment.objects.filter(assignment__rater__campaign=campaign).count(), states,
                  free or 0)  # fmt: skip


@contextmanager
def rater_browser(base_url: str, campaign: Any) -> Iterator[tuple[httpx.Client, Any]]:
    """A new rater, logged in through their login link in a browser of their own."""
    browser, rater = open_rater(base_url, campaign)
    try:
        yield browser, rater
    finally:
        browser.close()


def open_rater(base_url: str, campaign: Any) -> tuple[httpx.Client, Any]:
    """A rater who consented and is past any practice items, in a logged-in browser."""
    from django.utils import timezone

    from annotations.campaigns import raters_create
    from annotations.models import Rater
    from annotations.rating.login_links import login_token
    from annotations.rating.services import rater_consent

    login = raters_create(campaign=campaign, count=1)[0]
    rater_consent(rater=login.rater)
    Rater.objects.filter(pk=login.rater.pk).update(practice_done_at=timezone.now())
    browser = httpx.Client(base_url=base_url, timeout=30, follow_redirects=True)
    browser.get(f"/rate/login/{login_token(login.rater.user)}/").raise_for_status()
    return browser, login.rater


def show_main_item(browser: httpx.Client) -> str:
    page = browser.get("/rate/")
    page.raise_for_status()
    if 'name="assignment"' not in page.text:
        raise RuntimeError("the rater was shown no item")
    return page.text


def field_of(page: str, name: str) -> str:
    marker = f'name="{name}" value="'
    return page.split(marker, 1)[1].split('"', 1)[0]


def answer(browser: httpx.Client, page: str, verdict: str) -> httpx.Response:
    return browser.post("/rate/answer/", data={
        "assignment": field_of(page, "assignment"), "verdict": verdict, "client_ms": "5000",
        "hidden_ms": "0", "csrfmiddlewaretoken": field_of(page, "csrfmiddlewaretoken"),
    })  # fmt: skip


def all_at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))
    responses: list[httpx.Response | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        responses[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [response for response in responses if response is not None]


def statuses_of(responses: list[httpx.Response]) -> str:
    return " ".join(str(response.status_code) for response in responses)


# --- running them ------------------------------------------------------------------------

DRILLS: dict[str, Callable[[argparse.Namespace], Drill]] = {
    "worker-kill": drill_worker_kill,
    "redis-outage": drill_redis_outage,
    "postgres-restart": drill_postgres_restart,
    "raters": drill_raters,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("drill", choices=[*DRILLS, "all"])
    parser.add_argument("--samples", type=int, default=100_000, help="worker-kill: to ingest")
    parser.add_argument("--seconds", type=float, default=60, help="redis-outage: Redis down")
    parser.add_argument("--down", type=float, default=10, help="postgres-restart: seconds down")
    parser.add_argument("--raters", type=int, default=20, help="simulated raters at once")
    parser.add_argument("--time-limit", type=int, default=45, help="raters: seconds per item")
    parser.add_argument(
        "--fast-forward", action="store_true",
        help="raters: move issue times into the past instead of waiting for deadlines",
    )  # fmt: skip
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    if args.samples < 2000 or args.samples % 20:
        sys.exit("--samples must be a multiple of 20, at least 2000")

    if args.drill == "all":
        failed = []
        for name in DRILLS:  # each in a process of its own: Django is set up once a process
            argv = [sys.executable, __file__, name, *sys.argv[2:]]
            if subprocess.run(argv, cwd=REPO).returncode != 0:
                failed.append(name)
        print(f"drills failed: {', '.join(failed)}" if failed else "all drills PASS")
        sys.exit(1 if failed else 0)

    database = os.environ.get("DATABASE_URL", "")  # before a drill points it at its own
    drill = DRILLS[args.drill](args)
    command = f"DATABASE_URL={database} .venv/bin/python bench/drills.py {' '.join(sys.argv[1:])}"
    where = "PostgreSQL on 127.0.0.1 and a private redis-server"
    if args.drill == "postgres-restart":
        where = "a private PostgreSQL cluster and a private redis-server on 127.0.0.1"
    section = drill.section(command, where)
    print(section)
    if not args.no_readme:
        write_section(drill.name, section)
    sys.exit(0 if drill.passed else 1)


if __name__ == "__main__":
    main()
