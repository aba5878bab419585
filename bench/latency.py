"""Latency benchmark: a rater's next task and submit through gunicorn on a full-size
installation, 1 rater and many at once, against a minimal Django view on the same server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/latency.py \\
        [--samples 1000000 --judgments 1600000] [--raters 64] [--seconds 30] [--reuse]

It seeds a scratch database of its own (``<name>_bench_latency``) with bench/seed.py (or, with
``--reuse``, takes the one a previous run left), serves the repository's WSGI app with gunicorn
on a free port of 127.0.0.1 (DEBUG off, as deployed), and drives it with httpx clients that log
in as seeded raters through their login links and answer at once, without reading time:

- the page as raters use it answers through htmx: ``POST /rate/answer/`` stores the judgment,
  issues the next item in the same transaction and renders it (submit);
- without JavaScript the answer is a plain form post that does the same, storing the judgment
  and issuing the next item in one transaction, then redirects; ``GET /rate/`` then renders
  the rater's open item, issuing one only when none is open (next task);
- baseline: ``GET /healthz``, a view that runs ``SELECT 1``, with as many clients.

Each rater run goes once through each path. While the many-rater runs last, the CPU time of
the gunicorn workers, of their PostgreSQL backends and of the clients is read from /proc. After
the runs it checks the database: every judgment a client was told was stored is there, no item
was handed out more often than the campaign allows, and the seed's other checks still hold. It
prints the figures and writes them into bench/README.md between the latency markers.
"""

import argparse
import asyncio
import os
import random
import re
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from report import write_section  # bench/report.py: python puts the script's folder first
from seed import (
    Shape,
    database_mb,
    integrity_problems,
    postgres_version,
    scratch_name,
    scratch_url,
    seed_scratch,
)
from stack import Services, app_env, collect_static, machine

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# 2 cores: two processes keep both busy, and their threads wait on PostgreSQL (whose backends
# need the same cores) in turn; threads also keep connections alive between requests, which
# sync workers close (see the README)
WORKERS, THREADS = 2, 4
TARGET_NEXT_1_MS, TARGET_MANY_MS, TARGET_PER_S = 25, 250, 300
_FIELD = re.compile(r'name="(?P<name>csrfmiddlewaretoken|assignment)" value="(?P<value>[^"]+)"')
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


# --- CPU time, from /proc ---------------------------------------------------------------------


def process_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if ppid == parent:
                found.append(int(entry.name))
    return found


