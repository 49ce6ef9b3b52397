"""OPRO: propose new values from a history of (values, score, feedback), without the graph.

The baseline against which OptoPrime's use of the execution trace is
measured. Scores are optional (higher is better); when given, the history is
shown in ascending score order as in the OPRO paper, so the best values sit
right before the request::

    opt = OPRO([prompt], llm=chat)
    for _ in range(steps):
        score, feedback = evaluate(prompt.data)
        opt.record(score, feedback)          # or opt.backward(output, feedback, score=...)
        opt.step()
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from agent.llm import ChatModel, system, user
from agent.opto.nodes import Node, ParameterNode
from agent.opto.optimizer import Optimizer, Proposal
from agent.opto.parsing import parse_reply

__all__ = ["OPRO"]

SYSTEM_PROMPT = """You propose new values for variables so that their score improves.
Reply with one JSON object and nothing else:
{"reasoning": "<why the new values should do better than the ones tried>",
 "suggestion": {"<variable_name>": <new value>, ...}}
A (code) variable's value is complete Python source keeping the function's name and signature.
If no change is needed, reply with the single word TERMINATE."""


class OPRO(Optimizer):
    """History-only optimizer (see the module docstring)."""

    name = "opro"
    default_objective = (
        "Come up with new values for the variables that score higher than all above."
    )

    def __init__(
        self,
        parameters: Iterable[ParameterNode],
        *,
        llm: ChatModel | None = None,
        model: str | None = None,
        objective: str | None = None,
        max_history: int = 20,
    ) -> None:
        super().__init__(parameters, llm=llm, model=model, objective=objective)
        self.history: list[dict[str, Any]] = []
        self.max_history = max_history

    def record(self, score: float | None, feedback: str = "") -> None:
        """Remember the current values with their score and/or feedback."""
        self.history.append(
            {
                "variables": {p.py_name: p._data for p in self.parameters},
                "score": score,
                "feedback": feedback,
            }
        )

    def backward(
        self,
        output: Node,
        feedback: Any,
        *,
        retain_graph: bool = False,
        score: float | None = None,
    ) -> None:
        """Record the current values with ``feedback`` (the graph is not used)."""
        self.record(score, feedback if isinstance(feedback, str) else json.dumps(feedback))

    def build_messages(self) -> list[Any]:
        """System and user messages from the history, descriptions and objective."""
        shown = self.history[-self.max_history :]
        if any(h["score"] is not None for h in shown):
            shown = sorted(shown, key=lambda h: (h["score"] is not None, h["score"] or 0.0))
        lines = ["Variables you may change:"]
        for p in self.parameters:
            kind = "code" if p.is_code else type(p._data).__name__
            desc = p.description.split("]", 1)[-1].strip()
            lines.append(f"({kind}) {p.py_name}: {desc}")
            if p.constraint:
                lines.append(f"  constraint: {p.constraint}")
        lines.append("")
        lines.append(
            "Below are values tried so far with their score (higher is better) and feedback:"
        )
        for h in shown:
            lines.append(json.dumps(h, indent=2, default=repr))
        lines.append("")
        lines.append(self.objective)
        return [system(SYSTEM_PROMPT), user("\n".join(lines))]

    def _propose(self) -> Proposal:
        proposal = self.new_proposal()
        if not self.history:
            proposal.errors.append("no history yet; call record(score, feedback) first")
            return proposal
        messages = self.build_messages()
        proposal.messages = messages
        reply = self.call_llm(messages)
        self.fill(proposal, parse_reply(reply.content, self.by_name), reply)
        return proposal
