import pytest

from tests.factories import StaffFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_staff_logs_in_and_reaches_the_dashboard(live_server, page):
    StaffFactory(username="researcher")

    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")

    page.wait_for_url(f"{live_server.url}/dashboard/")
    assert page.locator("h1").inner_text() == "Campaigns"


def test_wrong_password_keeps_the_user_on_the_login_page(live_server, page):
    StaffFactory(username="researcher")

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")

    assert "/accounts/login/" in page.url
    assert page.locator(".errorlist").is_visible()


def test_api_docs_render_in_the_browser_without_a_cdn(live_server, page):
    StaffFactory(username="researcher")
    page.goto(f"{live_server.url}/accounts/login/?next=/api/docs/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")

    page.wait_for_selector("text=/api/v1/campaigns/", timeout=10_000)
    assert "Legibility API" in page.locator("body").inner_text()
