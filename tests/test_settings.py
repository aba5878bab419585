"""Settings come only from the environment; each case runs Django in a fresh process."""

import os
import subprocess
import sys

from tests.conftest import REPO

PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "from legibility.celery import app; "
    "print(s.DATABASES['default']['ENGINE'], app.conf.task_always_eager, app.conf.broker_url)"
)
STRONG_KEY = "k" * 10 + "Zq8vR2xLp0aW7nT4eYbC6uJ3mH9sD1fG5jK8lQ2wE4rT6yU"


def run_django(code_or_args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "DEBUG",
            "ALLOWED_HOSTS",
            "HTTPS_ONLY",
            "BEHIND_PROXY",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="legibility.settings")
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=REPO, env=clean, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_nothing_set_means_sqlite_and_tasks_in_process():
    result = run_django(["-c", PRINT_SETTINGS])
    assert result.returncode == 0, result.stderr
    engine, eager, broker = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert eager == "True"
    assert broker == "memory://"


def test_empty_variables_count_as_unset():
    result = run_django(["-c", PRINT_SETTINGS], DATABASE_URL="", REDIS_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["django.db.backends.sqlite3", "True"]


def test_database_and_redis_urls_switch_to_postgres_and_a_broker():
    result = run_django(
        ["-c", PRINT_SETTINGS],
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/test",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert result.returncode == 0, result.stderr
    engine, eager, broker = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert eager == "False"
    assert broker == "redis://127.0.0.1:6379/0"


def test_missing_secret_key_with_debug_off_stops_start_up_with_a_clear_message():
    result = run_django(["manage.py", "check"], DEBUG="0", ALLOWED_HOSTS="example.org")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_deploy_check_is_clean_with_debug_off():
    result = run_django(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="0", SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="legibility.example.org",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_switch_set_to_neither_true_nor_false_stops_start_up_with_a_message():
    result = run_django(["manage.py", "check"], DEBUG="flase")
    assert result.returncode != 0
    assert "DEBUG='flase' is neither true nor false" in result.stderr
    for value in ("off", "NO", "0", "false"):
        assert run_django(["-c", PRINT_SETTINGS], DEBUG=value, SECRET_KEY=STRONG_KEY,
                          ALLOWED_HOSTS="x").returncode == 0, value  # fmt: skip


PRINT_PROXY = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SECURE_PROXY_SSL_HEADER)"
)


def test_the_https_proxy_header_is_believed_only_behind_a_proxy():
    assert run_django(["-c", PRINT_PROXY]).stdout.strip() == "None"
    behind = run_django(["-c", PRINT_PROXY], BEHIND_PROXY="1")
    assert behind.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_gunicorn_believes_no_forwarded_https_header_unless_behind_a_proxy(tmp_path):
    import socket
    import time

    import httpx

    def served(**env: str) -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "legibility.wsgi:application", "--bind",
             f"127.0.0.1:{port}", "--workers", "1"],
            cwd=REPO, env={**clean, "DEBUG": "0", "SECRET_KEY": STRONG_KEY, "HTTPS_ONLY": "1",
                           "ALLOWED_HOSTS": "127.0.0.1", **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(100):
                try:
                    return httpx.get(
                        f"http://127.0.0.1:{port}/accounts/login/",
                        headers={"X-Forwarded-Proto": "https"},
                    ).status_code
                except httpx.TransportError:
                    time.sleep(0.1)
            raise AssertionError("gunicorn did not start")
        finally:
            server.terminate()
            server.wait(10)

    assert served() == 301  # plain http from this machine, whatever the header says
    assert served(BEHIND_PROXY="1") == 200  # the proxy said https: believed
