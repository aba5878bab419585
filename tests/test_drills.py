"""The fault drills and the load test pass at a small scale, and the app behaves as they need:
a short 503 page when the database is away, rater pages that never touch Redis, simulated
raters that record what the server confirmed."""

import json
import os
import shutil
import subprocess
import sys
from io import StringIO
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import IntegrityError, OperationalError
from django.test import Client, RequestFactory, override_settings

from annotations.campaigns import campaign_create, raters_create
from annotations.models import Campaign, Judgment, Rater
from annotations.rating.services import rater_consent
from legibility.views import server_error
from tests.annotations.conftest import build_samples
from tests.conftest import REPO, require_postgres

TERMINATED = OperationalError("terminating connection due to administrator command")


def pilot(**settings: Any) -> Campaign:
    settings.setdefault("practice_items", 0)
    return campaign_create(slug="pilot", runs=[build_samples(problems=8)], seed=1, **settings)


def consented_rater(campaign: Campaign) -> Rater:
    rater = raters_create(campaign=campaign, count=1)[0].rater
    rater_consent(rater=rater)
    return rater


def run_drill(*arguments: str, timeout_s: float = 240) -> str:
    require_postgres()
    if not shutil.which("redis-server"):
        pytest.fail("the drills start a private Redis: apt-get install redis-server")
    result = subprocess.run(
        [sys.executable, *arguments, "--no-readme"],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert "**PASS**" in result.stdout
    assert "**FAIL**" not in result.stdout
    return result.stdout


# --- the drills, small ---------------------------------------------------------------------


@pytest.mark.worker
def test_a_worker_killed_mid_ingest_and_mid_campaign_build_leaves_nothing_twice_or_missing():
    out = run_drill("bench/drill.py", "worker-kill", "--samples", "10000")
    assert "| samples stored (ingest) | 0 |" in out
    assert "| campaign items (beat's take-in task in the worker) | 0 | 0 | 10,000 |" in out


@pytest.mark.worker
def test_raters_see_no_error_while_redis_is_down_and_background_work_catches_up():
    out = run_drill("bench/drill.py", "redis-outage", "--seconds", "5", "--raters", "6")
    assert "| rater responses 4xx or 5xx / lost connections | 0 |  | 0 / 0 |" in out


@pytest.mark.worker
def test_a_postgres_restart_under_load_gives_503s_then_recovers_with_nothing_half_written():
    out = run_drill("bench/drill.py", "postgres-restart", "--down", "2", "--raters", "6")
    assert (
        "| … of them missing from the database / stored with another verdict |  |  | 0 / 0 |" in out
    )


@pytest.mark.worker
def test_abandoned_items_return_to_the_pool_and_each_answer_is_stored_once():
    out = run_drill("bench/drill.py", "raters", "--fast-forward")
    assert "| judgments | 0 | 4 | 6 |" in out  # the sweep records two timeouts


@pytest.mark.worker
def test_the_load_test_counts_confirmed_answers_against_the_database():
    out = run_drill("bench/load.py", "--raters", "10", "--seconds", "10", "--client-processes",
                    "2", "--time-scale", "0.1", "--workers", "1")  # fmt: skip
    assert "| **5xx responses** | **0** |" in out
    assert "| … confirmed answers missing from the database (lost) | 0 |" in out


# --- the app fixes the drills led to --------------------------------------------------------


@pytest.mark.django_db
def test_a_rater_page_gets_a_short_503_when_the_database_drops_the_connection():
    client = Client(raise_request_exception=False)
    client.force_login(consented_rater(pilot()).user)

    with mock.patch("annotations.rating.views.rater_next", side_effect=TERMINATED):
        response = client.get("/rate/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"Back in a moment" in response.content
    assert b"Traceback" not in response.content
    assert b'<meta http-equiv="refresh" content="5">' in response.content  # it tries again


@pytest.mark.django_db
def test_an_htmx_request_that_meets_a_database_error_reloads_the_whole_page():
    client = Client(raise_request_exception=False)
    client.force_login(consented_rater(pilot()).user)

    with mock.patch("annotations.rating.views.rater_next", side_effect=TERMINATED):
        response = client.get("/rate/", headers={"HX-Request": "true"})

    # htmx swaps in no error response; without this the rater's buttons would stay disabled
    assert response.status_code == 503
    assert response["HX-Refresh"] == "true"


@pytest.mark.django_db
def test_an_answer_that_fails_on_the_database_is_not_stored_and_can_be_sent_again():
    client = Client(raise_request_exception=False)
    client.force_login(consented_rater(pilot()).user)
    page = client.get("/rate/").content.decode()
    assignment = page.split('name="assignment" value="', 1)[1].split('"', 1)[0]
    answer = {"assignment": assignment, "verdict": "correct", "client_ms": "4000"}

    with mock.patch("annotations.rating.services.Judgment.objects.create", side_effect=TERMINATED):
        failed = client.post("/rate/answer/", answer)
    assert failed.status_code == 503
    assert b'http-equiv="refresh"' not in failed.content  # a form is never sent again by itself
    assert not Judgment.objects.exists()  # the claim on the assignment was rolled back with it

    assert client.post("/rate/answer/", answer).status_code == 302
    assert Judgment.objects.get().verdict == "correct"


def test_a_database_error_outside_a_view_gets_the_503_page_and_other_errors_stay_500():
    request = RequestFactory().get("/rate/")
    for error, status in ((TERMINATED, 503), (IntegrityError("a bug"), 500)):
        try:
            raise error
        except Exception:  # as Django calls its 500 handler: inside the except block
            assert server_error(request).status_code == status


@pytest.mark.django_db
@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": "redis://127.0.0.1:9/0"}}  # nothing listens there
)  # fmt: skip
def test_a_rater_judges_with_redis_unreachable():
    client = Client()
    client.force_login(consented_rater(pilot()).user)
    page = client.get("/rate/").content.decode()
    assignment = page.split('name="assignment" value="', 1)[1].split('"', 1)[0]

    response = client.post("/rate/answer/", {"assignment": assignment, "verdict": "incorrect"})

    assert response.status_code == 302
    assert client.get("/rate/").status_code == 200
    assert Judgment.objects.get().verdict == "incorrect"


@pytest.mark.django_db(transaction=True)
def test_simulate_raters_records_every_answer_the_server_confirmed(tmp_path):
    campaign = pilot(questions_per_session=4)
    record = tmp_path / "record.jsonl"
    arguments = ["--campaign", campaign.slug, "--raters", "2", "--judgments", "3",
                 "--time-scale", "0", "--record", str(record), "--login-links"]  # fmt: skip
    call_command("simulate_raters", *arguments, stdout=StringIO())

    events = [json.loads(line) for line in record.read_text().splitlines()]
    answers = {event["assignment"] for event in events if event["event"] == "answer"}
    stored = {str(pk) for pk in Judgment.objects.values_list("assignment_id", flat=True)}
    assert answers == stored and len(stored) == 6
    totals = events[-1]
    assert totals["event"] == "totals" and totals["errors"] == 0
    assert set(totals["statuses"]) <= {"200", "302"}


@pytest.mark.django_db(transaction=True)
def test_simulated_raters_stop_taking_items_after_the_duration():
    campaign = pilot(questions_per_session=50)
    out = StringIO()
    arguments = ["--campaign", campaign.slug, "--raters", "1", "--judgments", "50",
                 "--time-scale", "0.02", "--duration", "1", "--chance-raters", "0"]  # fmt: skip
    call_command("simulate_raters", *arguments, stdout=out)

    # a simulated read takes 10 s or more, 0.2 s at this scale: a handful fit in a second
    assert 1 <= Judgment.objects.count() < 8