def machine_busy_s() -> tuple[float, float]:
    """Seconds of CPU the whole machine spent busy, and in all, since boot."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) * TICK_S, sum(ticks) * TICK_S


@dataclass
class CpuUse:
    app_s: float = 0.0  # gunicorn's workers
    database_s: float = 0.0  # the PostgreSQL backends of the scratch database
    clients_s: float = 0.0  # this process: the httpx clients
    machine_busy: float = 0.0  # share of the machine's CPU busy, whoever used it


@contextmanager
def cpu_measured(master: int, database_url: str, use: CpuUse) -> Iterator[None]:
    """Poll the workers' and backends' CPU time twice a second: a backend that closes (Django
    renews connections after CONN_MAX_AGE) keeps what it had at the last poll."""
    first: dict[tuple[str, int], float] = {}
    last: dict[tuple[str, int], float] = {}
    done = threading.Event()

    def poll(database: psycopg.Connection[tuple[int]]) -> None:
        backends = [row[0] for row in database.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )]  # fmt: skip
        for kind, pids in (("app", children(master)), ("database", backends)):
            for pid in pids:
                seconds = process_cpu_s(pid)
                if seconds is not None:
                    first.setdefault((kind, pid), seconds)
                    last[(kind, pid)] = seconds

    def keep_polling() -> None:
        with psycopg.connect(database_url, autocommit=True) as database:
            while not done.wait(0.5):
                poll(database)
            poll(database)

    with psycopg.connect(database_url, autocommit=True) as database:
        poll(database)
    poller = threading.Thread(target=keep_polling)
    busy, total = machine_busy_s()
    clients = time.process_time()
    poller.start()
    try:
        yield
    finally:
        done.set()
        poller.join()
        use.clients_s = time.process_time() - clients
        busy_end, total_end = machine_busy_s()
        use.machine_busy = (busy_end - busy) / max(total_end - total, 1e-9)
        for (kind, pid), seconds in last.items():
            spent = seconds - first[(kind, pid)]
            if kind == "app":
                use.app_s += spent
            else:
                use.database_s += spent


# --- the clients ------------------------------------------------------------------------------


@dataclass
class Tally:
    """Latencies in milliseconds per kind of request, and what went wrong."""

    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    stored: int = 0  # judgments the server answered as stored
    errors: list[str] = field(default_factory=list)


def client_for(url: str) -> httpx.AsyncClient:
    # idle connections are dropped before gunicorn's keep-alive (2 s) closes them: a request
    # sent on a connection the server is closing would fail with a ReadError
    return httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(keepalive_expiry=1.0))


async def timed(tally: Tally, kind: str, request: Awaitable[httpx.Response]) -> httpx.Response:
    started = time.perf_counter()
    response = await request
    tally.ms[kind].append((time.perf_counter() - started) * 1000)
    return response


async def ping(url: str, tally: Tally, until: float, requests: int) -> None:
    async with client_for(url) as client:
        for _ in range(requests):
            if time.perf_counter() >= until:
                break
            response = await timed(tally, "healthz", client.get("/healthz"))
            if response.status_code != 200:
                tally.errors.append(f"healthz: {response.status_code}")


async def rater(
    url: str, link: str, mode: str, pace_s: float, tally: Tally, until: float, judgments: int
) -> None:
    """Log in through the link, then answer what the page shows, until time or the number of
    judgments is up: through htmx (the next item comes back in the answer), as plain form posts
    (the answer issues the next item too, then a redirect and the next task renders it), or the
    two in turn; at once, or about every ``pace_s``."""
    htmx_headers = {"HX-Request": "true", "HX-Current-URL": url + "/rate/"}
    async with client_for(url) as client:
        try:
            # the link's page asks; its form signs in, as a person's click would
            asked = dict(_FIELD.findall((await client.get(link)).text))
            confirm = {"csrfmiddlewaretoken": asked.get("csrfmiddlewaretoken", "")}
            response = await client.post(link, data=confirm, headers={"Referer": url + link})
            if response.status_code != 302:
                raise RuntimeError(f"login link: {response.status_code}")
            response = await client.get("/rate/")  # may show the item a last run left open
            answered = 0
            while answered < judgments and time.perf_counter() < until:
                if response.status_code != 200:
                    raise RuntimeError(f"{response.request.url.path}: {response.status_code}")
                page = response.text
                fields = dict(_FIELD.findall(page))
                token_field = {"csrfmiddlewaretoken": fields.get("csrfmiddlewaretoken", "")}
                if "assignment" in fields:
                    if pace_s:
                        await asyncio.sleep(random.uniform(0.5, 1.5) * pace_s)
                    htmx = mode == "htmx" or (mode == "alternate" and answered % 2 == 0)
                    answer = {
                        **token_field, "assignment": fields["assignment"],
                        "verdict": random.choice(["correct", "incorrect"]),
                        "client_ms": str(random.randint(4000, 40000)), "hidden_ms": "0",
                    }  # fmt: skip
                    kind, headers = ("submit", htmx_headers) if htmx else ("plain", {})
                    posted = client.post("/rate/answer/", data=answer, headers=headers)
                    response = await timed(tally, kind, posted)
                    if response.status_code != (200 if htmx else 302):
                        raise RuntimeError(f"answer: {response.status_code}")
                    tally.stored += 1
                    answered += 1
                    if not htmx:
                        response = await timed(tally, "next", client.get("/rate/"))
                elif 'data-testid="session-end"' in page:
                    posted = client.post(
                        "/rate/next-session/", data=token_field, headers=htmx_headers
                    )
                    response = await timed(tally, "session", posted)
                else:
                    raise RuntimeError("neither an item nor the end of a session: " + page[-300:])
        except Exception as error:  # one rater's failure is counted, the others go on
            tally.errors.append(f"{type(error).__name__}: {error}")


@dataclass
class Run:
    name: str
    who: str  # the raters (or clients) in the table, with their pace
    tally: Tally
    seconds: float
    cpu: CpuUse | None = None


def run_clients(
    url: str, name: str, *, who: str, links: list[str], clients: int, seconds: float,
    each: int, mode: str = "htmx", pace_s: float = 0,
) -> Run:  # fmt: skip
    """Raters signing in through ``links`` (or, with none, ``clients`` pings) at once for
    ``seconds`` or until each has done ``each`` judgments (or requests)."""

    async def everyone() -> None:
        until = time.perf_counter() + seconds
        if links:
            work = [rater(url, link, mode, pace_s, tally, until, each) for link in links]
        else:
            work = [ping(url, tally, until, each) for _ in range(clients)]
        await asyncio.gather(*work)

    tally = Tally()
    started = time.perf_counter()
    asyncio.run(everyone())
    run = Run(name, who, tally, time.perf_counter() - started)
    print(f"{name}: {sum(map(len, tally.ms.values())):,} requests, {tally.stored:,} judgments "
          f"in {run.seconds:.1f} s, {len(tally.errors)} errors", flush=True)  # fmt: skip
    return run


def login_links(user_ids: list[int]) -> list[str]:
    """The users' login links, made afresh: a link works once (signing in revokes it)."""
    from django.contrib.auth import get_user_model

    from annotations.rating.login_links import login_path

    users = get_user_model().objects.in_bulk(user_ids)
    return [login_path(users[pk]) for pk in user_ids]


