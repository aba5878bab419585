import html
import random
import re
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from annotations.exports import campaign_analysis
from annotations.models import Campaign
from annotations.services import raters_create
from annotations.simulation.rater import RaterProfile, judge

_FIELD = re.compile(r'name="(?P<name>csrfmiddlewaretoken|assignment)" value="(?P<value>[^"]+)"')
_BLOCK = re.compile(r'data-testid="(?P<name>problem|solution)">(?P<text>.*?)</div>', re.DOTALL)


@dataclass
class Tally:
    judged: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


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
            help="raters wait this fraction of their simulated reading time (0.02 for a demo)",
        )  # fmt: skip
        parser.add_argument("--seed", type=int, default=0)

    def handle(
        self, *args: object, campaign: str, raters: int, concurrency: int, judgments: int,
        chance_raters: int, base_url: str, time_scale: float, seed: int, **options: object,
    ) -> None:  # fmt: skip
        found = Campaign.objects.filter(slug=campaign).first()
        if found is None:
            raise CommandError(f"no campaign {campaign!r}")
        if raters < 1 or concurrency < 1 or judgments < 1:
            raise CommandError("--raters, --concurrency and --judgments must be at least 1")
        if found.status != Campaign.Status.LIVE:
            raise CommandError(f"campaign {campaign!r} is {found.status}, not live")
        logins = raters_create(campaign=found, count=raters)
        tally = Tally()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for index, login in enumerate(logins):
                profile = RaterProfile(
                    care=random.Random(seed + index).uniform(0.55, 0.95),
                    at_chance=index >= raters - chance_raters,
                )
                pool.submit(
                    _rater_session, login.username, login.password, profile, base_url,
                    judgments, time_scale, random.Random(seed * 1000 + index), tally,
                )  # fmt: skip
        elapsed = time.monotonic() - started
        for error in tally.errors[:5]:
            self.stderr.write(error)
        self.stdout.write(
            f"{raters} raters judged {tally.judged} items in {elapsed:.1f} s "
            f"({tally.judged / max(elapsed, 1e-9):.1f} judgments/s), {len(tally.errors)} errors"
        )
        self._print_widths(found)
        if tally.errors:
            raise CommandError(f"{len(tally.errors)} raters stopped on an error")

    def _print_widths(self, campaign: Campaign) -> None:
        analysis = campaign_analysis(campaign, fresh=True)
        widths = [
            c.accuracy.high - c.accuracy.low
            for c in analysis.curves
            if c.accuracy.high is not None and c.accuracy.low is not None
        ]
        if not widths:
            self.stdout.write("not enough judgments for intervals yet")
            return
        self.stdout.write(
            f"95% interval width of accuracy per checkpoint and role, at this size: median "
            f"{statistics.median(widths):.3f}, widest {max(widths):.3f} "
            f"({len(analysis.curves)} curves, {len(analysis.excluded_raters)} raters at chance)"
        )


def _rater_session(
    username: str, password: str, profile: RaterProfile, base_url: str, limit: int,
    time_scale: float, rng: random.Random, tally: Tally,
) -> None:  # fmt: skip
    transport = None if base_url else httpx.WSGITransport(app=WSGIHandler())
    base = base_url.rstrip("/") or "http://127.0.0.1"
    try:
        with httpx.Client(base_url=base, transport=transport, follow_redirects=True,
                          timeout=60) as client:  # fmt: skip
            _log_in(client, username, password)
            page = client.get("/rate/").text
            judged = 0
            while judged < limit:
                fields = dict(_FIELD.findall(page))
                token = fields.get("csrfmiddlewaretoken", "")
                if 'data-testid="consent"' in page:
                    page = _post(client, "/rate/consent/", {}, token)
                elif "assignment" in fields:
                    blocks = {m["name"]: html.unescape(m["text"]) for m in _BLOCK.finditer(page)}
                    judgement = judge(blocks["problem"], blocks["solution"], profile, rng)
                    time.sleep(judgement.seconds * time_scale)
                    page = _post(client, "/rate/answer/", {
                        "assignment": fields["assignment"], "verdict": judgement.verdict,
                        "client_ms": str(round(judgement.seconds * time_scale * 1000)),
                        "hidden_ms": "0",
                    }, token)  # fmt: skip
                    judged += 1
                elif 'data-testid="feedback"' in page:
                    page = client.get("/rate/").text
                elif 'data-testid="session-end"' in page:
                    page = _post(client, "/rate/next-session/", {}, token)
                else:
                    break  # finished, or the campaign closed
            with tally.lock:
                tally.judged += judged
    except Exception as error:  # one rater's failure is reported, the others go on
        with tally.lock:
            tally.errors.append(f"{username}: {type(error).__name__}: {error}")
    finally:
        close_old_connections()


def _log_in(client: httpx.Client, username: str, password: str) -> None:
    login_page = client.get("/accounts/login/").text
    token = dict(_FIELD.findall(login_page))["csrfmiddlewaretoken"]
    response = client.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": str(client.base_url) + "/accounts/login/"},
    )
    if "/rate/" not in str(response.url):
        raise RuntimeError("login failed")


def _post(client: httpx.Client, path: str, data: dict[str, str], token: str) -> str:
    response = client.post(
        path, data={**data, "csrfmiddlewaretoken": token},
        headers={"Referer": str(client.base_url) + path},
    )  # fmt: skip
    response.raise_for_status()
    return response.text
