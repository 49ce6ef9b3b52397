"""Chat completions over any OpenAI-compatible endpoint, with retries, cost and a cache.

The rest of the agent sees only :class:`ChatModel` (``complete``, ``acomplete``,
``stream``) and :class:`LLMReply`; tests swap in :class:`agent.fake.FakeLLM`.

Example::

    chat = OpenAIChatModel(model="gpt-4o-mini")
    reply = chat.complete([system("You are terse."), user("2+2?")])
    reply.content, reply.usage.cost_usd

    data, reply = complete_json(chat, [system(PROMPT), user(problem)])

Per-call overrides (keyword arguments of ``complete``/``acomplete``/``stream``):
``model``, ``temperature``, ``seed``, ``max_tokens``, ``timeout``, ``max_retries``,
``retry_initial_delay``, ``retry_max_delay``, ``json_mode``, plus

- ``json=True``: ask for a JSON object (``response_format`` per ``json_mode``);
- ``response_format={...}``: send exactly this response format;
- ``cache=False``: bypass the response cache for this call;
- ``cache_tag="sample-3"``: keep otherwise identical requests apart in the cache
  (to draw several cached samples of one prompt at temperature > 0);
- ``tools=[{"type": "function", "function": {...}}]`` and ``tool_choice``: offer
  functions (OpenAI tool calling); the reply's ``tool_calls`` lists the calls the
  model asked for (``complete``/``acomplete`` only; ``stream`` yields text).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import ssl
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, Protocol, TypedDict, cast, runtime_checkable

import httpx2
import openai
from openai import AsyncOpenAI, OpenAI

from agent.cache import ResponseCache, request_key
from agent.errors import (
    AuthError,
    ContextWindowError,
    LLMError,
    ParseError,
    map_openai_error,
)
from agent.settings import LLMSettings, get_settings
from agent.usage import Usage, price_for

__all__ = [
    "CALL_OPTIONS",
    "ChatMessage",
    "ChatModel",
    "ChatStream",
    "LLMReply",
    "OpenAIChatModel",
    "ToolCall",
    "acomplete_json",
    "assistant",
    "check_call_options",
    "complete_json",
    "extract_json",
    "system",
    "user",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_API_KEY = "not-needed"  # local servers ignore the key, the client wants one


class ChatMessage(TypedDict):
    """One chat turn: ``{"role": "system" | "user" | "assistant" | "tool", "content": "..."}``.

    With tool calling, an assistant turn may carry ``tool_calls`` (the OpenAI wire
    form, see :meth:`ToolCall.to_wire`) and a ``tool`` turn answers one of them
    by ``tool_call_id``.
    """

    role: str
    content: str
    name: NotRequired[str]
    tool_calls: NotRequired[list[dict[str, Any]]]
    tool_call_id: NotRequired[str]


def system(content: str) -> ChatMessage:
    """A system message."""
    return {"role": "system", "content": content}


def user(content: str) -> ChatMessage:
    """A user message."""
    return {"role": "user", "content": content}


def assistant(content: str) -> ChatMessage:
    """An assistant message (for chat history and few-shot turns)."""
    return {"role": "assistant", "content": content}


@dataclass(frozen=True)
class ToolCall:
    """One function call an LLM asked for: its id, the tool's name and the raw JSON arguments.

    ``arguments`` stays text: the caller validates it (a model may send broken JSON,
    and that is an error to report back to it, not to raise here).
    """

    id: str
    name: str
    arguments: str

    def to_wire(self) -> dict[str, Any]:
        """The OpenAI ``tool_calls`` entry, for the assistant message sent back in history."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class LLMReply:
    """One answer of a chat model.

    ``request_id`` is the server's ``x-request-id`` (quote it in support tickets)
    or, failing that, the completion id. ``attempts`` is 1 plus the retries after
    retryable errors (0 for a cache hit); resending without a parameter that the
    server rejected (see ``json_mode``) does not count. ``latency_s`` is the wall
    time of the whole call, backoff included.
    """

    content: str
    model: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cached: bool = False
    finish_reason: str | None = None
    request_id: str | None = None
    attempts: int = 1
    tool_calls: tuple[ToolCall, ...] = ()
    """The functions the model asked to call (only when the request offered ``tools``)."""

    @property
    def truncated(self) -> bool:
        """True when the reply stopped at the token limit (``finish_reason == "length"``)."""
        return self.finish_reason == "length"


