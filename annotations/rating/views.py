"""The rater's pages, under /rate/. Each view calls one service and renders what follows: the
page template defines its fragments, htmx requests get the fragment, plain form posts (htmx not
loaded) get a redirect to the page."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from annotations.models import Assignment, Judgment, Rater
from annotations.rating.flow import RaterStep, StepKind
from annotations.rating.instructions import render_instructions
from annotations.rating.login_links import user_from_token
from annotations.rating.services import (
    AssignmentClosed,
    judgment_submit,
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


def _render(
    request: HtmxHttpRequest, rater: Rater, step: RaterStep, **context: Any
) -> HttpResponse:
    """The page, or through htmx its stage fragment, showing ``step``. Reads only."""
    campaign = rater.campaign
    context = {
        "step": step,
        "campaign": campaign,
        "instructions": render_instructions(
            campaign.instructions, time_limit_s=campaign.time_limit_s
        ),
        "grace_ms": campaign.grace_s * 1000,
        **context,
    }
    template = TEMPLATE + "#stage" if request.htmx else TEMPLATE
    return render(request, template, context)


def _next_page(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    """After a post: through htmx the current step's fragment; without, a redirect to the page."""
    if request.htmx:
        return _render(request, rater, rater_next(rater=rater))
    return redirect("rate")


@require_GET
@rater_required
def rate(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    feedback = request.session.pop("practice_feedback", None)
    if feedback is not None:  # a practice answer posted without htmx
        return _render(request, rater, RaterStep(StepKind.FEEDBACK), feedback=feedback)
    # the one GET that writes: the rater's current item, issued on first ask
    return _render(request, rater, rater_next(rater=rater))


@require_POST
@rater_required
def consent(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    rater_consent(rater=rater)
    return _next_page(request, rater)


@require_POST
@rater_required
def next_session(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    rater_session_start(rater=rater)
    return _next_page(request, rater)


@require_POST
@rater_required
def answer(request: HtmxHttpRequest, rater: Rater) -> HttpResponse:
    verdict = request.POST.get("verdict") or None
    if verdict not in {None, Judgment.Verdict.CORRECT, Judgment.Verdict.INCORRECT}:
        return HttpResponse("verdict must be 'correct' or 'incorrect'", status=400)
    try:
        # the next item is issued in the answer's transaction, whichever way the page answers
        judgment, step = judgment_submit(
            rater=rater,
            assignment_id=request.POST.get("assignment", ""),
            verdict=verdict,
            client_ms=_milliseconds(request.POST.get("client_ms")),
            hidden_ms=_milliseconds(request.POST.get("hidden_ms")),
        )
    except (Assignment.DoesNotExist, ValidationError, ValueError) as error:
        # not this rater's assignment, or not an assignment id at all: the same answer for both
        raise Http404("No such open item.") from error
    except AssignmentClosed:
        return _next_page(request, rater)  # a double submit: show what comes next
    if step is None:  # practice: feedback first
        return _feedback(request, rater, judgment)
    if request.htmx:
        return _render(request, rater, step)
    return redirect("rate")


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
    return _render(request, rater, RaterStep(StepKind.FEEDBACK), feedback=feedback)


def _milliseconds(value: str | None) -> int | None:
    """A client-side timing, if it is a plausible one (0 to 24 hours)."""
    try:
        number = round(float(value or ""))
    except (ValueError, OverflowError):  # not a number, or nan, or inf
        return None
    return number if 0 <= number <= 24 * 3600 * 1000 else None


@require_http_methods(["GET", "POST"])
@never_cache
def login_link(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """GET asks whether to sign in (and says who is signed in now); POST signs in, once."""
    user = user_from_token(token)
    if user is None:
        return render(request, "annotations/link_invalid.html", status=403)
    if request.method == "GET":
        current = request.user if request.user.is_authenticated else None
        if current is not None and current.pk == user.pk:
            return redirect("rate")
        return render(request, "annotations/link_confirm.html", {"current": current})
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")  # type: ignore[arg-type]
    return redirect("rate")
