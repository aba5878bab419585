"""A client for OpenAI-compatible model servers (vLLM, TGI, SGLang or a hosted API).

Whoever asks a model for text goes through here: the endpoint source that writes prover
solutions, and model judges. A batch of prompts goes out concurrently with at most
``max_concurrency`` requests in flight; each request has a deadline over the whole exchange, is
retried with jittered, growing backoff on timeouts, lost connections, 429 and 5xx (honouring a
numeric Retry-After up to a cap), and is never retried on a refusal that concerns the prompt.
The API key comes from an environment variable and is kept out of every repr and reason."""

import asyncio
import base64
import ipaddress
import math
import os
import random
import re
import socket
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from django.conf import settings

from legibility.models import ApiStyle

# The wait before retry n (from 0) is about BACKOFF_BASE_S * 2**n, capped; tests shrink it.
BACKOFF_BASE_S = 0.2
BACKOFF_CAP_S = 30.0
# A server's Retry-After is honoured up to this long, so one header cannot stall a whole batch.
RETRY_AFTER_CAP_S = 30.0
# How much of a refusal's body a reason quotes (vLLM explains a 400 there).
REFUSAL_EXCERPT_CHARS = 200
# A refusal with one of these concerns this prompt (too long, say); any other 4xx means the
# endpoint refuses every prompt (a wrong URL, model or key).
PROMPT_REFUSALS = {400, 413, 422}


# Variable names that may hold a model server's key; others must be listed in the settings
KEY_VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*_(API_KEY|TOKEN)")
# The app's own secrets: never sent anywhere, whatever the settings list
NEVER_SENT = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}


class MissingApiKey(Exception):
    """The environment variable that should hold the key is not set."""


def api_key_variable_problem(variable: str) -> str:
    """Why the environment variable ``variable`` may not be sent as a key; "" when it may."""
    if not variable:
        return ""
    allowed = KEY_VARIABLE.fullmatch(variable) or variable in settings.MODEL_API_KEY_VARIABLES
    if variable in NEVER_SENT or not allowed:
        return (
            f"{variable} may not hold an API key: name a variable ending in _API_KEY or _TOKEN, "
            "or list it in MODEL_API_KEY_VARIABLES"
        )
    return ""


def endpoint_address_problem(url: str) -> str:
    """Why a model server at ``url`` may not be asked; "" when it may. Loopback and link-local
    addresses (this machine, a cloud's metadata service) need ALLOW_LOCAL_MODEL_ENDPOINTS."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"{url!r} is not an http(s) URL, e.g. http://gpu-box:8000/v1"
    if settings.ALLOW_LOCAL_MODEL_ENDPOINTS:
        return ""
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return ""  # unknown today: the request will say so, and this check runs again then
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if _is_local(ip):
            return (
                f"{parts.hostname} is a loopback or link-local address ({ip}); set "
                "ALLOW_LOCAL_MODEL_ENDPOINTS=1 to allow model servers on this machine"
            )
    return ""


# Cloud metadata services outside the link-local ranges (AWS's over IPv6)
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254")}
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _is_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, link-local, unspecified or a metadata service, however it is written: an IPv6
    address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by that one."""
    if isinstance(ip, ipaddress.IPv6Address):
        carried = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if carried is None and ip in NAT64:
            carried = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if carried is not None and _is_local(carried):
            return True
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip in METADATA_ADDRESSES


