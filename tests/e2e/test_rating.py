"""A rater judging in a real Chromium, against the live server."""

import pytest
from playwright.sync_api import Page, expect

from annotations.campaigns import campaign_create, raters_create
from annotations.models import Campaign, Judgment
from annotations.rating.login_links import login_path
from legibility.models import Sample
from tests.annotations.conftest import build_samples

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def campaign(**settings) -> Campaign:
    run = build_samples(problems=8, checkpoints=2)
    settings.setdefault("practice_items", 0)
    return campaign_create(slug="browser", runs=[run], seed=3, **settings)


def log_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/rate/")


def main_judgments():
    return list(
        Judgment.objects.filter(assignment__is_practice=False).order_by("assignment__position")
    )


def test_rater_logs_in_practices_and_judges_by_click_and_by_keyboard(live_server, page):
    login = raters_create(campaign=campaign(practice_items=1), count=1)[0]
    log_in(page, live_server.url, login.username, login.password)

    page.click("[data-testid=consent]")
    expect(page.locator("[data-testid=position]")).to_have_text("Practice 1 of 1")
    page.click("[data-verdict=correct]")
    expect(page.locator("[data-testid=feedback]")).to_be_visible()
    page.click("[data-testid=next]")

    expect(page.locator("[data-testid=position]")).to_have_text("Question 1 of 20")
    expect(page.locator("[data-testid=solution]")).to_be_visible()
    page.wait_for_timeout(1500)
    page.click("[data-verdict=correct]")

    expect(page.locator("[data-testid=position]")).to_have_text("Question 2 of 20")
    page.wait_for_timeout(1000)
    page.wait_for_selector("#stage[data-ready]")
    page.keyboard.press("i")
    expect(page.locator("[data-testid=position]")).to_have_text("Question 3 of 20")
    page.wait_for_selector("#stage[data-ready]")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("[data-testid=position]")).to_have_text("Question 4 of 20")
    page.wait_for_selector("#stage[data-ready]")
    page.keyboard.press("ArrowRight")
    expect(page.locator("[data-testid=position]")).to_have_text("Question 5 of 20")

    judged = main_judgments()
    assert [j.verdict for j in judged] == ["correct", "incorrect", "correct", "incorrect"]
    assert abs(judged[0].client_ms - 1500) <= 150, judged[0].client_ms
    assert abs(judged[1].client_ms - 1000) <= 150, judged[1].client_ms
    assert all(j.hidden_ms == 0 and not j.timed_out for j in judged)
    assert all(j.server_ms >= j.client_ms - 50 for j in judged)
    page.reload()  # the page is the same after a full reload: the open item, its countdown
    expect(page.locator("[data-testid=position]")).to_have_text("Question 5 of 20")


def test_an_item_left_alone_times_out_and_the_next_one_follows(live_server, page):
    login = raters_create(campaign=campaign(time_limit_s=2), count=1)[0]
    Campaign.objects.update(grace_s=1)
    log_in(page, live_server.url, login.username, login.password)
    page.click("[data-testid=consent]")
    expect(page.locator("[data-testid=countdown]")).to_have_text("2")

    expect(page.locator(".timeup")).to_be_visible(timeout=4000)
    expect(page.locator("[data-testid=position]")).to_have_text("Question 2 of 20", timeout=5000)

    (judgment,) = main_judgments()
    assert judgment.timed_out and judgment.verdict == ""
    assert 2900 <= judgment.server_ms <= 3000  # limit + grace, capped at the hard deadline


def test_a_solution_with_html_and_script_is_shown_as_text(live_server, page):
    built = campaign()
    Sample.objects.update(text="<script>window.pwned = 1</script><b>bold?</b>\n#### 7")
    login = raters_create(campaign=built, count=1)[0]
    log_in(page, live_server.url, login.username, login.password)
    page.click("[data-testid=consent]")

    solution = page.locator("[data-testid=solution]")
    expect(solution).to_contain_text("<script>window.pwned = 1</script><b>bold?</b>")
    assert page.evaluate("window.pwned") is None
    assert solution.locator("b").count() == 0


def test_judging_still_works_when_htmx_fails_to_load(live_server, page):
    login = raters_create(campaign=campaign(), count=1)[0]
    page.route("**/htmx*.js", lambda route: route.abort())
    log_in(page, live_server.url, login.username, login.password)
    page.click("[data-testid=consent]")
    expect(page.locator("[data-testid=position]")).to_have_text("Question 1 of 20")
    page.wait_for_timeout(800)
    page.click("[data-verdict=incorrect]")
    expect(page.locator("[data-testid=position]")).to_have_text("Question 2 of 20")
    page.wait_for_selector("#stage[data-ready]")
    page.keyboard.press("c")
    expect(page.locator("[data-testid=position]")).to_have_text("Question 3 of 20")

    judged = main_judgments()
    assert [j.verdict for j in judged] == ["incorrect", "correct"]
    assert abs(judged[0].client_ms - 800) <= 150


def test_the_login_link_signs_the_rater_in(live_server, page):
    login = raters_create(campaign=campaign(), count=1)[0]
    page.goto(live_server.url + login_path(login.rater.user))
    page.click("[data-testid=sign-in]")
    expect(page.locator("[data-testid=consent]")).to_be_visible()
    page.goto(f"{live_server.url}/rate/login/forged-token/")
    expect(page.locator("h1")).to_have_text("This login link is not valid")


def set_visibility(page: Page, state: str) -> None:
    """What the browser does when the rater switches tab and back (headless Chromium has no
    other tab to switch to): the page's visibility changes and it is told."""
    page.evaluate(
        """state => {
            const set = (name, value) =>
                Object.defineProperty(document, name, {value: value, configurable: true});
            set("visibilityState", state);
            set("hidden", state === "hidden");
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_time_with_the_tab_hidden_is_recorded_apart(live_server, page):
    login = raters_create(campaign=campaign(), count=1)[0]
    log_in(page, live_server.url, login.username, login.password)
    page.click("[data-testid=consent]")
    page.wait_for_selector("#stage[data-ready]")

    page.wait_for_timeout(300)
    set_visibility(page, "hidden")
    page.wait_for_timeout(800)
    set_visibility(page, "visible")
    page.wait_for_timeout(300)
    page.click("[data-verdict=correct]")
    expect(page.locator("[data-testid=position]")).to_have_text("Question 2 of 20")

    judged = main_judgments()[0]
    assert abs(judged.hidden_ms - 800) <= 150, judged.hidden_ms
    assert judged.client_ms >= 1400 - 150  # the whole time on the item, hidden part included


def test_no_page_breaks_the_content_security_policy(live_server, page):
    """Rater pages and the dashboard run under the CSP with nothing blocked: no inline script
    or style anywhere, htmx's swaps included."""
    from tests.factories import StaffFactory

    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)  # fmt: skip
    login = raters_create(campaign=campaign(practice_items=1), count=1)[0]
    log_in(page, live_server.url, login.username, login.password)
    page.click("[data-testid=consent]")
    page.click("[data-verdict=correct]")
    page.click("[data-testid=next]")
    page.wait_for_selector("#stage[data-ready]")
    page.click("[data-verdict=incorrect]")
    expect(page.locator("[data-testid=position]")).to_have_text("Question 2 of 20")

    StaffFactory(username="researcher")
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/dashboard/browser/")
    page.wait_for_selector("[data-testid=progress-total]")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("text=/api/v1/campaigns/", timeout=10_000)
    assert blocked == []
