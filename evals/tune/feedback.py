"""Text feedback on one problem: what an optimizer reads instead of a bare score.

For each problem: right or wrong against the label (with both numbers),
the final solver status, every attempt with its typed errors and their
locations and hints (parse/check errors, verify findings such as an
infeasible model or a suspicious solution, review issues), and how many
repair rounds ran and what they changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evals.problems import Problem
from evals.scoring import DEFAULT_PROTOCOL, Prediction, get_protocol

if TYPE_CHECKING:
    from agent.result import AgentResult

__all__ = ["ProblemFeedback", "problem_feedback"]

_MAX_ERRORS = 6


@dataclass(frozen=True)
class ProblemFeedback:
    """One problem's outcome: ``score`` 1.0 right, 0.0 wrong; ``text`` for the optimizer."""

    problem_id: str
    correct: bool | None
    score: float
    text: str
    status: str
    objective: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record for the step log."""
        return {
            "id": self.problem_id,
            "correct": self.correct,
            "score": self.score,
            "status": self.status,
            "objective": self.objective,
            "feedback": self.text,
        }


def _label(problem: Problem) -> str:
    answer = problem.answer
    if answer.kind == "number":
        return f"{answer.value:g}"
    return answer.kind


def _error_line(error: dict[str, Any]) -> str:
    where = error.get("location") or "document"
    code = error.get("code") or error.get("category") or "error"
    line = f"[{code}] at {where}: {error.get('message', '')}"
    if error.get("hint"):
        line += f" (hint: {error['hint']})"
    return line


def problem_feedback(
    problem: Problem, result: AgentResult, protocol: str = DEFAULT_PROTOCOL
) -> ProblemFeedback:
    """Score ``result`` against ``problem``'s label and describe what happened."""
    prediction = Prediction.model_validate({"status": result.status, "objective": result.objective})
    correct = get_protocol(protocol).correct(prediction, problem.answer)
    got = f"{result.objective:g}" if result.objective is not None else "no objective"
    lines = [f"Problem {problem.id}:"]
    if correct is True:
        lines.append(
            f"RIGHT: status {result.status}, objective {got} matches the label {_label(problem)}."
        )
    elif correct is False:
        lines.append(
            f"WRONG: status {result.status}, objective {got}; the label is {_label(problem)}."
        )
    else:
        lines.append(f"UNSCORED: the label is not usable ({problem.answer.reason or 'unknown'}).")
    for attempt in result.attempts:
        errors = list(attempt.errors)
        head = f"attempt {attempt.round} ({attempt.source}): status {attempt.status}" + (
            f", objective {attempt.objective:g}" if attempt.objective is not None else ""
        )
        if not errors:
            lines.append(head + ", no errors or findings.")
            continue
        lines.append(head + f", {len(errors)} error(s)/finding(s):")
        lines.extend("  " + _error_line(e) for e in errors[:_MAX_ERRORS])
        if len(errors) > _MAX_ERRORS:
            lines.append(f"  ... and {len(errors) - _MAX_ERRORS} more")
    if result.repairs:
        statuses = " -> ".join(a.status for a in result.attempts)
        lines.append(f"{result.repairs} repair round(s); status went {statuses}.")
    if result.message and result.status in ("error", "invalid"):
        lines.append(f"message: {result.message.splitlines()[0][:300]}")
    return ProblemFeedback(
        problem_id=problem.id,
        correct=correct,
        score=1.0 if correct else 0.0,
        text="\n".join(lines),
        status=result.status,
        objective=result.objective,
    )
