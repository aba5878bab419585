"""A real Celery worker process, talking to Redis and to this session's PostgreSQL database."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Assignment
from annotations.tasks import assignments_expire_task
from tests.factories import AssignmentFactory


def wait_until(condition, *, timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.worker
def test_worker_expires_abandoned_assignments_sent_through_redis(celery_worker):
    abandoned = AssignmentFactory(issued_at=timezone.now() - timedelta(hours=1))
    fresh = AssignmentFactory()

    assignments_expire_task.delay()

    assert wait_until(
        lambda: Assignment.objects.get(pk=abandoned.pk).state == Assignment.State.EXPIRED
    ), "the worker did not run the task within 30 s"
    assert Assignment.objects.get(pk=fresh.pk).state == Assignment.State.OPEN