# --- the report -------------------------------------------------------------------------------


def percentiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def p99(run: Run, kind: str) -> float:
    return percentiles(run.tally.ms[kind])[2]


KINDS = {
    "healthz": "baseline: `GET /healthz` (`SELECT 1`, JSON)",
    "submit": "submit: htmx `POST /rate/answer/`: stores the judgment, issues and renders the "
    "next item",
    "plain": "submit as a plain form post: stores the judgment, issues the next item, redirects",
    "next": "next task: `GET /rate/`: renders the open item (issues one when none is open)",
}  # and every 20 judgments the next session, htmx `POST /rate/next-session/`: not shown


def table_rows(run: Run) -> list[str]:
    lines = []
    for kind, label in KINDS.items():
        values = run.tally.ms.get(kind, [])
        if len(values) >= 2:
            p50, p95, p99 = percentiles(values)
            lines.append(
                f"| {label} | {run.who} | {len(values):,} | {p50:.1f} | {p95:.1f} | {p99:.1f} |"
            )
    return lines


def server_cpu_ms(run: Run) -> float:
    """Milliseconds of gunicorn and PostgreSQL CPU per judgment stored."""
    assert run.cpu is not None
    return (run.cpu.app_s + run.cpu.database_s) / max(run.tally.stored, 1) * 1000


def cpu_line(run: Run) -> str:
    cpu = run.cpu
    assert cpu is not None
    judged = max(run.tally.stored, 1)
    per = [cpu.app_s / judged * 1000, cpu.database_s / judged * 1000, cpu.clients_s / judged * 1000]
    server_ms = per[0] + per[1]
    return (
        f"{run.name}: {run.tally.stored / run.seconds:,.0f} judgments/s; CPU per judgment "
        f"{per[0]:.1f} ms in gunicorn, {per[1]:.1f} ms in PostgreSQL, {per[2]:.1f} ms in the "
        f"clients; the machine was {cpu.machine_busy:.0%} busy (other work included). At "
        f"{server_ms:.1f} ms of server CPU a judgment, 2 cores of its own would store about "
        f"{2000 / server_ms:,.0f} a second"
    )


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=Shape.samples)
    parser.add_argument("--judgments", type=int, default=Shape.judgments)
    parser.add_argument("--seed-raters", type=int, default=Shape.raters)
    parser.add_argument("--raters", type=int, default=64, help="raters at once")
    parser.add_argument("--seconds", type=float, default=30, help="of each many-rater run")
    parser.add_argument("--pace", type=float, default=2, help="seconds between answers, paced")
    parser.add_argument("--single", type=int, default=500, help="judgments of the lone rater")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--reuse", action="store_true", help="the database a last run seeded")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    if args.raters + 1 > args.seed_raters:
        sys.exit("--raters must be below the seeded raters")
    return args


@dataclass
class Runs:
    """Each run's requests: 1 client, then many at once, and the many paced."""

    ping_1: Run
    htmx_1: Run
    plain_1: Run
    ping_many: Run
    htmx_many: Run
    plain_many: Run
    paced: Run
    server_log: str  # gunicorn's

    @property
    def raters(self) -> list[Run]:
        return [self.htmx_1, self.plain_1, self.htmx_many, self.plain_many, self.paced]

    @property
    def everyone(self) -> list[Run]:
        return [self.ping_1, self.htmx_1, self.plain_1, self.ping_many, self.htmx_many,
                self.plain_many, self.paced]  # fmt: skip


