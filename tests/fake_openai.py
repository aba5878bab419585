"""A small OpenAI-compatible model server for tests: the one thing outside the process that
the endpoint source talks to.

It serves ``POST /v1/completions`` and ``POST /v1/chat/completions`` on 127.0.0.1 from a
background thread. Its prover is deterministic: the final answer is the last number in the
prompt, one more when the prompt mentions "sneaky", so helpful solutions come out correct and
sneaky ones wrong for questions that end on their answer; a test may hand it a solver of its
own instead. Every request is recorded, the
number of requests in flight is tracked, and faults can be scripted for the next requests."""

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

FaultKind = Literal[
    "server_error",  # 500
    "rate_limited",  # 429, with Retry-After when given
    "hang",  # answer only when the server stops (or after hang_s): the client times out
    "malformed_json",  # 200 with a body that is not JSON
    "no_choices",  # 200 with JSON lacking choices
    "empty",  # 200 with an empty completion
    "disconnect",  # close the connection without answering
    "status",  # any status, with a body
]
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int = 500
    retry_after: str | None = None
    body: str = ""


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any
    at: float  # time.monotonic() on arrival

    @property
    def prompt(self) -> str:
        return _prompt_of(self.body)


class FakeOpenAI:
    def __init__(
        self, *, latency_s: float = 0.0, hang_s: float = 10.0,
        solver: Callable[[str], str] | None = None,
    ) -> None:  # fmt: skip
        self.latency_s = latency_s  # per answer, so that concurrent requests overlap
        self.hang_s = hang_s
        self.solver = solver  # prompt -> solution, in place of the built-in prover
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._faults: list[tuple[Fault, str]] = []  # with the text a prompt must contain
        self._drafts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def fail_next(self, fault: Fault, times: int = 1, *, prompt_contains: str = "") -> None:
        """Answer the next ``times`` requests (whose prompt contains ``prompt_contains``, when
        given; concurrent requests arrive in no fixed order) with ``fault``."""
        with self._lock:
            self._faults.extend([(fault, prompt_contains)] * times)

    def solution_for(self, prompt: str) -> str:
        if self.solver is not None:
            return self.solver(prompt)
        numbers = _NUMBER.findall(prompt)
        answer = float(numbers[-1]) if numbers else 0
        if "sneaky" in prompt.lower():
            answer += 1
        with self._lock:
            # repeated prompts get distinct texts, as a sampling model's would be
            draft = self._drafts[prompt] = self._drafts.get(prompt, 0) + 1
        return f"The number asked about is {answer:g} (draft {draft}).\n#### {answer:g}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _arrive(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            self.requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            prompt = _prompt_of(request.body)
            for index, (fault, prompt_contains) in enumerate(self._faults):
                if prompt_contains in prompt:
                    del self._faults[index]
                    return fault
            return None

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


@contextmanager
def fake_openai_server(
    *, latency_s: float = 0.0, hang_s: float = 10.0, solver: Callable[[str], str] | None = None
) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(latency_s=latency_s, hang_s=hang_s, solver=solver)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


class _Server(ThreadingHTTPServer):
    fake: FakeOpenAI


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault = fake._arrive(RecordedRequest(self.path, headers, body, time.monotonic()))
        try:
            self._answer(fake, fault, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (it timed out)
        finally:
            fake._leave()

    def _answer(self, fake: FakeOpenAI, fault: Fault | None, body: Any) -> None:
        chat = self.path == "/v1/chat/completions"
        if not chat and self.path != "/v1/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if fault is None or fault.kind == "hang":
            if fault is not None:
                fake._stopping.wait(fake.hang_s)
            time.sleep(fake.latency_s)
            return self._send(200, _completion(fake.solution_for(_prompt_of(body)), chat=chat))
        match fault.kind:
            case "server_error":
                self._send(500, {"error": {"message": "internal server error"}})
            case "rate_limited":
                extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._send(429, {"error": {"message": "slow down"}}, extra)
            case "malformed_json":
                self._send_bytes(200, b'{"choices": [{"text": "unfinished')
            case "no_choices":
                self._send(200, {"object": "text_completion", "model": "fake"})
            case "empty":
                self._send(200, _completion("", chat=chat))
            case "disconnect":
                self.close_connection = True
            case "status":
                self._send_bytes(fault.status, fault.body.encode())

    def _send(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), headers)

    def _send_bytes(
        self, status: int, content: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


def _prompt_of(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if "messages" in body:
        return str(body["messages"][-1]["content"])
    return str(body.get("prompt", ""))


def _completion(text: str, *, chat: bool) -> dict[str, Any]:
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        return {"object": "chat.completion", "choices": [{**choice, "finish_reason": "stop"}]}
    choice = {"index": 0, "text": text, "finish_reason": "stop"}
    return {"object": "text_completion", "choices": [choice]}
