"""Drill: raters who close the tab, go offline or double-click. Each answer is stored once, a late
answer counts as a timeout, and beat's sweep records an abandoned item as its rater's timeout
and returns the item to the pool. The drill waits
for deadlines and the sweep in real time, or with --fast-forward moves issue times into the past
and sends the sweep itself."""

import argparse
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from stack import Services, base_database_url, drop_database, say, scratch_database, wait_until

from drills.browser import (
    abandon_an_item,
    answer,
    field_of,
    open_rater,
    rater_browser,
    show_main_item,
)
from drills.common import (
    Drill,
    Row,
    app_on_private_redis,
    database_name,
    seed_campaign,
    start_the_app,
)


def run(args: argparse.Namespace) -> Drill:
    drill = Drill("drill-raters", "raters who close the tab, go offline or double-click",
                  columns=("before", "after the raters", "after the sweep"))  # fmt: skip
    base = base_database_url()
    name = database_name(base, "raters")
    fast = args.fast_forward
    with Services("raters") as services:
        _, env = app_on_private_redis(services, scratch_database(base, name))
        # one main item per session: a rater's answer shows the session's end, not a new item
        campaign = seed_campaign(checkpoints=2, problems=40, practice_items=0,
                                 questions_per_session=1, time_limit_s=args.time_limit)  # fmt: skip
        base_url = start_the_app(services, env)
        before = counts(campaign)
        # closed the tab: the item stays with the rater until the sweep returns it
        closed = abandon_an_item(base_url, campaign)
        # offline past the deadline and back before the sweep; and offline past the sweep
        late, gone = go_offline(base_url, campaign), go_offline(base_url, campaign)
        rows = [
            double_click(base_url, campaign),
            two_tabs(base_url, campaign),
            response_lost(base_url, campaign),
            back_after_deadline(late, fast_forward=fast),
        ]
        after_raters = counts(campaign)
        say("the raters are done; waiting for the sweep")
        swept, sweep_s = sweep([closed, gone.assignment], campaign, fast_forward=fast)
        after = counts(campaign)
        rows.append(back_after_sweep(gone, swept=swept))
        late.browser.close()
        gone.browser.close()

        count_rows(drill, before, after_raters, after)
        drill.rows += rows
        waited = (
            "moved their issue times into the past and sent beat's expiry task itself "
            "(--fast-forward)" if fast
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
            f"{waited}; the expiry task, run by the worker, recorded both abandoned items as "
            "their raters' timeouts and returned them to the pool "
            f"{sweep_s:.0f} s after they became overdue (an item is overdue "
            f"{overdue_after(campaign).total_seconds():.0f} s after issue: limit, grace and the "
            "sweep's margin for a page that posts its own timeout)."
        )
    drop_database(base, name)
    return drill


# --- what the raters do ------------------------------------------------------------------


def double_click(base_url: str, campaign: Any) -> Row:
    """The same answer twice at once, then the other verdict: one judgment."""
    with rater_browser(base_url, campaign) as (browser, clicker):
        page = show_main_item(browser)
        twin = httpx.Client(base_url=base_url, cookies=browser.cookies, timeout=30,
                            follow_redirects=True)  # fmt: skip
        double = all_at_once([lambda: answer(browser, page, "correct"),
                              lambda: answer(twin, page, "correct"),
                              lambda: answer(twin, page, "incorrect")])  # fmt: skip
        twin.close()
    clicked = judgments_of(clicker)
    return Row("double click (2 × correct, 1 × incorrect at once): judgments / responses",
               None, f"{len(clicked)} / {statuses_of(double)}", None,
               expected="1 / 200 200 200",
               ok=len(clicked) == 1 and statuses_of(double) == "200 200 200")  # fmt: skip


def two_tabs(base_url: str, campaign: Any) -> Row:
    """Two tabs on the same item, answered in one, then in the other: the first answer counts."""
    with rater_browser(base_url, campaign) as (browser, rater):
        first_tab = show_main_item(browser)
        second = httpx.Client(base_url=base_url, cookies=browser.cookies, timeout=30,
                              follow_redirects=True)  # fmt: skip
        second_tab = second.get("/rate/").text
        same_item = field_of(first_tab, "assignment") == field_of(second_tab, "assignment")
        tabs = [answer(browser, first_tab, "incorrect"), answer(second, second_tab, "correct")]
        second.close()
    tabbed = judgments_of(rater)
    return Row("two tabs on one item, answered in both: judgments / responses", None,
               f"{len(tabbed)} / {statuses_of(tabs)}", None, expected="1 / 200 200",
               ok=same_item and len(tabbed) == 1 and tabbed[0].verdict == "incorrect"
               and statuses_of(tabs) == "200 200")  # fmt: skip


def response_lost(base_url: str, campaign: Any) -> Row:
    """The answer reaches the server, the response does not (the connection drops): the page is
    sent again when the rater is back online."""
    with rater_browser(base_url, campaign) as (browser, dropped):
        page = show_main_item(browser)
        lost = httpx.Client(base_url=base_url, cookies=browser.cookies,
                            timeout=httpx.Timeout(30, read=0.001))  # fmt: skip
        try:
            answer(lost, page, "correct")
            was_lost = False
        except httpx.ReadTimeout:
            was_lost = True
        lost.close()
        time.sleep(1)
        stored_unseen = len(judgments_of(dropped))
        resent = answer(browser, page, "correct")
    stored = judgments_of(dropped)
    return Row("response lost, answer sent again: judgments (before resending) / response",
               None, f"{len(stored)} ({stored_unseen}) / {resent.status_code}", None,
               expected="1 (1) / 200",
               ok=was_lost and len(stored) == 1 and stored_unseen == 1
               and resent.status_code == 200)  # fmt: skip


