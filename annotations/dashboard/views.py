"""Staff pages: campaigns, their progress, raters, sources, curves and downloads."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render

from annotations.analysis import figures
from annotations.exports import TABLES, Switches, csv_response
from annotations.models import Campaign
from annotations.selectors import (
    campaign_analysis,
    campaign_progress,
    campaigns_with_progress,
    judgments_per_hour,
    open_assignment_count,
    totals,
)
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


def switches_of(request: HttpRequest) -> Switches:
    try:
        return Switches.from_query(request.GET)
    except ValueError as error:
        raise BadRequest(str(error)) from None


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/index.html", {"rows": campaigns_with_progress()})


@staff_required
def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    switches = switches_of(request)
    context = {
        "campaign": campaign,
        "analysis": _analysis(campaign, switches),
        "query": request.GET.urlencode(),
        "timeouts": switches.timeouts.value,
        "exclude": switches.exclude_chance_raters,
        "sources": _sources(),
        **_progress_context(campaign),
    }
    return render(request, "dashboard/campaign.html", context)


def _analysis(campaign: Campaign, switches: Switches) -> Any:
    return campaign_analysis(
        campaign,
        timeouts=switches.timeouts,
        exclude_chance_raters=switches.exclude_chance_raters,
    )


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
        "totals": totals(
            sum(int(cell["target"]) for cell in cells), sum(int(cell["done"]) for cell in cells)
        ),
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
    analysis = _analysis(campaign, switches_of(request))
    response = HttpResponse(figures.render(analysis, name, fmt), content_type=figures.FORMATS[fmt])
    if request.GET.get("download"):
        filename = f"{campaign.slug}-{name}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@staff_required
def download(request: HttpRequest, slug: str, table: str) -> StreamingHttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    if table not in TABLES:
        raise Http404("no such table")
    return csv_response(campaign, table, switches_of(request))
