"""An OpenAI-compatible endpoint (vLLM, TGI, SGLang or a hosted API) serving one checkpoint.

Each poll asks the endpoint for the solutions this source has not stored yet: every chosen
problem, in each role with a prompt, ``samples_per_problem`` times. Requests go out
concurrently, a chunk at a time; each chunk is stored in one transaction before the next one
starts, so a worker killed mid-poll regenerates at most one chunk, and a request that failed
is simply asked again at the next poll (it left nothing stored). The database is only touched
between chunks, never from inside the event loop."""

import asyncio
import logging
import math
import os
import random
import string
from dataclasses import dataclass, field
from typing import Any

import httpx

from legibility.ingest.errors import SourceUnavailable
from legibility.ingest.records import RecordError, SampleRecord, record_from_value
from legibility.ingest.service import Entry, IngestResult, samples_ingest_batch
from legibility.models import Checkpoint, IngestRun, Problem, Role, Sample, SampleSource

logger = logging.getLogger(__name__)

# A chunk holds this many requests per concurrent slot: enough to keep every slot busy, few
# enough that a killed worker loses little.
REQUESTS_PER_SLOT = 4
# The wait before retry n (from 0) is about BACKOFF_BASE_S * 2**n, capped; tests shrink it.
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 30.0
# A server's Retry-After is honoured up to this long, so one header cannot stall a whole poll.
RETRY_AFTER_CAP_S = 30.0
# How much of a refusal's body a rejection reason quotes (vLLM explains a 400 there).
REFUSAL_EXCERPT_CHARS = 200
# A refusal with one of these concerns this prompt (too long, say); any other 4xx means the
# endpoint refuses every prompt (a wrong URL, model or key).
PROMPT_REFUSALS = {400, 413, 422}


@dataclass(frozen=True)
class WorkItem:
    """One solution to ask for."""

    problem_id: str  # the problem's external id
    question: str
    role: str
    sample_index: int

    def __str__(self) -> str:
        return f"problem {self.problem_id} {self.role} #{self.sample_index}"


@dataclass(frozen=True)
class Endpoint:
    """What the event loop needs, read from the database before it starts."""

    url: str  # base URL without a trailing slash
    api_style: str
    model: str
    prompts: dict[str, str]  # prompt template per role
    max_tokens: int
    temperature: float
    timeout_s: float
    max_retries: int
    max_concurrency: int
    # kept out of repr so that logging an Endpoint can never print the key
    api_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None


@dataclass(frozen=True)
class Failure:
    """An item that gave no solution, after whatever retries it was due."""

    reason: str
    # The endpoint itself failed (unreachable, overloaded, refusing us), not this one prompt.
    endpoint_down: bool


@dataclass(frozen=True)
class _Miss:
    """One attempt that gave no usable completion."""

    reason: str
    retryable: bool
    endpoint_down: bool = False
    retry_after_s: float | None = None


def endpoint_generate(*, source: SampleSource, ingest_run: IngestRun) -> IngestResult:
    """Generate and store the solutions this source still owes its checkpoint.

    Raises SourceUnavailable when the source is misconfigured, or when a whole chunk failed
    because the endpoint is down; what was stored until then stays stored."""
    checkpoint = _served_checkpoint(source)
    endpoint = _endpoint_for(source)
    work = _work_list(source, checkpoint, roles=list(endpoint.prompts))
    IngestRun.objects.filter(pk=ingest_run.pk).update(total=len(work))
    result = IngestResult()
    chunk_size = endpoint.max_concurrency * REQUESTS_PER_SLOT
    for start in range(0, len(work), chunk_size):
        chunk = work[start : start + chunk_size]
        outcomes = asyncio.run(_generate(endpoint, chunk))
        entries: list[Entry] = [
            (position, _entry(item, outcome, checkpoint, endpoint))
            for position, (item, outcome) in enumerate(zip(chunk, outcomes, strict=True), start + 1)
        ]
        stored = samples_ingest_batch(entries=entries, ingest_run=ingest_run, source=source)
        _warn_about_duplicates(source, stored)
        result.add(stored)
        _stop_if_endpoint_down(endpoint, outcomes)
    return result


# --- set-up, in the database ------------------------------------------------------------


def _served_checkpoint(source: SampleSource) -> Checkpoint:
    if source.checkpoint_id is None:
        raise SourceUnavailable(
            f"source {source.name} has no checkpoint: set the checkpoint its endpoint serves"
        )
    return Checkpoint.objects.select_related("run").get(pk=source.checkpoint_id)


def _endpoint_for(source: SampleSource) -> Endpoint:
    url = source.base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SourceUnavailable(
            f"source {source.name} needs an http(s) base URL, e.g. http://gpu-box:8000/v1"
        )
    return Endpoint(
        url=url,
        api_style=source.api_style,
        model=source.model,
        prompts=_prompt_templates(source),
        max_tokens=source.max_tokens,
        temperature=source.temperature,
        timeout_s=source.request_timeout_s,
        max_retries=source.max_retries,
        # zero slots would wait forever
        max_concurrency=max(1, source.max_concurrency),
        api_key=_api_key(source),
    )


