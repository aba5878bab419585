from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotations.models import Campaign


class CampaignListApi(APIView):
    class OutputSerializer(serializers.ModelSerializer[Campaign]):
        class Meta:
            model = Campaign
            fields = ["slug", "name", "status", "time_limit_s", "judgments_per_item", "created_at"]

    serializer_class = OutputSerializer

    def get(self, request: Request) -> Response:
        campaigns = Campaign.objects.all()
        return Response(self.OutputSerializer(campaigns, many=True).data)
