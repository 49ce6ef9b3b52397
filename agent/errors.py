"""Typed errors of LLM calls; one ``is_retryable()`` decides whether to try again.

Callers (the retry loop, the agent graph, the eval runner) never look at HTTP
status codes or vendor exception classes: :func:`map_openai_error` turns the
``openai`` package's exceptions into this hierarchy once, at the boundary.

    LLMError
    ├── RateLimitError      429; retryable unless the quota is used up
    ├── ContextWindowError  the prompt is too long for the model
    ├── AuthError           401/403, or no credentials at all
    ├── TransportError      connection errors, timeouts, 408/409, 5xx; retryable
    ├── BadRequestError     any other 4xx
    └── ParseError          the reply is not what was asked for (e.g. not JSON)
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx2
import openai

__all__ = [
    "AuthError",
    "BadRequestError",
    "ContextWindowError",
    "LLMError",
    "ParseError",
    "RateLimitError",
    "TransportError",
    "map_openai_error",
    "parse_retry_after",
]


class LLMError(Exception):
    """Base of every error raised by the LLM layer.

    ``hint`` says what to do next; it is part of ``str(err)``.
    """

    retryable: bool = False
    default_hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        self.hint = self.default_hint if hint is None else hint
        self.attempts = 1
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append(f"(HTTP {self.status_code}{', ' + self.code if self.code else ''})")
        if self.hint:
            parts.append(f"— {self.hint}")
        return " ".join(parts)

    def is_retryable(self) -> bool:
        """True when the same request may succeed if sent again later."""
        return self.retryable


class RateLimitError(LLMError):
    """The server asked us to slow down (HTTP 429). ``retry_after`` is in seconds, if sent."""

    retryable = True
    default_hint = "wait and retry, lower the concurrency, or raise the account's rate limit"

    def is_retryable(self) -> bool:
        # OpenAI answers 429 `insufficient_quota` when the account has no credit left:
        # waiting does not help.
        return self.code != "insufficient_quota"


class ContextWindowError(LLMError):
    """The prompt (plus the requested reply) does not fit in the model's context window."""

    default_hint = "shorten the prompt (fewer examples, less history) or use a longer-context model"


class AuthError(LLMError):
    """The server refused the credentials (HTTP 401/403), or none are configured."""

    default_hint = (
        "set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server that needs no key) "
        "and check that the key may use this model"
    )


class TransportError(LLMError):
    """No usable answer for a transient reason: connection error, timeout, 5xx."""

    retryable = True
    default_hint = "retry later; check OPENAI_BASE_URL and that the server is up"


class BadRequestError(LLMError):
    """The server rejected the request (4xx other than 401/403/408/409/429)."""

    default_hint = "check the model name and the request parameters"


class ParseError(LLMError):
    """The reply is not what was asked for.

    ``raw`` keeps the reply text for a repair prompt; ``reply`` is the
    ``LLMReply`` it came from, when known, so that its usage still counts.
    """

    default_hint = "ask again, quoting the reason, or repair the reply"

    def __init__(self, reason: str, raw: str = "", **kwargs: Any) -> None:
        super().__init__(reason, **kwargs)
        self.reason = reason
        self.raw = raw
        self.reply: Any = None


_CONTEXT_PATTERNS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",
    "context size",
    "too many tokens",
    "prompt is too long",
    "input is too long",
    "reduce the length",
)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    raw_ms = lower.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = lower.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _looks_like_context_overflow(exc: openai.APIStatusError) -> bool:
    if exc.code == "context_length_exceeded":
        return True
    text = f"{exc.message} {exc.body}".lower()
    return any(pattern in text for pattern in _CONTEXT_PATTERNS)


def map_openai_error(exc: BaseException) -> LLMError:
    """Translate an exception from the ``openai`` package into an :class:`LLMError`.

    An ``LLMError`` is returned unchanged; anything unknown becomes a plain ``LLMError``.
    """
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return TransportError(
            "the request timed out", hint="retry, or raise the timeout (OPTIWISE_TIMEOUT)"
        )
    if isinstance(exc, openai.APIConnectionError):
        return TransportError(f"could not connect to the LLM server: {exc.message}")
    if isinstance(exc, openai.APIResponseValidationError):
        return ParseError(f"the server's reply does not follow the API schema: {exc.message}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        fields: dict[str, Any] = {
            "status_code": status,
            "code": exc.code,
            "request_id": exc.request_id,
            "retry_after": parse_retry_after(dict(exc.response.headers)),
        }
        body = exc.body
        message = exc.message
        if isinstance(body, Mapping) and isinstance(body.get("message"), str) and body["message"]:
            message = body["message"]  # without the client's "Error code: 400 - {...}" wrapping
        if status == 429:
            return RateLimitError(message, **fields)
        if status in (401, 403):
            return AuthError(message, **fields)
        if status in (408, 409) or status >= 500:
            return TransportError(message, **fields)
        if status in (400, 413, 422) and _looks_like_context_overflow(exc):
            return ContextWindowError(message, **fields)
        return BadRequestError(message, **fields)
    if isinstance(exc, httpx2.TimeoutException):
        return TransportError("the request timed out while reading the reply")
    if isinstance(exc, httpx2.HTTPError):
        return TransportError(f"the connection failed: {type(exc).__name__}: {exc}")
    if isinstance(exc, openai.OpenAIError):
        if "credentials" in str(exc).lower() or "api_key" in str(exc):
            return AuthError(str(exc))
        return LLMError(str(exc))
    return LLMError(f"{type(exc).__name__}: {exc}")
