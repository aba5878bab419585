from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from legibility.ingest.polling import sources_claim_due
from legibility.models import SampleSource
from tests.factories import CheckpointFactory, RaterFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://models.example.org/v1", "gopher://x"])
def test_endpoint_urls_must_be_http_or_https(url):
    source = SampleSource(
        name="endpoint", kind=SampleSource.Kind.OPENAI_ENDPOINT, base_url=url,
        checkpoint=CheckpointFactory(),
    )  # fmt: skip
    with pytest.raises(ValidationError) as error:
        source.full_clean()
    assert "base_url" in error.value.message_dict


def test_an_https_endpoint_is_accepted():
    SampleSource(
        name="endpoint", kind=SampleSource.Kind.OPENAI_ENDPOINT,
        base_url="https://models.example.org/v1", checkpoint=CheckpointFactory(),
    ).full_clean()  # fmt: skip


def test_a_source_must_say_where_to_fetch_from():
    with pytest.raises(IntegrityError):
        SampleSource.objects.create(name="nowhere", kind=SampleSource.Kind.WATCHED_DIRECTORY)


def test_only_staff_configure_sources(client):
    url = reverse("admin:legibility_samplesource_add")
    client.force_login(RaterFactory().user)
    assert client.get(url).status_code == 302  # the admin sends non-staff to its login
    client.force_login(StaffFactory())
    assert client.get(url).status_code == 200


def test_due_sources_are_claimed_once_per_interval(tmp_path):
    source = SampleSource.objects.create(
        name="w", kind=SampleSource.Kind.WATCHED_DIRECTORY, path=str(tmp_path), poll_interval_s=60
    )
    SampleSource.objects.create(name="off", kind="watched_dir", path=str(tmp_path), enabled=False)
    now = timezone.now()

    assert sources_claim_due(now=now) == [source.pk]
    assert sources_claim_due(now=now + timedelta(seconds=30)) == []
    assert sources_claim_due(now=now + timedelta(seconds=61)) == [source.pk]