@runtime_checkable
class ChatModel(Protocol):
    """What the agent needs from an LLM; see the module docstring for the overrides."""

    def complete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Send ``messages``; return the whole reply."""
        ...

    async def acomplete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Async ``complete``."""
        ...

    def stream(self, messages: Sequence[ChatMessage], **overrides: Any) -> Iterator[str]:
        """Send ``messages``; yield the reply's text as it arrives."""
        ...


class ChatStream(Iterator[str]):
    """Text deltas of a streamed reply; ``reply`` holds the whole :class:`LLMReply` at the end.

    The request is sent on the first ``next()``; errors are raised from there.
    Closing the stream early (``close()`` or leaving a ``with`` block) closes
    the connection, and nothing is cached.
    """

    def __init__(self, deltas: Callable[[ChatStream], Iterator[str]]) -> None:
        self._reply: LLMReply | None = None
        self._gen = deltas(self)

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the connection."""
        close = getattr(self._gen, "close", None)
        if close is not None:
            close()

    def _finish(self, reply: LLMReply) -> None:
        self._reply = reply

    @property
    def reply(self) -> LLMReply:
        """The complete reply; only after the stream has been read to the end."""
        if self._reply is None:
            raise RuntimeError("the stream has not been read to the end yet")
        return self._reply


_SETTING_OVERRIDES = frozenset(
    {
        "model",
        "temperature",
        "seed",
        "max_tokens",
        "timeout",
        "max_retries",
        "retry_initial_delay",
        "retry_max_delay",
        "json_mode",
    }
)
CALL_OPTIONS = _SETTING_OVERRIDES | {
    "json",
    "response_format",
    "cache",
    "cache_tag",
    "tools",
    "tool_choice",
}
"""Every keyword a ChatModel call accepts; anything else is a TypeError (typos fail fast)."""


def check_call_options(overrides: Mapping[str, Any]) -> None:
    """Raise TypeError for keywords outside :data:`CALL_OPTIONS` (shared by every ChatModel)."""
    unknown = set(overrides) - CALL_OPTIONS
    if unknown:
        allowed = ", ".join(sorted(CALL_OPTIONS))
        raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; allowed: {allowed}")


JSON_OBJECT: dict[str, Any] = {"type": "json_object"}
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


@dataclass
class _Call:
    """One logical request, resolved from settings and overrides."""

    settings: LLMSettings
    messages: list[ChatMessage]
    response_format: dict[str, Any] | None
    json_fallback: bool  # json_mode == "auto": may drop response_format if rejected
    tools: list[dict[str, Any]] | None
    tool_choice: Any
    key_request: dict[str, Any]
    key: str | None  # None: caching off for this call
    started: float = field(default_factory=time.perf_counter)


def _mentions_json(messages: Sequence[ChatMessage]) -> bool:
    return any("json" in str(m.get("content", "")).lower() for m in messages)


class OpenAIChatModel:
    """:class:`ChatModel` over the ``openai`` client (OpenAI, Azure, vLLM, Ollama, DeepSeek, ...).

    ``settings`` defaults to :func:`agent.settings.get_settings` resolved *now*
    (environment plus the active ``settings_context``); ``overrides`` are applied
    on top. Retries are ours (the client is built with ``max_retries=0``):
    exponential backoff with jitter on retryable errors, honouring ``Retry-After``.
    Thread-safe; one instance can serve many threads and asyncio tasks.
    """

    def __init__(self, settings: LLMSettings | None = None, **overrides: Any) -> None:
        base = settings if settings is not None else get_settings()
        self.settings = base.merged(**overrides)
        self.cache = (
            ResponseCache(self.settings.cache_dir) if self.settings.cache_dir is not None else None
        )
        self._lock = threading.Lock()
        self._client: OpenAI | None = None
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Shards]
        self._async_clients = weakref.WeakKeyDictionary()
        self._closers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, AsyncGenerator[None, None]
        ]
        self._closers = weakref.WeakKeyDictionary()
        self._unsupported: set[tuple[str, str]] = set()  # (model, param) the server rejected
        self._total = Usage()
        self._usage_callbacks: list[Callable[[Usage], None]] = []
        self._ssl = _SSLContext()

    def __repr__(self) -> str:
        s = self.settings
        return f"OpenAIChatModel(model={s.model!r}, base_url={s.base_url or OPENAI_BASE_URL!r})"

    @property
    def model_name(self) -> str:
        """The default model of this instance."""
        return self.settings.model

    @property
    def total_usage(self) -> Usage:
        """Usage summed over every call this instance answered."""
        with self._lock:
            return self._total

    # ------------------------------------------------------------------ clients

    def _client_kwargs(self) -> dict[str, Any]:
        s = self.settings
        if s.api_key is not None:
            key = s.api_key.get_secret_value()
        elif s.base_url is not None:
            key = PLACEHOLDER_API_KEY
        else:
            raise AuthError("no LLM is configured")
        return {
            "api_key": key,
            "base_url": s.base_url or OPENAI_BASE_URL,
            "timeout": s.timeout,
            "max_retries": 0,
        }

    def _sync_client(self) -> OpenAI:
        with self._lock:
            if self._client is None:
                self._client = OpenAI(**self._client_kwargs())
            return self._client

    async def _async_clients_of_loop(self) -> _Shards:
        """The running loop's async clients (see :class:`_Shards`)."""
        # An async HTTP pool belongs to the event loop that opened its connections,
        # so each loop (e.g. each asyncio.run) gets its own clients, closed when the
        # loop shuts down its async generators (asyncio.run does) so no socket leaks.
        loop = asyncio.get_running_loop()
        with self._lock:
            shards = self._async_clients.get(loop)
            if shards is None:
                shards = self._async_clients[loop] = _Shards(self._client_kwargs(), self._ssl)
                closer: AsyncGenerator[None, None] | None = _close_at_loop_shutdown(shards)
            else:
                closer = None
        if closer is not None:
            await closer.__anext__()  # registers the generator with the running loop
            self._closers[loop] = closer
        return shards

    def close(self) -> None:
        """Close the synchronous HTTP client (async ones close with their event loop)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the async client of the running event loop and the sync client."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._async_clients.pop(loop, None)
            closer = self._closers.pop(loop, None)
        if closer is not None:
            await closer.aclose()  # closes the client
        self.close()

    def __enter__(self) -> OpenAIChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ request setup

    def _prepare(self, messages: Sequence[ChatMessage], overrides: dict[str, Any]) -> _Call:
        check_call_options(overrides)
        s = self.settings.merged(**{k: v for k, v in overrides.items() if k in _SETTING_OVERRIDES})
        # A copy: the caller may change its messages after the call (e.g. chat history).
        msgs = [cast(ChatMessage, dict(m)) for m in messages]
        response_format: dict[str, Any] | None = overrides.get("response_format")
        json_fallback = False
        if response_format is None and overrides.get("json"):
            if s.json_mode == "on" or (s.json_mode == "auto" and _mentions_json(messages)):
                # OpenAI rejects json_object unless a message says "json"; auto mode then
                # relies on the prompt alone instead of failing.
                response_format = dict(JSON_OBJECT)
                json_fallback = s.json_mode == "auto"
        key_request = {
            "model": s.model,
            "messages": msgs,
            "temperature": s.temperature,
            "seed": s.seed,
            "max_tokens": s.max_tokens,
            "response_format": response_format,
            "base_url": (s.base_url or OPENAI_BASE_URL).rstrip("/"),
            "tag": overrides.get("cache_tag"),
        }
        if overrides.get("tools"):  # only then, so the keys of plain requests stay as they were
            key_request["tools"] = overrides["tools"]
            key_request["tool_choice"] = overrides.get("tool_choice")
        use_cache = self.cache is not None and overrides.get("cache", True)
        return _Call(
            settings=s,
            messages=msgs,
            response_format=response_format,
            json_fallback=json_fallback,
            tools=list(overrides["tools"]) if overrides.get("tools") else None,
            tool_choice=overrides.get("tool_choice"),
            key_request=key_request,
            key=request_key(key_request) if use_cache else None,
        )

    def _api_params(self, call: _Call, *, stream: bool) -> dict[str, Any]:
        s = call.settings
        params: dict[str, Any] = {"model": s.model, "messages": call.messages, "timeout": s.timeout}
        reasoning = bool(_REASONING_MODEL.match(s.model.rsplit("/", 1)[-1].lower()))
        if not reasoning:  # o-series and gpt-5 reject any temperature but the default
            params["temperature"] = s.temperature
        if s.seed is not None:
            params["seed"] = s.seed
        if s.max_tokens is not None:
            params["max_completion_tokens" if reasoning else "max_tokens"] = s.max_tokens
        if call.response_format is not None and (s.model, "response_format") not in (
            self._unsupported
        ):
            params["response_format"] = call.response_format
        if call.tools:
            params["tools"] = call.tools
            if call.tool_choice is not None:
                params["tool_choice"] = call.tool_choice
        if stream:
            params["stream"] = True
            if (s.model, "stream_options") not in self._unsupported:
                params["stream_options"] = {"include_usage": True}
        return params

    def request_params(self, messages: Sequence[ChatMessage], **overrides: Any) -> dict[str, Any]:
        """The chat-completions body this model would send (no timeout), e.g. for a batch file.

        The same preparation as a live call decides model, temperature, seed, token cap
        and ``response_format``, so an exported request matches what ``complete`` sends.
        """
        params = self._api_params(self._prepare(messages, dict(overrides)), stream=False)
        params.pop("timeout", None)
        return params

    def _retry_delay(
        self, call: _Call, params: dict[str, Any], exc: Exception, attempt: int
    ) -> float | None:
        """Seconds to wait before retry ``attempt + 1``, None to resend at once, or raise.

        Resending at once (not counted as a retry) happens when the server rejected
        an optional parameter (``response_format`` in json_mode auto, ``stream_options``).
        """
        err = map_openai_error(exc)
        s = call.settings
        rejected = _rejected_param(err, params)
        if rejected == "response_format" and not call.json_fallback:
            rejected = None  # json_mode "on", or a response_format the caller chose: keep it
        if rejected is not None:
            # The server does not know an optional parameter: drop it for good and retry now.
            with self._lock:
                self._unsupported.add((s.model, rejected))
            return None
        if not err.is_retryable() or attempt >= s.max_retries:
            err.attempts = attempt + 1
            raise err from exc
        if err.retry_after is not None:
            return min(err.retry_after, s.retry_max_delay)
        ceiling = min(s.retry_max_delay, s.retry_initial_delay * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    # -------------------------------------------------------------- the replies

    def _cached(self, call: _Call) -> LLMReply | None:
        if self.cache is None or call.key is None:
            return None
        hit = self.cache.get(call.key)
        if hit is None:
            return None
        reply = LLMReply(
            content=str(hit.get("content", "")),
            model=str(hit.get("model", call.settings.model)),
            usage=Usage.cached_call(),
            latency_s=time.perf_counter() - call.started,
            cached=True,
            finish_reason=hit.get("finish_reason"),
            request_id=hit.get("request_id"),
            attempts=0,
            tool_calls=tuple(ToolCall(**t) for t in hit.get("tool_calls") or ()),
        )
        self._add_usage(reply.usage)
        return reply

    def _finish(
        self,
        call: _Call,
        *,
        content: str,
        model: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        finish_reason: str | None,
        request_id: str | None,
        attempts: int,
        tool_calls: tuple[ToolCall, ...] = (),
    ) -> LLMReply:
        requested = call.settings.model
        served = model or requested
        priced = served if price_for(served) is not None else requested
        reply = LLMReply(
            content=content,
            model=served,
            usage=Usage.for_call(priced, prompt_tokens, completion_tokens),
            latency_s=time.perf_counter() - call.started,
            cached=False,
            finish_reason=finish_reason,
            request_id=request_id,
            attempts=attempts,
            tool_calls=tool_calls,
        )
        if self.cache is not None and call.key is not None:
            self.cache.put(
                call.key,
                call.key_request,
                {
                    "content": content,
                    "model": served,
                    "finish_reason": finish_reason,
                    "request_id": request_id,
                    "tool_calls": [
                        {"id": t.id, "name": t.name, "arguments": t.arguments} for t in tool_calls
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                    },
                },
            )
        self._add_usage(reply.usage)
        return reply

    def on_usage(self, callback: Callable[[Usage], None]) -> Callable[[], None]:
        """Call ``callback(usage)`` for every call this instance answers; returns an undo.

        Each answered call (cache hits included) is added to :attr:`total_usage` and
        then reported here, in the caller's context (its thread, its asyncio task and
        their context variables), so a caller can meter the calls of one job, e.g. an
        eval problem that may be stopped by a time-out before its result arrives.
        """
        with self._lock:
            self._usage_callbacks = [*self._usage_callbacks, callback]

        def undo() -> None:
            with self._lock:
                self._usage_callbacks = [c for c in self._usage_callbacks if c is not callback]

        return undo

    def _add_usage(self, usage: Usage) -> None:
        with self._lock:
            self._total = self._total + usage
            callbacks = self._usage_callbacks
        for callback in callbacks:
            callback(usage)

    def _from_body(self, call: _Call, response: httpx2.Response, attempts: int) -> LLMReply:
        """The reply of a chat-completions response, read from its JSON as plain data.

        (The ``openai`` client's typed objects cost more CPU per call than the request.)
        """
        try:
            body = json.loads(response.content)
        except ValueError:
            raise ParseError(
                "the server's reply is not JSON (is the base URL an OpenAI-compatible /v1 "
                "endpoint?)",
                raw=response.text[:2000],
            ) from None
        choices = body.get("choices") if isinstance(body, dict) else None
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise ParseError("the server's reply has no choices", raw=response.text[:2000])
        choice = choices[0]
        message = choice.get("message") or {}
        usage = body.get("usage") or {}
        return self._finish(
            call,
            content=str(message.get("content") or ""),
            model=body.get("model"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason"),
            request_id=response.headers.get("x-request-id") or body.get("id"),
            attempts=attempts,
            tool_calls=_tool_calls_of_wire(message.get("tool_calls")),
        )

    # ------------------------------------------------------------ the ChatModel

    def complete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Send ``messages`` and return the reply (from the cache when it has it)."""
        call = self._prepare(messages, overrides)
        cached = self._cached(call)
        if cached is not None:
            return cached
        client = self._sync_client()
        attempt = 0
        while True:
            params = self._api_params(call, stream=False)
            body, options = _post_args(params)
            try:
                response = client.post(
                    "/chat/completions", body=body, options=options, cast_to=httpx2.Response
                )
            except openai.OpenAIError as exc:
                delay = self._retry_delay(call, params, exc, attempt)
                if delay is not None:
                    attempt += 1
                    time.sleep(delay)
                continue
            return self._from_body(call, response, attempt + 1)

    async def acomplete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Async :meth:`complete`; many calls may run concurrently on one instance."""
        call = self._prepare(messages, overrides)
        cached = self._cached(call)
        if cached is not None:
            return cached
        attempt = 0
        while True:
            params = self._api_params(call, stream=False)
            body, options = _post_args(params)
            shards = await self._async_clients_of_loop()
            client = shards.pick()
            try:
                response = await client.post(
                    "/chat/completions", body=body, options=options, cast_to=httpx2.Response
                )
            except openai.OpenAIError as exc:
                delay = self._retry_delay(call, params, exc, attempt)
                if delay is not None:
                    attempt += 1
                    await asyncio.sleep(delay)
                continue
            finally:
                shards.done(client)
            return self._from_body(call, response, attempt + 1)

    def stream(self, messages: Sequence[ChatMessage], **overrides: Any) -> ChatStream:
        """Yield the reply's text deltas in order; ``.reply`` has the whole reply at the end.

        Retries cover opening the stream; an error in the middle of it is raised as is.
        A cache hit yields the cached text in one piece.
        """
        call = self._prepare(messages, overrides)
        return ChatStream(lambda out: self._stream_deltas(call, out))

    def _stream_deltas(self, call: _Call, out: ChatStream) -> Iterator[str]:
        cached = self._cached(call)
        if cached is not None:
            if cached.content:
                yield cached.content
            out._finish(cached)
            return
        client = self._sync_client()
        attempt = 0
        while True:
            params = self._api_params(call, stream=True)
            try:
                chunks = client.chat.completions.create(**params)
                break
            except openai.OpenAIError as exc:
                delay = self._retry_delay(call, params, exc, attempt)
                if delay is not None:
                    attempt += 1
                    time.sleep(delay)
        parts: list[str] = []
        model: str | None = None
        finish_reason: str | None = None
        request_id: str | None = None
        prompt_tokens = completion_tokens = 0
        try:
            for chunk in chunks:
                model = chunk.model or model
                request_id = request_id or chunk.id
                if chunk.usage is not None:
                    prompt_tokens = chunk.usage.prompt_tokens
                    completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices or ():
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
                    text = choice.delta.content if choice.delta else None
                    if text:
                        parts.append(text)
                        yield text
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise map_openai_error(exc) from exc
        finally:
            chunks.close()
        out._finish(
            self._finish(
                call,
                content="".join(parts),
                model=model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                finish_reason=finish_reason,
                request_id=request_id,
                attempts=attempt + 1,
            )
        )


def _post_args(params: dict[str, Any]) -> tuple[dict[str, Any], openai.RequestOptions]:
    """The JSON body and the request options of a chat-completions POST from ``params``.

    The body is sent as is: ``client.chat.completions.create`` would first walk it
    against the API's typed schema (several ms per call for a long prompt, for a
    body that is already plain JSON).
    """
    body = dict(params)
    options: openai.RequestOptions = {}
    if "timeout" in body:
        options["timeout"] = body.pop("timeout")
    return body, options


def _tool_calls_of_wire(calls: Any) -> tuple[ToolCall, ...]:
    """The function calls of a completion message's ``tool_calls`` (JSON), in order."""
    out: list[ToolCall] = []
    for number, call in enumerate(calls or ()):
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        if not isinstance(function, dict):  # a non-function tool type: not ours to run
            continue
        out.append(
            ToolCall(
                id=str(call.get("id") or f"call_{number}"),
                name=str(function.get("name") or ""),
                arguments=str(function.get("arguments") or ""),
            )
        )
    return tuple(out)


