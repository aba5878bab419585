"""Drill: Redis (broker and cache) stopped while raters judge. Rater pages use the database only,
so the raters must see no error; background work that arrives meanwhile (a new file, an item
left open past its deadline) must be done once Redis is back."""

import argparse
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from stack import (
    PrivateRedis,
    Services,
    base_database_url,
    drop_database,
    say,
    scratch_database,
    wait_until,
)

from drills.browser import abandon_an_item
from drills.common import (
    Drill,
    RaterRecord,
    RatersAtWork,
    app_on_private_redis,
    database_name,
    drop_late_file,
    judgment_rows,
    raters_at_work,
    raters_done,
)


def run(args: argparse.Namespace) -> Drill:
    outage = args.seconds
    drill = Drill("drill-redis-outage", f"Redis stopped for {outage:g} s while raters judge",
                  columns=("before", "Redis down", "after"))  # fmt: skip
    base = base_database_url()
    name = database_name(base, "redis")
    with Services("redis-outage") as services:
        redis, env = app_on_private_redis(services, scratch_database(base, name))
        at_work = raters_at_work(services, env, raters=args.raters, fault_s=outage)
        down = redis_down(redis, outage, at_work)
        seen, exit_status = raters_done(drill, services, at_work, timeout_s=at_work.after_s + 120)
        report(drill, down, seen, campaign=at_work.campaign, exit_status=exit_status)
        statuses = ", ".join(f"{code}: {n:,}" for code, n in sorted(seen.statuses.items()))
        drill.notes.append(
            f"{args.raters} simulated raters judged over HTTP (gunicorn, 2 workers × 4 threads, "
            f"DEBUG off) at 1/20 of their reading time. Once they were all judging, after "
            f"{at_work.warm_up:g} s more, the private Redis (broker and cache) was stopped for "
            f"{outage:g} s; they went on for at least {at_work.after_s:g} s after it returned. "
            f"Responses: {statuses}. Rater pages use the database only (sessions included), so "
            f"Redis going away is invisible to raters. Background work caught up "
            f"{down.catch_up_s:.0f} s after Redis returned: the worker reconnected (its retry "
            "interval grows by 2 s up to 30 s) and beat's next ticks polled the directory and "
            "swept the overdue item (a timeout for its rater, the item back in the pool)."
        )
    drop_database(base, name)
    return drill


@dataclass(frozen=True)
class Outage:
    """The counts before Redis stopped and while it was down, and how the catch-up went."""

    stopped_at: float
    back_at: float
    judgments_before: int
    judgments_down: int
    samples_before: int
    samples_down: int
    new_samples: int  # in the file dropped while Redis was down
    abandoned: Any  # the assignment left open, moved past its deadline while Redis was down
    state_down: str
    caught_up: bool
    catch_up_s: float


def redis_down(redis: PrivateRedis, outage: float, at_work: RatersAtWork) -> Outage:
    """Stop Redis for ``outage`` seconds while background work arrives, start it again, and wait
    for that work to be done."""
    from annotations.models import Assignment, Judgment
    from legibility.models import Sample

    samples_before = Sample.objects.count()
    judgments_before = Judgment.objects.count()
    stopped_at = time.time()
    redis.stop()
    say(f"Redis stopped for {outage:g} s")
    # background work that arrives while Redis is down: a new file, and an item that a
    # rater left open long ago (moved into the past, so the next sweep must expire it)
    new_samples = drop_late_file(at_work.watched, "late.jsonl")
    abandoned = abandon_an_item(at_work.base_url, at_work.campaign)
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
    return Outage(
        stopped_at, back_at, judgments_before, judgments_down, samples_before, samples_down,
        new_samples, abandoned, state_down, caught_up, catch_up_s,
    )  # fmt: skip


def report(
    drill: Drill, down: Outage, seen: RaterRecord, *, campaign: Any, exit_status: int
) -> None:
    from annotations.models import Assignment, CampaignItem
    from legibility.models import Sample

    refused = sum(n for code, n in seen.statuses.items() if code >= 400)
    judgment_rows(drill, campaign, seen.confirmed, before=down.judgments_before,
                  during=down.judgments_down)  # fmt: skip
    while_down = seen.answers_between(down.stopped_at, down.back_at)
    drill.row("answers confirmed while Redis was down", None, while_down, None, expected="> 0",
              ok=while_down > 0)  # fmt: skip
    drill.row("rater responses 4xx or 5xx / lost connections", 0, None,
              f"{refused} / {seen.lost_connections}", expected="0 / 0",
              ok=refused == 0 and seen.lost_connections == 0)  # fmt: skip
    drill.row("raters stopped by an error", 0, None, seen.stopped + (exit_status != 0),
              expected="0", ok=seen.stopped == 0 and exit_status == 0)  # fmt: skip
    drill.row("samples from a file dropped during the outage", down.samples_before,
              down.samples_down, Sample.objects.count(), expected=f"+{down.new_samples} after",
              ok=down.samples_down == down.samples_before and down.caught_up)  # fmt: skip
    item = CampaignItem.objects.get(pk=down.abandoned.item_id)
    drill.row("an abandoned, overdue item: assignment state", None, down.state_down,
              Assignment.objects.get(pk=down.abandoned.pk).state, expected="expired after",
              ok=down.caught_up)  # fmt: skip
    drill.row("… its judgments left to hand out", 1, 0, item.remaining, expected="1 after",
              ok=item.remaining == campaign.judgments_per_item)  # fmt: skip
