import math
from dataclasses import asdict
from typing import Any

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.exports import Switches, csv_response
from annotations.models import Campaign
from annotations.selectors import campaign_analysis

SWITCHES = [
    OpenApiParameter("timeouts", str, enum=["wrong", "excluded"], description="default: wrong"),
    OpenApiParameter("raters", str, enum=["all"], description="all: keep chance-level raters"),
]


class CampaignListApi(APIView):
    class OutputSerializer(serializers.ModelSerializer[Campaign]):
        class Meta:
            model = Campaign
            fields = ["slug", "name", "status", "time_limit_s", "judgments_per_item", "created_at"]

    serializer_class = OutputSerializer

    def get(self, request: Request) -> Response:
        campaigns = Campaign.objects.all()
        return Response(self.OutputSerializer(campaigns, many=True).data)


class CampaignCurvesApi(APIView):
    """The per-checkpoint figures as JSON: accuracy, time to correctly label, timeouts, each
    with its 95% interval; raters at chance; the trend over rounds; accuracy by pass rate."""

    @extend_schema(parameters=SWITCHES, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, slug: str) -> Response:
        campaign = get_object_or_404(Campaign, slug=slug)
        switches = _switches(request)
        analysis = campaign_analysis(
            campaign,
            timeouts=switches.timeouts,
            exclude_chance_raters=switches.exclude_chance_raters,
        )
        return Response(
            _finite(
                {
                    "campaign": campaign.slug,
                    "timeouts": analysis.timeouts.value,
                    "excluded_raters": sorted(analysis.excluded_raters),
                    "curves": [asdict(curve) for curve in analysis.curves],
                    "trends": [asdict(trend) for trend in analysis.trends],
                    "pass_rate_quartiles": [asdict(q) for q in analysis.quartiles],
                    "accuracy_by_level": [asdict(level) for level in analysis.levels],
                    "raters": [asdict(rater) for rater in analysis.raters],
                }
            )
        )


def _switches(request: Request) -> Switches:
    try:
        return Switches.from_query(request.query_params)
    except ValueError as error:
        raise ParseError(str(error)) from None


def _finite(value: Any) -> Any:
    """JSON has no NaN: a statistic that could not be computed is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class _CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"

    def render(self, data: Any, accepted_media_type: Any = None, context: Any = None) -> Any:
        return data


class CampaignTableApi(APIView):
    """A campaign's table as CSV, streamed: judgments (one row per judgment), summary (one row
    per checkpoint and role) or raters."""

    renderer_classes = [_CsvRenderer, JSONRenderer]
    table = ""

    @extend_schema(parameters=SWITCHES, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        campaign = get_object_or_404(Campaign, slug=slug)
        return csv_response(campaign, self.table, _switches(request))