def measure(args: argparse.Namespace, env: dict[str, str], users: list[int]) -> Runs:
    """gunicorn over the seeded database, and the runs against it: one rater (or client) alone,
    then ``args.raters`` at once, with the CPU they use read from /proc."""
    many, single = args.raters, args.single
    collect_static(env)
    with Services("latency") as services:
        url = services.gunicorn(env, workers=args.workers, threads=args.threads)
        master = services.processes[-1].pid
        run_clients(url, "warm-up", who="8", links=[], clients=8, seconds=5, each=50)
        ping_1 = run_clients(url, "healthz, 1 client", who="1", links=[], clients=1,
                             seconds=60, each=single)  # fmt: skip
        htmx_1 = run_clients(url, "htmx, 1 rater", who="1", links=login_links(users[:1]),
                             clients=1, seconds=300, each=single)  # fmt: skip
        plain_1 = run_clients(url, "plain, 1 rater", who="1", links=login_links(users[:1]),
                              clients=1, seconds=300, each=single, mode="plain")  # fmt: skip
        runs = []
        for label, who, raters, mode, pace in (
            (f"healthz, {many} clients", f"{many} at once", [], "htmx", 0.0),
            (f"htmx, {many} raters", f"{many} at once", users[1:], "htmx", 0.0),
            (f"plain, {many} raters", f"{many} at once", users[1:], "plain", 0.0),
            (f"paced, {many} raters", f"{many}, every ~{args.pace:g} s", users[1:], "alternate",
             args.pace),
        ):  # fmt: skip
            use, links = CpuUse(), login_links(raters)
            with cpu_measured(master, env["DATABASE_URL"], use):
                run = run_clients(url, label, who=who, links=links, clients=many,
                                  seconds=args.seconds, each=10**9, mode=mode,
                                  pace_s=pace)  # fmt: skip
            run.cpu = use
            runs.append(run)
        server_log = services.log("gunicorn")
    return Runs(ping_1, htmx_1, plain_1, *runs, server_log=server_log)


@dataclass
class Checks:
    """The database after the runs, against what the clients were told."""

    errors: list[str]  # the clients'
    server_errors: int  # tracebacks in gunicorn's log
    stored: int  # judgments stored during the runs
    told: int  # answers the clients were told were stored
    problems: dict[str, int]  # the seed's integrity checks

    @property
    def ok(self) -> bool:
        return (
            not self.errors and not self.server_errors and self.stored == self.told
            and not any(self.problems.values())
        )  # fmt: skip


def checked(runs: Runs, judgments_before: int) -> Checks:
    from annotations.models import Judgment

    checks = Checks(
        errors=[error for run in runs.everyone for error in run.tally.errors],
        server_errors=runs.server_log.count("Traceback"),
        stored=Judgment.objects.count() - judgments_before,
        told=sum(run.tally.stored for run in runs.raters),
        problems=integrity_problems(),
    )
    for error in checks.errors[:10]:
        print("client error:", error)
    if checks.server_errors:
        print(runs.server_log[-3000:])
    return checks


def findings(args: argparse.Namespace, runs: Runs) -> list[str]:
    """The figures against their targets."""
    many, pace_s = args.raters, args.pace
    per_second = runs.htmx_many.tally.stored / runs.htmx_many.seconds
    ping_rate = len(runs.ping_many.tally.ms["healthz"]) / runs.ping_many.seconds
    next_1 = p99(runs.plain_1, "next")
    ratio_1 = next_1 / p99(runs.ping_1, "healthz")
    saturated = max(p99(runs.plain_many, "next"), p99(runs.htmx_many, "submit"))
    unsaturated = max(p99(runs.paced, "next"), p99(runs.paced, "submit"))
    return [
        f"- Next task p99 with 1 rater: **{next_1:.1f} ms** ({ratio_1:.1f} times the "
        f"baseline's p99; target < {TARGET_NEXT_1_MS} ms: "
        f"{verdict(next_1 < TARGET_NEXT_1_MS)}).",
        f"- {many} raters at once, p99 of next task and submit: **{saturated:.0f} ms** "
        f"answering at once (saturated: a request waits for the ones queued before it), "
        f"**{unsaturated:.0f} ms** answering every ~{pace_s:g} s (target < "
        f"{TARGET_MANY_MS} ms: {verdict(saturated < TARGET_MANY_MS)} saturated, "
        f"{verdict(unsaturated < TARGET_MANY_MS)} paced).",
        f"- Judgments stored at saturation, through htmx: **{per_second:,.0f} per second** "
        f"(target ≥ {TARGET_PER_S}: {verdict(per_second >= TARGET_PER_S)}); the baseline "
        f"view answers {ping_rate:,.0f} requests per second to {many} clients. "
        f"{TARGET_PER_S} a second on 2 cores leaves {2000 / TARGET_PER_S:.1f} ms of server "
        f"CPU per judgment; an htmx answer takes {server_cpu_ms(runs.htmx_many):.1f} ms "
        "(below).",
    ]


