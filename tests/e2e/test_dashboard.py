import pytest
from playwright.sync_api import expect

from annotations.campaigns import campaign_create, raters_create
from annotations.rating.services import judgment_submit, rater_consent, rater_next
from tests.annotations.conftest import build_samples
from tests.factories import StaffFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_staff_reads_the_curves_and_downloads_them(live_server, page):
    campaign = campaign_create(slug="dash", runs=[build_samples(problems=6)], seed=1,
                               practice_items=0)  # fmt: skip
    for login in raters_create(campaign=campaign, count=2):
        rater_consent(rater=login.rater)
        for _ in range(5):
            step = rater_next(rater=login.rater)
            judgment_submit(rater=login.rater, assignment_id=step.assignment.pk,
                            verdict="correct", client_ms=1000, hidden_ms=0)  # fmt: skip
    StaffFactory(username="researcher")

    page.goto(f"{live_server.url}/accounts/login/?next=/dashboard/dash/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")

    expect(page.locator("[data-testid=progress-total]")).to_contain_text("10 of")
    figure = page.locator("[data-testid=figure-accuracy]")
    expect(figure).to_be_visible()
    page.wait_for_function(
        "document.querySelector('[data-testid=figure-accuracy]').naturalWidth > 0"
    )
    with page.expect_download() as download:
        page.click('a[href*="judgments.csv"]')
    assert download.value.suggested_filename == "dash-judgments.csv"
    lines = download.value.path().read_text().splitlines()
    assert lines[0].startswith("judgment_id,campaign,rater") and len(lines) == 11
