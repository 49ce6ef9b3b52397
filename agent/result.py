"""What a finished run reports: :class:`AgentResult`, and the one projection from state.

Both the library API (:meth:`agent.api.OptimizationAgent.solve`) and chat
replies (:meth:`agent.chat.ChatSession.send`) turn the graph's final state into
a result with :func:`result_from_state`, so they agree on what an objective or a
solution is worth showing (only for a status with a solution).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.assumptions import stated_assumptions
from agent.state import Attempt, has_solution, is_decided
from agent.trace import Trace
from agent.usage import Usage
from modeling.result import Status

if TYPE_CHECKING:
    from modeling.result import SolveResult

__all__ = ["AgentResult", "result_from_state"]


@dataclass
class AgentResult:
    """Everything one run produced; ``to_dict()`` is its JSON form.

    ``first_attempt_status`` / ``first_attempt_objective`` describe the first
    document, before any repair (what an eval reports "without self-correction").
    """

    status: str
    objective: float | None = None
    formulation: dict[str, Any] | None = None
    solution: dict[str, Any] = field(default_factory=dict)
    answer: str = ""
    message: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    votes: dict[str, Any] | None = None
    trace: Trace = field(default_factory=Trace)
    usage: Usage = field(default_factory=Usage)
    repairs: int = 0
    error_categories: list[str] = field(default_factory=list)
    model_class: str | None = None
    strategy: str = "formulation"
    problem: str = ""
    binding: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    candidates: list[AgentResult] = field(default_factory=list, repr=False)
    result: SolveResult | None = field(default=None, repr=False, compare=False)

    @property
    def decided(self) -> bool:
        """True when a status was decided (``infeasible`` is an answer; ``error`` is not)."""
        return is_decided(self.status)

    @property
    def solved(self) -> bool:
        """True when there is a solution (optimal or feasible)."""
        return has_solution(self.status)

    @property
    def first_attempt(self) -> Attempt | None:
        return self.attempts[0] if self.attempts else None

    @property
    def first_attempt_status(self) -> str:
        first = self.first_attempt
        return first.status if first is not None else self.status

    @property
    def first_attempt_objective(self) -> float | None:
        first = self.first_attempt
        return first.objective if first is not None else None

    @property
    def assumptions(self) -> list[dict[str, Any]]:
        """What the final formulation states it assumed for data the text left out.

        ``[{"text", "parameters"}]`` (spec v1.2 ``assumptions``); empty when it
        states none. An answer resting on an invented number must say so.
        """
        return stated_assumptions(self.formulation)

    @property
    def solver_stop(self) -> str:
        """Why the solver stopped on the final document: ``optimal``, ``time_limit_incumbent``,
        ``time_limit_none``, ``infeasible``, ``error``, ... (:data:`agent.state.SOLVER_STOPS`)."""
        from agent.result_info import solver_stop_of  # result_info imports this module

        return solver_stop_of(self)

    def to_dict(self, include_trace: bool = False) -> dict[str, Any]:
        """JSON-ready: status, objective, answer, assumptions, formulation, attempts, votes, ..."""
        out: dict[str, Any] = {
            "status": self.status,
            "objective": self.objective,
            "model_class": self.model_class,
            "strategy": self.strategy,
            "answer": self.answer,
            "message": self.message,
            "assumptions": self.assumptions,
            "formulation": self.formulation,
            "solution": self.solution,
            "binding": self.binding,
            "first_attempt": {
                "status": self.first_attempt_status,
                "objective": self.first_attempt_objective,
            },
            "repairs": self.repairs,
            "error_categories": self.error_categories,
            "solver_stop": self.solver_stop,
            "attempts": [a.to_dict() for a in self.attempts],
            "votes": self.votes,
            "usage": self.usage.to_dict(),
            "trace_id": self.trace.id,
            "duration_s": round(self.duration_s, 6),
        }
        if include_trace:
            out["trace"] = self.trace.to_dict()
        return out

    def to_json(self, indent: int | None = 2, include_trace: bool = False) -> str:
        return json.dumps(self.to_dict(include_trace), indent=indent, ensure_ascii=False)


def result_from_state(
    state: Mapping[str, Any],
    *,
    problem: str = "",
    trace: Trace | None = None,
    usage: Usage | None = None,
    solve_result: SolveResult | None = None,
    duration_s: float = 0.0,
    finished: bool = True,
) -> AgentResult:
    """The result of a run (or a chat turn) from the graph's final state.

    Objective and solution are kept only for a status with a solution. A
    ``finished`` run still ``pending`` or ``valid`` ended without a status: it
    reports ``error``; an unfinished one (a chat turn waiting for a review)
    keeps its status. ``solve_result`` is kept for a solution, an infeasible or an
    unbounded model (what a diagnosis needs).
    """
    attempts = [Attempt.from_dict(a) for a in state.get("attempts") or []]
    categories: list[str] = []
    for a in attempts:
        categories.extend(c for c in a.categories if c not in categories)
    if state.get("fatal"):
        categories.append("llm_error")
    status = str(state.get("status") or Status.ERROR)
    if finished and status in ("pending", "valid"):
        status = Status.ERROR
    solved = has_solution(status)
    doc = state.get("document")
    if doc is None and attempts:
        doc = next((a.document for a in reversed(attempts) if a.document is not None), None)
    return AgentResult(
        status=str(status),
        objective=state.get("objective") if solved else None,
        formulation=doc,
        solution=dict(state.get("solution") or {}) if solved else {},
        answer=str(state.get("answer") or ""),
        message=str(state.get("outcome") or state.get("fatal") or ""),
        attempts=attempts,
        trace=trace if trace is not None else Trace(),
        usage=usage if usage is not None else Usage(),
        repairs=int(state.get("repairs") or 0),
        error_categories=categories,
        model_class=state.get("model_class"),
        problem=problem or str(state.get("problem") or ""),
        binding=list(state.get("binding") or []),
        duration_s=duration_s,
        result=solve_result if solved or status in (Status.INFEASIBLE, Status.UNBOUNDED) else None,
    )
