"""A loopback OpenAI-compatible HTTP server for tests and benchmarks (stdlib only).

It lets tests drive the *real* ``openai`` client, so retries, timeouts, error
mapping and streaming are exercised end to end without the internet::

    with StubServer(["first reply", HTTPError.rate_limit(retry_after=0), "second"]) as stub:
        chat = OpenAIChatModel(base_url=stub.base_url, api_key="test-key")
        chat.complete([user("hi")]).content            # "first reply"
        stub.requests[0].body["messages"]

Serves ``POST /v1/chat/completions`` (JSON, or SSE when ``"stream": true``),
``GET /v1/models`` and ``GET /v1/models/{name}`` (any name, unless ``models``
lists the only ones offered). Each chat request takes the next scripted reply; when the
queue is empty the ``handler`` (``callable(request_body) -> reply``) answers;
with neither, the server answers HTTP 400 "no reply left", which the client
does not retry. A reply is one of:

- ``str``: the assistant's text, wrapped in a spec-complete completion body;
- :class:`Text`: text with a chosen ``finish_reason``, usage or model;
- ``dict``: a raw response body, sent as is with status 200;
- :class:`HTTPError`: a status, a body and headers (429, 500, 401, 400, ...);
- :class:`Delay`: wait, then answer with ``then`` (to provoke client timeouts);
- :class:`Drop`: close the connection without answering;
- a callable ``(request_body) -> reply``.

Standalone, ``python -m agent.stub_server [--port P] [--reply-file F |
--echo-formulation]`` serves one on ``127.0.0.1:8765`` whose answers come from
a :class:`FormulationRule` (the gallery samples by default), so that a
newcomer can try ``optiwise ask`` and the app without an LLM endpoint.

``latency`` seconds are slept on every chat request, in that request's own
thread (the server is threaded), so concurrent requests overlap;
``max_in_flight`` tells how many overlapped at most.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "Delay",
    "Drop",
    "FormulationRule",
    "HTTPError",
    "RecordedRequest",
    "StubReply",
    "StubServer",
    "Text",
]


@dataclass(frozen=True)
class Text:
    """A text reply with control over the completion's fields."""

    content: str
    finish_reason: str = "stop"
    model: str | None = None  # default: the model the request named
    prompt_tokens: int | None = None  # default: estimated from the request
    completion_tokens: int | None = None  # default: len(content) // 4


