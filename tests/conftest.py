"""Fixtures shared by every test. Services the tests need (PostgreSQL, Redis, a Celery worker,
Chromium) are real; a test that needs one fails, never skips, when it is missing."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from legibility.celery import app as celery_app

REPO = Path(__file__).resolve().parent.parent
REAL_DATA = REPO.parent / "shared" / "data" / "real"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def _tasks_run_in_process() -> Iterator[None]:
    """Unit tests run tasks eagerly; the worker fixture switches this off for its tests."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _sources_may_point_at_this_machine(settings) -> None:
    """Tests serve models and watched directories from this machine (127.0.0.1, the temporary
    folder); the tests of those guards switch them back on."""
    settings.ALLOW_LOCAL_MODEL_ENDPOINTS = True
    settings.WATCHED_DIRECTORY_ROOT = Path(tempfile.gettempdir())


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.fail(
            "this test needs PostgreSQL: set DATABASE_URL (make test defaults it to "
            "postgres://postgres@127.0.0.1:5432/test)"
        )


def require_redis() -> str:
    url = settings.REDIS_URL
    if not url:
        pytest.fail("this test needs Redis: set REDIS_URL (make test defaults it)")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {url} does not answer: {error}")
    return url


def database_url() -> str:
    """The URL of the database this test session uses (pytest-django's test database)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for_worker(process: subprocess.Popen[bytes], *, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited with status {process.returncode}")
        if celery_app.control.ping(timeout=0.5):
            return
    pytest.fail("the Celery worker did not answer a ping within 30 s")


class CeleryProcesses:
    """Starts real ``celery`` processes (workers, beat) over Redis on this session's test
    database; stops whatever is left at the end of the test."""

    def __init__(self, log_dir: Path) -> None:
        require_postgres()
        self.redis_url = require_redis()
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": self.redis_url,
            "DJANGO_SETTINGS_MODULE": "legibility.settings",
            "ALLOW_LOCAL_MODEL_ENDPOINTS": "1",
            "WATCHED_DIRECTORY_ROOT": tempfile.gettempdir(),
        }

    def _start(self, name: str, arguments: list[str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "legibility", *arguments],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def worker(self, *, purge: bool = True) -> subprocess.Popen[bytes]:
        hostname = f"test-{uuid.uuid4().hex[:8]}@%h"
        arguments = ["worker", "--pool", "solo", "--loglevel", "INFO", "--without-gossip",
                     "--without-mingle", "--hostname", hostname]  # fmt: skip
        process = self._start("worker", arguments + (["--purge"] if purge else []))
        wait_for_worker(process)
        return process

    def beat(self) -> subprocess.Popen[bytes]:
        schedule = self.log_dir / f"beat-schedule-{uuid.uuid4().hex[:8]}"
        return self._start("beat", ["beat", "--loglevel", "INFO", "--schedule", str(schedule)])

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def celery_processes(transactional_db: None, tmp_path: Path) -> Iterator[CeleryProcesses]:
    """Real Celery processes; tasks sent while it is in use go through the broker."""
    processes = CeleryProcesses(tmp_path)
    celery_app.conf.task_always_eager = False
    try:
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
def celery_worker(celery_processes: CeleryProcesses) -> subprocess.Popen[bytes]:
    """One real ``celery worker`` process over Redis, on this session's test database."""
    return celery_processes.worker()


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real GSM8K problems and model-written solutions beside the repository."""
    if not REAL_DATA.is_dir():
        pytest.skip(
            "../shared/data/real is absent: real GSM8K solutions are not part of a user's clone"
        )
    return REAL_DATA


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium")
    return CHROMIUM
