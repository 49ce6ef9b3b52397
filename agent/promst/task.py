"""The task interface PROMST optimizes prompts on: multi-step environments acting on text.

An :class:`Environment` is one instance of a task (one grid, one warehouse): it
shows its state as text, parses the task LLM's reply into an action, executes the
action with per-step feedback, detects success and terminal errors, and scores
partial credit in [0, 1]. Illegal moves are :class:`MoveError` values with a
coarse ``category`` (what a feedback rule is keyed on) and a fine ``kind``
(exactly what went wrong), so "every illegal move is detected and typed".

A :class:`Task` bundles the instances (train and test), the human starting
prompt and the feedback rules. Writing your own::

    class Counter(Environment):
        name = "counter"
        def __init__(self, target: int) -> None:
            self.target, self.value = target, 0
        def reset(self) -> str:
            self.value = 0
            return self.state_text()
        def state_text(self) -> str:
            return f"value={self.value}, target={self.target}"
        def parse(self, reply: str) -> object:
            return json_action(reply, "action", str)
        def step(self, action: object) -> StepResult:
            if action not in ("inc", "dec"):
                return self.result(errors=[MoveError("invalid_action", "unknown_action", f"{action!r}")])
            self.value += 1 if action == "inc" else -1
            return self.result(success=self.value == self.target)
        def score(self) -> float:
            return 1.0 if self.value == self.target else 0.0
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.errors import ParseError
from agent.llm import extract_json

__all__ = [
    "COLLISION",
    "INVALID_ACTION",
    "OUT_OF_GRID",
    "OUT_OF_STEPS",
    "STUCK",
    "SUCCESS",
    "WRONG_FORMAT",
    "WRONG_ORDER",
    "ActionFormatError",
    "Environment",
    "Instance",
    "MoveError",
    "StepResult",
    "Task",
    "json_action",
    "json_object",
]

# Outcome and error categories shared by the built-in environments and rule files.
SUCCESS = "success"
WRONG_FORMAT = "wrong_format"
INVALID_ACTION = "invalid_action"
COLLISION = "collision"
OUT_OF_GRID = "out_of_grid"
WRONG_ORDER = "wrong_order"
STUCK = "stuck"
OUT_OF_STEPS = "out_of_steps"


class ActionFormatError(ValueError):
    """The task LLM's reply could not be read as an action (category ``wrong_format``)."""


@dataclass(frozen=True)
class MoveError:
    """One illegal or failed move.

    ``category`` selects the feedback rule (``collision``, ``invalid_action``, ...);
    ``kind`` says exactly what happened (``swap``, ``not_adjacent``, ...);
    ``terminal`` errors end the episode.
    """

    category: str
    kind: str
    detail: str
    terminal: bool = False

    def __str__(self) -> str:
        return f"{self.category} ({self.kind}): {self.detail}"


@dataclass(frozen=True)
class StepResult:
    """What one step did: the new state text, feedback for the task LLM, errors, success."""

    state: str
    feedback: str
    errors: tuple[MoveError, ...] = ()
    success: bool = False

    @property
    def terminal_error(self) -> MoveError | None:
        """The first episode-ending error of this step, if any."""
        return next((e for e in self.errors if e.terminal), None)

    @property
    def done(self) -> bool:
        """Success or a terminal error."""
        return self.success or self.terminal_error is not None


class Environment(ABC):
    """One instance of a multi-step task; subclass it for your own environment.

    ``max_steps`` is the instance's step limit (the episode runner may lower it).
    ``describe()`` is a one-line summary used in logs and benchmark tables.
    """

    name: str = "environment"
    max_steps: int = 30

    @abstractmethod
    def reset(self) -> str:
        """Put the instance in its initial state; return the state text."""

    @abstractmethod
    def state_text(self) -> str:
        """The current state as the task LLM sees it."""

    @abstractmethod
    def parse(self, reply: str) -> Any:
        """The action in the task LLM's ``reply``; raise :class:`ActionFormatError` if none."""

    @abstractmethod
    def step(self, action: Any) -> StepResult:
        """Execute ``action``; never raises on an illegal move (it becomes a MoveError)."""

    @abstractmethod
    def score(self) -> float:
        """Partial credit in [0, 1] for the current state."""

    def describe(self) -> str:
        """One line naming the instance."""
        return self.name

    def result(self, *, errors: Iterable[MoveError] = (), success: bool = False) -> StepResult:
        """A StepResult with the current state text and feedback rendered from ``errors``."""
        errs = tuple(errors)
        if errs:
            feedback = "\n".join(
                ("Terminal error: " if e.terminal else "Illegal move: ") + f"{e.kind}: {e.detail}"
                for e in errs
            )
        else:
            feedback = "OK."
        if success:
            feedback += " Task completed."
        return StepResult(self.state_text(), feedback, errs, success)


def json_object(reply: str) -> dict[str, Any]:
    """The JSON object in ``reply``, or :class:`ActionFormatError` saying why there is none."""
    try:
        return extract_json(reply)
    except ParseError as err:
        raise ActionFormatError(err.reason) from None


def json_action(reply: str, key: str, kind: type) -> Any:
    """``reply``'s JSON object's ``key``, checked to be of type ``kind``."""
    data = json_object(reply)
    if key not in data:
        raise ActionFormatError(f'the JSON object has no "{key}" key (got keys {sorted(data)})')
    value = data[key]
    if not isinstance(value, kind):
        raise ActionFormatError(
            f'"{key}" must be a {kind.__name__}, got {type(value).__name__} {value!r}'
        )
    return value


@dataclass(frozen=True)
class Instance:
    """A named, reproducible instance: ``make()`` builds a fresh environment each time."""

    label: str
    make: Callable[[], Environment]


@dataclass
class Task:
    """What PROMST needs to optimize a prompt: instances, the starting prompt and the rules.

    ``rules`` is a :class:`agent.promst.rules.RuleSet`; ``metadata`` is free-form
    (sizes, seeds) and is written into the search log.
    """

    name: str
    prompt: str
    train: Sequence[Instance]
    rules: Any
    test: Sequence[Instance] = ()
    max_steps: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
