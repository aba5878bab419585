"""Exports, curves API and dashboard over a campaign judged through the services."""

import io
from datetime import timedelta

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token

from annotations.exports import JUDGMENT_COLUMNS, judgments_csv
from annotations.rating.services import judgment_submit, rater_next
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

PRODUCT_COLUMNS = [
    "judgment_id",
    "campaign",
    "rater",
    "sample_id",
    "problem_id",
    "run",
    "checkpoint",
    "round",
    "step",
    "role",
    "sample_is_correct",
    "verdict",
    "rater_correct",
    "timed_out",
    "client_ms",
    "server_ms",
    "issued_at",
    "answered_at",
    "position_in_session",
    "excluded_rater",
]


@pytest.fixture
def judged(make_campaign, make_rater):
    """Three raters judge 8 items each: two answer right, one always says 'correct'
    (chance level); the last item of each rater times out; the second rater switches tabs
    on every other item."""
    campaign = make_campaign(problems=10, questions_per_session=8)
    for index in range(3):
        rater = make_rater(campaign)
        for k in range(8):
            step = rater_next(rater=rater)
            item = step.assignment.item
            if index == 2:
                verdict = "correct"
            else:
                verdict = "correct" if item.sample_is_correct else "incorrect"
            judgment_submit(
                rater=rater, assignment_id=step.assignment.pk,
                verdict=None if k == 7 else verdict, client_ms=900,
                hidden_ms=4000 if index == 1 and k % 2 else 0,
                now=step.assignment.issued_at + timedelta(seconds=10 + k),
            )  # fmt: skip
    return campaign


def staff_client(client):
    client.force_login(StaffFactory())
    return client


def read_csv(response) -> pd.DataFrame:
    body = b"".join(response.streaming_content)
    return pd.read_csv(io.BytesIO(body))


def test_judgments_csv_has_the_documented_columns_and_loads_into_pandas(client, judged):
    url = reverse("dashboard:download", args=[judged.slug, "judgments"])
    frame = read_csv(staff_client(client).get(url))

    assert list(frame.columns) == JUDGMENT_COLUMNS
    assert set(PRODUCT_COLUMNS) <= set(frame.columns)
    assert len(frame) == 24
    assert frame["timed_out"].sum() == 3
    assert frame.loc[frame["timed_out"], "rater_correct"].eq(False).all()
    assert frame["position_in_session"].between(1, 8).all()
    assert frame.groupby("rater")["excluded_rater"].first().sum() >= 1
    assert pd.to_datetime(frame["answered_at"]).notna().all()
    right = frame[~frame["timed_out"] & (frame["rater"] != frame["rater"].iloc[-1])]
    assert (right["rater_correct"] == (
        (right["verdict"] == "correct") == right["sample_is_correct"])).all()  # fmt: skip


def test_timeouts_can_be_left_out_of_the_export(client, judged):
    url = reverse("dashboard:download", args=[judged.slug, "judgments"])
    frame = read_csv(staff_client(client).get(url, {"timeouts": "excluded"}))
    assert len(frame) == 21 and not frame["timed_out"].any()


def test_summary_and_raters_csv(client, judged):
    client = staff_client(client)
    summary = read_csv(client.get(reverse("dashboard:download", args=[judged.slug, "summary"])))
    assert {"accuracy", "accuracy_low", "accuracy_high", "time_to_correct_s"} <= set(summary)
    assert summary["judgments"].sum() > 0
    raters = read_csv(client.get(reverse("dashboard:download", args=[judged.slug, "raters"])))
    assert len(raters) == 3
    assert raters["at_chance"].any()
    assert raters["tab_switching"].sum() == 1
    assert sorted(raters["hidden_items"]) == [0, 0, 4]
    page = client.get(reverse("dashboard:campaign", args=[judged.slug])).content.decode()
    assert page.count('data-testid="tab-switching"') == 1


