"""The OpenAI-compatible endpoint source, against a fake model server on 127.0.0.1."""

import itertools
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from legibility import model_client
from legibility.ingest import endpoint, storage
from legibility.ingest.endpoint import endpoint_batches
from legibility.ingest.errors import SourceUnavailable
from legibility.ingest.polling import source_poll
from legibility.ingest.service import samples_ingest
from legibility.ingest.storage import IngestResult
from legibility.models import ApiStyle, IngestRun, Problem, Sample, SampleSource
from tests.factories import CheckpointFactory, ProblemFactory
from tests.fake_openai import FakeOpenAI, Fault, fake_openai_server

pytestmark = pytest.mark.django_db

_names = itertools.count()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with fake_openai_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_client, "BACKOFF_BASE_S", 0.01)


FIRST_QUESTION = "Tom has 2 marbles."  # in make_problems' first problem only


def make_problems(count: int, prefix: str = "gsm8k-test-") -> list[Problem]:
    """Problems whose question ends on its answer, which the fake prover repeats."""
    return [
        ProblemFactory(
            external_id=f"{prefix}{n}",
            question=f"Tom has {n + 2} marbles. How many marbles does Tom have?",
            answer=str(n + 2),
        )
        for n in range(count)
    ]


def endpoint_source(fake: FakeOpenAI, **fields: Any) -> SampleSource:
    settings: dict[str, Any] = {
        "name": f"endpoint-{next(_names)}",
        "kind": SampleSource.Kind.OPENAI_ENDPOINT,
        "base_url": fake.base_url,
        "api_style": ApiStyle.COMPLETIONS,
        "model": "prover-7b",
        "checkpoint": CheckpointFactory(),
        "helpful_prompt": "Solve: {question}",
        "sneaky_prompt": "Solve, sneaky: {question}",
        "max_concurrency": 2,
        "request_timeout_s": 2.0,
        "max_retries": 2,
        "max_tokens": 64,
        "temperature": 0.0,
    }
    return SampleSource.objects.create(**{**settings, **fields})


def generate(source: SampleSource) -> tuple[IngestResult, IngestRun]:
    """One ingest run of the source's batches; a source that cannot be read raises."""
    ingest_run, result = samples_ingest(
        via=IngestRun.Via.SOURCE, source=source, batches=endpoint_batches(source)
    )
    if ingest_run.status == IngestRun.Status.FAILED:
        raise SourceUnavailable(ingest_run.message)
    return result, ingest_run


def gaps(fake: FakeOpenAI) -> list[float]:
    """Seconds between consecutive requests' arrivals."""
    times = [request.at for request in fake.requests]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def prompt_of(sample: Sample) -> str:
    """The prompt endpoint_source's templates make for a stored sample."""
    template = "Solve: {question}" if sample.role == "helpful" else "Solve, sneaky: {question}"
    return template.format(question=sample.problem.question)


def stored_keys() -> list[tuple[str, str, int]]:
    return sorted(Sample.objects.values_list("problem__external_id", "role", "sample_index"))


def test_endpoint_generates_helpful_and_sneaky_solutions_for_each_problem(fake_openai):
    make_problems(2, prefix="gsm8k-test-")
    ProblemFactory(external_id="other-0")  # outside the prefix: never asked for
    source = endpoint_source(fake_openai, problem_prefix="gsm8k-test-", samples_per_problem=2)

    result, ingest_run = generate(source)

    assert stored_keys() == [
        (problem, role, index)
        for problem in ("gsm8k-test-0", "gsm8k-test-1")
        for role in ("helpful", "sneaky")
        for index in (0, 1)
    ]
    assert (result.created, result.rejected) == (8, 0)
    assert (ingest_run.created, ingest_run.rejected, ingest_run.done, ingest_run.total) == (
        8,
        0,
        8,
        8,
    )
    grades = set(Sample.objects.values_list("role", "is_correct"))
    assert grades == {("helpful", True), ("sneaky", False)}
    sample = Sample.objects.filter(role="helpful").select_related("problem").first()
    assert sample is not None
    assert (sample.checkpoint, sample.source, sample.ingest_run) == (
        source.checkpoint,
        source,
        ingest_run,
    )
    assert sample.meta == {
        "model": "prover-7b",
        "finish_reason": "stop",
        "endpoint": fake_openai.base_url,
    }
    assert {request.path for request in fake_openai.requests} == {"/v1/completions"}
    assert {
        "model": "prover-7b",
        "prompt": "Solve: Tom has 2 marbles. How many marbles does Tom have?",
        "max_tokens": 64,
        "temperature": 0.0,
    } in [request.body for request in fake_openai.requests]
    assert not any("other-0" in request.prompt for request in fake_openai.requests)


