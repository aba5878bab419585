"""Staff read samples typeset as raters see them, in the admin, under the same CSP."""

import pytest

from tests.factories import SampleFactory, StaffFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_admin_shows_a_sample_typeset_and_breaks_no_csp_rule(live_server, page):
    sample = SampleFactory(text="So $x^2 = \\frac{1}{2}$, bought for $5 and $7.")
    StaffFactory(username="researcher")
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text else None)  # fmt: skip
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "a-long-test-password")
    page.click("input[type=submit]")

    page.goto(f"{live_server.url}/admin/legibility/sample/{sample.pk}/change/")
    preview = page.locator(".math-preview[data-typeset]").nth(1)
    preview.locator(".katex").first.wait_for()
    assert preview.locator(".katex").count() == 1
    assert "$5 and $7" in preview.inner_text()
    for path in ("legibility/sample/", "annotations/campaign/add/", "annotations/judgment/"):
        page.goto(f"{live_server.url}/admin/{path}")
    assert blocked == []
