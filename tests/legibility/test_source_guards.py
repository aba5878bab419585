"""Where a sample source may point: watched directories under their root, model servers off
this machine's loopback and link-local addresses unless allowed, keys only from variables meant
for keys; and whatever a server echoes back never shows the key, encoded or not."""

import base64
from urllib.parse import quote

import pytest
from django.core.management import CommandError, call_command

from legibility.ingest.polling import source_poll
from legibility.models import IngestRun, SampleSource
from tests.factories import CheckpointFactory, ProblemFactory
from tests.fake_openai import Fault, fake_openai_server

pytestmark = pytest.mark.django_db

ENDPOINT = ["--model", "m", "--run", "r", "--checkpoint", "c"]


@pytest.fixture
def guarded(settings, tmp_path):
    settings.ALLOW_LOCAL_MODEL_ENDPOINTS = False
    settings.WATCHED_DIRECTORY_ROOT = tmp_path / "root"
    (tmp_path / "root" / "inside").mkdir(parents=True)
    return tmp_path


def test_a_watched_directory_must_lie_under_the_root(guarded):
    with pytest.raises(CommandError, match="outside"):
        call_command("add_source", "etc", "--directory", "/etc")
    (guarded / "root" / "escape").symlink_to("/etc")
    with pytest.raises(CommandError, match="outside"):
        call_command("add_source", "escape", "--directory", str(guarded / "root" / "escape"))
    call_command("add_source", "ok", "--directory", str(guarded / "root" / "inside"))
    assert list(SampleSource.objects.values_list("name", flat=True)) == ["ok"]


def test_a_source_saved_before_the_root_moved_fails_its_poll_with_the_reason(guarded):
    source = SampleSource.objects.create(name="old", kind="watched_dir", path="/etc")
    run = source_poll(source_id=source.pk)
    assert run is not None and run.status == IngestRun.Status.FAILED
    assert "outside" in run.message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1", "http://localhost/v1", "http://169.254.169.254/v1",
            "http://[::1]:9/v1", "http://0.0.0.0:80/v1", "http://[::ffff:127.0.0.1]:9/v1",
            "http://[::ffff:169.254.169.254]/v1", "http://[fd00:ec2::254]/v1",
            "http://[64:ff9b::7f00:1]/v1", "http://[2002:7f00:1::]/v1"],
)  # fmt: skip
def test_model_servers_on_loopback_or_link_local_addresses_need_a_setting(guarded, url, settings):
    with pytest.raises(CommandError, match="loopback or link-local"):
        call_command("add_source", "local", "--endpoint", url, *ENDPOINT)
    settings.ALLOW_LOCAL_MODEL_ENDPOINTS = True
    call_command("add_source", "local", "--endpoint", url, *ENDPOINT)


@pytest.mark.parametrize("variable", ["DATABASE_URL", "SECRET_KEY", "HOME", "REDIS_URL"])
def test_only_variables_meant_for_keys_may_be_sent_as_one(guarded, variable, settings):
    # the app's own secrets stay refused even when listed
    settings.MODEL_API_KEY_VARIABLES = ["DATABASE_URL", "LAB_SECRET"]
    arguments = ["--endpoint", "http://gpu-box.example:8000/v1", *ENDPOINT]
    with pytest.raises(CommandError, match="may not hold an API key"):
        call_command("add_source", "s", *arguments, "--api-key-env", variable)
    for allowed in ("PROVER_API_KEY", "HF_TOKEN", "LAB_SECRET"):
        call_command("add_source", "s", *arguments, "--api-key-env", allowed)
        assert SampleSource.objects.get().api_key_env == allowed


def test_a_source_naming_the_database_url_fails_its_poll_and_sends_nothing(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/prod")
    ProblemFactory()
    with fake_openai_server() as server:
        source = SampleSource.objects.create(
            name="leaky", kind="openai", base_url=server.base_url, checkpoint=CheckpointFactory(),
            api_key_env="DATABASE_URL",
        )  # fmt: skip
        run = source_poll(source_id=source.pk)
        assert server.requests == []
    assert run is not None and run.status == IngestRun.Status.FAILED
    assert "secret" not in run.message


def test_a_key_echoed_back_in_base64_or_url_encoding_is_redacted(monkeypatch):
    key = "sk-live-ABCdef0123456789xyz"
    monkeypatch.setenv("PROVER_API_KEY", key)
    ProblemFactory()
    echoes = [
        base64.b64encode(f"Authorization: Bearer {key}".encode()).decode(),
        base64.b64encode(f"{key}".encode()).decode(),
        quote(f"Bearer {key}"),
    ]
    with fake_openai_server() as server:
        for echo in echoes:
            server.fail_next(Fault("status", 400, body=f"you sent {echo}"))
        source = SampleSource.objects.create(
            name="echo", kind="openai", base_url=server.base_url, checkpoint=CheckpointFactory(),
            api_key_env="PROVER_API_KEY", sneaky_prompt="", api_style="completions",
        )  # fmt: skip
        for _ in echoes:
            run = source_poll(source_id=source.pk)
            assert run is not None
            reasons = " ".join(error["reason"] for error in run.errors)
            assert "[key]" in reasons, reasons
            for form in (key, *echoes[1:2]):
                assert form not in reasons
