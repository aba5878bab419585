"""The Celery application: configured from Django settings (``CELERY_*``), tasks discovered
in every installed app's ``tasks`` module."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legibility.settings")

app = Celery("legibility")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["legibility.ingest"])
