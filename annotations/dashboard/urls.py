from django.urls import path

from annotations.dashboard import views as dashboard

app_name = "dashboard"

urlpatterns = [
    path("", dashboard.index, name="index"),
    path("<slug:slug>/", dashboard.campaign_detail, name="campaign"),
    path("<slug:slug>/progress/", dashboard.campaign_progress_fragment, name="progress"),
    path("<slug:slug>/<str:table>.csv", dashboard.download, name="download"),
    path("<slug:slug>/figures/<str:name>.<str:fmt>", dashboard.figure, name="figure"),
]
