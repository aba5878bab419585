from django.urls import path

from annotations.api import views
from annotations.exports import TABLES

urlpatterns = [
    path("campaigns/", views.CampaignListApi.as_view(), name="api-campaign-list"),
    path("campaigns/<slug:slug>/curves/", views.CampaignCurvesApi.as_view(), name="api-curves"),
] + [
    path(
        f"campaigns/<slug:slug>/{table}/",
        views.CampaignTableApi.as_view(table=table),
        name=f"api-{table}",
    )
    for table in TABLES
]
