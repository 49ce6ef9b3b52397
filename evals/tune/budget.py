"""Budgets for a tuning run: LLM calls and USD, with a hard stop before the call that would exceed.

Both the task model and the optimizer model are wrapped in a
:class:`BudgetedChatModel` sharing one :class:`Budget`, so "calls" counts
every request of the run. A call is refused *before* it is sent once the
call budget is used up or the spend has reached the USD budget (the last
call may overshoot the USD budget by its own cost; a call's price is known
only after it returns).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.llm import ChatMessage, ChatModel, LLMReply
from agent.usage import Usage

__all__ = ["Budget", "BudgetExceeded", "BudgetedChatModel", "TuneStopped"]


class TuneStopped(RuntimeError):
    """A tuning run must stop now; it saves its state and the best prompts so far."""

    kind = "stopped"


class BudgetExceeded(TuneStopped):
    """The run has used its budget; the tuner stops and writes the best prompts so far."""

    kind = "budget"


@dataclass
class Budget:
    """Limits (None = unlimited) and what has been spent, by role (``task``/``optimizer``)."""

    max_calls: int | None = None
    max_usd: float | None = None
    calls: dict[str, int] = field(default_factory=lambda: {"task": 0, "optimizer": 0})
    usage: dict[str, Usage] = field(default_factory=lambda: {"task": Usage(), "optimizer": Usage()})
    exhausted: bool = False  # set on the first refused call (the agent may swallow the error)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total_calls(self) -> int:
        """Calls of both roles."""
        return sum(self.calls.values())

    @property
    def total_usd(self) -> float:
        """Spend of both roles."""
        return sum(u.cost_usd for u in self.usage.values())

    def reserve(self, role: str) -> None:
        """Count one call, or raise :class:`BudgetExceeded` if it would go over."""
        with self._lock:
            if self.max_calls is not None and self.total_calls >= self.max_calls:
                self.exhausted = True
                raise BudgetExceeded(f"the call budget ({self.max_calls} calls) is used up")
            if self.max_usd is not None and self.total_usd >= self.max_usd:
                self.exhausted = True
                raise BudgetExceeded(
                    f"the USD budget (${self.max_usd:.2f}) is used up (${self.total_usd:.4f})"
                )
            self.calls[role] = self.calls.get(role, 0) + 1

    def spend(self, role: str, usage: Usage) -> None:
        """Add a finished call's usage."""
        with self._lock:
            self.usage[role] = self.usage.get(role, Usage()) + usage

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (for the run's state file)."""
        return {
            "max_calls": self.max_calls,
            "max_usd": self.max_usd,
            "calls": dict(self.calls),
            "usage": {k: u.to_dict() for k, u in self.usage.items()},
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Continue counting from a saved :meth:`to_dict` (limits stay as configured)."""
        self.calls = {str(k): int(v) for k, v in data.get("calls", {}).items()}
        self.usage = {
            str(k): Usage(
                prompt_tokens=int(v.get("prompt_tokens", 0)),
                completion_tokens=int(v.get("completion_tokens", 0)),
                cost_usd=float(v.get("cost_usd", 0.0)),
                calls=int(v.get("calls", 0)),
            )
            for k, v in data.get("usage", {}).items()
        }


class BudgetedChatModel:
    """A :class:`~agent.llm.ChatModel` that charges every call to a :class:`Budget`."""

    def __init__(self, inner: ChatModel, budget: Budget, role: str) -> None:
        self.inner = inner
        self.budget = budget
        self.role = role

    @property
    def model_name(self) -> str:
        """The wrapped model's name."""
        return str(getattr(self.inner, "model_name", "") or type(self.inner).__name__)

    @property
    def settings(self) -> Any:
        """The wrapped model's settings, if it has any."""
        return getattr(self.inner, "settings", None)

    def complete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        self.budget.reserve(self.role)
        reply = self.inner.complete(messages, **overrides)
        self.budget.spend(self.role, reply.usage)
        return reply

    async def acomplete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        self.budget.reserve(self.role)
        reply = await self.inner.acomplete(messages, **overrides)
        self.budget.spend(self.role, reply.usage)
        return reply

    def stream(self, messages: Sequence[ChatMessage], **overrides: Any) -> Iterator[str]:
        reply = self.complete(messages, **overrides)
        yield reply.content
