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
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict, get_args

from modeling.result import Status, Termination

if TYPE_CHECKING:
    from agent.context import RunContext

__all__ = [
    "ROUTES",
    "AgentState",
    "AgentStatus",
    "Attempt",
    "ChatInput",
    "InputState",
    "Proposal",
    "Route",
    "Source",
    "Update",
    "categories_of",
    "doc_key",
    "error_lines",
    "has_solution",
    "is_decided",
    "make_issue",
    "normalize_document",
    "problem_text",
    "record_attempt",
    "replace_last_attempt",
    "solver_stop",
]

Route = Literal["formulate", "edit", "diagnose", "answer"]
"""Where a chat message goes: a new problem, a change to the model, "why infeasible?", a question."""
ROUTES: tuple[Route, ...] = get_args(Route)

Source = Literal["formulate", "repair", "edit", "human", "code"]
"""Who wrote a document: the first formulation, a repair, a chat edit, a person, or (for an
attempt of the code route) an LLM-written script."""

AgentStatus = Status | Literal["pending", "valid"]
"""A solve status, or the agent's own states before one: ``pending`` (a new document not
checked yet) and ``valid`` (checked, not solved yet)."""

Update = dict[str, Any]
"""What a node returns: the state fields it changes."""


def is_decided(status: str | None) -> bool:
    """True when a solve reached an answer (``infeasible`` is one); False for errors and the
    agent's own ``pending``/``valid``."""
    try:
        return Status(status or "").decided
    except ValueError:  # "pending", "valid", "" or None: not yet
        return False


def has_solution(status: str | None) -> bool:
    """True for ``optimal`` and ``feasible`` (a :class:`Status` or its text); False otherwise."""
    try:
        return Status(status or "").has_solution
    except ValueError:  # "pending", "valid", "" or None: no solution yet
        return False


SOLVER_STOPS = (
    "optimal",
    "time_limit_incumbent",
    "time_limit_none",
    "limit_incumbent",
    "infeasible",
    "unbounded",
    "infeasible_or_unbounded",
    "error",
    "not_solved",
)
"""Why the solver stopped on the final document (see :func:`solver_stop`)."""


def solver_stop(status: str | None, termination: str | None = None) -> str:
    """Why the solve of the final document stopped, for accuracy broken down by it.

    ``optimal`` (proved), ``time_limit_incumbent`` (the time limit with a
    solution that is not proved optimal), ``time_limit_none`` (the limit, no
    solution; also a worker killed at its hard limit), ``limit_incumbent``
    (another limit, e.g. iterations, with a solution), ``infeasible``,
    ``unbounded``, ``infeasible_or_unbounded``, ``error`` (the solver
    failed) or ``not_solved`` (no valid document reached the solver).
    """
    text = str(status or "")
    term = str(termination or "")
    if text == Status.OPTIMAL:
        return "optimal"
    if text == Status.FEASIBLE:
        return "time_limit_incumbent" if term in ("", Termination.TIME_LIMIT) else "limit_incumbent"
    if text == Status.TIME_LIMIT:
        return "time_limit_none"
    if text in (Status.INFEASIBLE, Status.UNBOUNDED, Status.INFEASIBLE_OR_UNBOUNDED):
        return text
    if text == Status.ERROR and term and term not in (Termination.INVALID,):
        return "error"
    return "not_solved"


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
    route: Route  # chat
    changes: list[str]  # chat: change requests applied since the problem was stated
    history: list[dict[str, str]]  # chat: {"role", "content"} turns

    # the current attempt
    document: dict[str, Any] | None
    source: Source
    raw_reply: str  # the last LLM reply (kept when it is not a document)
    issues: list[dict[str, Any]]  # check errors / parse error of the current document
    findings: list[dict[str, Any]]  # verify: status problems, sanity findings, review issues
    status: AgentStatus
    objective: float | None
    model_class: str | None
    solution: dict[str, Any]  # spec form: name -> value | {"e1,e2": value}
    binding: list[str]  # binding constraint instances
    solver: dict[str, Any]  # solver name, termination, message, timings
    reviewed: str  # doc_key of the document the LLM review passed
    approved: str  # doc_key of the document a human approved before solving
    kept_by_llm: bool  # shown the findings, the LLM returned the document unchanged: it stands

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
    source: Source
    document: dict[str, Any] | None
    status: str  # an AgentStatus, as text (attempts are saved as JSON)
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


# ------------------------------------------------------- helpers over the state


def problem_text(state: Mapping[str, Any]) -> str:
    """The problem, followed by the changes a chat has asked for since."""
    text = str(state.get("problem") or "")
    changes = state.get("changes") or []
    if changes:
        text += "\n\nChanges requested since:\n" + "\n".join(f"- {c}" for c in changes)
    return text


def make_issue(
    location: str, message: str, hint: str = "", code: str = "invalid"
) -> dict[str, Any]:
    """A located error as the state keeps it (the form of :class:`modeling.Issue`)."""
    return {"location": location, "message": message, "hint": hint, "code": code}


def categories_of(errors: list[dict[str, Any]]) -> list[str]:
    """The distinct error codes of ``errors``, in order."""
    return list(dict.fromkeys(str(e.get("code") or "invalid") for e in errors))


def error_lines(errors: list[dict[str, Any]]) -> str:
    """Errors as the repair prompt shows them: ``location: message (hint)``, details indented."""
    lines = []
    for e in errors:
        text = f"{e.get('location') or 'document'}: {e.get('message')}"
        if e.get("hint"):
            text += f" ({e['hint']})"
        lines.append(text)
        detail = e.get("detail")
        if detail:
            lines.append("  " + str(detail).replace("\n", "\n  "))
    return "\n".join(lines)


def record_attempt(state: AgentState, ctx: RunContext, attempt: Attempt) -> list[dict[str, Any]]:
    """The state's attempts with ``attempt`` added (and traced)."""
    data = attempt.to_dict()
    ctx.trace.attempt(data, ctx.candidate)
    return [*(state.get("attempts") or []), data]


def replace_last_attempt(
    state: AgentState, ctx: RunContext, attempt: Attempt
) -> list[dict[str, Any]]:
    """The state's attempts with the last one replaced by ``attempt`` (and traced)."""
    previous = list(state.get("attempts") or [])
    data = attempt.to_dict()
    ctx.trace.attempt(data, ctx.candidate)
    return [*previous[:-1], data] if previous else [data]
