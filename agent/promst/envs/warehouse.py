"""Warehouse: mobile agents fetch boxes from shelves and deliver them, without colliding.

After PROMST's Warehouse. A grid with shelf cells (impassable), boxes on free
cells, one delivery cell and several agents. Every step each agent does one of
``up``, ``down``, ``left``, ``right``, ``stay``, ``pick`` (the box on its cell) or
``drop`` (at the delivery cell); agents left out stay. Moves are simultaneous.
Reply format::

    {"agent0": "right", "agent1": "pick"}

Typed illegal moves:

- ``out_of_grid`` (terminal): a move off the grid;
- ``collision`` (terminal): into a shelf (``shelf``), two agents into one cell
  (``vertex``, which includes moving into an agent that stays) or two agents
  swapping cells (``swap``);
- ``invalid_action``: unknown agent (``no_agent``) or action (``unknown_action``),
  ``pick`` with no box here (``nothing_to_pick``) or while carrying
  (``hands_full``), ``drop`` while empty-handed (``nothing_to_drop``) or away from
  the delivery cell (``not_at_delivery``).

Score: boxes delivered / boxes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from agent.promst.task import (
    COLLISION,
    INVALID_ACTION,
    OUT_OF_GRID,
    ActionFormatError,
    Environment,
    MoveError,
    StepResult,
    json_object,
)

__all__ = ["WAREHOUSE_SIZES", "Warehouse", "WarehouseLayout"]

Cell = tuple[int, int]
MOVES: dict[str, Cell] = {
    "up": (-1, 0),
    "down": (1, 0),
    "left": (0, -1),
    "right": (0, 1),
    "stay": (0, 0),
}
VERBS = (*MOVES, "pick", "drop")

# size name -> (rows, cols, agents, boxes, step limit)
WAREHOUSE_SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "small": (4, 5, 2, 2, 30),
    "medium": (5, 6, 3, 3, 40),
    "large": (6, 8, 4, 4, 50),
    "xl": (7, 9, 5, 6, 50),
}


@dataclass(frozen=True)
class WarehouseLayout:
    """Grid size, shelves, box cells, the delivery cell and the agents' start cells."""

    rows: int
    cols: int
    shelves: frozenset[Cell]
    boxes: tuple[Cell, ...]
    delivery: Cell
    agents: tuple[Cell, ...]
    max_steps: int = 40


