"""Evaluate a prompt: run an episode per instance, score it, collect the rule feedback.

The score of a prompt is the mean of a :data:`ScoreFunction` over its episodes.
The default is the environment's partial credit; :func:`efficiency_weighted`
also rewards finishing in fewer steps, which steers the search toward shorter
plans (PROMST's preference-aligned score).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agent.llm import ChatModel
from agent.promst.episode import Episode, EpisodeConfig, run_episode
from agent.promst.rules import Feedback, RuleSet
from agent.promst.task import Instance
from agent.usage import Usage

__all__ = [
    "Evaluation",
    "ScoreFunction",
    "efficiency_weighted",
    "evaluate_prompt",
    "partial_credit",
]

ScoreFunction = Callable[[Episode], float]
"""Maps a finished episode to a number in [0, 1]; a prompt's score is the mean over episodes."""


def partial_credit(episode: Episode) -> float:
    """The environment's own partial-credit score."""
    return episode.score


def efficiency_weighted(weight: float = 0.3) -> ScoreFunction:
    """Partial credit reduced by up to ``weight`` for using the whole step limit.

    ``score * (1 - weight * steps / max_steps)``: a full success in few steps
    scores near 1, the same success at the step limit ``1 - weight``.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")

    def score(episode: Episode) -> float:
        return episode.score * (1.0 - weight * episode.steps / max(1, episode.max_steps))

    score.__name__ = f"efficiency_weighted({weight})"
    return score


@dataclass
class Evaluation:
    """A prompt's score with every episode and the rule feedback of the failed ones."""

    prompt: str
    score: float
    episodes: list[Episode]
    feedback: list[Feedback]
    usage: Usage = field(default_factory=Usage)

    @property
    def outcomes(self) -> Counter[str]:
        """How many episodes ended with each outcome."""
        return Counter(e.outcome for e in self.episodes)

    @property
    def errors(self) -> bool:
        """True if any episode failed (PROMST expands only such prompts)."""
        return bool(self.feedback)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: score, outcomes, mean steps."""
        steps = [e.steps for e in self.episodes]
        return {
            "score": self.score,
            "outcomes": dict(self.outcomes),
            "mean_steps": sum(steps) / len(steps) if steps else 0.0,
            "episodes": len(self.episodes),
        }


def evaluate_prompt(
    prompt: str,
    instances: Sequence[Instance],
    llm: ChatModel,
    rules: RuleSet,
    *,
    config: EpisodeConfig | None = None,
    score_fn: ScoreFunction = partial_credit,
    workers: int = 1,
) -> Evaluation:
    """Run one episode of ``prompt`` per instance (``workers`` in parallel threads)."""
    if not instances:
        raise ValueError("evaluate_prompt needs at least one instance")

    def one(instance: Instance) -> Episode:
        return run_episode(llm, prompt, instance.make(), config)

    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            episodes = list(pool.map(one, instances))
    else:
        episodes = [one(i) for i in instances]
    scores = [score_fn(e) for e in episodes]
    feedback = [f for e in episodes if (f := rules.feedback(e, prompt)) is not None]
    return Evaluation(
        prompt=prompt,
        score=sum(scores) / len(scores),
        episodes=episodes,
        feedback=feedback,
        usage=sum((e.usage for e in episodes), Usage()),
    )