def test_blank_sneaky_prompt_generates_only_helpful_solutions(fake_openai):
    make_problems(3)
    source = endpoint_source(fake_openai, sneaky_prompt="  ")

    generate(source)

    assert {role for _, role, _ in stored_keys()} == {"helpful"}
    assert len(fake_openai.requests) == 3


def test_chat_style_sends_the_prompt_as_a_user_message(fake_openai):
    make_problems(1)
    # a trailing slash on the base URL must not double up in the path
    source = endpoint_source(
        fake_openai, api_style=ApiStyle.CHAT, base_url=fake_openai.base_url + "/"
    )

    result, _ = generate(source)

    assert result.created == 2
    assert {request.path for request in fake_openai.requests} == {"/v1/chat/completions"}
    assert not any("prompt" in request.body for request in fake_openai.requests)
    question = "Tom has 2 marbles. How many marbles does Tom have?"
    assert sorted(request.prompt for request in fake_openai.requests) == [
        f"Solve, sneaky: {question}",
        f"Solve: {question}",
    ]
    for request in fake_openai.requests:
        assert request.body["messages"] == [{"role": "user", "content": request.prompt}]
    helpful = Sample.objects.get(role="helpful")
    assert helpful.text.endswith("#### 2")
    assert helpful.is_correct is True


def test_server_errors_are_retried_with_backoff(fake_openai, monkeypatch):
    monkeypatch.setattr(model_client, "BACKOFF_BASE_S", 0.1)
    make_problems(1)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_concurrency=1, max_retries=2)
    fake_openai.fail_next(Fault("server_error"), times=2)

    result, ingest_run = generate(source)

    assert len(fake_openai.requests) == 3
    first_wait, second_wait = gaps(fake_openai)
    # waits of half to all of 0.1 s, then of 0.2 s: growing, with jitter
    assert first_wait >= 0.05
    assert second_wait >= 0.1
    assert (result.created, result.rejected) == (1, 0)
    assert ingest_run.errors == []


def test_failure_beyond_the_retry_budget_is_reported_and_asked_again_next_poll(fake_openai):
    make_problems(2)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_concurrency=1, max_retries=2)
    fake_openai.fail_next(Fault("server_error"), times=3, prompt_contains=FIRST_QUESTION)

    result, ingest_run = generate(source)

    assert len(fake_openai.requests) == 4  # three for the first problem, one for the second
    assert (result.created, result.rejected) == (1, 1)
    assert (ingest_run.created, ingest_run.rejected, ingest_run.done) == (1, 1, 2)
    assert ingest_run.errors == [
        {"position": 1, "reason": "problem gsm8k-test-0 helpful #0: HTTP 500 after 2 retries"}
    ]

    fake_openai.requests.clear()
    again, second_run = generate(source)

    assert [request.prompt for request in fake_openai.requests] == [
        "Solve: Tom has 2 marbles. How many marbles does Tom have?"
    ]
    assert (again.created, second_run.total) == (1, 1)
    assert stored_keys() == [("gsm8k-test-0", "helpful", 0), ("gsm8k-test-1", "helpful", 0)]


def test_rate_limited_request_waits_as_long_as_retry_after_says_up_to_a_cap(
    fake_openai, monkeypatch
):
    monkeypatch.setattr(model_client, "RETRY_AFTER_CAP_S", 0.6)
    make_problems(1)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_retries=2)
    fake_openai.fail_next(Fault("rate_limited", retry_after="0.4"))
    fake_openai.fail_next(Fault("rate_limited", retry_after="3600"))

    result, _ = generate(source)

    assert result.created == 1
    honoured, capped = gaps(fake_openai)
    assert honoured >= 0.4
    assert 0.6 <= capped < 1.5


def test_hanging_request_times_out_and_is_retried(fake_openai):
    make_problems(1)
    source = endpoint_source(fake_openai, sneaky_prompt="", request_timeout_s=0.3)
    fake_openai.fail_next(Fault("hang"))

    started = time.monotonic()
    result, _ = generate(source)

    assert result.created == 1
    assert len(fake_openai.requests) == 2
    assert 0.3 <= gaps(fake_openai)[0] < 1.0
    assert time.monotonic() - started < 2.0  # not the fake's 10 s hang


