import struct
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from annotations.campaigns import campaign_create, raters_create
from annotations.rating.services import judgment_submit, rater_consent, rater_next
from tests.annotations.conftest import build_samples

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = ["rater-consent.png", "rater-practice-feedback.png", "rater-question.png",
         "dashboard-progress.png", "dashboard-curves.png"]  # fmt: skip


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_readme_screenshots_are_taken_from_the_running_app(tmp_path, chromium_path):
    campaign = campaign_create(slug="shots", runs=[build_samples(problems=8)], seed=1,
                               practice_items=1)  # fmt: skip
    for login in raters_create(campaign=campaign, count=2):
        rater_consent(rater=login.rater)
        for _ in range(4):  # the practice item, then three questions
            step = rater_next(rater=login.rater)
            judgment_submit(rater=login.rater, assignment_id=step.assignment.pk,
                            verdict="correct", client_ms=1000, hidden_ms=0)  # fmt: skip
    out = StringIO()

    def take() -> None:
        try:
            call_command("take_screenshots", "--campaign", "shots", "--out", str(tmp_path),
                         "--chromium", chromium_path, stdout=out)  # fmt: skip
        finally:
            connection.close()

    # a thread of its own: the session's browser fixture may hold Playwright's loop in this one
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(take).result()

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SHOTS)
    for name in SHOTS:
        width, height = png_size((tmp_path / name).read_bytes())
        assert width >= 800 and height >= 300, name
    assert out.getvalue().count("wrote ") == len(SHOTS)
    # the staff login the screenshots used cannot be used again
    assert not get_user_model().objects.get(username="screenshots").has_usable_password()


def test_take_screenshots_needs_a_live_campaign(tmp_path):
    with pytest.raises(CommandError, match="no campaign 'nope'"):
        call_command("take_screenshots", "--campaign", "nope", "--out", str(tmp_path))
