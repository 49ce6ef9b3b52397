"""How a node calls the LLM: a request, its outcome, and the prepare/call/finish halves.

A node that calls the LLM is split in two plain functions: ``prepare(state, ctx)``
builds an :class:`LLMRequest` (or returns an update when no call is needed) and
``finish(state, ctx, outcome)`` turns the :class:`LLMOutcome` into an update.
:func:`run_node` and :func:`arun_node` join them around a sync or an async call,
so each node exists natively for both ``invoke`` and ``ainvoke``. An LLM error
comes back as a value (``outcome.error``), never as an exception, and every
call is traced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.context import RunContext
from agent.errors import LLMError, ParseError
from agent.llm import ChatMessage, LLMReply, extract_json, system, user
from agent.state import AgentState, Update, make_issue, normalize_document
from modeling.result import Status

__all__ = [
    "Finish",
    "LLMOutcome",
    "LLMRequest",
    "Prepare",
    "acall_llm",
    "arun_node",
    "call_llm",
    "fatal_update",
    "parse_document",
    "prompt_messages",
    "run_node",
]


@dataclass(frozen=True)
class LLMRequest:
    """One LLM call a node wants to make."""

    node: str
    messages: list[ChatMessage]
    json: bool = True


@dataclass(frozen=True)
class LLMOutcome:
    """The reply, or the error that replaced it."""

    reply: LLMReply | None = None
    error: LLMError | None = None

    @property
    def text(self) -> str:
        return self.reply.content if self.reply is not None else ""


def _overrides(ctx: RunContext, request: LLMRequest) -> dict[str, Any]:
    out = dict(ctx.llm_overrides)
    if request.json:
        out["json"] = True
    return out


def _trace_call(ctx: RunContext, request: LLMRequest, outcome: LLMOutcome) -> None:
    reply = outcome.reply
    ctx.trace.llm_call(
        request.node,
        request.messages,
        candidate=ctx.candidate,
        reply=reply.content if reply is not None else None,
        model=reply.model if reply is not None else None,
        usage=reply.usage if reply is not None else None,
        latency_s=reply.latency_s if reply is not None else 0.0,
        cached=reply.cached if reply is not None else False,
        error=str(outcome.error) if outcome.error is not None else None,
    )


def call_llm(ctx: RunContext, request: LLMRequest) -> LLMOutcome:
    """Send a request through the context's chat model; errors come back as values."""
    try:
        outcome = LLMOutcome(reply=ctx.llm.complete(request.messages, **_overrides(ctx, request)))
    except LLMError as exc:
        outcome = LLMOutcome(error=exc)
    _trace_call(ctx, request, outcome)
    return outcome


async def acall_llm(ctx: RunContext, request: LLMRequest) -> LLMOutcome:
    """Async :func:`call_llm`."""
    try:
        reply = await ctx.llm.acomplete(request.messages, **_overrides(ctx, request))
        outcome = LLMOutcome(reply=reply)
    except LLMError as exc:
        outcome = LLMOutcome(error=exc)
    _trace_call(ctx, request, outcome)
    return outcome


Prepare = Callable[[AgentState, RunContext], "LLMRequest | Update"]
Finish = Callable[[AgentState, RunContext, LLMOutcome], Update]


def run_node(state: AgentState, ctx: RunContext, prepare: Prepare, finish: Finish) -> Update:
    """An LLM node: ``prepare`` a request (or an update that needs no call), call, ``finish``."""
    request = prepare(state, ctx)
    if not isinstance(request, LLMRequest):
        return request
    return finish(state, ctx, call_llm(ctx, request))


async def arun_node(state: AgentState, ctx: RunContext, prepare: Prepare, finish: Finish) -> Update:
    """Async :func:`run_node`: the same halves around an awaited call."""
    request = prepare(state, ctx)
    if not isinstance(request, LLMRequest):
        return request
    return finish(state, ctx, await acall_llm(ctx, request))


def fatal_update(error: LLMError, node: str) -> Update:
    """The update that ends a run on an LLM failure (after the LLM layer's retries)."""
    tries = getattr(error, "attempts", 1)
    kind = type(error).__name__
    return {
        "fatal": f"The LLM call in '{node}' failed after {tries} attempt(s) ({kind}): {error}",
        "status": Status.ERROR,
    }


def parse_document(text: str, truncated: bool = False) -> tuple[dict[str, Any] | None, str, Update]:
    """``(document, summary, issue-update)`` from an LLM reply; document None if not JSON."""
    try:
        data = extract_json(text)
    except ParseError as err:
        hint = "reply with exactly one JSON object: the whole formulation document"
        if truncated:
            hint = "the reply was cut off at the token limit; write a shorter document"
        return None, "", {"issues": [make_issue("reply", err.reason, hint, code="parse")]}
    summary = ""
    if "variables" not in data:
        for key in ("document", "formulation", "model"):
            if isinstance(data.get(key), dict):
                summary = str(data.get("summary") or "")
                data = data[key]
                break
    return normalize_document(data), summary, {}


def prompt_messages(ctx: RunContext, name: str, **variables: Any) -> list[ChatMessage]:
    """The system prompt and the rendered prompt ``name`` of the run's prompt set."""
    return [system(ctx.prompts.render("system")), user(ctx.prompts.render(name, **variables))]
