"""Back-translation and the forward check (rejection sampling).

1. An LLM writes the word problem for an instance's formulation and data
   (:func:`backtranslate_messages`, prompt ``evals/synth/prompts/backtranslate.md``).
2. The agent (:class:`agent.OptimizationAgent`) formulates that text back and
   solves it; the pair is accepted when the re-formulated outcome matches the
   solver's label: the same optimum within ``1e-6 * (|label| + 1)``, or the
   same no-optimum status for an infeasible/unbounded label
   (:func:`forward_matches`).  Rejected pairs go to the hard set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Any

import yaml

from evals.synth.generators import Instance

if TYPE_CHECKING:
    from agent.api import OptimizationAgent
    from agent.llm import ChatMessage, ChatModel
    from evals.executors import Executor

__all__ = [
    "RTOL",
    "ForwardCheck",
    "backtranslate",
    "backtranslate_messages",
    "backtranslate_prompt",
    "forward_check",
    "forward_matches",
    "problem_text",
]

RTOL = 1e-6
"""Relative tolerance of the forward check: ``|got - label| <= RTOL * (|label| + 1)``."""


def backtranslate_prompt() -> str:
    """The system prompt (package data, so an installed wheel has it)."""
    return files("evals.synth").joinpath("prompts", "backtranslate.md").read_text(encoding="utf-8")


def backtranslate_messages(instance: Instance) -> list[ChatMessage]:
    """The chat messages asking for the word problem of ``instance``."""
    from agent.llm import system, user

    document = yaml.safe_dump(instance.formulation, sort_keys=False, allow_unicode=True)
    return [
        system(backtranslate_prompt()),
        user(f"Write the word problem for this model (reply in JSON).\n\n```yaml\n{document}```"),
    ]


def problem_text(reply: str) -> str:
    """The word problem in a reply: the JSON ``problem`` field, else the reply as written."""
    from agent.errors import ParseError
    from agent.llm import extract_json

    try:
        data = extract_json(reply)
    except ParseError:
        return reply.strip()
    text = data.get("problem")
    return str(text).strip() if isinstance(text, str) and text.strip() else reply.strip()


async def backtranslate(llm: ChatModel, instance: Instance) -> str:
    """The LLM's word problem for ``instance`` (one call)."""
    reply = await llm.acomplete(backtranslate_messages(instance), json=True)
    return problem_text(reply.content)


def forward_matches(
    label_status: str, label: float | None, status: str, objective: float | None
) -> bool:
    """Whether a re-formulated outcome matches the solver label."""
    if label_status == "optimal":
        if status != "optimal" or objective is None or label is None:
            return False
        return abs(float(objective) - float(label)) <= RTOL * (abs(float(label)) + 1)
    no_optimum = {"infeasible", "unbounded", "infeasible_or_unbounded"}
    return status == label_status or (label_status in no_optimum and status in no_optimum)


@dataclass(frozen=True)
class ForwardCheck:
    """The agent's reading of a back-translated text, and whether it matches the label."""

    accepted: bool
    status: str
    objective: float | None
    formulation: Mapping[str, Any] | None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "accepted": self.accepted,
            "status": self.status,
            "objective": self.objective,
            "formulation": dict(self.formulation) if self.formulation else None,
            "message": self.message,
        }


async def forward_check(
    agent: OptimizationAgent,
    instance: Instance,
    text: str,
    *,
    executor: Executor | None = None,
) -> ForwardCheck:
    """Formulate ``text`` with the agent, solve it, compare with the instance's label.

    With ``executor`` the agent's CPU work runs there (a worker process, a Ray
    actor); its LLM calls still go through ``agent``'s chat model in this process.
    """
    if executor is not None:
        result = await executor.solve(text, agent)
    else:
        result = await agent.asolve(text)
    status = str(result.status)
    objective = result.objective
    accepted = forward_matches(instance.status, instance.objective, status, objective)
    message = "" if accepted else (result.message or f"got {status} {objective}")
    return ForwardCheck(
        accepted,
        status,
        float(objective) if objective is not None else None,
        json.loads(json.dumps(result.formulation)) if result.formulation else None,
        message[:500],
    )
