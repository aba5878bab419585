from django.urls import path

from legibility.api import views

urlpatterns = [
    path("samples/", views.SampleBatchIngestApi.as_view(), name="api-sample-push"),
]
