"""Box-moving planner: a central planner moves coloured boxes for one agent per cell.

After PROMST's BoxNet1/BoxNet2. The grid has one agent in every cell; each agent
may move one box in its own cell per step, either to an adjacent cell or onto a
target of the box's colour in its cell (the box is then delivered and vanishes).
At most one box per cell. Reply format, one entry per acting agent::

    {"agent[0,1]": "move(red0, [0,2])", "agent[1,1]": "move(blue1, target)"}

Illegal moves (all typed):

- ``invalid_action``: unknown agent (``no_agent``), unknown or delivered box
  (``no_box``), box not in the agent's cell (``box_elsewhere``), destination off the
  grid (``off_grid``) or not adjacent (``not_adjacent``), unreadable command
  (``bad_command``), one box moved twice (``box_moved_twice``);
- ``wrong_target``: "target" but no target of that colour in the cell;
- ``collision`` (terminal): destination already holds a box at the start of the
  step, or two boxes move to the same cell. Moves are simultaneous, so a box may
  not enter a cell another box leaves in the same step.

Score: boxes delivered / boxes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from agent.promst.task import (
    COLLISION,
    INVALID_ACTION,
    ActionFormatError,
    Environment,
    MoveError,
    StepResult,
    json_object,
)

__all__ = ["BOXNET_SIZES", "BoxNet", "BoxNetLayout"]

Cell = tuple[int, int]
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange")
WRONG_TARGET = "wrong_target"

# size name -> (rows, cols, boxes, step limit)
BOXNET_SIZES: dict[str, tuple[int, int, int, int]] = {
    "small": (2, 2, 2, 20),
    "medium": (2, 4, 4, 30),
    "large": (4, 4, 6, 35),
    "xl": (4, 8, 10, 40),
}

_AGENT = re.compile(r"^\s*agent\s*\[\s*(\d+)\s*,\s*(\d+)\s*\]\s*$", re.I)
_MOVE = re.compile(
    r"^\s*move\s*\(\s*([A-Za-z]+\d+)\s*,\s*(target|\[\s*(-?\d+)\s*,\s*(-?\d+)\s*\])\s*\)\s*$", re.I
)


@dataclass(frozen=True)
class BoxNetLayout:
    """Rows, columns, boxes (name -> (colour, cell)) and targets (colour -> cells)."""

    rows: int
    cols: int
    boxes: tuple[tuple[str, str, Cell], ...]
    targets: tuple[tuple[str, Cell], ...]
    max_steps: int = 30


class BoxNet(Environment):
    """See the module docstring; build with :meth:`generate` or from a :class:`BoxNetLayout`."""

    name = "boxnet"

    def __init__(self, layout: BoxNetLayout) -> None:
        self.layout = layout
        self.max_steps = layout.max_steps
        self._targets: dict[Cell, list[str]] = {}
        for colour, cell in sorted(set(layout.targets), key=lambda t: (t[1], t[0])):
            self._targets.setdefault(cell, []).append(colour)
        self.boxes: dict[str, tuple[str, Cell]] = {}
        self.delivered: list[str] = []
        self.reset()

    @classmethod
    def generate(cls, size: str = "small", seed: int = 0) -> BoxNet:
        """A random instance of ``size`` (see :data:`BOXNET_SIZES`); same seed, same instance."""
        if size not in BOXNET_SIZES:
            raise ValueError(f"unknown boxnet size {size!r}; choose from {', '.join(BOXNET_SIZES)}")
        rows, cols, n_boxes, max_steps = BOXNET_SIZES[size]
        rng = random.Random(f"boxnet-{size}-{seed}")
        cells = [(r, c) for r in range(rows) for c in range(cols)]
        box_cells = rng.sample(cells, n_boxes)
        boxes, targets = [], []
        for i, cell in enumerate(box_cells):
            colour = COLOURS[i % len(COLOURS)]
            boxes.append((f"{colour}{i}", colour, cell))
            targets.append((colour, rng.choice(cells)))
        return cls(BoxNetLayout(rows, cols, tuple(boxes), tuple(targets), max_steps))

    def describe(self) -> str:
        lay = self.layout
        return f"boxnet {lay.rows}x{lay.cols}, {len(lay.boxes)} boxes"

    def reset(self) -> str:
        self.boxes = {name: (colour, cell) for name, colour, cell in self.layout.boxes}
        self.delivered = []
        return self.state_text()

    def state_text(self) -> str:
        lay = self.layout
        lines = [
            f"Grid of {lay.rows}x{lay.cols} cells [row,col]; one agent per cell, named agent[row,col].",
        ]
        boxes: dict[Cell, list[str]] = {}
        for name, (_, cell) in sorted(self.boxes.items()):
            boxes.setdefault(cell, []).append(name)
        for cell in sorted(set(boxes) | set(self._targets)):
            here = boxes.get(cell, [])
            tgts = [f"target_{t}" for t in self._targets.get(cell, [])]
            lines.append(
                f"agent[{cell[0]},{cell[1]}]: boxes {here or 'none'}; targets {tgts or 'none'}"
            )
        lines.append(f"Delivered: {', '.join(self.delivered) or 'none'}.")
        return "\n".join(lines)

    def parse(self, reply: str) -> dict[str, str]:
        data = json_object(reply)
        out: dict[str, str] = {}
        for key, value in data.items():
            if not isinstance(value, str):
                raise ActionFormatError(f"the command for {key!r} must be a string, got {value!r}")
            out[str(key)] = value
        return out

    def step(self, action: dict[str, Any]) -> StepResult:
        lay = self.layout
        errors: list[MoveError] = []
        planned: list[tuple[str, Cell | None]] = []  # (box, destination or None = target)
        used_boxes: set[str] = set()
        for key, command in action.items():
            agent = _AGENT.match(key)
            if not agent:
                errors.append(
                    MoveError(INVALID_ACTION, "no_agent", f"{key!r} is not an agent name")
                )
                continue
            at = (int(agent.group(1)), int(agent.group(2)))
            if not (0 <= at[0] < lay.rows and 0 <= at[1] < lay.cols):
                errors.append(MoveError(INVALID_ACTION, "no_agent", f"there is no {key}"))
                continue
            move = _MOVE.match(str(command))
            if not move:
                errors.append(
                    MoveError(
                        INVALID_ACTION,
                        "bad_command",
                        f"{key}: {command!r} is not move(box, [row,col]) or move(box, target)",
                    )
                )
                continue
            box = move.group(1)
            if box not in self.boxes:
                errors.append(
                    MoveError(INVALID_ACTION, "no_box", f"{key}: no box {box} on the grid")
                )
                continue
            if box in used_boxes:
                errors.append(
                    MoveError(INVALID_ACTION, "box_moved_twice", f"{key}: {box} is already moved")
                )
                continue
            colour, cell = self.boxes[box]
            if cell != at:
                errors.append(
                    MoveError(INVALID_ACTION, "box_elsewhere", f"{key}: {box} is at {list(cell)}")
                )
                continue
            if move.group(2).lower() == "target":
                if (colour, at) not in lay.targets:
                    errors.append(
                        MoveError(
                            WRONG_TARGET,
                            "no_target",
                            f"{key}: no target_{colour} in cell {list(at)}",
                        )
                    )
                    continue
                used_boxes.add(box)
                planned.append((box, None))
                continue
            dest = (int(move.group(3)), int(move.group(4)))
            if not (0 <= dest[0] < lay.rows and 0 <= dest[1] < lay.cols):
                errors.append(
                    MoveError(INVALID_ACTION, "off_grid", f"{key}: {list(dest)} is off the grid")
                )
                continue
            if abs(dest[0] - at[0]) + abs(dest[1] - at[1]) != 1:
                errors.append(
                    MoveError(
                        INVALID_ACTION,
                        "not_adjacent",
                        f"{key}: {list(dest)} is not adjacent to {list(at)}",
                    )
                )
                continue
            used_boxes.add(box)
            planned.append((box, dest))
        occupied = {cell for _, cell in self.boxes.values()}
        claimed: dict[Cell, str] = {}
        ok: list[tuple[str, Cell | None]] = []
        for box, goal in planned:
            if goal is None:
                ok.append((box, None))
                continue
            dest = goal
            if dest in occupied:
                errors.append(
                    MoveError(
                        COLLISION,
                        "occupied",
                        f"{box} moves into {list(dest)}, which holds a box",
                        True,
                    )
                )
            elif dest in claimed:
                errors.append(
                    MoveError(
                        COLLISION,
                        "same_cell",
                        f"{box} and {claimed[dest]} both move to {list(dest)}",
                        True,
                    )
                )
            else:
                claimed[dest] = box
                ok.append((box, dest))
        for box, moved_to in ok:
            if moved_to is None:
                del self.boxes[box]
                self.delivered.append(box)
            else:
                self.boxes[box] = (self.boxes[box][0], moved_to)
        return self.result(errors=errors, success=not self.boxes)

    def score(self) -> float:
        return len(self.delivered) / len(self.layout.boxes)
