"""Access and the browser's guard rails: a Content-Security-Policy with no inline code, logins
that lock after repeated failures, the schema and docs for staff only, login links that work
once, for 72 hours, and only through a confirmation, and a body limit that is the push API's
alone."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotations.rating.login_links import login_path
from tests.factories import RaterFactory, StaffFactory

pytestmark = pytest.mark.django_db

PAGES = ["login", "rate", "dashboard:index"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_carry_a_content_security_policy_and_no_inline_code(client, name):
    client.force_login(StaffFactory() if name.startswith("dashboard") else RaterFactory().user)
    if name == "login":
        client.logout()
    response = client.get(reverse(name))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe" not in policy
    html = response.content.decode()
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "an inline script"


def test_the_schema_and_docs_are_for_staff_only(client):
    for name in ("api-schema", "api-docs"):
        assert client.get(reverse(name)).status_code in {401, 403}, name
    client.force_login(RaterFactory().user)
    for name in ("api-schema", "api-docs"):
        assert client.get(reverse(name)).status_code == 403, name


@pytest.mark.parametrize("where", ["login", "admin:login"])
def test_five_failed_logins_lock_that_name_on_that_address(where):
    StaffFactory(username="boss")
    client = Client()
    codes = [
        client.post(reverse(where), {"username": "boss", "password": f"guess-{n}"}).status_code
        for n in range(6)
    ]
    assert codes[:4] == [200] * 4 and codes[4:] == [429, 429]
    locked = client.post(reverse(where), {"username": "boss", "password": "a-long-test-password"})
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    other_address = Client(REMOTE_ADDR="10.9.8.7")
    response = other_address.post(
        reverse("login"), {"username": "boss", "password": "a-long-test-password"}
    )
    assert response.status_code == 302


def test_a_login_link_asks_first_then_signs_in_once():
    rater = RaterFactory()
    link = login_path(rater.user)
    client = Client()

    asked = client.get(link)
    assert asked.status_code == 200 and b'data-testid="sign-in"' in asked.content
    assert "_auth_user_id" not in client.session  # a GET signs nobody in

    assert client.post(link)["Location"] == reverse("rate")
    assert client.session["_auth_user_id"] == str(rater.user.pk)

    again = Client()
    assert again.get(link).status_code == 403  # used: never again
    assert again.post(link).status_code == 403
    client.post(reverse("logout"))
    assert client.get(link).status_code == 403


def test_a_signed_in_staff_member_is_asked_before_being_switched_to_a_rater():
    staff, rater = StaffFactory(username="boss"), RaterFactory()
    client = Client()
    client.force_login(staff)
    link = login_path(rater.user)

    page = client.get(link).content.decode()
    assert 'data-testid="switch-warning"' in page and "boss" in page
    assert client.session["_auth_user_id"] == str(staff.pk)
    client.post(link)
    assert client.session["_auth_user_id"] == str(rater.user.pk)


def test_a_login_link_expires_after_72_hours(settings, monkeypatch):
    rater = RaterFactory()
    link = login_path(rater.user)
    later = timezone.now() + timedelta(hours=72, minutes=1)
    monkeypatch.setattr("django.core.signing.time.time", lambda: later.timestamp())
    assert Client().get(link).status_code == 403
    settings.LOGIN_LINK_HOURS = 24 * 7
    assert Client().get(link).status_code == 200


def test_only_the_push_api_takes_a_large_body(client):
    big = {"username": "x" * 3_000_000, "password": "y"}
    assert client.post(reverse("login"), big).status_code == 400
