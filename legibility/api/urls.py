from django.urls import path

from annotations.api import views as annotation_views

urlpatterns = [
    path("campaigns/", annotation_views.CampaignListApi.as_view(), name="api-campaign-list"),
]
