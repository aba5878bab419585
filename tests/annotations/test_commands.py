import csv
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.http import HttpRequest
from django.utils import timezone

from annotations.campaigns import campaigns_take_in_new_checkpoints
from annotations.models import Campaign, CampaignItem, Rater
from annotations.rating.login_links import user_from_token
from legibility.models import Sample
from tests.annotations.conftest import RUN_NAME, build_samples
from tests.factories import CheckpointFactory, SampleFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_campaign_takes_every_checkpoint_and_selects_by_the_protocol():
    build_samples(problems=5, checkpoints=3)
    out = run("create_campaign", "pilot", "--run", RUN_NAME, "--time-limit", "30",
              "--practice-items", "2", "--seed", "4")  # fmt: skip

    campaign = Campaign.objects.get(slug="pilot")
    assert campaign.checkpoints.count() == 3
    assert (campaign.time_limit_s, campaign.judgments_per_item, campaign.status) == (30, 1, "live")
    main = CampaignItem.objects.filter(campaign=campaign, is_practice=False)
    # 5 problems x 3 checkpoints x 2 roles x (correct, incorrect), less the 2 for practice
    assert main.count() == 5 * 3 * 4 - 2
    assert CampaignItem.objects.filter(campaign=campaign, is_practice=True).count() == 2
    assert len(campaign.balance_keys) == 3 * 4
    assert out.startswith("campaign pilot: 3 checkpoints, 58 items, 2 practice items")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--run", "nope"], "no training run named nope"),
        (["--run", RUN_NAME, "--time-limit", "0"], "--time-limit must be at least 1"),
        (["--run", RUN_NAME, "--judgments-per-item", "0"], "--judgments-per-item must be"),
        (["--run", RUN_NAME, "--time-limit", "99999999999"], "--time-limit must be at most 3,600"),
        (["--run", RUN_NAME, "--practice-items", "-1"], "--practice-items must be at least 0"),
    ],
)
def test_create_campaign_refuses_bad_input_with_one_line(args, reason):
    build_samples(problems=1, checkpoints=1)
    with pytest.raises(CommandError, match=reason):
        run("create_campaign", "pilot", *args)


@pytest.mark.parametrize("slug", ["bad slug!", "a/b", "", "x" * 101, "naïve"])
def test_create_campaign_refuses_a_slug_that_cannot_be_in_a_url(slug, client):
    build_samples(problems=1, checkpoints=1)
    with pytest.raises(CommandError, match="slug"):
        run("create_campaign", slug, "--run", RUN_NAME)
    assert not Campaign.objects.exists()


def test_raters_see_the_public_title_never_the_internal_name(client):
    build_samples(problems=2, checkpoints=1)
    run("create_campaign", "pilot", "--run", RUN_NAME, "--name", "Sneaky round 5 vs SFT",
        "--title", "Checking math solutions")  # fmt: skip
    rater = Rater.objects.create(
        user=UserFactory(), campaign=Campaign.objects.get(), pseudonym="r-title"
    )
    client.force_login(rater.user)
    page = client.get("/rate/").content.decode()
    assert "Checking math solutions" in page
    assert "Sneaky" not in page and "pilot" not in page


def test_create_campaign_refuses_an_existing_slug():
    build_samples(problems=1, checkpoints=1)
    run("create_campaign", "pilot", "--run", RUN_NAME)
    with pytest.raises(CommandError, match="exists already"):
        run("create_campaign", "pilot", "--run", RUN_NAME)


def test_create_raters_writes_logins_that_work(tmp_path):
    build_samples(problems=2, checkpoints=1)
    run("create_campaign", "pilot", "--run", RUN_NAME)
    out_file = tmp_path / "raters.csv"

    run("create_raters", "--campaign", "pilot", "--count", "3", "--out", str(out_file))

    rows = list(csv.DictReader(out_file.open()))
    assert [list(row) for row in rows] == [["username", "password", "login_url"]] * 3
    assert Rater.objects.filter(campaign__slug="pilot").count() == 3
    for row in rows:
        user = authenticate(HttpRequest(), username=row["username"], password=row["password"])
        assert user is not None and not user.is_staff
        token = row["login_url"].rstrip("/").rsplit("/", 1)[1]
        assert row["login_url"].startswith("http://127.0.0.1:8000/rate/login/")
        assert user_from_token(token) == user
    assert out_file.stat().st_mode & 0o777 == 0o600


