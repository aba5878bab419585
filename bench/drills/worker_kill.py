"""Drill: a Celery worker killed with SIGKILL mid-ingest and mid-campaign-build, and a killed
create_campaign. Nothing may be stored twice or go missing: the ingest resumes where its last
stored batch ended, and a campaign built in one transaction is rolled back whole."""

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from stack import (
    REPO,
    Services,
    base_database_url,
    drop_database,
    kill,
    say,
    scratch_database,
    stop,
    wait_until,
)

from drills.common import (
    RUN,
    Drill,
    app_on_private_redis,
    database_name,
    sample_records,
    wait_for_worker,
    write_jsonl,
)

CHECKPOINTS = 5
INSERT_ITEMS = 'INSERT INTO "annotations_campaignitem"'


@dataclass(frozen=True)
class App:
    """The app whose processes the drill kills: its services, their environment, and the
    scratch database (URL and name) it watches."""

    services: Services
    env: dict[str, str]
    url: str
    database: str


def run(args: argparse.Namespace) -> Drill:
    drill = Drill("drill-worker-kill", "a Celery worker killed with SIGKILL mid-ingest and "
                  "mid-campaign-build, and a killed create_campaign", columns=(
                      "before", "at the kill", "after restart"))  # fmt: skip
    base = base_database_url()
    name = database_name(base, "worker_kill")
    with Services("worker-kill") as services:
        url = scratch_database(base, name)
        _, env = app_on_private_redis(services, url)
        from django.db import connection

        app = App(services, env, url, connection.settings_dict["NAME"])
        followed, worker = ingest_killed(drill, app, samples=args.samples)
        campaign_build_killed(drill, app, followed, worker)
        create_campaign_killed(drill, app)
        connection.close()
    drop_database(base, name)
    return drill


def ingest_killed(drill: Drill, app: App, *, samples: int) -> tuple[Any, Any]:
    """A watched file, its worker killed mid-file; beat's next poll resumes it. Returns the live
    campaign that follows the run (it has taken in nothing yet) and the worker now running."""
    from annotations.campaigns import campaign_create
    from legibility.ingest.tasks import source_poll_task
    from legibility.models import IngestRun, Sample, SampleSource, TrainingRun

    watched = app.services.folder / "watched"
    watched.mkdir()
    problems = samples // (CHECKPOINTS * 4)
    total = write_jsonl(watched / "samples.jsonl",
                        sample_records(checkpoints=CHECKPOINTS, problems=problems))  # fmt: skip
    run = TrainingRun.objects.create(name=RUN)
    # a live campaign that follows the run: it takes in checkpoints as they settle
    followed = campaign_create(slug="followed", runs=[run], practice_items=0)
    source = SampleSource.objects.create(
        name="watched", kind=SampleSource.Kind.WATCHED_DIRECTORY, path=str(watched),
        poll_interval_s=5,
    )  # fmt: skip
    worker = app.services.worker(app.env)
    if not wait_for_worker():
        sys.exit("the worker did not start")
    source_poll_task.delay(source.pk)
    killed_mid_file = wait_until(lambda: Sample.objects.count() >= total // 10,
                                 timeout_s=120, step_s=0.02)  # fmt: skip
    kill(worker)
    at_kill = Sample.objects.count()
    say(f"worker killed mid-ingest, {at_kill:,} of {total:,} samples stored")
    runs_at_kill = IngestRun.objects.filter(status=IngestRun.Status.RUNNING).count()
    worker, beat = app.services.worker(app.env), app.services.beat(app.env)
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
        f"Ingest: {total:,} samples in one watched JSONL file ({CHECKPOINTS} checkpoints); "
        f"the worker was killed after {at_kill:,} were stored. A new worker and beat "
        f"started; beat's poll of the due source resumed the file where the last stored "
        f"batch ended, and every sample was stored once, {resumed_s:.0f} s after the restart."
    )
    stop(beat)  # the campaign part sends beat's task itself, at the moment it chooses
    return followed, worker


