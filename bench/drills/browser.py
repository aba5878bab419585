"""A drill's raters in browsers of their own: httpx clients logged in through their login links,
shown an item, answering it, or closing the tab with it open."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx


@contextmanager
def rater_browser(base_url: str, campaign: Any) -> Iterator[tuple[httpx.Client, Any]]:
    """A new rater, logged in through their login link in a browser of their own."""
    browser, rater = open_rater(base_url, campaign)
    try:
        yield browser, rater
    finally:
        browser.close()


def open_rater(base_url: str, campaign: Any) -> tuple[httpx.Client, Any]:
    """A rater who consented and is past any practice items, in a logged-in browser."""
    from django.utils import timezone

    from annotations.campaigns import raters_create
    from annotations.models import Rater
    from annotations.rating.login_links import login_path
    from annotations.rating.services import rater_consent

    login = raters_create(campaign=campaign, count=1)[0]
    rater_consent(rater=login.rater)
    Rater.objects.filter(pk=login.rater.pk).update(practice_done_at=timezone.now())
    browser = httpx.Client(base_url=base_url, timeout=30, follow_redirects=True)
    link = login_path(login.rater.user)
    # the link's page asks; its form signs in, as a person's click would
    asked = browser.get(link)
    asked.raise_for_status()
    confirm = {"csrfmiddlewaretoken": field_of(asked.text, "csrfmiddlewaretoken")}
    browser.post(link, data=confirm, headers={"Referer": base_url + link}).raise_for_status()
    return browser, login.rater


def show_main_item(browser: httpx.Client) -> str:
    page = browser.get("/rate/")
    page.raise_for_status()
    if 'name="assignment"' not in page.text:
        raise RuntimeError("the rater was shown no item")
    return page.text


def field_of(page: str, name: str) -> str:
    marker = f'name="{name}" value="'
    return page.split(marker, 1)[1].split('"', 1)[0]


def answer(browser: httpx.Client, page: str, verdict: str) -> httpx.Response:
    return browser.post("/rate/answer/", data={
        "assignment": field_of(page, "assignment"), "verdict": verdict, "client_ms": "5000",
        "hidden_ms": "0", "csrfmiddlewaretoken": field_of(page, "csrfmiddlewaretoken"),
    })  # fmt: skip


def abandon_an_item(base_url: str, campaign: Any) -> Any:
    """A rater who opens an item and closes the tab: the assignment stays open."""
    from annotations.models import Assignment

    with rater_browser(base_url, campaign) as (browser, rater):
        show_main_item(browser)
    return Assignment.objects.get(rater=rater, state=Assignment.State.OPEN)