def test_the_passwords_file_is_private_from_the_moment_it_exists(tmp_path, monkeypatch):
    """A write that fails half-way leaves no readable passwords and no accounts behind."""
    from annotations.management.commands import create_raters

    build_samples(problems=1, checkpoints=1)
    run("create_campaign", "pilot", "--run", RUN_NAME)
    out_file = tmp_path / "raters.csv"
    seen_modes = []

    def failing_path(user):
        seen_modes.append(out_file.stat().st_mode & 0o777)
        raise OSError("disk full")

    monkeypatch.setattr(create_raters, "login_path", failing_path)
    with pytest.raises(OSError, match="disk full"):
        run("create_raters", "--campaign", "pilot", "--count", "2", "--out", str(out_file))

    assert seen_modes == [0o600]
    assert not out_file.exists()
    assert not Rater.objects.exists()


def test_create_raters_refuses_to_overwrite_a_file(tmp_path):
    build_samples(problems=1, checkpoints=1)
    run("create_campaign", "pilot", "--run", RUN_NAME)
    out_file = tmp_path / "raters.csv"
    out_file.write_text("precious")
    with pytest.raises(CommandError, match="exists"):
        run("create_raters", "--campaign", "pilot", "--count", "1", "--out", str(out_file))
    with pytest.raises(CommandError, match="no campaign"):
        run("create_raters", "--campaign", "nope", "--count", "1", "--out", str(tmp_path / "x"))


def test_a_changed_password_revokes_login_links():
    build_samples(problems=1, checkpoints=1)
    run("create_campaign", "pilot", "--run", RUN_NAME)
    from annotations.campaigns import raters_create
    from annotations.rating.login_links import login_token

    user = raters_create(campaign=Campaign.objects.get(), count=1)[0].rater.user
    token = login_token(user)
    user.set_password("another-long-password")
    user.save()
    assert user_from_token(token) is None


def test_a_live_campaign_takes_in_a_new_checkpoint_once_its_samples_settle():
    run_row = build_samples(problems=4, checkpoints=1)
    run("create_campaign", "pilot", "--run", RUN_NAME)
    campaign = Campaign.objects.get()
    before = CampaignItem.objects.count()
    new = CheckpointFactory(run=run_row, name="round-new", round=99)
    for sample in Sample.objects.filter(checkpoint__name="round-alpha"):
        SampleFactory(checkpoint=new, problem=sample.problem, role=sample.role,
                      is_correct=sample.is_correct, text=sample.text + " ")  # fmt: skip

    assert campaigns_take_in_new_checkpoints() == 0  # samples still arriving
    assert campaigns_take_in_new_checkpoints(now=timezone.now() + timedelta(minutes=5)) > 0
    assert campaign.checkpoints.filter(pk=new.pk).exists()
    assert CampaignItem.objects.count() == before + 16
    campaign.refresh_from_db()
    assert len(campaign.balance_keys) == 8


def test_staff_create_a_campaign_and_raters_in_the_admin(client):
    from tests.factories import StaffFactory

    run_row = build_samples(problems=3, checkpoints=2)
    client.force_login(StaffFactory())
    response = client.post(
        "/admin/annotations/campaign/add/",
        {"slug": "from-admin", "name": "From the admin", "status": "live", "runs": [run_row.pk],
         "time_limit_s": 45, "grace_s": 5, "questions_per_session": 20, "judgments_per_item": 1,
         "practice_items": 0, "rater_cap_s": 14400, "follow_new_checkpoints": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    campaign = Campaign.objects.get(slug="from-admin")
    assert campaign.checkpoints.count() == 2
    assert CampaignItem.objects.filter(campaign=campaign).count() == 3 * 2 * 4

    download = client.post(
        "/admin/annotations/campaign/",
        {"action": "create_raters", "_selected_action": [campaign.pk]},
    )
    rows = list(csv.DictReader(download.content.decode().splitlines()))
    assert len(rows) == 10 and rows[0]["campaign"] == "from-admin"
    assert Rater.objects.filter(campaign=campaign).count() == 10
