"""The project's shape: migrations committed, the compose file correct."""

from io import StringIO
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from tests.conftest import REPO


@pytest.mark.django_db
def test_every_model_change_has_a_committed_migration():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit as exit_:
        pytest.fail(f"models changed without a migration:\n{out.getvalue()} ({exit_})")


def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_runs_postgres_redis_web_worker_and_beat():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert "gunicorn" in services["web"]["command"]
    assert "legibility.wsgi" in services["web"]["command"]
    assert "celery -A legibility worker" in services["worker"]["command"]
    assert "celery -A legibility beat" in services["beat"]["command"]


def test_compose_services_have_health_checks_and_wait_for_them():
    services = compose()["services"]
    for name in ("postgres", "redis", "web"):
        assert "test" in services[name]["healthcheck"], name
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_compose_django_services_share_one_block():
    text = (REPO / "docker-compose.yml").read_text()
    services = compose()["services"]
    assert "x-django: &django" in text
    environments = [services[name]["environment"] for name in ("web", "worker", "beat")]
    assert environments[0] == environments[1] == environments[2]
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"):
        assert key in environments[0], key
    assert environments[0]["DATABASE_URL"].startswith("postgres://")
    # no fixed key with DEBUG off: compose refuses to start without one
    assert environments[0]["DEBUG"] == "0"
    assert environments[0]["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert environments[0]["WATCHED_DIRECTORY_ROOT"] == "/watched"
    assert "./var/watched:/watched" in services["worker"]["volumes"]
    assert environments[0]["REDIS_URL"].startswith("redis://redis:")
