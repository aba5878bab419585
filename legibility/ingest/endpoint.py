"""An OpenAI-compatible endpoint (vLLM, TGI, SGLang or a hosted API) serving one checkpoint.

Each poll asks the endpoint for the solutions this source has not stored yet: every chosen
problem, in each role with a prompt, ``samples_per_problem`` times, through the model client.
Requests go out a chunk at a time; each chunk is handed to the ingest service as a batch and
stored in one transaction before the next one is sent, so a worker killed mid-poll regenerates
at most one chunk, and a request that failed is simply asked again at the next poll (it left
nothing stored). The database is only touched between chunks, never from inside the client's
event loop."""

import string
from collections.abc import Iterator
from dataclasses import dataclass

from legibility.ingest.errors import SourceUnavailable
from legibility.ingest.records import Batch, Entry, RecordError, record_entry
from legibility.ingest.source_checks import endpoint_problem
from legibility.model_client import (
    Completion,
    Failure,
    MissingApiKey,
    ModelEndpoint,
    api_key_from_env,
    complete_all,
)
from legibility.models import Checkpoint, Problem, Role, Sample, SampleSource

# A chunk holds this many requests per concurrent slot: enough to keep every slot busy, few
# enough that a killed worker loses little.
REQUESTS_PER_SLOT = 4


@dataclass(frozen=True)
class WorkItem:
    """One solution to ask for."""

    problem_id: str  # the problem's external id
    question: str
    role: str
    sample_index: int

    def __str__(self) -> str:
        return f"problem {self.problem_id} {self.role} #{self.sample_index}"


def endpoint_batches(source: SampleSource) -> Iterator[Batch]:
    """The solutions this source still owes its checkpoint, a chunk a batch; the first batch
    says how many are owed.

    Raises SourceUnavailable when the source is misconfigured, or when a whole chunk failed
    because the endpoint is down; what was stored until then stays stored."""
    checkpoint = _served_checkpoint(source)
    endpoint = _endpoint_for(source)
    prompts = _prompt_templates(source)
    work = _work_list(source, checkpoint, roles=list(prompts))
    yield Batch(entries=[], progress=0, total=len(work))
    chunk_size = endpoint.max_concurrency * REQUESTS_PER_SLOT
    for start in range(0, len(work), chunk_size):
        chunk = work[start : start + chunk_size]
        outcomes = complete_all(
            endpoint, [prompts[item.role].format(question=item.question) for item in chunk]
        )
        entries: list[Entry] = [
            _entry(position, item, outcome, checkpoint, endpoint)
            for position, (item, outcome) in enumerate(zip(chunk, outcomes, strict=True), start + 1)
        ]
        yield Batch(entries=entries)
        _stop_if_endpoint_down(endpoint, chunk, outcomes)


# --- set-up, in the database ------------------------------------------------------------


def _served_checkpoint(source: SampleSource) -> Checkpoint:
    if source.checkpoint_id is None:
        raise SourceUnavailable(
            f"source {source.name} has no checkpoint: set the checkpoint its endpoint serves"
        )
    return Checkpoint.objects.select_related("run").get(pk=source.checkpoint_id)


def _endpoint_for(source: SampleSource) -> ModelEndpoint:
    url = source.base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SourceUnavailable(
            f"source {source.name} needs an http(s) base URL, e.g. http://gpu-box:8000/v1"
        )
    problem = endpoint_problem(base_url=url, api_key_env=source.api_key_env)
    if problem:
        raise SourceUnavailable(f"source {source.name}: {problem}")
    try:
        api_key = api_key_from_env(source.api_key_env)
    except MissingApiKey:
        raise SourceUnavailable(
            f"environment variable {source.api_key_env}, which should hold the API key of "
            f"source {source.name}, is not set on this worker"
        ) from None
    return ModelEndpoint(
        url=url,
        api_style=source.api_style,
        model=source.model,
        max_tokens=source.max_tokens,
        temperature=source.temperature,
        timeout_s=source.request_timeout_s,
        max_retries=source.max_retries,
        max_concurrency=max(1, source.max_concurrency),  # zero slots would wait forever
        api_key=api_key,
    )


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


# --- a chunk's entries -------------------------------------------------------------------


def _entry(
    position: int,
    item: WorkItem,
    outcome: Completion | Failure,
    checkpoint: Checkpoint,
    endpoint: ModelEndpoint,
) -> Entry:
    """The chunk's entry for one item: a record to store, or the reason it gave none, which
    the ingest run counts as a rejection."""
    if isinstance(outcome, Failure):
        return position, RecordError(f"{item}: {outcome.reason}")
    # the same validation as a pushed or watched record (length limits, say)
    position, parsed = record_entry(
        position,
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
        },
    )
    if isinstance(parsed, RecordError):
        return position, RecordError(f"{item}: {parsed}")
    return position, parsed


def _stop_if_endpoint_down(
    endpoint: ModelEndpoint, chunk: list[WorkItem], outcomes: list[Completion | Failure]
) -> None:
    """Stop the poll when a whole chunk failed for the endpoint's sake, rather than spend the
    rest of the work list on a server that is down or refuses us; the next poll tries again."""
    failures = [outcome for outcome in outcomes if isinstance(outcome, Failure)]
    if failures and len(failures) == len(outcomes) and all(f.endpoint_down for f in failures):
        raise SourceUnavailable(
            f"endpoint {endpoint.url} failed all {len(outcomes)} requests of a chunk, so the "
            f"poll stopped; e.g. {chunk[0]}: {failures[0].reason}"
        )