class Warehouse(Environment):
    """See the module docstring; build with :meth:`generate` or from a :class:`WarehouseLayout`."""

    name = "warehouse"

    def __init__(self, layout: WarehouseLayout) -> None:
        self.layout = layout
        self.max_steps = layout.max_steps
        self.positions: list[Cell] = []
        self.carrying: list[int | None] = []
        self.boxes: dict[int, Cell] = {}
        self.delivered: list[int] = []
        self.reset()

    @classmethod
    def generate(cls, size: str = "small", seed: int = 0) -> Warehouse:
        """A random instance of ``size`` (see :data:`WAREHOUSE_SIZES`); same seed, same instance.

        Shelves form vertical aisles (every other column, with a gap row), so every
        free cell stays reachable.
        """
        if size not in WAREHOUSE_SIZES:
            raise ValueError(
                f"unknown warehouse size {size!r}; choose from {', '.join(WAREHOUSE_SIZES)}"
            )
        rows, cols, n_agents, n_boxes, max_steps = WAREHOUSE_SIZES[size]
        rng = random.Random(f"warehouse-{size}-{seed}")
        gap = rng.randrange(1, rows - 1)
        shelves = frozenset(
            (r, c)
            for c in range(1, cols - 1, 2)
            for r in range(1, rows - 1)
            if r != gap and rng.random() < 0.8
        )
        free = [(r, c) for r in range(rows) for c in range(cols) if (r, c) not in shelves]
        chosen = rng.sample(free, 1 + n_boxes + n_agents)
        delivery = chosen[0]
        boxes = tuple(chosen[1 : 1 + n_boxes])
        agents = tuple(chosen[1 + n_boxes :])
        return cls(WarehouseLayout(rows, cols, shelves, boxes, delivery, agents, max_steps))

    def describe(self) -> str:
        lay = self.layout
        return f"warehouse {lay.rows}x{lay.cols}, {len(lay.agents)} agents, {len(lay.boxes)} boxes"

    def reset(self) -> str:
        self.positions = list(self.layout.agents)
        self.carrying = [None] * len(self.positions)
        self.boxes = dict(enumerate(self.layout.boxes))
        self.delivered = []
        return self.state_text()

    def state_text(self) -> str:
        lay = self.layout
        agents = "; ".join(
            f"agent{i} at {p}"
            + (f" carrying box{self.carrying[i]}" if self.carrying[i] is not None else "")
            for i, p in enumerate(self.positions)
        )
        boxes = ", ".join(f"box{i} at {c}" for i, c in sorted(self.boxes.items())) or "none"
        shelves = ", ".join(str(s) for s in sorted(lay.shelves)) or "none"
        return "\n".join(
            [
                f"Warehouse {lay.rows}x{lay.cols}, cells (row, col); up decreases the row.",
                f"Shelves (impassable): {shelves}.",
                f"Delivery cell: {lay.delivery}.",
                f"Agents: {agents}.",
                f"Boxes waiting: {boxes}.",
                f"Delivered: {', '.join(f'box{i}' for i in self.delivered) or 'none'}.",
            ]
        )

    def parse(self, reply: str) -> dict[str, str]:
        data = json_object(reply)
        out: dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(value, str):
                raise ActionFormatError(f"the action of {key!r} must be a string, got {value!r}")
            out[str(key)] = value.strip().lower()
        return out

    def step(self, action: dict[str, Any]) -> StepResult:
        lay = self.layout
        n = len(self.positions)
        errors: list[MoveError] = []
        verbs = ["stay"] * n
        for key, verb in action.items():
            name = key.strip().lower()
            index = int(name[5:]) if name.startswith("agent") and name[5:].isdigit() else None
            if index is None or index >= n:
                errors.append(MoveError(INVALID_ACTION, "no_agent", f"there is no {key!r}"))
            elif verb not in VERBS:
                errors.append(
                    MoveError(
                        INVALID_ACTION,
                        "unknown_action",
                        f"agent{index}: {verb!r} is not one of {', '.join(VERBS)}",
                    )
                )
            else:
                verbs[index] = verb
        targets = list(self.positions)
        for i, verb in enumerate(verbs):
            if verb in MOVES:
                dr, dc = MOVES[verb]
                r, c = self.positions[i][0] + dr, self.positions[i][1] + dc
                if not (0 <= r < lay.rows and 0 <= c < lay.cols):
                    errors.append(
                        MoveError(
                            OUT_OF_GRID, "off_grid", f"agent{i}: {verb} leaves the grid", True
                        )
                    )
                elif (r, c) in lay.shelves:
                    errors.append(
                        MoveError(
                            COLLISION,
                            "shelf",
                            f"agent{i}: {verb} runs into the shelf at {(r, c)}",
                            True,
                        )
                    )
                else:
                    targets[i] = (r, c)
        for i in range(n):
            for j in range(i + 1, n):
                if targets[i] == targets[j]:
                    errors.append(
                        MoveError(
                            COLLISION, "vertex", f"agent{i} and agent{j} meet at {targets[i]}", True
                        )
                    )
                elif targets[i] == self.positions[j] and targets[j] == self.positions[i]:
                    errors.append(
                        MoveError(
                            COLLISION,
                            "swap",
                            f"agent{i} and agent{j} swap {self.positions[i]} and {self.positions[j]}",
                            True,
                        )
                    )
        if any(e.terminal for e in errors):
            return self.result(errors=errors)
        for i, verb in enumerate(verbs):
            pos = self.positions[i]
            if verb == "pick":
                here = [b for b, c in self.boxes.items() if c == pos]
                if self.carrying[i] is not None:
                    errors.append(
                        MoveError(INVALID_ACTION, "hands_full", f"agent{i} already carries a box")
                    )
                elif not here:
                    errors.append(
                        MoveError(INVALID_ACTION, "nothing_to_pick", f"agent{i}: no box at {pos}")
                    )
                else:
                    self.carrying[i] = here[0]
                    del self.boxes[here[0]]
            elif verb == "drop":
                box = self.carrying[i]
                if box is None:
                    errors.append(
                        MoveError(INVALID_ACTION, "nothing_to_drop", f"agent{i} carries nothing")
                    )
                elif pos != lay.delivery:
                    errors.append(
                        MoveError(
                            INVALID_ACTION,
                            "not_at_delivery",
                            f"agent{i} is at {pos}, not at {lay.delivery}",
                        )
                    )
                else:
                    self.delivered.append(box)
                    self.carrying[i] = None
        self.positions = targets
        return self.result(errors=errors, success=len(self.delivered) == len(lay.boxes))

    def score(self) -> float:
        return len(self.delivered) / len(self.layout.boxes)
