"""What the drills share: the report table a drill fills, the app run as deployed over a private
Redis, its data (samples through the ingest service, a live campaign), simulated raters and the
accounting of what they were told was stored against what is stored."""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stack import (
    REPO,
    PrivateRedis,
    Services,
    app_env,
    collect_static,
    machine,
    say,
    stop,
    wait_until,
)

sys.path.insert(0, str(REPO))  # the app, for the drills' Django set-up

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
    """A drill's README section: its counts, notes, and PASS when every count is as expected."""

    name: str  # the README's markers
    title: str
    columns: tuple[str, str, str] = ("before", "at the fault", "after")
    where: str = "PostgreSQL on 127.0.0.1 and a private redis-server"
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, what: str, before: object, during: object, after: object, *, expected: str,
            ok: bool) -> None:  # fmt: skip
        self.rows.append(Row(what, before, during, after, expected, ok))

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(row.ok for row in self.rows)

    def section(self, command: str) -> str:
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            f"## Drill: {self.title}",
            "",
            f"Run {when} on {machine()}, {self.where}.",
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


def database_name(base_url: str, drill: str) -> str:
    """The drill's scratch database, next to DATABASE_URL's."""
    return f"{base_url.rsplit('/', 1)[1]}_drill_{drill.replace('-', '_')}"


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


def drop_late_file(watched: Path, name: str) -> int:
    """Samples of another run in a new file of the watched directory, for the worker to store
    once it can; how many."""
    records = sample_records(checkpoints=1, problems=50, first_problem=10_000, run="drill-late")
    return write_jsonl(watched / name, records)


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


# --- simulated raters, and what they were told was stored -------------------------------


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
    # a closed assignment has its judgment (an expired main one the sweep's timeout); an open
    # one, or an expired practice one, has none
    judged = Q(state__in=[State.ANSWERED, State.TIMED_OUT]) | Q(
        state=State.EXPIRED, is_practice=False
    )
    half_written = (
        Assignment.objects.filter(judged, rater__campaign=campaign, judgment__isnull=True).count()
        + Judgment.objects.filter(assignment__rater__campaign=campaign)
        .exclude(assignment__in=Assignment.objects.filter(judged))
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


def judgment_rows(
    drill: Drill, campaign: Any, confirmed: dict[str, str], *, before: int, during: object
) -> None:
    """The rows every drill with raters reports: what they were told was stored, against the
    database."""
    tally = account(campaign, confirmed)
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


@dataclass(frozen=True)
class RatersAtWork:
    """Simulated raters judging a live campaign through the app, beside a watched directory."""

    campaign: Any
    watched: Path
    base_url: str
    process: subprocess.Popen[bytes]
    record: Path
    warm_up: float  # seconds they judged before the fault
    after_s: float  # seconds they judge after it, at least


def raters_at_work(services: Services, env: dict[str, str], *, raters: int, fault_s: float,
                   patient: bool = False) -> RatersAtWork:  # fmt: skip
    """A campaign and a watched directory, the app, and ``raters`` simulated raters at 1/20 of
    their reading time, for long enough to judge before, during and after a fault of
    ``fault_s`` seconds; back once they are all judging and the warm-up is over."""
    campaign = seed_campaign(checkpoints=3, problems=300, practice_items=1)
    watched = watch_a_directory(services)
    base_url = start_the_app(services, env)
    warm_up, after_s = around(fault_s)
    record = services.folder / "raters.jsonl"
    process = simulate_raters(services, env, base_url=base_url, raters=raters,
                              seconds=start_s(raters) + warm_up + fault_s + after_s,
                              time_scale=0.05, record=record, patient=patient)  # fmt: skip
    judging(raters)
    time.sleep(warm_up)
    return RatersAtWork(campaign, watched, base_url, process, record, warm_up, after_s)


def raters_done(
    drill: Drill, services: Services, at_work: RatersAtWork, *, timeout_s: float
) -> tuple[RaterRecord, int]:
    """Wait for the raters to stop: what they recorded, and simulate_raters' exit status."""
    exit_status = finish(drill.notes, services, at_work.process, timeout_s=timeout_s)
    seen = RaterRecord()
    seen.read(at_work.record)
    return seen, exit_status