def test_malformed_json_is_retried_then_reported(fake_openai):
    make_problems(2)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_concurrency=1, max_retries=1)
    fake_openai.fail_next(Fault("malformed_json"), times=2, prompt_contains=FIRST_QUESTION)

    result, ingest_run = generate(source)

    assert len(fake_openai.requests) == 3
    assert (result.created, result.rejected) == (1, 1)
    assert ingest_run.errors == [
        {
            "position": 1,
            "reason": "problem gsm8k-test-0 helpful #0: malformed response (not JSON) "
            "after 1 retries",
        }
    ]


@pytest.mark.parametrize("fault", ["no_choices", "disconnect"])
def test_response_without_a_completion_is_retried(fake_openai, fault):
    make_problems(1)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_retries=1)
    fake_openai.fail_next(Fault(fault))

    result, _ = generate(source)

    assert len(fake_openai.requests) == 2
    assert (result.created, result.rejected) == (1, 0)


def test_completion_with_a_nul_character_is_retried_rather_than_breaking_the_chunk(fake_openai):
    make_problems(2)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_retries=1)
    nul = json.dumps({"choices": [{"text": "2 marbles\u0000\n#### 2", "finish_reason": "stop"}]})
    fake_openai.fail_next(Fault("status", 200, body=nul), prompt_contains=FIRST_QUESTION)

    result, _ = generate(source)

    assert len(fake_openai.requests) == 3
    assert (result.created, result.rejected) == (2, 0)


def test_empty_completion_is_a_failure_not_a_sample(fake_openai):
    make_problems(2)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_concurrency=1)
    fake_openai.fail_next(Fault("empty"), prompt_contains=FIRST_QUESTION)

    _, ingest_run = generate(source)

    assert len(fake_openai.requests) == 2  # not retried: the model did answer
    assert stored_keys() == [("gsm8k-test-1", "helpful", 0)]
    assert ingest_run.errors[0]["reason"] == "problem gsm8k-test-0 helpful #0: empty completion"


def test_a_refused_prompt_is_not_retried_and_its_reason_is_kept(fake_openai):
    make_problems(2)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_concurrency=1)
    fake_openai.fail_next(
        Fault("status", 400, body='{"message": "prompt is too long"}'),
        prompt_contains=FIRST_QUESTION,
    )

    result, ingest_run = generate(source)

    assert len(fake_openai.requests) == 2
    assert result.created == 1
    reason = ingest_run.errors[0]["reason"]
    assert reason.startswith("problem gsm8k-test-0 helpful #0: HTTP 400")
    assert "prompt is too long" in reason


def test_resumes_without_generating_a_problem_twice(fake_openai, monkeypatch):
    make_problems(3)
    # one slot: chunks of REQUESTS_PER_SLOT (4) of the 6 items
    source = endpoint_source(fake_openai, max_concurrency=1)

    class WorkerKilled(Exception):
        pass

    stores = itertools.count(1)

    store = storage.samples_store

    def killed_before_the_second_store(**kwargs: Any) -> IngestResult:
        if next(stores) == 2:
            raise WorkerKilled
        return store(**kwargs)

    monkeypatch.setattr(storage, "samples_store", killed_before_the_second_store)
    with pytest.raises(WorkerKilled):
        generate(source)
    stored_by_killed_poll = {
        prompt_of(sample) for sample in Sample.objects.select_related("problem")
    }
    assert len(stored_by_killed_poll) == 4
    monkeypatch.setattr(storage, "samples_store", store)

    fake_openai.requests.clear()
    _, resumed = generate(source)
    asked_again = [request.prompt for request in fake_openai.requests]

    assert resumed.total == 2
    assert len(asked_again) == 2  # only the chunk lost with the worker
    assert not stored_by_killed_poll & set(asked_again)
    assert len(stored_keys()) == len(set(stored_keys())) == 6
    assert Sample.objects.filter(ingest_run=resumed).count() == 2

    fake_openai.requests.clear()
    _, third = generate(source)
    assert (fake_openai.requests, third.total) == ([], 0)


def test_concurrency_never_exceeds_the_source_limit(fake_openai):
    fake_openai.latency_s = 0.1  # answers overlap, so the client could exceed the limit
    make_problems(12)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_concurrency=3)

    result, _ = generate(source)

    assert result.created == 12
    assert fake_openai.max_in_flight == 3


