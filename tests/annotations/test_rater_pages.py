"""The rater's pages over HTTP: access, CSRF, htmx and plain posts, and blinding."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotations.models import Judgment
from tests.annotations.conftest import CHECKPOINT_NAMES, RUN_NAME
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def assignment_id(response) -> str:
    return re.search(rb'name="assignment" value="([0-9a-f-]+)"', response.content)[1].decode()


def test_anonymous_users_are_sent_to_login(client):
    response = client.get(reverse("rate"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_staff_without_a_rater_account_gets_403(client):
    client.force_login(StaffFactory())
    assert client.get(reverse("rate")).status_code == 403


def test_a_rater_gets_403_on_staff_pages_and_the_api(client, make_campaign, make_rater):
    client.force_login(make_rater(make_campaign()).user)
    assert client.get(reverse("dashboard:index")).status_code == 403
    assert client.get(reverse("api-campaign-list")).status_code == 403


def test_the_page_has_the_stable_test_hooks(client, make_campaign, make_rater):
    client.force_login(make_rater(make_campaign()).user)
    html = client.get(reverse("rate")).content.decode()
    hooks = ['data-testid="countdown"', 'data-testid="problem"', 'data-testid="solution"',
             'data-verdict="correct"', 'data-verdict="incorrect"', "Question 1 of 20"]  # fmt: skip
    for hook in hooks:
        assert hook in html


def test_an_htmx_answer_returns_the_next_task_fragment(client, make_campaign, make_rater):
    client.force_login(make_rater(make_campaign()).user)
    first = assignment_id(client.get(reverse("rate")))

    response = client.post(
        reverse("rate-answer"), {"assignment": first, "verdict": "correct", "client_ms": "4321"},
        **HTMX,
    )  # fmt: skip

    assert response.status_code == 200
    assert not response.content.lstrip().startswith(b"<!doctype")
    assert b"Question 2 of 20" in response.content
    assert Judgment.objects.get().client_ms == 4321


def test_a_plain_form_post_works_without_htmx(client, make_campaign, make_rater):
    client.force_login(make_rater(make_campaign()).user)
    first = assignment_id(client.get(reverse("rate")))
    response = client.post(reverse("rate-answer"), {"assignment": first, "verdict": "incorrect"})
    assert response.status_code == 302 and response["Location"] == reverse("rate")
    assert b"Question 2 of 20" in client.get(reverse("rate")).content


def test_csrf_is_enforced(make_campaign, make_rater):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_rater(make_campaign()).user)
    first = assignment_id(client.get(reverse("rate")))
    response = client.post(reverse("rate-answer"), {"assignment": first, "verdict": "correct"})
    assert response.status_code == 403
    assert not Judgment.objects.exists()


def test_another_raters_assignment_or_garbage_is_404(client, make_campaign, make_rater):
    campaign = make_campaign()
    owner = Client()
    owner.force_login(make_rater(campaign).user)
    theirs = assignment_id(owner.get(reverse("rate")))
    client.force_login(make_rater(campaign).user)
    for bad in (theirs, "not-a-uuid", ""):
        response = client.post(reverse("rate-answer"), {"assignment": bad, "verdict": "correct"})
        assert response.status_code == 404, bad
    assert not Judgment.objects.exists()


def test_a_replayed_answer_stores_nothing_more(client, make_campaign, make_rater):
    client.force_login(make_rater(make_campaign()).user)
    first = assignment_id(client.get(reverse("rate")))
    for _ in range(3):
        client.post(reverse("rate-answer"), {"assignment": first, "verdict": "correct"}, **HTMX)
    assert Judgment.objects.count() == 1


@pytest.mark.parametrize("timing", ["inf", "-inf", "nan", "1e999", "ten", "-5"])
def test_an_impossible_client_timing_is_dropped_and_the_answer_kept(
    client, make_campaign, make_rater, timing
):
    client.force_login(make_rater(make_campaign()).user)
    first = assignment_id(client.get(reverse("rate")))
    response = client.post(
        reverse("rate-answer"),
        {"assignment": first, "verdict": "correct", "client_ms": timing, "hidden_ms": timing},
    )
    assert response.status_code == 302
    judgment = Judgment.objects.get()
    assert (judgment.verdict, judgment.client_ms, judgment.hidden_ms) == ("correct", None, None)


def test_a_bad_verdict_is_a_400(client, make_campaign, make_rater):
    client.force_login(make_rater(make_campaign()).user)
    first = assignment_id(client.get(reverse("rate")))
    response = client.post(reverse("rate-answer"), {"assignment": first, "verdict": "maybe"})
    assert response.status_code == 400


def test_practice_gives_feedback_and_main_items_do_not(client, make_campaign, make_rater):
    client.force_login(make_rater(make_campaign(practice_items=1)).user)
    practice = assignment_id(client.get(reverse("rate")))
    feedback = client.post(
        reverse("rate-answer"), {"assignment": practice, "verdict": "correct"}, **HTMX
    )
    assert b'data-testid="feedback"' in feedback.content

    main = assignment_id(client.get(reverse("rate"), **HTMX))
    after = client.post(reverse("rate-answer"), {"assignment": main, "verdict": "correct"}, **HTMX)
    assert b'data-testid="feedback"' not in after.content
    assert b"This practice solution was" not in after.content


def test_consent_page_renders_markdown_instructions_safely(client, make_campaign, make_rater):
    campaign = make_campaign()
    campaign.instructions = "## Read this\n\n<script>alert(1)</script> **bold**"
    campaign.save()
    client.force_login(make_rater(campaign, consented=False).user)
    html = client.get(reverse("rate")).content.decode()
    assert "<h2>Read this</h2>" in html and "<strong>bold</strong>" in html
    assert "<script>alert(1)</script>" not in html
    client.post(reverse("rate-consent"))
    assert "Question 1 of" in client.get(reverse("rate")).content.decode()


def test_nothing_a_rater_receives_names_the_design(client, make_campaign, make_rater):
    """Every response of a whole rater session, searched for what must stay hidden."""
    campaign = make_campaign(practice_items=1, questions_per_session=6)
    rater = make_rater(campaign, consented=False)
    client.force_login(rater.user)
    responses = [client.get(reverse("rate"))]
    responses.append(client.post(reverse("rate-consent"), **HTMX))
    for _ in range(7):
        page = responses[-1]
        if b'name="assignment"' not in page.content:
            page = client.get(reverse("rate"), **HTMX)
            responses.append(page)
        verdict = "correct" if len(responses) % 2 else "incorrect"
        responses.append(client.post(
            reverse("rate-answer"), {"assignment": assignment_id(page), "verdict": verdict}, **HTMX
        ))  # fmt: skip
    responses.append(client.get(reverse("rate")))

    judged = Judgment.objects.select_related("assignment__item__sample__problem").filter(
        assignment__is_practice=False
    )
    assert judged.count() == 6
    forbidden = [RUN_NAME, *CHECKPOINT_NAMES, "helpful", "sneaky", "0.8765", "0.1234",
                 "round 7", "round-7", "is_correct", "sample_is_correct", "verifier"]  # fmt: skip
    for judgment in judged:
        item = judgment.assignment.item
        forbidden += [f"sample/{item.sample_id}", f'"{item.pk}"', f"item={item.pk}"]
        if not item.sample_is_correct:  # the ground truth, nowhere in a wrong solution's page
            forbidden.append(f"#### {item.sample.problem.answer}\n")
    for response in responses:
        text = response.content.decode() + "\n".join(f"{k}: {v}" for k, v in response.items())
        for value in forbidden:
            assert value not in text, f"{value!r} leaked in a response to the rater"


def test_rating_goes_on_while_the_broker_is_down(client, make_campaign, make_rater):
    """The rater's path needs only the database: with Redis unreachable nothing changes."""
    from legibility.celery import app as celery_app

    previous = celery_app.conf.broker_url, celery_app.conf.task_always_eager
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    celery_app.conf.task_always_eager = False
    try:
        client.force_login(make_rater(make_campaign()).user)
        for _ in range(3):
            page = client.get(reverse("rate"))
            client.post(reverse("rate-answer"), {"assignment": assignment_id(page),
                                                 "verdict": "correct"})  # fmt: skip
    finally:
        celery_app.conf.broker_url, celery_app.conf.task_always_eager = previous
    assert Judgment.objects.count() == 3
