"""Box lifting: agents with lifting capacities team up to lift boxes of noisy weight.

After PROMST's BoxLift. Each box shows its volume; its hidden weight is the volume
times Gaussian noise (10 %), and 5 % of boxes are outliers up to twice as heavy. A
box is lifted when the capacities of the agents assigned to it reach its weight;
otherwise the step says the box was too heavy (so the planner learns to combine
more agents). Each agent lifts at most one box per step. Reply format::

    {"box0": ["agent0", "agent2"], "box3": ["agent1"]}

Typed moves: ``invalid_action`` for an unknown or already lifted box
(``no_box``), an unknown agent (``no_agent``), an agent used twice in one step
(``agent_reused``) or an empty team (``no_agents``); ``too_heavy`` when the team's
capacity is below the weight (not terminal). Score: lifted weight / total weight.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from agent.promst.task import (
    INVALID_ACTION,
    ActionFormatError,
    Environment,
    MoveError,
    StepResult,
    json_object,
)

__all__ = ["BOXLIFT_SIZES", "BoxLift", "BoxLiftLayout"]

TOO_HEAVY = "too_heavy"

# size name -> (agents, boxes, step limit)
BOXLIFT_SIZES: dict[str, tuple[int, int, int]] = {
    "small": (4, 6, 20),
    "medium": (6, 10, 20),
    "large": (8, 16, 25),
    "xl": (10, 24, 25),
}


@dataclass(frozen=True)
class BoxLiftLayout:
    """Agent capacities, box volumes and (hidden) box weights."""

    capacities: tuple[float, ...]
    volumes: tuple[float, ...]
    weights: tuple[float, ...]
    max_steps: int = 20


class BoxLift(Environment):
    """See the module docstring; build with :meth:`generate` or from a :class:`BoxLiftLayout`."""

    name = "boxlift"

    def __init__(self, layout: BoxLiftLayout) -> None:
        if len(layout.volumes) != len(layout.weights):
            raise ValueError("BoxLiftLayout: volumes and weights must have the same length")
        self.layout = layout
        self.max_steps = layout.max_steps
        self.lifted: list[int] = []
        self.failed: dict[int, float] = {}  # box -> largest capacity that failed to lift it

    @classmethod
    def generate(cls, size: str = "small", seed: int = 0) -> BoxLift:
        """A random instance of ``size`` (see :data:`BOXLIFT_SIZES`); same seed, same instance."""
        if size not in BOXLIFT_SIZES:
            raise ValueError(
                f"unknown boxlift size {size!r}; choose from {', '.join(BOXLIFT_SIZES)}"
            )
        n_agents, n_boxes, max_steps = BOXLIFT_SIZES[size]
        rng = random.Random(f"boxlift-{size}-{seed}")
        capacities = tuple(float(rng.choice((10, 15, 20, 25, 30))) for _ in range(n_agents))
        total = sum(capacities)
        volumes, weights = [], []
        for _ in range(n_boxes):
            volume = float(rng.randint(5, 60))
            weight = volume * max(0.5, rng.gauss(1.0, 0.1))
            if rng.random() < 0.05:
                weight *= rng.uniform(1.3, 2.0)
            volumes.append(volume)
            weights.append(round(min(weight, 0.9 * total), 2))  # every box liftable by all
        return cls(BoxLiftLayout(capacities, tuple(volumes), tuple(weights), max_steps))

    def describe(self) -> str:
        return f"boxlift {len(self.layout.capacities)} agents, {len(self.layout.volumes)} boxes"

    def reset(self) -> str:
        self.lifted = []
        self.failed = {}
        return self.state_text()

    def state_text(self) -> str:
        lay = self.layout
        agents = ", ".join(f"agent{i} (capacity {c:g})" for i, c in enumerate(lay.capacities))
        boxes = []
        for i, v in enumerate(lay.volumes):
            if i in self.lifted:
                continue
            note = f", failed with capacity {self.failed[i]:g}" if i in self.failed else ""
            boxes.append(f"box{i} (volume {v:g}{note})")
        return "\n".join(
            [
                f"Agents: {agents}.",
                f"Boxes left: {', '.join(boxes) or 'none'}.",
                f"Lifted: {', '.join(f'box{i}' for i in self.lifted) or 'none'}.",
            ]
        )

    def parse(self, reply: str) -> dict[str, list[str]]:
        data = json_object(reply)
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                raise ActionFormatError(f"{key!r} must map to a list of agent names, got {value!r}")
            out[str(key)] = list(value)
        return out

    def step(self, action: dict[str, Any]) -> StepResult:
        lay = self.layout
        errors: list[MoveError] = []
        busy: set[int] = set()
        for box_name, team in action.items():
            box = _index(box_name, "box", len(lay.volumes))
            if box is None or box in self.lifted:
                errors.append(
                    MoveError(INVALID_ACTION, "no_box", f"{box_name!r} is not a box left")
                )
                continue
            if not team:
                errors.append(
                    MoveError(INVALID_ACTION, "no_agents", f"{box_name}: no agents assigned")
                )
                continue
            members: list[int] = []
            for name in team:
                agent = _index(name, "agent", len(lay.capacities))
                if agent is None:
                    errors.append(
                        MoveError(INVALID_ACTION, "no_agent", f"{box_name}: no agent {name!r}")
                    )
                elif agent in busy or agent in members:
                    errors.append(
                        MoveError(
                            INVALID_ACTION, "agent_reused", f"{name} is used twice in one step"
                        )
                    )
                else:
                    members.append(agent)
            if not members:
                continue
            busy.update(members)
            capacity = sum(lay.capacities[a] for a in members)
            if capacity >= lay.weights[box]:
                self.lifted.append(box)
            else:
                self.failed[box] = max(capacity, self.failed.get(box, 0.0))
                errors.append(
                    MoveError(
                        TOO_HEAVY,
                        "too_heavy",
                        f"{box_name} is heavier than the summed capacity {capacity:g} of {team}",
                    )
                )
        return self.result(errors=errors, success=len(self.lifted) == len(lay.volumes))

    def score(self) -> float:
        lay = self.layout
        return sum(lay.weights[i] for i in self.lifted) / sum(lay.weights)


def _index(name: str, prefix: str, count: int) -> int | None:
    text = name.strip().lower()
    if not text.startswith(prefix) or not text[len(prefix) :].isdigit():
        return None
    index = int(text[len(prefix) :])
    return index if index < count else None
