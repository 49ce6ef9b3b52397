"""Search budgets in LLM calls, tokens and USD, enforced on every call through a metered model.

Both the task LLM and the optimizer LLM are wrapped in :class:`MeteredLLM`
sharing one :class:`Meter`; a call that would start past the budget raises
:class:`BudgetExhausted` (the search catches it and returns its best prompt so
far). Usage is the LLM layer's :class:`agent.usage.Usage`, so cost comes from the
same price table as everywhere else.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from agent.llm import ChatMessage, ChatModel, LLMReply
from agent.usage import Usage

__all__ = ["Budget", "BudgetExhausted", "Meter", "MeteredLLM"]


class BudgetExhausted(RuntimeError):
    """The search budget is spent; the message says which limit and how much was used."""


@dataclass(frozen=True)
class Budget:
    """Limits on the whole search (None: unlimited). Counts task and optimizer calls alike."""

    calls: int | None = None
    tokens: int | None = None
    usd: float | None = None

    def exceeded_by(self, used: Usage) -> str | None:
        """Which limit ``used`` has reached, as a sentence; None while within budget."""
        if self.calls is not None and used.calls >= self.calls:
            return f"the call budget ({used.calls} of {self.calls} calls used)"
        if self.tokens is not None and used.total >= self.tokens:
            return f"the token budget ({used.total} of {self.tokens} tokens used)"
        if self.usd is not None and used.cost_usd >= self.usd:
            return f"the USD budget (${used.cost_usd:.4f} of ${self.usd:.4f} used)"
        return None


class Meter:
    """Usage per role (``task``, ``optimizer``) under one budget; thread-safe."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self._lock = threading.Lock()
        self._by_role: dict[str, Usage] = {}

    @property
    def total(self) -> Usage:
        """Usage summed over roles."""
        with self._lock:
            return sum(self._by_role.values(), Usage())

    def usage(self, role: str) -> Usage:
        """Usage of one role."""
        with self._lock:
            return self._by_role.get(role, Usage())

    def check(self) -> None:
        """Raise :class:`BudgetExhausted` if no further call may start."""
        reason = self.budget.exceeded_by(self.total)
        if reason is not None:
            raise BudgetExhausted(f"stopped at {reason}; raise the budget to search further")

    def add(self, role: str, usage: Usage) -> None:
        """Record the usage of one answered call."""
        with self._lock:
            self._by_role[role] = self._by_role.get(role, Usage()) + usage


class MeteredLLM:
    """A :class:`agent.llm.ChatModel` that checks the budget before and records usage after each call."""

    def __init__(self, inner: ChatModel, meter: Meter, role: str) -> None:
        self.inner = inner
        self.meter = meter
        self.role = role

    def __repr__(self) -> str:
        return f"MeteredLLM({self.inner!r}, role={self.role!r})"

    def complete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Checked and recorded ``inner.complete``."""
        self.meter.check()
        reply = self.inner.complete(messages, **overrides)
        self.meter.add(self.role, reply.usage)
        return reply

    async def acomplete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Checked and recorded ``inner.acomplete``."""
        self.meter.check()
        reply = await self.inner.acomplete(messages, **overrides)
        self.meter.add(self.role, reply.usage)
        return reply

    def stream(self, messages: Sequence[ChatMessage], **overrides: Any) -> Iterator[str]:
        """Not metered per delta: the whole reply is fetched, recorded, then yielded."""
        reply = self.complete(messages, **overrides)
        yield reply.content
