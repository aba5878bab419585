"""Ingestion through real Celery processes over Redis, on PostgreSQL."""

import os
import signal
import time

import pytest

from legibility.ingest.tasks import source_poll_task
from legibility.models import IngestRun, Sample, SampleSource
from tests.legibility.jsonl import sample_record, write_jsonl

pytestmark = pytest.mark.worker


def wait_until(condition, *, timeout_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return False


def test_a_file_dropped_in_a_watched_directory_is_graded_within_one_poll_interval(
    celery_processes, tmp_path
):
    SampleSource.objects.create(
        name="training-out", kind=SampleSource.Kind.WATCHED_DIRECTORY, path=str(tmp_path),
        poll_interval_s=2,
    )  # fmt: skip
    celery_processes.worker()
    celery_processes.beat()
    time.sleep(1)

    write_jsonl(tmp_path / "round-3.jsonl", [sample_record(n) for n in range(20)])

    # beat checks every 5 s, the source is due every 2 s: within one beat tick plus the work
    assert wait_until(lambda: Sample.objects.count() == 20, timeout_s=20)
    assert Sample.objects.filter(is_correct=True).count() == 20


def test_a_worker_killed_mid_file_resumes_and_stores_each_sample_once(celery_processes, tmp_path):
    total = 30_000
    write_jsonl(tmp_path / "big.jsonl", [sample_record(n) for n in range(total)])
    source = SampleSource.objects.create(
        name="big", kind=SampleSource.Kind.WATCHED_DIRECTORY, path=str(tmp_path)
    )
    worker = celery_processes.worker()
    source_poll_task.delay(source.pk)

    assert wait_until(lambda: Sample.objects.count() >= 4000, timeout_s=60)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    stored_at_kill = Sample.objects.count()
    assert stored_at_kill < total, "the worker finished before it could be killed"

    celery_processes.worker(purge=False)
    source_poll_task.delay(source.pk)

    assert wait_until(lambda: Sample.objects.count() >= total, timeout_s=120, step_s=0.5)
    time.sleep(1)
    assert Sample.objects.count() == total
    assert Sample.objects.values("content_hash").distinct().count() == total
    interrupted, resumed = IngestRun.objects.order_by("started_at")
    assert interrupted.status == IngestRun.Status.FAILED
    assert "interrupted" in interrupted.message
    assert resumed.status == IngestRun.Status.SUCCEEDED
    assert interrupted.created + resumed.created == total
