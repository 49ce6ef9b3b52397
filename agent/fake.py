"""A scripted in-process chat model for tests and offline runs.

::

    fake = FakeLLM(
        ['{"variables": {}}', RateLimitError("slow down")],      # consumed in order
        rules=[("infeasible", "The model is infeasible because ...")],
    )
    fake.complete([user("why is it infeasible?")]).content   # a rule matched
    fake.complete([user("formulate ...")]).content            # '{"variables": {}}'
    fake.calls[1].messages, fake.calls[1].kwargs

Each call first tries the ``rules`` (reusable, in order) against the last user
message; if none matches, it consumes the next scripted reply. A reply is a
string, an :class:`~agent.llm.LLMReply` (e.g. one with ``tool_calls``, to script
a tool-calling model), an exception (instance or class) to raise, or a callable
``(messages) -> str | LLMReply``. Running out raises :class:`ScriptExhausted`, which is
deliberately *not* an ``LLMError``, so agent code that handles LLM failures
cannot swallow a broken test script.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from agent.llm import ChatMessage, ChatStream, LLMReply, ToolCall, check_call_options
from agent.usage import Usage

__all__ = ["FakeCall", "FakeLLM", "FakeReply", "Matcher", "ScriptExhausted"]

FakeReply = (
    str
    | LLMReply
    | BaseException
    | type[BaseException]
    | Callable[[list[ChatMessage]], str | LLMReply]
)
Matcher = str | re.Pattern[str] | Callable[[str], bool]


class ScriptExhausted(RuntimeError):
    """The FakeLLM was called more often than it was scripted for."""


@dataclass(frozen=True)
class FakeCall:
    """One recorded call: the messages (copied) and the keyword overrides."""

    messages: list[ChatMessage]
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def last_user(self) -> str:
        """Content of the last user message ('' if none)."""
        return _last_user(self.messages)


def _last_user(messages: Sequence[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def _matches(matcher: Matcher, text: str) -> bool:
    if isinstance(matcher, str):
        return matcher in text
    if isinstance(matcher, re.Pattern):
        return matcher.search(text) is not None
    return bool(matcher(text))


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


class FakeLLM:
    """A :class:`agent.llm.ChatModel` that answers from a script and records every call.

    ``model`` is reported in replies and used for pricing, so a test can check
    cost accounting with e.g. ``model="gpt-4o-mini"``. ``latency`` seconds are
    slept per call (``asyncio.sleep`` in ``acomplete``), for concurrency tests.
    """

    def __init__(
        self,
        replies: Iterable[FakeReply] = (),
        *,
        rules: Iterable[tuple[Matcher, FakeReply]] = (),
        model: str = "fake-llm",
        latency: float = 0.0,
    ) -> None:
        self.model = model
        self.latency = latency
        self.rules: list[tuple[Matcher, FakeReply]] = list(rules)
        self.calls: list[FakeCall] = []
        self._replies: deque[FakeReply] = deque(replies)
        self._lock = threading.Lock()
        self._total = Usage()

    def __repr__(self) -> str:
        return f"FakeLLM(model={self.model!r}, remaining={self.remaining}, calls={len(self.calls)})"

    @property
    def model_name(self) -> str:
        """The reported model name."""
        return self.model

    @property
    def remaining(self) -> int:
        """Scripted replies not consumed yet (rules do not count)."""
        with self._lock:
            return len(self._replies)

    @property
    def total_usage(self) -> Usage:
        """Usage summed over every call answered."""
        with self._lock:
            return self._total

    def push(self, *replies: FakeReply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._replies.extend(replies)

    def _answer(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> LLMReply:
        check_call_options(kwargs)  # the same keywords as the real model, so typos fail here too
        started = time.perf_counter()
        copied = [cast(ChatMessage, dict(m)) for m in messages]
        last_user = _last_user(copied)
        with self._lock:
            self.calls.append(FakeCall(copied, dict(kwargs)))
            number = len(self.calls)
            for matcher, rule_reply in self.rules:
                if _matches(matcher, last_user):
                    reply = rule_reply
                    break
            else:
                if not self._replies:
                    raise ScriptExhausted(
                        f"FakeLLM has no reply left for call #{number}; script more replies "
                        f"(last user message: {last_user[:80]!r})"
                    )
                reply = self._replies.popleft()
        if isinstance(reply, BaseException) or isinstance(reply, type):
            raise reply
        text: object = reply if isinstance(reply, str | LLMReply) else reply(copied)
        calls: tuple[ToolCall, ...] = ()
        if isinstance(text, LLMReply):
            calls = text.tool_calls
            text = text.content
        if not isinstance(text, str):
            raise TypeError(
                f"a FakeLLM reply callable must return str or LLMReply, got {type(text).__name__}"
            )
        prompt_text = "".join(str(m.get("content", "")) for m in copied)
        usage = Usage.for_call(
            str(kwargs.get("model", self.model)),
            _estimate_tokens(prompt_text),
            _estimate_tokens(text),
        )
        with self._lock:
            self._total = self._total + usage
        return LLMReply(
            content=text,
            model=str(kwargs.get("model", self.model)),
            usage=usage,
            latency_s=time.perf_counter() - started,
            cached=False,
            finish_reason="stop",
            request_id=f"fake-{number}",
            attempts=1,
            tool_calls=calls,
        )

    def complete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """The next scripted (or rule-matched) reply; raises scripted exceptions."""
        if self.latency:
            time.sleep(self.latency)
        return self._answer(messages, overrides)

    async def acomplete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Async :meth:`complete`; yields to the event loop first, like a real request."""
        await asyncio.sleep(self.latency)
        return self._answer(messages, overrides)

    def stream(self, messages: Sequence[ChatMessage], **overrides: Any) -> ChatStream:
        """The reply in word-sized deltas; ``.reply`` holds the whole reply at the end."""

        def deltas(out: ChatStream) -> Iterator[str]:
            reply = self.complete(messages, **overrides)
            yield from re.findall(r"\S+\s*|\s+", reply.content)
            out._finish(reply)

        return ChatStream(deltas)
