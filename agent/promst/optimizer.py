"""The prompt-optimizer interface PROMST implements: ``propose()`` candidates, ``update()`` on scores.

A candidate is a prompt text. An optimizer proposes candidates; the caller
evaluates them (however it likes: episodes, a benchmark split, a batch job) and
hands the evaluations back through ``update``. This split, after Trace's
optimizers, lets a proposal be shown, scored, logged or rejected, and lets other
optimizers (OptoPrime, OPRO, GEPA) sit behind the same loop, :func:`drive`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agent.promst.budget import BudgetExhausted
from agent.promst.evaluate import Evaluation

__all__ = ["Candidate", "CandidateStatus", "DriveResult", "PromptOptimizer", "drive"]

CandidateStatus = Literal["pending", "evaluated", "skipped"]


@dataclass
class Candidate:
    """A prompt in the search: where it came from, what it scored (or was predicted to)."""

    id: int
    text: str
    parent: int | None = None
    depth: int = 0
    origin: str = "start"
    rationale: dict[str, str] = field(default_factory=dict)
    predicted: float | None = None
    score: float | None = None
    status: CandidateStatus = "pending"
    outcomes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@runtime_checkable
class PromptOptimizer(Protocol):
    """What :func:`drive` needs from an optimizer."""

    @property
    def done(self) -> bool:
        """True when the optimizer will propose nothing more."""
        ...

    @property
    def best(self) -> Candidate | None:
        """The best evaluated candidate so far."""
        ...

    def propose(self) -> list[Candidate]:
        """Candidates to evaluate next (empty: nothing left to do)."""
        ...

    def update(self, results: Sequence[tuple[Candidate, Evaluation]]) -> None:
        """Learn from the evaluations of proposed candidates."""
        ...


@dataclass
class DriveResult:
    """Why the loop ended and how many candidates were evaluated."""

    rounds: int
    evaluated: int
    stopped: str


def drive(
    optimizer: PromptOptimizer,
    evaluate: Callable[[str], Evaluation],
    *,
    max_rounds: int | None = None,
    on_round: Callable[[list[tuple[Candidate, Evaluation]]], None] | None = None,
) -> DriveResult:
    """Propose, evaluate, update until the optimizer is done, the rounds or the budget run out.

    On :class:`BudgetExhausted` the candidates of the interrupted round that were
    fully evaluated still reach ``update``, so nothing paid for is lost.
    ``on_round`` sees each round's results after ``update`` (progress, logs).
    """
    rounds = evaluated = 0
    while not optimizer.done:
        if max_rounds is not None and rounds >= max_rounds:
            return DriveResult(rounds, evaluated, f"max_rounds ({max_rounds})")
        try:
            candidates = optimizer.propose()
        except BudgetExhausted as err:
            return DriveResult(rounds, evaluated, str(err))
        if not candidates:
            break
        rounds += 1
        results: list[tuple[Candidate, Evaluation]] = []
        try:
            for candidate in candidates:
                results.append((candidate, evaluate(candidate.text)))
        except BudgetExhausted as err:
            if results:
                optimizer.update(results)
                if on_round is not None:
                    on_round(results)
            return DriveResult(rounds, evaluated + len(results), str(err))
        evaluated += len(results)
        optimizer.update(results)
        if on_round is not None:
            on_round(results)
    return DriveResult(rounds, evaluated, "search finished")