class _SSLContext:
    """One SSL context per chat model, built on first use and shared by its async clients.

    Building one (reading the CA bundle, honouring ``SSL_CERT_FILE``/``SSL_CERT_DIR``)
    takes 0.1-0.4 s; an HTTP client given one, well under 1 ms. Every event loop (each
    ``asyncio.run``) opens clients of its own, so without sharing each run paid it again,
    on the path of its first request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None

    def get(self) -> ssl.SSLContext:
        with self._lock:
            if self._context is None:
                self._context = httpx2.create_ssl_context(trust_env=True)
            return self._context


class _Shards:
    """The async clients of one event loop: a new one when every client is busy.

    httpx's connection pool scans all of its connections on every request and every
    response (each scan asks every socket whether it is readable), so one pool serving
    64 calls in flight spends more CPU on that scan than on the request itself. Calls
    go to the client with the fewest in flight; when each has :data:`PER_CLIENT`, a
    new client (its own pool) is opened, up to :data:`MAX_CLIENTS`.
    """

    PER_CLIENT = 8
    MAX_CLIENTS = 64

    def __init__(self, kwargs: dict[str, Any], ssl_context: _SSLContext) -> None:
        self.kwargs = kwargs
        self.clients: list[AsyncOpenAI] = []
        self.busy: dict[int, int] = {}  # id(client) -> calls in flight
        self.ssl = ssl_context

    def _new(self) -> AsyncOpenAI:
        """One more client: the HTTP client ``openai`` builds by default (its limits,
        redirects, proxies from the environment) with the model's shared SSL context."""
        http = openai.DefaultAsyncHttpxClient(verify=self.ssl.get(), timeout=self.kwargs["timeout"])
        return AsyncOpenAI(**self.kwargs, http_client=http)

    def pick(self) -> AsyncOpenAI:
        """The client for one call (counted in flight until :meth:`done`)."""
        best = min(self.clients, key=lambda c: self.busy[id(c)], default=None)
        if best is None or (
            self.busy[id(best)] >= self.PER_CLIENT and len(self.clients) < self.MAX_CLIENTS
        ):
            best = self._new()
            self.clients.append(best)
            self.busy[id(best)] = 0
        self.busy[id(best)] += 1
        return best

    def done(self, client: AsyncOpenAI) -> None:
        """The call that :meth:`pick` gave ``client`` to has ended."""
        if id(client) in self.busy:
            self.busy[id(client)] -= 1

    async def close(self) -> None:
        clients, self.clients = self.clients, []
        self.busy.clear()
        for client in clients:
            await client.close()


