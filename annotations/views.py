"""The rater's pages, under /rate/. One page template defines its fragments; htmx requests get
the fragment that changed, plain form posts (htmx not loaded) get a redirect to the page."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from annotations.instructions import render_instructions
from annotations.login_links import user_from_token
from annotations.models import Assignment, Judgment, Rater
from annotations.services import (
    AssignmentClosed,
    RaterStep,
    judgment_submit,
    judgment_submit_and_next,
    rater_consent,
    rater_next,
    rater_session_start,
)

TEMPLATE = "annotations/rate.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def rater_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; signed-in users who are not raters get 403."""

    @wraps(view)
    @never_cache
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        rater = Rater.objects.filter(user=request.user).select_related("campaign").first()
        if rater is None:
            raise PermissionDenied("This account is not a rater in any campaign.")
        return view(request, rater, *args, **kwargs)

    return wrapper


def _page(request: HtmxHttpRequest, rater: Rater, **context: Any) -> HttpResponse:
    step = context.get("step") or rater_next(rater=rater)
    context = {
        "step": step,
        "campaign": rater.campaign,
        "instructions": render_instructions(
            rater.campaign.instructions, time_limit_s=rater.campaign.time_limit_s
        ),
        "grace_ms": rater.campaign.grace_s * 1000,
        **context,
    }
    template = TEMPLATE + "#stage" if request.htmx else TEMPLATE
    return render(request, template, context)


@require_GET
@rater_required
def rate(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    feedback = request.session.pop("practice_feedback", None)
    if feedback is not None:  # a practice answer posted without htmx
        return _page(request, rater, step=RaterStep("feedback"), feedback=feedback)
    return _page(request, rater)


@require_POST
@rater_required
def consent(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    rater_consent(rater=rater)
    return _after_post(request, rater)


@require_POST
@rater_required
def next_session(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    rater_session_start(rater=rater)
    return _after_post(request, rater)


@require_POST
@rater_required
def answer(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    verdict = request.POST.get("verdict") or None
    if verdict not in {None, Judgment.Verdict.CORRECT, Judgment.Verdict.INCORRECT}:
        return HttpResponse("verdict must be 'correct' or 'incorrect'", status=400)
    assignment_id = request.POST.get("assignment", "")
    client_ms = _milliseconds(request.POST.get("client_ms"))
    hidden_ms = _milliseconds(request.POST.get("hidden_ms"))
    step: RaterStep | None = None
    try:
        # through htmx the response shows the next item: issued in the answer's transaction
        if request.htmx:
            judgment, step = judgment_submit_and_next(
                rater=rater, assignment_id=assignment_id, verdict=verdict,
                client_ms=client_ms, hidden_ms=hidden_ms,
            )  # fmt: skip
        else:
            judgment = judgment_submit(
                rater=rater, assignment_id=assignment_id, verdict=verdict,
                client_ms=client_ms, hidden_ms=hidden_ms,
            )  # fmt: skip
    except (Assignment.DoesNotExist, ValidationError, ValueError) as error:
        # not this rater's assignment, or not an assignment id at all: the same answer for both
        raise Http404("No such open item.") from error
    except AssignmentClosed:
        return _after_post(request, rater)  # a double submit: show what comes next
    if judgment.assignment.is_practice:
        return _feedback(request, rater, judgment)
    if step is not None:
        return _page(request, rater, step=step)
    return _after_post(request, rater)


def _feedback(request: HtmxHttpRequest, rater: Rater, judgment: Judgment) -> HttpResponse:
    """Practice only: say whether the rater was right. Main items never get this."""
    sample_correct = judgment.assignment.item.sample_is_correct
    verdict_correct = judgment.verdict == Judgment.Verdict.CORRECT
    feedback = {
        "timed_out": judgment.timed_out,
        "rater_right": not judgment.timed_out and verdict_correct == sample_correct,
        "sample_correct": sample_correct,
    }
    if not request.htmx:
        request.session["practice_feedback"] = feedback
        return redirect("rate")
    return _page(request, rater, step=RaterStep("feedback"), feedback=feedback)


def _after_post(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    if request.htmx:
        return _page(request, rater)
    return redirect("rate")


def _milliseconds(value: str | None) -> int | None:
    """A client-side timing, if it is a plausible one (0 to 24 hours)."""
    try:
        number = round(float(value or ""))
    except ValueError:
        return None
    return number if 0 <= number <= 24 * 3600 * 1000 else None


@require_GET
def login_link(request: HtmxHttpRequest, token: str) -> HttpResponse:
    user = user_from_token(token)
    if user is None:
        return render(request, "annotations/link_invalid.html", status=403)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # type: ignore[arg-type]
    return redirect("rate")
