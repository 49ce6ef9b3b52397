"""The graph's state: what a caller passes in, and what the nodes read and write.

The state is plain JSON-like data (documents as dicts, solutions in the spec's
``"e1,e2"`` key form), because chat threads are checkpointed to SQLite and
traces are saved as JSON. Objects that are not data (the compiled model, the
``SolveResult``) live in :class:`agent.context.Scratch` instead.

No field has a reducer: nodes run one after another, and a node that extends
a list returns the whole new list. That lets each chat turn reset the
per-turn fields simply by passing them in its input.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

__all__ = [
    "AgentState",
    "Attempt",
    "ChatInput",
    "InputState",
    "Proposal",
    "doc_key",
    "normalize_document",
]


class InputState(TypedDict):
    """What a caller passes to the solve graph: the problem in plain words."""

    problem: str


class ChatInput(TypedDict, total=False):
    """What a caller passes to the chat graph each turn."""

    message: str


class AgentState(TypedDict, total=False):
    """The full state of the agent graph (solve and chat)."""

    # the problem and, in chat, this turn's message
    problem: str
    message: str
    route: str  # chat: formulate | edit | diagnose | answer
    changes: list[str]  # chat: change requests applied since the problem was stated
    history: list[dict[str, str]]  # chat: {"role", "content"} turns

    # the current attempt
    document: dict[str, Any] | None
    source: str  # formulate | repair | edit | human
    raw_reply: str  # the last LLM reply (kept when it is not a document)
    issues: list[dict[str, Any]]  # check errors / parse error of the current document
    findings: list[dict[str, Any]]  # verify: status problems, sanity findings, review issues
    status: str
    objective: float | None
    model_class: str | None
    solution: dict[str, Any]  # spec form: name -> value | {"e1,e2": value}
    binding: list[str]  # binding constraint instances
    solver: dict[str, Any]  # solver name, termination, message, timings
    reviewed: str  # doc_key of the document the LLM review passed
    approved: str  # doc_key of the document a human approved before solving
    accepted: bool  # the LLM kept the document unchanged: its verdict stands

    # the run
    attempts: list[dict[str, Any]]
    repairs: int
    fatal: str | None  # an LLM failure that ends the run
    answer: str
    outcome: str  # one line: solved, budget exhausted, LLM failure, ...

    # chat: the version before this turn's edit and how the new one compares
    previous: dict[str, Any] | None
    proposal: dict[str, Any] | None
    comparison: dict[str, Any] | None
    diagnosis: str


def normalize_document(doc: Any) -> dict[str, Any]:
    """A document as plain JSON data (keys as strings), safe to checkpoint and diff."""
    data = json.loads(json.dumps(doc, default=str))
    if not isinstance(data, dict):
        raise TypeError("a formulation document is a mapping")
    return data


def doc_key(doc: dict[str, Any] | None) -> str:
    """A canonical text of a document: equal keys mean the same document."""
    if doc is None:
        return ""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class Attempt:
    """One document and what became of it: errors, status, objective."""

    round: int
    source: str
    document: dict[str, Any] | None
    status: str
    objective: float | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies the document, and attempts are never mutated.
        return {
            "round": self.round,
            "source": self.source,
            "document": self.document,
            "status": self.status,
            "objective": self.objective,
            "errors": list(self.errors),
            "categories": list(self.categories),
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Proposal:
    """A suggested change to the formulation: shown, scored, then accepted or rejected.

    Repairs and chat edits are both proposals (Trace's ``propose()`` / ``update()``
    split): ``diff`` is a unified diff of the YAML of ``before`` and ``after``.
    """

    kind: str  # repair | edit | human
    summary: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    diff: str = ""
    accepted: bool | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
