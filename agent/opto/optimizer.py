"""Optimizer base: feedback in, a :class:`Proposal` out, then an explicit update.

The loop (as in Trace, PyTorch-like)::

    opt = OptoPrime([x], llm=chat, model="gpt-4.1")   # optimizer model may differ
    out = program(x)
    opt.zero_feedback()
    opt.backward(out, "the output should be larger")
    proposal = opt.propose()       # asks the LLM; changes nothing yet
    print(proposal.show())
    opt.update(proposal)           # or opt.reject(proposal); opt.step() does both steps

A proposal can be shown, scored (``proposal.score``), accepted, rejected and
logged (``opt.log`` holds one JSON-able record per proposal, prompts and
replies included, so a run can be replayed).

Every LLM call goes through :class:`agent.llm.ChatModel`
(:class:`~agent.llm.OpenAIChatModel` by default, :class:`agent.fake.FakeLLM`
in tests), so retries, the response cache and cost accounting apply;
``model=`` names a separate (usually stronger) optimizer model.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.llm import ChatMessage, ChatModel, LLMReply
from agent.opto.nodes import Node, ParameterNode
from agent.opto.parsing import ParsedReply, cast_value
from agent.opto.propagators import GraphPropagator, Propagator, TraceGraph
from agent.usage import Usage

__all__ = ["Optimizer", "Proposal"]

Status = Literal["pending", "accepted", "rejected"]


@dataclass
class Proposal:
    """A suggested change to some parameters, not applied until :meth:`Optimizer.update`.

    ``updates`` maps parameter py_names to new values already cast to the
    parameter's type; suggestions that could not be used are in ``errors``.
    """

    step: int
    optimizer: str
    parameters: dict[str, ParameterNode]
    old: dict[str, Any]
    updates: dict[str, Any] = field(default_factory=dict)
    reasoning: str = ""
    answer: str = ""
    terminated: bool = False
    errors: list[str] = field(default_factory=list)
    messages: list[ChatMessage] = field(default_factory=list)
    reply: str = ""
    parse_method: str = ""
    score: float | None = None
    status: Status = "pending"
    usage: Usage = field(default_factory=Usage)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when applying it would change nothing."""
        return self.terminated or not any(self.updates[k] != self.old.get(k) for k in self.updates)

    def show(self) -> str:
        """A readable summary: each changed parameter as a diff (text, code) or old -> new."""
        head = f"proposal {self.step} ({self.optimizer}, {self.status})"
        if self.score is not None:
            head += f" score={self.score:.4g}"
        lines = [head]
        if self.terminated:
            lines.append("  TERMINATE: the optimizer suggests no change")
        for name, new in self.updates.items():
            old = self.old.get(name)
            if isinstance(old, str) and isinstance(new, str) and ("\n" in old or "\n" in new):
                diff = difflib.unified_diff(
                    old.splitlines(), new.splitlines(), name, name + " (new)", lineterm=""
                )
                lines.extend("  " + d for d in diff)
            else:
                lines.append(f"  {name}: {old!r} -> {new!r}")
        lines.extend(f"  ! {e}" for e in self.errors)
        return "\n".join(lines)

    def apply(self) -> None:
        """Write ``updates`` into the parameters."""
        for name, value in self.updates.items():
            self.parameters[name].set(value)

    def revert(self) -> None:
        """Restore the values the parameters had when the proposal was made."""
        for name in self.updates:
            self.parameters[name].set(self.old[name])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record for logs (values that are not JSON become their repr)."""
        record = {
            "step": self.step,
            "optimizer": self.optimizer,
            "status": self.status,
            "score": self.score,
            "terminated": self.terminated,
            "old": self.old,
            "updates": self.updates,
            "reasoning": self.reasoning,
            "answer": self.answer,
            "errors": self.errors,
            "messages": self.messages,
            "reply": self.reply,
            "parse_method": self.parse_method,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "cost_usd": self.usage.cost_usd,
            },
            "info": self.info,
        }
        return json.loads(json.dumps(record, default=repr))


class Optimizer:
    """Base class: holds parameters, runs backward, turns LLM replies into proposals."""

    name = "optimizer"

    def __init__(
        self,
        parameters: Iterable[ParameterNode],
        *,
        llm: ChatModel | None = None,
        model: str | None = None,
        propagator: Propagator | None = None,
        objective: str | None = None,
    ) -> None:
        self.parameters = [p for p in parameters if p.trainable]
        if not self.parameters:
            raise ValueError("the optimizer got no trainable parameters")
        self._llm = llm
        self.model = model
        self.propagator = propagator if propagator is not None else GraphPropagator()
        self.objective = objective or self.default_objective
        self.log: list[dict[str, Any]] = []
        self.usage = Usage()
        self.calls = 0
        self.steps = 0

    default_objective = "Change the values of the variables to improve the output."

    @property
    def llm(self) -> ChatModel:
        """The optimizer's chat model (an :class:`OpenAIChatModel` from settings by default)."""
        if self._llm is None:
            from agent.llm import OpenAIChatModel

            self._llm = OpenAIChatModel()
        return self._llm

    @property
    def by_name(self) -> dict[str, ParameterNode]:
        """Parameters by py_name."""
        return {p.py_name: p for p in self.parameters}

    # -- feedback ------------------------------------------------------------

    def zero_feedback(self) -> None:
        """Clear the feedback the parameters received."""
        for p in self.parameters:
            p.zero_feedback()

    def backward(self, output: Node, feedback: Any, *, retain_graph: bool = False) -> None:
        """Give ``feedback`` on ``output``, propagated with this optimizer's propagator."""
        output.backward(feedback, propagator=self.propagator, retain_graph=retain_graph)

    @property
    def trace_graph(self) -> TraceGraph:
        """The union of the subgraphs the parameters received (GraphPropagator only)."""
        graphs = [
            g
            for p in self.parameters
            for items in p.feedback.values()
            for g in items
            if isinstance(g, TraceGraph)
        ]
        return TraceGraph.sum(graphs)

    # -- proposals -------------------------------------------------------------

    def propose(self) -> Proposal:
        """Ask for a change; the parameters are left as they are."""
        self.steps += 1
        proposal = self._propose()
        self.log.append(proposal.to_dict())
        return proposal

    def _propose(self) -> Proposal:
        raise NotImplementedError

    def update(self, proposal: Proposal) -> bool:
        """Apply ``proposal`` (unless it terminated); True if a value changed."""
        changed = not proposal.empty
        if not proposal.terminated:
            proposal.apply()
        proposal.status = "accepted"
        self._record_status(proposal)
        return changed

    def reject(self, proposal: Proposal) -> None:
        """Mark ``proposal`` rejected (the parameters were never changed by it)."""
        proposal.status = "rejected"
        self._record_status(proposal)

    def step(self) -> Proposal:
        """``propose()`` then ``update()``; returns the applied proposal."""
        proposal = self.propose()
        self.update(proposal)
        return proposal

    def _record_status(self, proposal: Proposal) -> None:
        for record in reversed(self.log):
            if record["step"] == proposal.step and record["optimizer"] == proposal.optimizer:
                record["status"] = proposal.status
                record["score"] = proposal.score
                break

    # -- helpers for subclasses ----------------------------------------------------

    def new_proposal(self) -> Proposal:
        """An empty proposal for the current step and values."""
        return Proposal(
            step=self.steps,
            optimizer=self.name,
            parameters=self.by_name,
            old={p.py_name: p._data for p in self.parameters},
        )

    def call_llm(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """One optimizer LLM call (JSON requested unless ``json=False``), counted and costed."""
        options: dict[str, Any] = {"json": True}
        if self.model is not None:
            options["model"] = self.model
        options.update(overrides)
        reply = self.llm.complete(list(messages), **options)
        self.calls += 1
        self.usage = self.usage + reply.usage
        return reply

    def fill(self, proposal: Proposal, parsed: ParsedReply, reply: LLMReply) -> Proposal:
        """Copy a parsed reply into ``proposal``, casting each value to its parameter's type."""
        proposal.reply = reply.content
        proposal.usage = reply.usage
        proposal.reasoning = parsed.reasoning
        proposal.answer = parsed.answer
        proposal.parse_method = parsed.method
        proposal.errors.extend(parsed.notes)
        proposal.terminated = parsed.terminated
        if parsed.terminated:
            return proposal
        params = self.by_name
        for name, value in parsed.suggestion.items():
            param = params.get(name)
            if param is None:
                proposal.errors.append(f"{name} is not a trainable variable of this optimizer")
                continue
            try:
                proposal.updates[name] = cast_value(param, value)
            except ValueError as exc:
                proposal.errors.append(f"{name}: {exc}; value kept")
        return proposal