def _api_key(source: SampleSource) -> str:
    if not source.api_key_env:
        return ""
    key = os.environ.get(source.api_key_env, "")
    if not key:
        raise SourceUnavailable(
            f"environment variable {source.api_key_env}, which should hold the API key of "
            f"source {source.name}, is not set on this worker"
        )
    return key


def _prompt_templates(source: SampleSource) -> dict[str, str]:
    """Prompt template per role; a blank sneaky prompt means helpful solutions only."""
    templates = {Role.HELPFUL.value: source.helpful_prompt}
    if source.sneaky_prompt.strip():
        templates[Role.SNEAKY.value] = source.sneaky_prompt
    for role, template in templates.items():
        # Checked once here rather than failing every request: a stray brace (LaTeX, JSON in
        # an example) would make str.format raise for each problem.
        if _template_fields(template) != {"question"}:
            raise SourceUnavailable(
                f"the {role} prompt of source {source.name} must contain {{question}} and no "
                "other {...} field (write a literal brace twice: {{ }})"
            )
    return templates


def _template_fields(template: str) -> set[str] | None:
    """The names of a format string's {fields}; None when its braces do not parse."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        return None


def _work_list(source: SampleSource, checkpoint: Checkpoint, *, roles: list[str]) -> list[WorkItem]:
    """Every (problem, role, sample index) the source owes the checkpoint, minus those stored:
    a restarted poll never asks twice for a solution it already has."""
    stored = set(
        Sample.objects.filter(checkpoint=checkpoint, source=source).values_list(
            "problem__external_id", "role", "sample_index"
        )
    )
    # a blank prefix matches every problem
    problems = (
        Problem.objects.filter(external_id__startswith=source.problem_prefix)
        .order_by("external_id")
        .values_list("external_id", "question")
    )
    return [
        WorkItem(problem_id, question, role, index)
        for problem_id, question in problems
        for role in roles
        for index in range(source.samples_per_problem)
        if (problem_id, role, index) not in stored
    ]


# --- storing a chunk ----------------------------------------------------------------------


def _entry(
    item: WorkItem, outcome: Completion | Failure, checkpoint: Checkpoint, endpoint: Endpoint
) -> SampleRecord | RecordError:
    """The chunk's entry for one item: a record to store, or the reason it gave none, which
    the ingest run counts as a rejection."""
    if isinstance(outcome, Failure):
        return RecordError(outcome.reason)
    try:
        # the same validation as a pushed or watched record (length limits, say)
        return record_from_value(
            {
                "run": checkpoint.run.name,
                "checkpoint": checkpoint.name,
                "round": checkpoint.round,
                "step": checkpoint.step,
                "role": item.role,
                "problem_id": item.problem_id,
                "solution": outcome.text,
                "sample_index": item.sample_index,
                "meta": {
                    "model": endpoint.model,
                    "finish_reason": outcome.finish_reason,
                    "endpoint": endpoint.url,
                },
            }
        )
    except RecordError as error:
        return RecordError(f"{item}: {error}")


def _warn_about_duplicates(source: SampleSource, stored: IngestResult) -> None:
    # A completion identical to a stored one (temperature 0 with several samples per problem)
    # is not stored, so its (problem, role, index) stays owed and is asked for at every poll.
    if stored.duplicates:
        logger.warning(
            "source %s: %d completions repeated stored solutions word for word and were not "
            "stored; they will be asked for again (is the temperature 0?)",
            source.name,
            stored.duplicates,
        )


def _stop_if_endpoint_down(endpoint: Endpoint, outcomes: list[Completion | Failure]) -> None:
    """Stop the poll when a whole chunk failed for the endpoint's sake, rather than spend the
    rest of the work list on a server that is down or refuses us; the next poll tries again."""
    failures = [outcome for outcome in outcomes if isinstance(outcome, Failure)]
    if failures and len(failures) == len(outcomes) and all(f.endpoint_down for f in failures):
        raise SourceUnavailable(
            f"endpoint {endpoint.url} failed all {len(outcomes)} requests of a chunk, so the "
            f"poll stopped; e.g. {failures[0].reason}"
        )


# --- HTTP, inside the event loop --------------------------------------------------------


async def _generate(endpoint: Endpoint, chunk: list[WorkItem]) -> list[Completion | Failure]:
    slots = asyncio.Semaphore(endpoint.max_concurrency)
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    # timeout=None: the deadline is asyncio's, over the whole exchange, because httpx's
    # timeouts are per phase and a server trickling bytes would never trip them. A connection
    # per slot, so that no request spends its deadline waiting for one.
    async with httpx.AsyncClient(
        headers=headers,
        timeout=None,
        limits=httpx.Limits(max_connections=endpoint.max_concurrency),
    ) as client:
        return await asyncio.gather(*(_complete(client, slots, endpoint, item) for item in chunk))


async def _complete(
    client: httpx.AsyncClient, slots: asyncio.Semaphore, endpoint: Endpoint, item: WorkItem
) -> Completion | Failure:
    """One item, retried with backoff; the slot is released while waiting to retry, so a
    backing-off request does not hold back the others."""
    attempt = 0
    while True:
        async with slots:
            outcome = await _attempt(client, endpoint, item)
        if isinstance(outcome, Completion):
            return outcome
        if not outcome.retryable:
            return Failure(f"{item}: {outcome.reason}", endpoint_down=outcome.endpoint_down)
        if attempt >= endpoint.max_retries:
            reason = f"{item}: {outcome.reason} after {attempt} retries"
            return Failure(reason, endpoint_down=outcome.endpoint_down)
        await asyncio.sleep(_retry_delay(attempt, outcome.retry_after_s))
        attempt += 1


async def _attempt(
    client: httpx.AsyncClient, endpoint: Endpoint, item: WorkItem
) -> Completion | _Miss:
    path, payload = _request_for(endpoint, item)
    try:
        async with asyncio.timeout(endpoint.timeout_s):
            response = await client.post(f"{endpoint.url}{path}", json=payload)
    except (TimeoutError, httpx.TimeoutException):
        reason = f"no answer within {endpoint.timeout_s:g} s"
        return _Miss(reason, retryable=True, endpoint_down=True)
    except httpx.TransportError as error:
        reason = f"connection failed ({str(error) or type(error).__name__})"
        return _Miss(reason, retryable=True, endpoint_down=True)
    if not response.is_success:
        return _refusal(response, endpoint)
    return _completion_in(response, endpoint)


def _request_for(endpoint: Endpoint, item: WorkItem) -> tuple[str, dict[str, Any]]:
    prompt = endpoint.prompts[item.role].format(question=item.question)
    payload: dict[str, Any] = {
        "max_tokens": endpoint.max_tokens,
        "temperature": endpoint.temperature,
    }
    if endpoint.model:  # single-model servers (TGI, vLLM) serve their model when none is named
        payload["model"] = endpoint.model
    if endpoint.api_style == SampleSource.ApiStyle.CHAT:
        return "/chat/completions", {**payload, "messages": [{"role": "user", "content": prompt}]}
    return "/completions", {**payload, "prompt": prompt}


def _refusal(response: httpx.Response, endpoint: Endpoint) -> _Miss:
    status = response.status_code
    if status == httpx.codes.TOO_MANY_REQUESTS or status >= 500:
        return _Miss(
            f"HTTP {status}",
            retryable=True,
            endpoint_down=True,
            retry_after_s=_retry_after_s(response),
        )
    excerpt = " ".join(response.text.split())[:REFUSAL_EXCERPT_CHARS]
    if endpoint.api_key:
        excerpt = excerpt.replace(endpoint.api_key, "[key]")  # a server echoing our headers
    reason = f"HTTP {status} ({excerpt})" if excerpt else f"HTTP {status}"
    return _Miss(reason, retryable=False, endpoint_down=status not in PROMPT_REFUSALS)


def _completion_in(response: httpx.Response, endpoint: Endpoint) -> Completion | _Miss:
    try:
        body = response.json()
    except ValueError:
        return _Miss("malformed response (not JSON)", retryable=True)
    try:
        choice = body["choices"][0]
        if endpoint.api_style == SampleSource.ApiStyle.CHAT:
            text = choice["message"]["content"]
        else:
            text = choice["text"]
    except (KeyError, IndexError, TypeError):
        where = "message.content" if endpoint.api_style == SampleSource.ApiStyle.CHAT else "text"
        return _Miss(f"malformed response (no choices[0].{where})", retryable=True)
    if text is not None and not isinstance(text, str):
        reason = f"malformed response (a completion of type {type(text).__name__})"
        return _Miss(reason, retryable=True)
    if not text or not text.strip():
        return _Miss("empty completion", retryable=False)
    if "\x00" in text:
        # PostgreSQL cannot store it: the chunk's transaction would fail, not just this item
        return _Miss("malformed response (a NUL character in the completion)", retryable=True)
    finish_reason = choice.get("finish_reason")
    return Completion(text, finish_reason if isinstance(finish_reason, str) else None)


def _retry_after_s(response: httpx.Response) -> float | None:
    """A numeric Retry-After; an HTTP date is left to the backoff."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _retry_delay(attempt: int, retry_after_s: float | None) -> float:
    # Jitter spreads the retries of requests that failed together, so they do not return as
    # one burst; half the backoff is kept so the wait still grows.
    backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)
    delay = backoff / 2 + random.uniform(0, backoff / 2)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, RETRY_AFTER_CAP_S))
    return delay