async def _close_at_loop_shutdown(shards: _Shards) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await shards.close()


def _rejected_param(err: LLMError, params: dict[str, Any]) -> str | None:
    """The optional parameter a 400/422 complains about, if we sent it; else None."""
    if err.status_code not in (400, 422) or isinstance(err, ContextWindowError):
        return None
    text = err.message.lower()
    if "must contain the word 'json'" in text:
        return None  # the prompt's fault, not the server's
    for name in ("response_format", "stream_options"):
        if name in params and name in text:
            return name
    return None


# ----------------------------------------------------------------- JSON replies

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def _loads_object(text: str) -> tuple[dict[str, Any] | None, str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}"
    return value, ""


def _top_level_objects(text: str) -> Iterator[tuple[int, int | None]]:
    """(start, end) of each brace-balanced ``{...}`` outside other objects; end None if open."""
    depth = 0
    start = 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if depth == 0:
            if ch == "{":
                depth, start = 1, i
            continue
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                yield start, i + 1
    if depth > 0:
        yield start, None


def extract_json(text: str) -> dict[str, Any]:
    """The JSON object in an LLM reply.

    Tried in order: the whole reply; each fenced block (```json or a bare ```);
    each top-level ``{...}`` in the prose, first to last. Only exact JSON is
    accepted (no trailing commas, comments or single quotes), because a repair
    prompt that quotes the parser's complaint fixes those better than guessing.
    ``<think>`` sections of reasoning models are ignored.

    Raises :class:`ParseError` with a short reason and the raw text.
    """
    cleaned = _THINK.sub("", text).strip().lstrip("\ufeff")
    if not cleaned:
        raise ParseError("the reply is empty; expected a JSON object", raw=text)
    found, reason = _loads_object(cleaned)
    if found is not None:
        return found
    reasons: list[str] = []
    if cleaned[0] in "[{":
        reasons.append(f"the reply is not valid JSON: {reason}")
    for match in _FENCE.finditer(cleaned):
        lang = match.group(1).lower()
        if lang not in ("", "json", "jsonc", "json5"):
            continue
        found, reason = _loads_object(match.group(2).strip())
        if found is not None:
            return found
        reasons.append(f"the ```{lang} block is not a JSON object: {reason}")
    for start, end in _top_level_objects(cleaned):
        if end is None:
            reasons.append(
                f"the JSON object at character {start} is never closed (was the reply cut off?)"
            )
            break
        found, reason = _loads_object(cleaned[start:end])
        if found is not None:
            return found
        reasons.append(f"the {{...}} at character {start} is not valid JSON: {reason}")
    if not reasons:
        raise ParseError("no JSON object found in the reply", raw=text)
    raise ParseError(reasons[0], raw=text)


def complete_json(
    model: ChatModel, messages: Sequence[ChatMessage], **overrides: Any
) -> tuple[dict[str, Any], LLMReply]:
    """Ask for a JSON object and parse it: ``(data, reply)``.

    ``response_format`` follows the ``json_mode`` setting. On a reply that does
    not parse, raises :class:`ParseError` with ``raw`` (the text) and ``reply``
    (its usage still counts).
    """
    return _parsed(model.complete(messages, json=True, **overrides))


async def acomplete_json(
    model: ChatModel, messages: Sequence[ChatMessage], **overrides: Any
) -> tuple[dict[str, Any], LLMReply]:
    """Async :func:`complete_json`."""
    return _parsed(await model.acomplete(messages, json=True, **overrides))


def _parsed(reply: LLMReply) -> tuple[dict[str, Any], LLMReply]:
    try:
        return extract_json(reply.content), reply
    except ParseError as err:
        err.reply = reply
        raise