def test_export_judgments_command_writes_the_same_csv(judged, tmp_path):
    out = io.StringIO()
    call_command("export_judgments", "--campaign", judged.slug, "--out", str(tmp_path / "j.csv"),
                 stdout=out)  # fmt: skip
    assert out.getvalue().strip() == f"24 judgments written to {tmp_path / 'j.csv'}"
    frame = pd.read_csv(tmp_path / "j.csv")
    assert list(frame.columns) == JUDGMENT_COLUMNS and len(frame) == 24
    with pytest.raises(CommandError, match="no campaign"):
        call_command("export_judgments", "--campaign", "nope", "--out", str(tmp_path / "x.csv"))


def test_export_judgments_never_overwrites_a_file_unless_told_to(judged, tmp_path):
    precious = tmp_path / "raters.csv"
    precious.write_text("username,password\nr-1,secret\n")
    with pytest.raises(CommandError, match="exists"):
        call_command("export_judgments", "--campaign", judged.slug, "--out", str(precious))
    assert precious.read_text() == "username,password\nr-1,secret\n"

    call_command("export_judgments", "--campaign", judged.slug, "--out", str(precious), "--force",
                 stdout=io.StringIO())  # fmt: skip
    assert len(pd.read_csv(precious)) == 24


def test_the_judgments_csv_is_read_in_pages_that_miss_nothing(judged, make_rater, monkeypatch):
    monkeypatch.setattr("annotations.exports.CHUNK", 5)  # 24 judgments: pages of 5, 5, ... 4
    lines = judgments_csv(judged)
    header, first = next(lines), next(lines)  # the first page is read, and no more
    rater = make_rater(judged)  # a judgment stored while the export is under way is in it
    step = rater_next(rater=rater)
    judgment_submit(rater=rater, assignment_id=step.assignment.pk, verdict="correct",
                    client_ms=900, hidden_ms=0)  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        rest = list(lines)

    frame = pd.read_csv(io.StringIO(header + first + "".join(rest)))
    assert len(frame) == 25 and frame["judgment_id"].is_unique
    assert frame["judgment_id"].is_monotonic_increasing
    assert len(queries) == 5  # the four pages left, the last one short


