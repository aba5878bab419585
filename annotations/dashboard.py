"""Staff pages: campaigns, their progress, raters, sources, curves and downloads."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render

from annotations import exports, figures
from annotations.analysis import Timeouts
from annotations.models import Campaign
from annotations.selectors import campaign_progress, judgments_per_hour, open_assignment_count
from legibility.models import IngestRun, SampleSource


def staff_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Anonymous users go to the login page; signed-in non-staff (raters) get 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def analysis_options(request: HttpRequest) -> tuple[Timeouts, bool]:
    """The switches every figure and export honours: ?timeouts=wrong|excluded&raters=all."""
    try:
        timeouts = Timeouts(request.GET.get("timeouts", Timeouts.WRONG))
    except ValueError:
        raise Http404("timeouts must be 'wrong' or 'excluded'") from None
    return timeouts, request.GET.get("raters") != "all"


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    campaigns = list(Campaign.objects.all())
    progress = {c.pk: _totals(campaign_progress(c)) for c in campaigns}
    rows = [(campaign, progress[campaign.pk]) for campaign in campaigns]
    return render(request, "dashboard/index.html", {"rows": rows})


def _totals(cells: list[dict[str, Any]]) -> dict[str, int]:
    target = sum(cell["target"] for cell in cells)
    done = sum(cell["done"] for cell in cells)
    return {"target": target, "done": done, "percent": round(100 * done / target) if target else 0}


@staff_required
def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    timeouts, exclude = analysis_options(request)
    analysis = exports.campaign_analysis(campaign, timeouts=timeouts, exclude_chance_raters=exclude)
    context = {
        "campaign": campaign,
        "analysis": analysis,
        "query": request.GET.urlencode(),
        "timeouts": timeouts.value,
        "exclude": exclude,
        "sources": _sources(),
        **_progress_context(campaign),
    }
    return render(request, "dashboard/campaign.html", context)


@staff_required
def campaign_progress_fragment(request: HttpRequest, slug: str) -> HttpResponse:
    """Polled by the page through htmx: numbers only, the figures stay as they are."""
    campaign = get_object_or_404(Campaign, slug=slug)
    context = {"campaign": campaign, **_progress_context(campaign)}
    return render(request, "dashboard/campaign.html#progress", context)


def _progress_context(campaign: Campaign) -> dict[str, Any]:
    cells = campaign_progress(campaign)
    return {
        "cells": cells,
        "totals": _totals(cells),
        "per_hour": judgments_per_hour(campaign),
        "open_now": open_assignment_count(campaign),
    }


def _sources() -> list[tuple[SampleSource, list[IngestRun]]]:
    sources = list(SampleSource.objects.all())
    recent: dict[int, list[IngestRun]] = {source.pk: [] for source in sources}
    for run in IngestRun.objects.filter(source__in=sources).order_by("-started_at")[:200]:
        if run.source_id is not None and len(recent[run.source_id]) < 3:
            recent[run.source_id].append(run)
    return [(source, recent[source.pk]) for source in sources]


@staff_required
def figure(request: HttpRequest, slug: str, name: str, fmt: str) -> HttpResponse:
    if name not in figures.FIGURES or fmt not in figures.FORMATS:
        raise Http404("no such figure")
    campaign = get_object_or_404(Campaign, slug=slug)
    timeouts, exclude = analysis_options(request)
    analysis = exports.campaign_analysis(campaign, timeouts=timeouts, exclude_chance_raters=exclude)
    response = HttpResponse(figures.render(analysis, name, fmt), content_type=figures.FORMATS[fmt])
    if request.GET.get("download"):
        filename = f"{campaign.slug}-{name}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@staff_required
def download(request: HttpRequest, slug: str, table: str) -> StreamingHttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    return csv_response(campaign, table, request)


def csv_response(campaign: Campaign, table: str, request: HttpRequest) -> StreamingHttpResponse:
    """A CSV table of the campaign, streamed; shared by the dashboard and the API."""
    timeouts, exclude = analysis_options(request)
    if table == "judgments":
        lines = exports.judgments_csv(campaign, timeouts=timeouts)
    elif table in {"summary", "raters"}:
        analysis = exports.campaign_analysis(
            campaign, timeouts=timeouts, exclude_chance_raters=exclude
        )
        lines = (exports.summary_csv if table == "summary" else exports.raters_csv)(analysis)
    else:
        raise Http404("no such table")
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{campaign.slug}-{table}.csv"'
    return response