@dataclass(frozen=True)
class Offline:
    """A rater who went offline with an item on screen."""

    browser: httpx.Client
    rater: Any
    page: str
    assignment: Any


def go_offline(base_url: str, campaign: Any) -> Offline:
    from annotations.models import Assignment

    browser, rater = open_rater(base_url, campaign)
    page = show_main_item(browser)
    assignment = Assignment.objects.get(rater=rater, state=Assignment.State.OPEN)
    return Offline(browser, rater, page, assignment)


def back_after_deadline(late: Offline, *, fast_forward: bool) -> Row:
    """Back online after the deadline and its grace, before the sweep: a timeout is stored."""
    campaign = late.rater.campaign
    past_s = campaign.time_limit_s + campaign.grace_s
    move_past(late.assignment, timedelta(seconds=past_s + 1), fast_forward=fast_forward)
    if not fast_forward:
        time.sleep(past_s + 2)
    response = answer(late.browser, late.page, "correct")
    stored = judgments_of(late.rater)
    return Row("back online after the deadline: judgments (a timeout) / response", None,
               f"{len(stored)} / {response.status_code}", None, expected="1 timeout / 200",
               ok=len(stored) == 1 and stored[0].timed_out
               and response.status_code == 200)  # fmt: skip


def back_after_sweep(gone: Offline, *, swept: bool) -> Row:
    """Back online after the sweep recorded the item as a timeout and returned it: the answer
    is not stored."""
    response = answer(gone.browser, gone.page, "incorrect")
    stored = judgments_of(gone.rater)
    return Row("back online after the sweep: judgments (the sweep's timeout) / response", None,
               None, f"{len(stored)} / {response.status_code}", expected="1 timeout / 200",
               ok=swept and len(stored) == 1 and stored[0].timed_out
               and response.status_code == 200)  # fmt: skip


# --- deadlines and the sweep -------------------------------------------------------------


def overdue_after(campaign: Any) -> timedelta:
    from annotations.rating.services import EXPIRY_MARGIN

    return timedelta(seconds=campaign.time_limit_s + campaign.grace_s) + EXPIRY_MARGIN


def move_past(assignment: Any, by: timedelta, *, fast_forward: bool) -> None:
    """--fast-forward: the assignment was issued ``by`` earlier than it was."""
    from annotations.models import Assignment

    if fast_forward:
        Assignment.objects.filter(pk=assignment.pk).update(
            issued_at=assignment.issued_at - by, deadline=assignment.deadline - by
        )


def sweep(abandoned: list[Any], campaign: Any, *, fast_forward: bool) -> tuple[bool, float]:
    """Beat's expiry task, every 30 s, once the items are overdue: whether it returned them all,
    and how many seconds after they became overdue."""
    from django.utils import timezone

    from annotations.models import Assignment
    from annotations.tasks import assignments_expire_task

    overdue = overdue_after(campaign)
    for assignment in abandoned:
        move_past(assignment, overdue + timedelta(seconds=1), fast_forward=fast_forward)
    if fast_forward:  # and no wait for beat's next tick either
        assignments_expire_task.delay()
    rows = Assignment.objects.filter(pk__in=[assignment.pk for assignment in abandoned])
    swept = wait_until(
        lambda: rows.filter(state=Assignment.State.EXPIRED).count() == len(abandoned),
        timeout_s=overdue.total_seconds() + 120, step_s=1,
    )  # fmt: skip
    overdue_since = max(assignment.issued_at for assignment in rows) + overdue
    return swept, (timezone.now() - overdue_since).total_seconds()


# --- counting ----------------------------------------------------------------------------


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


def count_rows(drill: Drill, before: Counts, after_raters: Counts, after: Counts) -> None:
    drill.row("judgments", before.judgments, after_raters.judgments, after.judgments,
              expected="+4, then +2 (the sweep's timeouts)",
              ok=after_raters.judgments == before.judgments + 4
              and after.judgments == after_raters.judgments + 2)  # fmt: skip
    drill.row("assignments open / answered / timed out / expired", before.states,
              after_raters.states, after.states, expected="2 / 3 / 1 / 0, then 0 / 3 / 1 / 2",
              ok=after_raters.states == "2 / 3 / 1 / 0"
              and after.states == "0 / 3 / 1 / 2")  # fmt: skip
    drill.row("items free to hand out", before.free, after_raters.free, after.free,
              expected=f"{before.free - 6}, then {before.free - 4}",
              ok=after_raters.free == before.free - 6
              and after.free == before.free - 4)  # fmt: skip


def judgments_of(rater: Any) -> list[Any]:
    from annotations.models import Judgment

    return list(Judgment.objects.filter(assignment__rater=rater))


def all_at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))
    responses: list[httpx.Response | None] = [None] * len(calls)

    def call(index: int) -> None:
        barrier.wait()
        responses[index] = calls[index]()

    threads = [threading.Thread(target=call, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [response for response in responses if response is not None]


def statuses_of(responses: list[httpx.Response]) -> str:
    return " ".join(str(response.status_code) for response in responses)
