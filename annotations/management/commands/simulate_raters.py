import html
import json
import random
import re
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TextIO

import httpx
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connections
from django.template.defaultfilters import pluralize
from django.urls import reverse

from annotations.campaigns import RaterLogin, raters_create
from annotations.models import Campaign
from annotations.rating.login_links import login_path
from annotations.selectors import campaign_analysis
from annotations.simulation import clock
from annotations.simulation.rater import RaterProfile, judge

_FIELD = re.compile(r'name="(?P<name>csrfmiddlewaretoken|assignment)" value="(?P<value>[^"]+)"')
_BLOCK = re.compile(r'data-testid="(?P<name>problem|solution)"[^>]*>(?P<text>.*?)</div>', re.DOTALL)
# a patient rater reloads the page once a second for this long before giving up
PATIENCE_S = 300
MIN_JUDGMENTS_FOR_WIDTH = 10  # per checkpoint and role


@dataclass
class Tally:
    """What the raters did and what the server told them, shared by the raters' threads."""

    judged: int = 0
    errors: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    record: TextIO | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, **event: object) -> None:
        """One line of the --record file."""
        if self.record is not None:
            with self.lock:
                self.record.write(json.dumps({"at": round(time.time(), 3), **event}) + "\n")

    def count(self, response: httpx.Response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
        if response.status_code >= 400:
            response.read()
            self.note(event="error", status=response.status_code, path=response.url.path,
                      detail=response.text[:500])  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """How every simulated rater behaves."""

    base_url: str
    limit: int
    time_scale: float
    stop_at: float | None  # time.monotonic() after which no rater takes a new item
    patient: bool
    login_links: bool

    def over(self) -> bool:
        return self.stop_at is not None and time.monotonic() >= self.stop_at


class Command(BaseCommand):
    help = (
        "Simulated raters who log in and judge through HTTP like a browser, with accuracy and "
        "time that depend on what the solution shows. A way to pilot a campaign's size (it "
        "prints the interval widths reached) and a load generator."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--raters", type=int, default=10)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--judgments", type=int, default=40, help="per rater, at most")
        parser.add_argument("--chance-raters", type=int, default=1, help="of the raters")
        parser.add_argument(
            "--base-url", default="", help="a running server; default: the app in this process"
        )
        parser.add_argument(
            "--time-scale", type=float, default=1.0,
            help=(
                "raters wait this fraction of their simulated reading time (0.01 for a demo); "
                "without --base-url the app's clock still counts the whole time"
            ),
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--duration", type=float, default=0,
            help="seconds after which raters take no new item (0: until --judgments)",
        )  # fmt: skip
        parser.add_argument(
            "--record", type=Path,
            help=(
                "a JSONL file: every answer the server confirmed, every error response, and "
                "the count of responses per status at the end"
            ),
        )  # fmt: skip
        parser.add_argument(
            "--patient", action="store_true",
            help=(
                "after a server error or a lost connection, reload the page each second as a "
                "person would (for up to 5 minutes) instead of stopping"
            ),
        )  # fmt: skip
        parser.add_argument(
            "--login-links", action="store_true",
            help="raters log in through their login links instead of the password form",
        )  # fmt: skip

    def handle(
        self, *args: object, campaign: str, raters: int, concurrency: int, judgments: int,
        chance_raters: int, base_url: str, time_scale: float, seed: int, duration: float,
        record: Path | None, patient: bool, login_links: bool, **options: object,
    ) -> None:  # fmt: skip
        found = Campaign.objects.filter(slug=campaign).first()
        if found is None:
            raise CommandError(f"no campaign {campaign!r}")
        if raters < 1 or concurrency < 1 or judgments < 1:
            raise CommandError("--raters, --concurrency and --judgments must be at least 1")
        if duration < 0:
            raise CommandError("--duration must not be negative")
        if found.status != Campaign.Status.LIVE:
            raise CommandError(f"campaign {campaign!r} is {found.status}, not live")
        logins = raters_create(campaign=found, count=raters)
        started = time.monotonic()
        plan = Plan(
            base_url=base_url, limit=judgments, time_scale=time_scale,
            stop_at=started + duration if duration else None, patient=patient,
            login_links=login_links,
        )  # fmt: skip
        with (
            record.open("w", encoding="utf-8") if record else nullcontext() as record_file,
            clock.simulated_clocks() if not base_url else nullcontext(),
            ThreadPoolExecutor(max_workers=concurrency) as pool,
        ):
            tally = Tally(record=record_file)
            for index, login in enumerate(logins):
                profile = RaterProfile(
                    care=random.Random(seed + index).uniform(0.55, 0.95),
                    at_chance=index >= raters - chance_raters,
                )
                pool.submit(
                    _rater_session, login, profile, plan, random.Random(seed * 1000 + index), tally
                )
            pool.shutdown(wait=True)
            statuses = {str(code): n for code, n in sorted(tally.statuses.items())}
            tally.note(event="totals", judged=tally.judged, errors=len(tally.errors),
                       statuses=statuses)  # fmt: skip
        elapsed = time.monotonic() - started
        for error in tally.errors[:5]:
            self.stderr.write(error)
        self.stdout.write(
            f"{raters} raters judged {tally.judged} items in {elapsed:.1f} s "
            f"({tally.judged / max(elapsed, 1e-9):.1f} judgments/s), {len(tally.errors)} errors"
        )
        server_errors = sum(n for code, n in tally.statuses.items() if code >= 500)
        if server_errors:
            self.stdout.write(f"{server_errors} responses were server errors (5xx)")
        close_old_connections()  # health-checked again: the database may have restarted since
        self._print_widths(found)
        if tally.errors:
            raise CommandError(f"{len(tally.errors)} raters stopped on an error")

    def _print_widths(self, campaign: Campaign) -> None:
        analysis = campaign_analysis(campaign, fresh=True)
        # a bootstrap over a few judgments, all right, gives an interval of width 0: no figure
        widths = [
            c.accuracy.high - c.accuracy.low
            for c in analysis.curves
            if c.accuracy.high is not None and c.accuracy.low is not None
            and c.judgments >= MIN_JUDGMENTS_FOR_WIDTH
        ]  # fmt: skip
        if not widths:
            self.stdout.write(
                f"not enough judgments for intervals yet (fewer than {MIN_JUDGMENTS_FOR_WIDTH} "
                "per checkpoint and role)"
            )
            return
        chance = len(analysis.excluded_raters)
        self.stdout.write(
            f"95% interval width of accuracy per checkpoint and role, at this size: median "
            f"{statistics.median(widths):.3f}, widest {max(widths):.3f} "
            f"({len(widths)} of {len(analysis.curves)} curves, those with "
            f"{MIN_JUDGMENTS_FOR_WIDTH} judgments or more; {chance} rater{pluralize(chance)} at "
            "chance)"
        )


def _rater_session(
    login: RaterLogin, profile: RaterProfile, plan: Plan, rng: random.Random, tally: Tally
) -> None:
    transport = None if plan.base_url else httpx.WSGITransport(app=WSGIHandler())
    base = plan.base_url.rstrip("/") or "http://127.0.0.1"
    if transport is not None:  # the app runs in this thread: give it the rater's clock
        clock.start(behind=timedelta(minutes=2 * plan.limit))
    try:
        with httpx.Client(base_url=base, transport=transport, follow_redirects=True, timeout=60,
                          event_hooks={"response": [tally.count]}) as client:  # fmt: skip
            _judge(client, login, profile, plan, rng, tally, in_process=transport is not None)
    except Exception as error:  # one rater's failure is reported, the others go on
        with tally.lock:
            tally.errors.append(f"{login.username}: {type(error).__name__}: {error}")
    finally:
        connections.close_all()  # this thread's own: they would stay open after it ends


def _judge(
    client: httpx.Client, login: RaterLogin, profile: RaterProfile, plan: Plan,
    rng: random.Random, tally: Tally, *, in_process: bool,
) -> None:  # fmt: skip
    logged_in, page = False, None  # page None: (re)load it
    judged, failing_since = 0, 0.0
    while judged < plan.limit and not plan.over():
        try:
            if not logged_in:
                if plan.login_links:
                    _follow_login_link(client, login_path(login.rater.user))
                else:
                    _log_in(client, login.username, login.password)
                logged_in = True
            if page is None:
                page = _get(client, reverse("rate"))
            fields = dict(_FIELD.findall(page))
            token = fields.get("csrfmiddlewaretoken", "")
            if 'data-testid="consent"' in page:
                page = _post(client, reverse("rate-consent"), {}, token)
            elif "assignment" in fields:
                blocks = {m["name"]: html.unescape(m["text"]) for m in _BLOCK.finditer(page)}
                judgement = judge(blocks["problem"], blocks["solution"], profile, rng)
                waited = judgement.seconds * plan.time_scale
                time.sleep(waited)
                if in_process:
                    clock.advance(judgement.seconds - waited)
                taken = judgement.seconds if in_process else waited
                judged += 1
                page = _answer(client, fields["assignment"], judgement.verdict, taken, token, tally)
            elif 'data-testid="feedback"' in page:
                page = _get(client, reverse("rate"))
            elif 'data-testid="session-end"' in page:
                page = _post(client, reverse("rate-next-session"), {}, token)
            else:
                break  # finished, or the campaign closed
            failing_since = 0.0
        except (httpx.TransportError, httpx.HTTPStatusError) as error:
            server_side = not isinstance(error, httpx.HTTPStatusError) or (
                error.response.status_code >= 500
            )
            failing_since = failing_since or time.monotonic()
            if not (plan.patient and server_side) or time.monotonic() - failing_since > PATIENCE_S:
                raise
            if isinstance(error, httpx.TransportError):
                tally.note(event="error", status=None, path="", detail=repr(error))
            page = None
            time.sleep(1)


def _answer(
    client: httpx.Client, assignment: str, verdict: str, taken_s: float, token: str, tally: Tally
) -> str:
    sent = time.monotonic()
    response = client.post(
        reverse("rate-answer"),
        data={"assignment": assignment, "verdict": verdict, "client_ms": str(round(taken_s * 1000)),
              "hidden_ms": "0", "csrfmiddlewaretoken": token},
        headers={"Referer": str(client.base_url) + reverse("rate-answer")},
    )  # fmt: skip
    # the answer is stored once its own response (a redirect to the next page) says so, even
    # if loading that next page then fails
    posted = response.history[0] if response.history else response
    if posted.status_code < 400:
        with tally.lock:
            tally.judged += 1
        tally.note(event="answer", assignment=assignment, verdict=verdict,
                   ms=round((time.monotonic() - sent) * 1000))  # fmt: skip
    response.raise_for_status()
    return response.text


def _follow_login_link(client: httpx.Client, path: str) -> None:
    """Open the link, then confirm on the page it shows, as a person would."""
    token = dict(_FIELD.findall(_get(client, path)))["csrfmiddlewaretoken"]
    _post(client, path, {}, token)


def _log_in(client: httpx.Client, username: str, password: str) -> None:
    token = dict(_FIELD.findall(_get(client, reverse("login"))))["csrfmiddlewaretoken"]
    response = client.post(
        reverse("login"),
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": str(client.base_url) + reverse("login")},
    )
    if reverse("rate") not in str(response.url):
        raise RuntimeError("login failed")


def _get(client: httpx.Client, path: str) -> str:
    response = client.get(path)
    response.raise_for_status()
    return response.text


def _post(client: httpx.Client, path: str, data: dict[str, str], token: str) -> str:
    response = client.post(
        path, data={**data, "csrfmiddlewaretoken": token},
        headers={"Referer": str(client.base_url) + path},
    )  # fmt: skip
    response.raise_for_status()
    return response.text