def test_curves_api_returns_the_figures_as_json_with_a_token(client, judged):
    token = Token.objects.create(user=StaffFactory())
    response = client.get(
        reverse("api-curves", args=[judged.slug]), HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["timeouts"] == "wrong"
    curve = body["curves"][0]
    assert {"accuracy", "time_to_correct_s", "timeout_rate", "round"} <= set(curve)
    assert set(curve["accuracy"]) == {"value", "low", "high"}
    csv = client.get(
        reverse("api-judgments", args=[judged.slug]), HTTP_AUTHORIZATION=f"Token {token.key}"
    )
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert len(read_csv(csv)) == 24


def test_raters_get_403_on_exports_and_anonymous_users_go_to_login(client, judged):
    from annotations.models import Rater

    url = reverse("dashboard:download", args=[judged.slug, "judgments"])
    assert client.get(url).status_code == 302
    client.force_login(Rater.objects.first().user)
    assert client.get(url).status_code == 403
    assert client.get(reverse("api-curves", args=[judged.slug])).status_code == 403
    assert client.get(reverse("dashboard:campaign", args=[judged.slug])).status_code == 403


@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
@pytest.mark.parametrize("name", ["accuracy", "time", "quartiles"])
def test_figures_render_in_every_format(client, judged, name, fmt):
    response = staff_client(client).get(
        reverse("dashboard:figure", args=[judged.slug, name, fmt]), {"download": "1"}
    )
    assert response.status_code == 200
    assert response.content[:5] in {b"<?xml", b"\x89PNG\r", b"%PDF-"}
    assert f"{judged.slug}-{name}.{fmt}" in response["Content-Disposition"]


def test_dashboard_pages_take_the_same_queries_however_many_raters(client, judged, make_rater):
    client = staff_client(client)
    pages = [reverse("dashboard:index"), reverse("dashboard:campaign", args=[judged.slug]),
             reverse("dashboard:progress", args=[judged.slug])]  # fmt: skip

    def counts() -> list[int]:
        result = []
        for url in pages:
            client.get(url)  # the analysis is cached from here on: rows are what is counted
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            result.append(len(queries))
        return result

    before = counts()
    for _ in range(4):
        rater = make_rater(judged)
        step = rater_next(rater=rater)
        judgment_submit(rater=rater, assignment_id=step.assignment.pk, verdict="correct",
                        client_ms=1, hidden_ms=0)  # fmt: skip
    assert counts() == before


def test_progress_fragment_is_polled_without_the_figures(client, judged):
    response = staff_client(client).get(
        reverse("dashboard:progress", args=[judged.slug]), HTTP_HX_REQUEST="true"
    )
    assert b'data-testid="progress-total"' in response.content
    assert b"<img" not in response.content
    assert b"21 of" in response.content or b"24 of" in response.content


def test_the_analysis_is_cached_until_a_new_judgment_arrives(judged, make_rater):
    from annotations.selectors import campaign_analysis

    first = campaign_analysis(judged, exclude_chance_raters=False)
    with CaptureQueriesContext(connection) as queries:
        again = campaign_analysis(judged, exclude_chance_raters=False)
    assert again.curves == first.curves and len(queries) == 1  # only the cache key's query
    rater = make_rater(judged)
    step = rater_next(rater=rater)
    judgment_submit(rater=rater, assignment_id=step.assignment.pk, verdict="correct",
                    client_ms=1, hidden_ms=0)  # fmt: skip
    stale = campaign_analysis(judged, exclude_chance_raters=False)
    assert stale.judgments == first.judgments  # the latest analysis serves until refreshed
    after = campaign_analysis(judged, exclude_chance_raters=False, fresh=True)
    assert sum(c.judgments for c in after.curves) > sum(c.judgments for c in first.curves)


def test_the_warming_task_computes_live_campaigns(judged):
    from annotations.tasks import campaigns_analyse_task

    assert campaigns_analyse_task.delay().get() == 1


def test_cells_a_spreadsheet_would_run_as_formulas_are_escaped(client, make_rater):
    from annotations.campaigns import campaign_create
    from legibility.ingest.records import batches_of, record_entry
    from legibility.ingest.service import samples_ingest
    from legibility.models import TrainingRun
    from tests.legibility.jsonl import sample_record

    records = [
        sample_record(n, checkpoint='=HYPERLINK("http://evil.example","x")', problem_id=f"@SUM{n}",
                      solution=solution)
        for n in range(4)
        for solution in (f"{n} + 2 = {n + 2}.\n#### {n + 2}", f"{n} + 2 = {n + 3}.\n#### {n + 3}")
    ]  # fmt: skip
    samples_ingest(via="command", batches=batches_of(record_entry(i, r) for i, r in
                                                     enumerate(records)))  # fmt: skip
    campaign = campaign_create(slug="formulas", runs=list(TrainingRun.objects.all()),
                               practice_items=0)  # fmt: skip
    rater = make_rater(campaign)
    step = rater_next(rater=rater)
    judgment_submit(rater=rater, assignment_id=step.assignment.pk, verdict="correct",
                    client_ms=900, hidden_ms=0)  # fmt: skip

    body = b"".join(
        staff_client(client)
        .get(reverse("dashboard:download", args=["formulas", "judgments"]))
        .streaming_content
    ).decode()
    frame = pd.read_csv(io.StringIO(body))
    assert frame["checkpoint"][0] == """'=HYPERLINK("http://evil.example","x")"""
    assert frame["problem_id"][0].startswith("'@SUM")
    assert frame["round"][0] == 3  # numbers stay numbers


def test_an_unknown_switch_is_a_bad_request_not_a_missing_page(client, judged):
    client = staff_client(client)
    for url in (reverse("dashboard:campaign", args=[judged.slug]),
                reverse("api-curves", args=[judged.slug])):  # fmt: skip
        assert client.get(url, {"timeouts": "sometimes"}).status_code == 400, url