def campaign_build_killed(drill: Drill, app: App, followed: Any, worker: Any) -> None:
    """Beat's take-in task in the worker, killed while it inserts the items; run again, twice."""
    from django.db.models import Count, F

    from annotations.models import CampaignItem
    from annotations.tasks import campaigns_take_in_task
    from legibility.models import Sample

    # the samples arrived more than CHECKPOINT_SETTLE ago, as if the drill had waited
    Sample.objects.update(created_at=F("created_at") - timedelta(minutes=10))
    expected = Sample.objects.filter(is_correct__isnull=False).count()
    inserted_before = inserted_rows()
    campaigns_take_in_task.delay()
    killed_mid_build = wait_for_statement(app, INSERT_ITEMS, timeout_s=120)
    kill(worker)
    say("worker killed while inserting campaign items")
    wait_until(lambda: not session_in_transaction(app), timeout_s=30)
    items = CampaignItem.objects.filter(campaign=followed)
    at_kill_items, at_kill_checkpoints = items.count(), followed.checkpoints.count()
    rolled_back = inserted_rows() - inserted_before
    worker = app.services.worker(app.env)
    wait_for_worker()
    for _ in range(2):  # beat sends it every minute; a second run must change nothing
        campaigns_take_in_task.delay()
        wait_until(lambda: items.count() >= expected, timeout_s=120, step_s=0.2)
    time.sleep(2)
    after_items = items.count()
    twice = sum(
        n - 1 for n in items.values("sample").annotate(n=Count("id")).values_list("n", flat=True)
    )
    killed_cleanly = killed_mid_build and at_kill_items == 0
    drill.row("campaign items (beat's take-in task in the worker)", 0, at_kill_items,
              after_items, expected=f"{expected:,}",
              ok=killed_cleanly and after_items == expected)  # fmt: skip
    drill.row("… rows the killed transaction had written, rolled back", 0, rolled_back,
              None, expected="> 0 at the kill", ok=rolled_back > 0)  # fmt: skip
    drill.row("campaign checkpoints", 0, at_kill_checkpoints, followed.checkpoints.count(),
              expected=str(CHECKPOINTS),
              ok=followed.checkpoints.count() == CHECKPOINTS)  # fmt: skip
    drill.row("samples chosen twice in the campaign", 0, None, twice, expected="0",
              ok=twice == 0)  # fmt: skip
    drill.notes.append(
        f"Campaign building: a live campaign following the run took in its {CHECKPOINTS} "
        f"checkpoints through beat's task (`campaigns_take_in_task`), sent by the drill as "
        f"beat sends it each minute. The worker was killed while it inserted the items, "
        f"with {rolled_back:,} rows written in the open transaction: PostgreSQL rolled "
        "them back, so the campaign had no item and no checkpoint of them. A new worker "
        "ran the task again (twice): every item chosen once. The unacknowledged message "
        "itself comes back only after the broker's visibility timeout (an hour); the task "
        "is safe to run twice, and beat sends it every minute anyway."
    )
    stop(worker)


def create_campaign_killed(drill: Drill, app: App) -> None:
    """create_campaign (one transaction, as the admin's save) killed mid-build, then run again."""
    from annotations.models import Campaign, CampaignItem
    from legibility.models import Sample

    expected = Sample.objects.filter(is_correct__isnull=False).count()
    command = [sys.executable, "manage.py", "create_campaign", "built", "--run", RUN,
               "--seed", "1"]  # fmt: skip
    builder = app.services.start("create_campaign", command, app.env)
    killed_command = wait_for_statement(app, INSERT_ITEMS, timeout_s=120)
    kill(builder)
    say("create_campaign killed while inserting items")
    wait_until(lambda: not session_in_transaction(app), timeout_s=30)
    built = Campaign.objects.filter(slug="built")
    built_items = CampaignItem.objects.filter(campaign__slug="built")
    at_kill_built, at_kill_built_items = built.count(), built_items.count()
    rerun = subprocess.run(command, cwd=REPO, env=app.env, capture_output=True, text=True)
    after_items = built_items.count()
    drill.row("create_campaign: campaigns / items", "0 / 0",
              f"{at_kill_built} / {at_kill_built_items}", f"{built.count()} / {after_items:,}",
              expected=f"0 / 0, then 1 / {expected:,}",
              ok=killed_command and at_kill_built == 0 and at_kill_built_items == 0
              and rerun.returncode == 0 and after_items == expected)  # fmt: skip
    drill.notes.append(
        "`create_campaign` killed while inserting items left no campaign at all (it is one "
        "transaction); run again, it built the whole campaign. The admin's save and its "
        "'take in' action call the same service, one transaction per campaign, so a web "
        "worker killed mid-build (a gunicorn timeout on a very large run) rolls back the "
        "same way."
    )


def ingest_settled(total: int) -> bool:
    from legibility.models import IngestRun, Sample

    running = IngestRun.objects.filter(status=IngestRun.Status.RUNNING).exists()
    return Sample.objects.count() >= total and not running


def session_in_transaction(app: App) -> bool:
    """Whether another session on the app's database has a transaction open."""
    with psycopg.connect(app.url, autocommit=True) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND xact_start IS NOT NULL "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND query NOT LIKE 'SELECT count(*) FROM pg_stat_activity%%'",
            [app.database],
        ).fetchone()
    return bool(row and row[0])


def wait_for_statement(app: App, prefix: str, *, timeout_s: float) -> bool:
    """True once a session on the app's database has a transaction open whose latest statement
    starts with ``prefix``: the moment to kill its process."""
    with psycopg.connect(app.url, autocommit=True) as watcher:

        def seen() -> bool:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND xact_start IS NOT NULL AND query LIKE %s",
                [app.database, prefix.replace("%", "%%") + "%"],
            ).fetchone()
            return bool(row and row[0])

        return wait_until(seen, timeout_s=timeout_s, step_s=0.005)


def inserted_rows() -> int:
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