@dataclass(frozen=True)
class HTTPError:
    """An error answer: ``status``, a JSON (or text) ``body`` and extra ``headers``."""

    status: int
    body: Mapping[str, Any] | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def api_error(
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> HTTPError:
        """An OpenAI-style ``{"error": {message, type, param, code}}`` answer."""
        body = {"error": {"message": message, "type": type, "param": param, "code": code}}
        return HTTPError(status, body, dict(headers or {}))

    @classmethod
    def rate_limit(cls, retry_after: float | None = 0, *, ms: bool = False) -> HTTPError:
        """429 with ``Retry-After`` (seconds) or, with ``ms=True``, ``retry-after-ms``."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            if ms:
                headers["retry-after-ms"] = str(int(retry_after * 1000))
            else:
                headers["Retry-After"] = f"{retry_after:g}"
        return cls.api_error(
            429,
            "Rate limit reached; please try again later.",
            type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )

    @classmethod
    def server_error(cls, status: int = 500) -> HTTPError:
        """A 5xx answer."""
        return cls.api_error(
            status, "The server had an error processing your request.", type="server_error"
        )

    @classmethod
    def unauthorized(cls) -> HTTPError:
        """401 invalid key."""
        return cls.api_error(
            401, "Incorrect API key provided.", type="invalid_request_error", code="invalid_api_key"
        )

    @classmethod
    def context_length(cls, limit: int = 8192) -> HTTPError:
        """400 ``context_length_exceeded``, worded as OpenAI words it."""
        return cls.api_error(
            400,
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {limit + 1000} tokens. Please reduce the length of the messages.",
            code="context_length_exceeded",
            param="messages",
        )


@dataclass(frozen=True)
class Delay:
    """Sleep ``seconds`` before answering with ``then`` (cut short when the server closes)."""

    seconds: float
    then: StubReply = "ok"


@dataclass(frozen=True)
class Drop:
    """Close the connection without sending a response."""


StubReply = (
    str | Text | HTTPError | Delay | Drop | Mapping[str, Any] | Callable[[dict[str, Any]], Any]
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it (``headers`` with lower-case names)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the request (empty for other requests)."""
        return list(self.body.get("messages", []))


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a burst of concurrent connections
    # (an async eval run) overflows it, and the kernel drops SYNs that the client
    # resends only after a second, which makes a throughput benchmark lie.
    request_queue_size = 1024
    daemon_threads = True


def _estimate_tokens(body: Mapping[str, Any]) -> int:
    text = "".join(
        str(m.get("content", "")) for m in body.get("messages", []) if isinstance(m, dict)
    )
    return max(1, len(text) // 4)


class StubServer:
    """A scripted OpenAI-compatible server on ``127.0.0.1:<free port>``; see the module doc."""

    def __init__(
        self,
        replies: Iterable[StubReply] = (),
        *,
        handler: Callable[[dict[str, Any]], StubReply] | None = None,
        latency: float = 0.0,
        model: str = "stub-model",
        models: Iterable[str] | None = None,
        start: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.handler = handler
        self.latency = latency
        self.model = model
        # None: any model name is served (GET /models/{any} answers), /models lists `model`.
        self.models = None if models is None else tuple(models)
        self.host = host
        self.requested_port = port
        self.requests: list[RecordedRequest] = []
        self._replies: deque[StubReply] = deque(replies)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._chat_count = 0
        self._in_flight = 0
        self.max_in_flight = 0  # most chat requests seen at the same time
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> StubServer:
        """Bind a free port and serve in a daemon thread (idempotent)."""
        if self._server is not None:
            return self
        self._closing.clear()
        server = _Server((self.host, self.requested_port), _make_handler(self))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; sleeping :class:`Delay` replies wake up and end."""
        server, self._server = self._server, None
        if server is None:
            return
        self._closing.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("the stub server is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: pass it as ``base_url`` to the client."""
        return f"http://{self.host}:{self.port}/v1"

    # ------------------------------------------------------------------ script

    def push(self, *replies: StubReply) -> None:
        """Append replies to the queue."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def remaining(self) -> int:
        """Scripted replies not yet served."""
        with self._lock:
            return len(self._replies)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded ``/chat/completions`` requests, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self.requests.append(request)
            if request.path.endswith("/chat/completions"):
                self._chat_count += 1
            return self._chat_count

    def _next_reply(self, body: dict[str, Any], number: int) -> StubReply:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        if self.handler is not None:
            return self.handler(body)
        return HTTPError.api_error(
            400,
            f"StubServer has no reply left for request #{number}; script more replies",
            code="stub_exhausted",
        )

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._closing.wait(seconds)

    # ---------------------------------------------------------- reply bodies

    def completion_body(self, request: Mapping[str, Any], text: Text) -> dict[str, Any]:
        """A spec-complete ``chat.completion`` body for ``text``."""
        prompt = text.prompt_tokens if text.prompt_tokens is not None else _estimate_tokens(request)
        completion = (
            text.completion_tokens
            if text.completion_tokens is not None
            else max(1, len(text.content) // 4)
        )
        return {
            "id": f"chatcmpl-stub-{time.time_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": text.model or str(request.get("model") or self.model),
            "system_fingerprint": "fp_stub",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": text.finish_reason,
                    "logprobs": None,
                    "message": {"role": "assistant", "content": text.content, "refusal": None},
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def stream_events(self, request: Mapping[str, Any], text: Text) -> list[dict[str, Any]]:
        """The ``chat.completion.chunk`` events for ``text``: role, one per word, finish, usage."""
        full = self.completion_body(request, text)
        base = {
            "id": full["id"],
            "object": "chat.completion.chunk",
            "created": full["created"],
            "model": full["model"],
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in _pieces(text.content)]
        events.append(chunk({}, text.finish_reason))
        options = request.get("stream_options") or {}
        if isinstance(options, dict) and options.get("include_usage"):
            events.append({**base, "choices": [], "usage": full["usage"]})
        return events


def _pieces(text: str) -> list[str]:
    """Split text into word-sized deltas whose concatenation is the text."""
    pieces: list[str] = []
    current = ""
    for ch in text:
        current += ch
        if ch.isspace():
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "stub"}


def _make_handler(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle's algorithm on, the
        # body waits for the client's delayed ACK (~40 ms per request on loopback).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self,
            status: int,
            body: object,
            content_type: str = "application/json",
            headers: Mapping[str, str] | None = None,
        ) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_stub_{time.time_ns()}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

        def _read_body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"_raw": raw.decode("utf-8", "replace")}
            return body if isinstance(body, dict) else {"_raw": body}

        def _recorded(self, body: dict[str, Any]) -> int:
            headers = {k.lower(): v for k, v in self.headers.items()}
            return stub._record(RecordedRequest(self.command, self.path, headers, body))

        def do_GET(self) -> None:
            self._recorded({})
            path = self.path.split("?", 1)[0].rstrip("/")
            names = stub.models if stub.models is not None else (stub.model,)
            if path.endswith("/models"):
                data = [_model_entry(name) for name in names]
                self._send(200, {"object": "list", "data": data})
            elif "/models/" in path:
                name = path.split("/models/", 1)[1]
                if stub.models is None or name in stub.models:
                    self._send(200, _model_entry(name))
                else:
                    self._send(
                        404,
                        {
                            "error": {
                                "message": f"The model '{name}' does not exist",
                                "type": "invalid_request_error",
                                "code": "model_not_found",
                                "param": None,
                            }
                        },
                    )
            else:
                self._send(
                    404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
                )

        def do_POST(self) -> None:
            body = self._read_body()
            number = self._recorded(body)
            try:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(
                        404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
                    )
                    return
                if not isinstance(body.get("messages"), list) or not body.get("model"):
                    self._answer(
                        body, HTTPError.api_error(400, "'model' and 'messages' are required")
                    )
                    return
                stub._enter()
                try:
                    stub._sleep(stub.latency)
                    self._answer(body, stub._next_reply(body, number))
                finally:
                    stub._leave()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout); nothing to answer

        def _answer(self, body: dict[str, Any], reply: Any) -> None:
            while True:
                if isinstance(reply, Delay):
                    stub._sleep(reply.seconds)
                    if stub._closing.is_set():
                        self.close_connection = True
                        return
                    reply = reply.then
                elif callable(reply):
                    reply = reply(body)
                else:
                    break
            if isinstance(reply, Drop):
                self.close_connection = True
                return
            if isinstance(reply, HTTPError):
                payload: object = (
                    reply.body.encode() if isinstance(reply.body, str) else dict(reply.body or {})
                )
                self._send(reply.status, payload, headers=reply.headers)
                return
            if isinstance(reply, Mapping):
                self._send(200, dict(reply))
                return
            text = reply if isinstance(reply, Text) else Text(str(reply))
            if body.get("stream"):
                events = stub.stream_events(body, text)
                data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
                self._send(200, data + b"data: [DONE]\n\n", "text/event-stream")
            else:
                self._send(200, stub.completion_body(body, text))

    return Handler


# ------------------------------------------------------------------ standalone

_FENCED = re.compile(r"```(?:json|yaml|yml)?[ \t]*\n(?P<body>.*?)```", re.DOTALL)


def _section(text: str, title: str) -> str | None:
    """The text under the last ``## title`` heading of a prompt (up to the next ``## ``).

    The last one: few-shot examples before the problem may use the same headings.
    """
    found = list(re.finditer(rf"^## {re.escape(title)}[ \t]*\n", text, re.MULTILINE))
    if not found:
        return None
    body = text[found[-1].end() :]
    return re.split(r"^## ", body, maxsplit=1, flags=re.MULTILINE)[0].strip()


def _as_document(text: str) -> dict[str, Any] | None:
    """A formulation document written as JSON or YAML (a sample file's ``formulation:`` too)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(data, dict) and isinstance(data.get("formulation"), dict):
        data = data["formulation"]
    return data if isinstance(data, dict) and "objective" in data else None


class FormulationRule:
    """How the standalone stub answers: a fixed formulation, the one in the problem, or a sample.

    - ``reply``: every formulate/repair request gets this document (``--reply-file``);
    - ``echo``: the document written in the problem text itself, in a fenced
      ```yaml/```json block or as the whole text (``--echo-formulation``);
    - otherwise: a problem whose text is one of the packaged gallery samples
      (``modeling.samples``) gets that sample's formulation.

    Edit requests get the current document back unchanged, review requests
    ``{"verdict": "ok"}``, explanations a short sentence: enough for
    ``optiwise ask`` and the app to run end to end without an LLM.
    """

    def __init__(self, reply: dict[str, Any] | None = None, *, echo: bool = False) -> None:
        self.reply = reply
        self.echo = echo
        self._samples: dict[str, dict[str, Any]] | None = None

    def samples(self) -> dict[str, dict[str, Any]]:
        """Gallery problem text (whitespace-normalised) -> formulation."""
        if self._samples is None:
            try:
                from modeling.samples import load_samples

                self._samples = {
                    " ".join(s.problem.split()): dict(s.formulation) for s in load_samples()
                }
            except Exception:  # no samples packaged: the other rules still work
                self._samples = {}
        return self._samples

    def formulation(self, problem: str) -> dict[str, Any] | None:
        """The document to answer for ``problem`` (None: the rule has none)."""
        if self.reply is not None:
            return self.reply
        if self.echo:
            for match in _FENCED.finditer(problem):
                document = _as_document(match.group("body"))
                if document is not None:
                    return document
            return _as_document(problem)
        # The prompt may add instructions after the problem: match the sample it starts with.
        text = " ".join(problem.split())
        matches = [key for key in self.samples() if text.startswith(key)]
        return self.samples()[max(matches, key=len)] if matches else None

    def __call__(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or [{}]
        text = str(messages[-1].get("content", ""))
        current = _section(text, "Current document")
        if _section(text, "Request") is not None and current is not None:  # edit
            unchanged = _as_document(current) or {}
            return json.dumps({"summary": "(stub server) nothing changed", "document": unchanged})
        if _section(text, "Result") is not None:  # explain
            return "(stub server) The result above is the solver's; the stub writes no prose."
        if _section(text, "Document") is not None:  # review
            return json.dumps({"verdict": "ok", "issues": []})
        problem = _section(text, "Problem")
        if problem is None:
            return "(stub server) I only answer formulate, repair, edit, review and explain."
        document = self.formulation(problem)
        if document is None:
            mode = "--echo-formulation" if self.echo else "the gallery samples"
            return (
                f"(stub server) I have no formulation for this problem ({mode}); start me with "
                "--reply-file FILE, or --echo-formulation and write the document in the problem."
            )
        return json.dumps(document)


def _load_reply(path: str) -> dict[str, Any]:
    from pathlib import Path

    text = Path(path).read_text(encoding="utf-8")
    document = _as_document(text)
    if document is None:
        raise SystemExit(
            f"stub_server: {path} holds no formulation document (a JSON or YAML mapping with "
            "an 'objective', or a sample file with a 'formulation:' key)"
        )
    return document


def main(argv: list[str] | None = None) -> int:
    """``python -m agent.stub_server``: serve a local OpenAI-compatible endpoint until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m agent.stub_server",
        description="A local OpenAI-compatible endpoint that answers formulate requests without "
        "an LLM, to try `optiwise ask` and the app. By default it knows the gallery samples.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--reply-file", metavar="F", help="answer every problem with this formulation (YAML/JSON)"
    )
    group.add_argument(
        "--echo-formulation",
        action="store_true",
        help="answer with the formulation written in the problem text (```yaml block)",
    )
    args = parser.parse_args(argv)
    reply = _load_reply(args.reply_file) if args.reply_file else None
    rule = FormulationRule(reply, echo=args.echo_formulation)
    try:
        stub = StubServer(handler=rule, host=args.host, port=args.port)
    except OSError as exc:
        print(f"stub_server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    mode = (
        f"every problem -> {args.reply_file}"
        if reply is not None
        else "the formulation written in each problem"
        if args.echo_formulation
        else f"{len(rule.samples())} gallery samples"
    )
    print(f"stub LLM server on {stub.base_url} ({mode}); Ctrl-C stops it", flush=True)
    print(f"  export OPENAI_BASE_URL={stub.base_url} OPTIWISE_MODEL=stub-model", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
