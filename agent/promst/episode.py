"""The episode runner: the task LLM acts in an environment, step by step, under a prompt.

Each step sends the prompt being optimized as the system message and, as the
user message, the history of previous rounds (state, reply, environment
feedback; truncated to ``history_tokens``, newest rounds kept), the current state
and an instruction to plan the next step. The reply is parsed and executed.

An episode ends with one outcome: ``success``; a terminal error of the
environment (``collision``, ``out_of_grid``, ...); ``wrong_format`` when a reply
cannot be parsed; ``stuck`` when the state text has not changed for more than
``stuck_after`` consecutive steps; ``out_of_steps`` at the step limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.llm import ChatMessage, ChatModel, system, user
from agent.promst.task import (
    OUT_OF_STEPS,
    STUCK,
    SUCCESS,
    WRONG_FORMAT,
    ActionFormatError,
    Environment,
    MoveError,
)
from agent.usage import Usage

__all__ = [
    "Episode",
    "EpisodeConfig",
    "Round",
    "approx_tokens",
    "render_round",
    "run_episode",
    "step_messages",
]

DEFAULT_INSTRUCTION = "Plan the next step and reply with your action."


def approx_tokens(text: str) -> int:
    """A tokenizer-free token estimate (4 characters per token), used for every budget here."""
    return (len(text) + 3) // 4


@dataclass(frozen=True)
class Round:
    """One step: the state shown, the task LLM's reply and what the environment said."""

    index: int
    state: str
    reply: str
    feedback: str
    errors: tuple[MoveError, ...] = ()


def render_round(r: Round) -> str:
    """A round as text, for the task LLM's history and for feedback."""
    return f"Round {r.index}:\nState:\n{r.state}\nYour reply:\n{r.reply}\nEnvironment feedback:\n{r.feedback}"


@dataclass
class Episode:
    """A finished episode: its rounds, outcome, terminal error, partial-credit score, usage."""

    instance: str
    rounds: list[Round]
    outcome: str
    error: MoveError | None
    score: float
    max_steps: int
    usage: Usage = field(default_factory=Usage)

    @property
    def success(self) -> bool:
        """True when the environment reported success."""
        return self.outcome == SUCCESS

    @property
    def steps(self) -> int:
        """Number of task-LLM replies in the episode."""
        return len(self.rounds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (rounds included) for search logs."""
        return {
            "instance": self.instance,
            "outcome": self.outcome,
            "error": None if self.error is None else str(self.error),
            "score": self.score,
            "steps": self.steps,
            "max_steps": self.max_steps,
            "rounds": [
                {"state": r.state, "reply": r.reply, "feedback": r.feedback} for r in self.rounds
            ],
        }


@dataclass(frozen=True)
class EpisodeConfig:
    """How episodes run.

    ``max_steps`` caps the environment's own limit; ``history_tokens`` bounds the
    history sent each step; ``stuck_after`` is how many consecutive unchanged
    states are tolerated; ``llm_options`` are passed to every task-LLM call.
    """

    max_steps: int | None = None
    history_tokens: int = 3000
    stuck_after: int = 4
    instruction: str = DEFAULT_INSTRUCTION
    llm_options: dict[str, Any] = field(default_factory=dict)


def _history(rounds: list[Round], budget: int) -> str:
    kept: list[str] = []
    used = 0
    for r in reversed(rounds):
        text = render_round(r)
        cost = approx_tokens(text)
        if used + cost > budget:
            break
        kept.append(text)
        used += cost
    if not kept:
        return "(no previous rounds)"
    skipped = len(rounds) - len(kept)
    head = f"({skipped} older rounds omitted)\n\n" if skipped else ""
    return head + "\n\n".join(reversed(kept))


def step_messages(
    prompt: str, rounds: list[Round], state: str, config: EpisodeConfig
) -> list[ChatMessage]:
    """The messages of one step (public so users can see exactly what the task LLM gets)."""
    body = (
        f"History of previous rounds (oldest first):\n{_history(rounds, config.history_tokens)}"
        f"\n\nCurrent state:\n{state}\n\n{config.instruction}"
    )
    return [system(prompt), user(body)]


def run_episode(
    llm: ChatModel,
    prompt: str,
    env: Environment,
    config: EpisodeConfig | None = None,
) -> Episode:
    """Run ``env`` from its reset state under ``prompt`` until it ends (see module docstring)."""
    config = config or EpisodeConfig()
    limit = env.max_steps if config.max_steps is None else min(env.max_steps, config.max_steps)
    state = env.reset()
    rounds: list[Round] = []
    usage = Usage()
    unchanged = 0
    outcome, error = OUT_OF_STEPS, None
    for index in range(1, limit + 1):
        reply = llm.complete(step_messages(prompt, rounds, state, config), **config.llm_options)
        usage = usage + reply.usage
        try:
            action = env.parse(reply.content)
        except ActionFormatError as err:
            error = MoveError(WRONG_FORMAT, "unparseable", str(err), True)
            rounds.append(Round(index, state, reply.content, f"Wrong format: {err}", (error,)))
            outcome = WRONG_FORMAT
            break
        result = env.step(action)
        rounds.append(Round(index, state, reply.content, result.feedback, result.errors))
        if result.success:
            outcome, error = SUCCESS, None
            break
        terminal = result.terminal_error
        if terminal is not None:
            outcome, error = terminal.category, terminal
            break
        unchanged = unchanged + 1 if result.state == state else 0
        state = result.state
        if unchanged > config.stuck_after:
            outcome = STUCK
            error = MoveError(
                STUCK, "state_unchanged", f"the state did not change for {unchanged} steps", True
            )
            break
    else:
        error = MoveError(OUT_OF_STEPS, "step_limit", f"not completed within {limit} steps", True)
    score = env.score()
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"{env.describe()}: score() returned {score}, outside [0, 1]")
    return Episode(env.describe(), rounds, outcome, error, score, limit, usage)
