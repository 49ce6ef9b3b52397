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
    """The word problem in a reply: its JSON ``problem`` field.

    A reply without that field (prose, a refusal, a truncated object, chatter
    around nothing) raises :class:`agent.errors.ParseError`: taking it as
    written would put a non-problem into the hard set with a label.
    """
    from agent.errors import ParseError
    from agent.llm import extract_json

    try:
        data = extract_json(reply)
    except ParseError as exc:
        raise ParseError(
            f"the back-translation reply is not the JSON object asked for ({exc.reason}); "
            f"reply begins {reply.strip()[:80]!r}",
            raw=reply,
        ) from None
    text = data.get("problem")
    if not isinstance(text, str) or not text.strip():
        raise ParseError(
            "the back-translation reply has no non-empty string field 'problem' "
            f"(keys: {', '.join(sorted(map(str, data))) or 'none'})",
            raw=reply,
        )
    return text.strip()


_REPAIR_REQUEST = (
    "Your reply was not what was asked for: {reason}. Reply with only the JSON object "
    '{{"problem": "<the word problem>"}}.'
)
"""The one follow-up sent when a back-translation reply is not the JSON asked for."""


async def backtranslate(llm: ChatModel, instance: Instance) -> str:
    """The LLM's word problem for ``instance``.

    One call; when its reply is not the JSON ``{"problem": ...}``, one follow-up
    quoting the reason. A second bad reply raises :class:`agent.errors.ParseError`
    (the instance is then counted under errors and tried again by a resumed run).
    """
    from agent.errors import ParseError
    from agent.llm import assistant, user

    messages = backtranslate_messages(instance)
    reply = await llm.acomplete(messages, json=True)
    try:
        return problem_text(reply.content)
    except ParseError as exc:
        follow_up = [
            *messages,
            assistant(reply.content),
            user(_REPAIR_REQUEST.format(reason=exc.reason)),
        ]
    again = await llm.acomplete(follow_up, json=True)
    return problem_text(again.content)


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
