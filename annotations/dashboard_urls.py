from django.urls import path

from annotations import dashboard

app_name = "dashboard"

urlpatterns = [
    path("", dashboard.index, name="index"),
]