def test_api_key_is_read_from_the_named_environment_variable_and_never_stored(
    fake_openai, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    key = "sk-test-0123456789abcdef"
    monkeypatch.setenv("PROVER_API_KEY", key)
    make_problems(2)
    source = endpoint_source(fake_openai, api_key_env="PROVER_API_KEY", max_concurrency=1)
    # a server that echoes what it was sent into its error message
    fake_openai.fail_next(
        Fault("status", 400, body=f"bad request with Bearer {key}"), prompt_contains="Solve:"
    )

    result, ingest_run = generate(source)

    assert result.created == 3
    assert {request.headers["authorization"] for request in fake_openai.requests} == {
        f"Bearer {key}"
    }
    assert "[key]" in ingest_run.errors[0]["reason"]
    stored = json.dumps(
        [
            list(SampleSource.objects.values()),
            list(IngestRun.objects.values()),
            list(Sample.objects.values()),
        ],
        default=str,
    )
    assert key not in stored
    assert key not in caplog.text


def test_no_authorization_header_is_sent_without_a_key(fake_openai):
    make_problems(1)
    generate(endpoint_source(fake_openai, sneaky_prompt=""))

    assert "authorization" not in fake_openai.requests[0].headers


def test_missing_api_key_variable_fails_the_run_with_a_clear_message(fake_openai, monkeypatch):
    monkeypatch.delenv("PROVER_API_KEY", raising=False)
    make_problems(1)
    source = endpoint_source(fake_openai, api_key_env="PROVER_API_KEY")

    ingest_run = source_poll(source_id=source.pk)

    assert ingest_run is not None
    assert ingest_run.status == IngestRun.Status.FAILED
    assert "environment variable PROVER_API_KEY" in ingest_run.message
    assert "not set" in ingest_run.message
    assert fake_openai.requests == []


def test_poll_of_an_endpoint_source_is_one_ingest_run_end_to_end(fake_openai):
    make_problems(3)
    source = endpoint_source(fake_openai)

    ingest_run = source_poll(source_id=source.pk)

    assert ingest_run is not None
    assert ingest_run.status == IngestRun.Status.SUCCEEDED
    assert ingest_run.finished_at is not None
    assert (ingest_run.created, ingest_run.duplicates, ingest_run.rejected) == (6, 0, 0)
    assert (ingest_run.done, ingest_run.total) == (6, 6)
    assert Sample.objects.filter(ingest_run=ingest_run).count() == 6

    fake_openai.requests.clear()
    again = source_poll(source_id=source.pk)

    assert again is not None
    assert again.status == IngestRun.Status.SUCCEEDED
    assert (again.created, again.total) == (0, 0)
    assert fake_openai.requests == []


def test_refusing_endpoint_stops_the_poll_after_one_chunk(fake_openai):
    make_problems(10)
    source = endpoint_source(fake_openai, sneaky_prompt="", max_concurrency=1)
    fake_openai.fail_next(Fault("status", 401, body='{"error": "invalid api key"}'), times=10)

    ingest_run = source_poll(source_id=source.pk)

    assert ingest_run is not None
    assert ingest_run.status == IngestRun.Status.FAILED
    assert len(fake_openai.requests) == endpoint.REQUESTS_PER_SLOT  # one chunk, no retry
    assert "HTTP 401" in ingest_run.message
    assert ingest_run.rejected == endpoint.REQUESTS_PER_SLOT


def test_unreachable_endpoint_fails_the_run(fake_openai):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    make_problems(2)
    source = endpoint_source(
        fake_openai, base_url=f"http://127.0.0.1:{closed_port}/v1", max_retries=1
    )

    ingest_run = source_poll(source_id=source.pk)

    assert ingest_run is not None
    assert ingest_run.status == IngestRun.Status.FAILED
    assert "connection failed" in ingest_run.message
    assert "after 1 retries" in ingest_run.message
    assert Sample.objects.count() == 0


def test_source_without_checkpoint_or_base_url_is_unavailable(fake_openai):
    # unsaved, because the database's check constraint refuses such rows: this guard stands
    # behind it
    no_checkpoint = SampleSource(name="a", kind="openai", base_url=fake_openai.base_url)
    no_url = SampleSource(name="b", kind="openai", base_url="", checkpoint=CheckpointFactory())

    with pytest.raises(SourceUnavailable, match="no checkpoint"):
        next(endpoint_batches(no_checkpoint))
    with pytest.raises(SourceUnavailable, match="base URL"):
        next(endpoint_batches(no_url))
    assert fake_openai.requests == []


@pytest.mark.parametrize(
    "prompt", ["Solve this.", "Solve {question} in {minutes} minutes", "Solve {question} {"]
)
def test_a_prompt_that_is_not_a_question_template_is_refused(fake_openai, prompt):
    make_problems(1)
    source = endpoint_source(fake_openai, helpful_prompt=prompt)

    with pytest.raises(SourceUnavailable, match="helpful prompt"):
        generate(source)
    assert fake_openai.requests == []