@dataclass(frozen=True)
class ModelEndpoint:
    """Where and how to ask: read from the database before the event loop starts."""

    url: str  # base URL without a trailing slash, e.g. http://gpu-box:8000/v1
    api_style: str
    model: str
    max_tokens: int
    temperature: float
    timeout_s: float
    max_retries: int
    max_concurrency: int
    # kept out of repr so that logging an endpoint can never print the key
    api_key: str = field(default="", repr=False)

    def redact(self, text: str) -> str:
        """The text with the key taken out, as it is or encoded: a server may echo our headers
        back, in base64 or URL-encoded."""
        for form in self._key_forms:
            text = text.replace(form, "[key]")
        return text

    @cached_property
    def _key_forms(self) -> list[str]:
        if not self.api_key:
            return []
        secret = self.api_key.encode()
        forms = {self.api_key, quote(self.api_key, safe="")}
        # base64 of anything that holds the key, at each of the three byte alignments: the
        # characters that depend on the key's bytes alone
        for shift in range(3):
            encoded = base64.b64encode(b"\0" * shift + secret + b"\0\0").decode()
            first = -(-8 * shift // 6)
            last = (8 * (shift + len(secret)) - 6) // 6
            if last - first >= 7:
                forms.add(encoded[first : last + 1])
        return sorted(forms, key=len, reverse=True)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str | None


@dataclass(frozen=True)
class Failure:
    """A prompt that gave no completion, after whatever retries it was due."""

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


def api_key_from_env(variable: str) -> str:
    """The key held by the environment variable ``variable``; "" when none is named. Raises
    MissingApiKey when it is unset or may not hold a key."""
    if not variable:
        return ""
    if api_key_variable_problem(variable):
        raise MissingApiKey(variable)
    key = os.environ.get(variable, "")
    if not key:
        raise MissingApiKey(variable)
    return key


def complete_all(endpoint: ModelEndpoint, prompts: list[str]) -> list[Completion | Failure]:
    """One completion or failure per prompt, in order. Runs its own event loop: call it from
    synchronous code (a Celery task, a command), never from inside a running loop."""
    return asyncio.run(_complete_all(endpoint, prompts))


async def _complete_all(endpoint: ModelEndpoint, prompts: list[str]) -> list[Completion | Failure]:
    slots = asyncio.Semaphore(max(1, endpoint.max_concurrency))
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    # timeout=None: the deadline is asyncio's, over the whole exchange, because httpx's
    # timeouts are per phase and a server trickling bytes would never trip them. A connection
    # per slot, so that no request spends its deadline waiting for one.
    async with httpx.AsyncClient(
        headers=headers,
        timeout=None,
        limits=httpx.Limits(max_connections=max(1, endpoint.max_concurrency)),
    ) as client:
        return await asyncio.gather(
            *(_complete(client, slots, endpoint, prompt) for prompt in prompts)
        )


async def _complete(
    client: httpx.AsyncClient, slots: asyncio.Semaphore, endpoint: ModelEndpoint, prompt: str
) -> Completion | Failure:
    """One prompt, retried with backoff; the slot is released while waiting to retry, so a
    backing-off request does not hold back the others."""
    attempt = 0
    while True:
        async with slots:
            outcome = await _attempt(client, endpoint, prompt)
        if isinstance(outcome, Completion):
            return outcome
        if not outcome.retryable:
            return Failure(outcome.reason, endpoint_down=outcome.endpoint_down)
        if attempt >= endpoint.max_retries:
            reason = f"{outcome.reason} after {attempt} retries"
            return Failure(reason, endpoint_down=outcome.endpoint_down)
        await asyncio.sleep(_retry_delay(attempt, outcome.retry_after_s))
        attempt += 1


async def _attempt(
    client: httpx.AsyncClient, endpoint: ModelEndpoint, prompt: str
) -> Completion | _Miss:
    path, payload = _request_for(endpoint, prompt)
    try:
        async with asyncio.timeout(endpoint.timeout_s):
            response = await client.post(f"{endpoint.url}{path}", json=payload)
    except (TimeoutError, httpx.TimeoutException):
        reason = f"no answer within {endpoint.timeout_s:g} s"
        return _Miss(reason, retryable=True, endpoint_down=True)
    except httpx.TransportError as error:
        reason = f"connection failed ({endpoint.redact(str(error)) or type(error).__name__})"
        return _Miss(reason, retryable=True, endpoint_down=True)
    if not response.is_success:
        return _refusal(response, endpoint)
    return _completion_in(response, endpoint)


def _request_for(endpoint: ModelEndpoint, prompt: str) -> tuple[str, dict[str, Any]]:
    payload: dict[str, Any] = {
        "max_tokens": endpoint.max_tokens,
        "temperature": endpoint.temperature,
    }
    if endpoint.model:  # single-model servers (TGI, vLLM) serve their model when none is named
        payload["model"] = endpoint.model
    if endpoint.api_style == ApiStyle.CHAT:
        return "/chat/completions", {**payload, "messages": [{"role": "user", "content": prompt}]}
    return "/completions", {**payload, "prompt": prompt}


def _refusal(response: httpx.Response, endpoint: ModelEndpoint) -> _Miss:
    status = response.status_code
    if status == httpx.codes.TOO_MANY_REQUESTS or status >= 500:
        return _Miss(
            f"HTTP {status}",
            retryable=True,
            endpoint_down=True,
            retry_after_s=_retry_after_s(response),
        )
    excerpt = endpoint.redact(" ".join(response.text.split()))[:REFUSAL_EXCERPT_CHARS]
    reason = f"HTTP {status} ({excerpt})" if excerpt else f"HTTP {status}"
    return _Miss(reason, retryable=False, endpoint_down=status not in PROMPT_REFUSALS)


def _completion_in(response: httpx.Response, endpoint: ModelEndpoint) -> Completion | _Miss:
    try:
        body = response.json()
    except ValueError:
        return _Miss("malformed response (not JSON)", retryable=True)
    chat = endpoint.api_style == ApiStyle.CHAT
    try:
        choice = body["choices"][0]
        text = choice["message"]["content"] if chat else choice["text"]
    except (KeyError, IndexError, TypeError):
        where = "message.content" if chat else "text"
        return _Miss(f"malformed response (no choices[0].{where})", retryable=True)
    if text is not None and not isinstance(text, str):
        reason = f"malformed response (a completion of type {type(text).__name__})"
        return _Miss(reason, retryable=True)
    if not text or not text.strip():
        return _Miss("empty completion", retryable=False)
    if "\x00" in text:
        # PostgreSQL cannot store it: a whole batch's transaction would fail, not just this one
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
