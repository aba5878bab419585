from django.urls import path

from annotations.api import views

urlpatterns = [
    path("campaigns/", views.CampaignListApi.as_view(), name="api-campaign-list"),
]
