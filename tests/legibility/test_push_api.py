import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from legibility.celery import app as celery_app
from legibility.models import IngestRun, Sample
from tests.factories import RaterFactory, StaffFactory, UserFactory
from tests.legibility.jsonl import sample_record

pytestmark = pytest.mark.django_db
URL = reverse("api-sample-push")


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def pipeline() -> APIClient:
    """A training loop's account: allowed to add samples, and nothing else."""
    user = UserFactory(username="trainer")
    user.user_permissions.add(Permission.objects.get(codename="add_sample"))
    return token_client(user)


def test_push_answers_created_duplicate_and_rejected_with_per_record_errors(pipeline):
    records = [sample_record(1), sample_record(1), {"run": "x"}, sample_record(2)]

    response = pipeline.post(URL, {"records": records}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["duplicates"], body["rejected"]) == (2, 1, 1)
    assert body["rejections"] == [{"index": 2, "reason": "checkpoint is missing"}]
    assert IngestRun.objects.get(pk=body["ingest_run"]).via == "push"


def test_pushing_the_same_batch_again_creates_nothing(pipeline):
    records = [sample_record(n) for n in range(5)]
    pipeline.post(URL, {"records": records}, format="json")
    body = pipeline.post(URL, {"records": records}, format="json").json()
    assert (body["created"], body["duplicates"]) == (0, 5)
    assert Sample.objects.count() == 5


def test_more_than_ten_thousand_records_get_413(pipeline):
    response = pipeline.post(URL, {"records": [{}] * 10_001}, format="json")
    assert response.status_code == 413
    assert Sample.objects.count() == 0


def test_a_body_over_the_size_limit_gets_413_before_it_is_read(pipeline, settings):
    settings.INGEST_PUSH_MAX_BYTES = 1000
    response = pipeline.post(URL, {"records": [sample_record(n) for n in range(5)]}, format="json")
    assert response.status_code == 413
    assert IngestRun.objects.count() == 0


def test_a_bad_token_gets_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.post(URL, {"records": [sample_record()]}, format="json").status_code == 401


def test_a_rater_cannot_push():
    response = token_client(RaterFactory().user).post(
        URL, {"records": [sample_record()]}, format="json"
    )
    assert response.status_code == 403


def test_staff_can_push():
    response = token_client(StaffFactory()).post(URL, {"records": [sample_record()]}, format="json")
    assert response.status_code == 200


def test_a_body_without_records_is_a_400(pipeline):
    assert pipeline.post(URL, {"records": []}, format="json").status_code == 400
    assert pipeline.post(URL, [sample_record()], format="json").status_code == 400


def test_push_stores_samples_while_the_broker_is_down(pipeline):
    """The push path never needs Redis: with the broker unreachable it still stores."""
    previous = celery_app.conf.broker_url, celery_app.conf.task_always_eager
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    celery_app.conf.task_always_eager = False
    try:
        response = pipeline.post(URL, {"records": [sample_record(1)]}, format="json")
    finally:
        celery_app.conf.broker_url, celery_app.conf.task_always_eager = previous
    assert response.status_code == 200
    assert Sample.objects.count() == 1


def test_a_push_whose_storage_raises_ends_with_its_run_marked_failed(pipeline, monkeypatch):
    from legibility.ingest import storage

    def broken_store(**kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(storage, "samples_store", broken_store)
    pipeline.raise_request_exception = False

    response = pipeline.post(URL, {"records": [sample_record(1)]}, format="json")

    assert response.status_code == 500
    run = IngestRun.objects.get()
    assert run.status == IngestRun.Status.FAILED
    assert run.finished_at is not None
    assert run.message == "RuntimeError: the disk is full"
    assert Sample.objects.count() == 0