def section(
    args: argparse.Namespace, shape: Shape, runs: Runs, checks: Checks, *, command: str,
    seeded: str, judgments_per_item: int, judgments_before: int,
) -> str:  # fmt: skip
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    workers = f"{args.workers} worker processes" + (
        f" × {args.threads} threads (gthread)" if args.threads > 1 else " (sync)"
    )
    many, pace_s = args.raters, args.pace
    return "\n".join(
        [
            "## Latency: next task and submit through gunicorn vs a minimal view",
            "",
            f"Run {when} on {machine()}, PostgreSQL {postgres_version()} on 127.0.0.1, gunicorn "
            f"with {workers}, DEBUG off; the httpx clients (asyncio, one process) on the same "
            "2 cores, shared with other work.",
            f"Command: `{command}`",
            "",
            "Why 2 processes × 4 threads: two processes keep both cores busy (one Python "
            "process uses one core at most), their threads overlap the waits on PostgreSQL, "
            "and threads keep connections alive between requests, which sync workers close "
            "after each one (`--workers` and `--threads` compare other choices).",
            "",
            f"Data, {seeded} ({database_mb():,.0f} MB database): {shape.samples:,} samples "
            f"over {shape.checkpoints} checkpoints, {shape.raters:,} raters, "
            f"{judgments_before:,} judgments before the runs, {judgments_per_item} "
            "judgments per item. The raters are seeded ones with about "
            f"{shape.judgments // shape.raters:,} judgments each behind them, logged in through "
            "their login links. Each answers through htmx, as the page does (the answer's "
            "response carries the next item), then as plain form posts, each followed by "
            f"`GET /rate/` (1 rater: {args.single} judgments each way; {many} raters: "
            f"{args.seconds:.0f} s each way, answering at once, so the server is saturated). "
            f"Last, the {many} raters answer about every {pace_s:g} s each, the two ways in "
            f"turn ({many / pace_s:.0f} judgments/s offered, many times a real crowd's pace).",
            "",
            "| request | raters | requests | p50 ms | p95 ms | p99 ms |",
            "|---|---|---|---|---|---|",
            *(row for run in runs.everyone for row in table_rows(run)),
            "",
            *findings(args, runs),
            "",
            "Where the CPU went (read from /proc for the gunicorn workers, their PostgreSQL "
            "backends and the clients):",
            "",
            *(f"- {cpu_line(run)}." for run in (runs.htmx_many, runs.plain_many, runs.paced)),
            "",
            f"Checked in the database after the runs: {len(checks.errors)} client errors, "
            f"{checks.server_errors} server errors; {checks.stored:,} judgments stored, "
            f"{checks.told:,} answered as stored to the clients; "
            + "; ".join(f"{label}: {count}" for label, count in checks.problems.items())
            + (". All checks pass." if checks.ok else ". **Checks failed.**"),
        ]
    )


def main() -> None:
    args = arguments()
    shape = Shape(samples=args.samples, judgments=args.judgments, raters=args.seed_raters)
    given_url = os.environ.get("DATABASE_URL", "")
    name = scratch_name("latency")
    seed_s = None if args.reuse else seed_scratch(name, shape)
    # the app as deployed (DEBUG off, a secret key of its own); the login links are signed
    # with that key here
    env = {
        **app_env(scratch_url(name), os.environ.get("REDIS_URL", "")),
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from annotations.models import Campaign, Judgment, Rater

    call_command("migrate", verbosity=0)  # a reused database may predate a migration
    campaign = Campaign.objects.get(slug="bench")
    raters = Rater.objects.exclude(assignments__state="open")
    users = list(raters.order_by("pk").values_list("user_id", flat=True)[: args.raters + 1])
    judgments_before = Judgment.objects.count()
    runs = measure(args, env, users)
    checks = checked(runs, judgments_before)

    command = f"DATABASE_URL={given_url} .venv/bin/python bench/latency.py"
    if (shape.samples, shape.judgments) != (Shape.samples, Shape.judgments):
        command += f" --samples {shape.samples} --judgments {shape.judgments}"
    seeded = f"seeded by `bench/seed.py` in {seed_s:.0f} s" if seed_s else "seeded by a last run"
    text = section(args, shape, runs, checks, command=command, seeded=seeded,
                   judgments_per_item=campaign.judgments_per_item,
                   judgments_before=judgments_before)  # fmt: skip
    print(text)
    if not args.no_readme:
        write_section("latency", text)
    if not checks.ok:
        sys.exit("the checks after the runs failed")


if __name__ == "__main__":
    main()
