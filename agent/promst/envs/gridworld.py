"""Grid world: one robot collects goals on a grid with obstacles, in index order or not.

After PROMST's Gridworld1 (any order) and Gridworld2 (goals in index order).
Reply format: ``{"action": "up" | "down" | "left" | "right" | "pick"}``.
Rows grow downwards: ``up`` is row - 1. Illegal moves:

- moving off the grid: ``out_of_grid`` (terminal);
- moving onto an obstacle: ``collision`` (terminal);
- picking in the wrong order (ordered mode): ``wrong_order`` (terminal);
- picking where there is no goal, or an unknown action: ``invalid_action``.

Score: goals picked / goals.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from agent.promst.task import (
    COLLISION,
    INVALID_ACTION,
    OUT_OF_GRID,
    WRONG_ORDER,
    Environment,
    MoveError,
    StepResult,
    json_action,
)

__all__ = ["GRID_SIZES", "GridLayout", "GridWorld"]

Cell = tuple[int, int]

MOVES: dict[str, Cell] = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
ACTIONS = (*MOVES, "pick")

# size name -> (side, goals, obstacles, step limit)
GRID_SIZES: dict[str, tuple[int, int, int, int]] = {
    "small": (4, 2, 2, 30),
    "medium": (5, 3, 4, 35),
    "large": (6, 4, 6, 40),
    "xl": (7, 5, 9, 50),
}


@dataclass(frozen=True)
class GridLayout:
    """A grid world instance: side length, robot start, goals (in index order), obstacles."""

    side: int
    robot: Cell
    goals: tuple[Cell, ...]
    obstacles: frozenset[Cell]
    ordered: bool = False
    max_steps: int = 30


def _reachable(side: int, start: Cell, blocked: frozenset[Cell]) -> set[Cell]:
    seen = {start}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        for dr, dc in MOVES.values():
            nxt = (r + dr, c + dc)
            if 0 <= nxt[0] < side and 0 <= nxt[1] < side and nxt not in blocked and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


class GridWorld(Environment):
    """See the module docstring; build with :meth:`generate` or from a :class:`GridLayout`."""

    name = "gridworld"

    def __init__(self, layout: GridLayout) -> None:
        self.layout = layout
        self.max_steps = layout.max_steps
        self.robot = layout.robot
        self.picked: list[int] = []

    @classmethod
    def generate(cls, size: str = "small", seed: int = 0, *, ordered: bool = False) -> GridWorld:
        """A random solvable instance of ``size`` (see :data:`GRID_SIZES`), same seed same grid."""
        if size not in GRID_SIZES:
            raise ValueError(f"unknown grid size {size!r}; choose from {', '.join(GRID_SIZES)}")
        side, n_goals, n_obstacles, max_steps = GRID_SIZES[size]
        rng = random.Random(f"gridworld-{size}-{seed}-{ordered}")
        cells = [(r, c) for r in range(side) for c in range(side)]
        while True:
            chosen = rng.sample(cells, 1 + n_goals + n_obstacles)
            robot, goals, obstacles = chosen[0], chosen[1 : 1 + n_goals], chosen[1 + n_goals :]
            blocked = frozenset(obstacles)
            if set(goals) <= _reachable(side, robot, blocked):
                return cls(GridLayout(side, robot, tuple(goals), blocked, ordered, max_steps))

    def describe(self) -> str:
        lay = self.layout
        order = "ordered" if lay.ordered else "any order"
        return f"gridworld {lay.side}x{lay.side}, {len(lay.goals)} goals ({order})"

    def reset(self) -> str:
        self.robot = self.layout.robot
        self.picked = []
        return self.state_text()

    def state_text(self) -> str:
        lay = self.layout
        remaining = [
            f"goal{i} at {lay.goals[i]}" for i in range(len(lay.goals)) if i not in self.picked
        ]
        obstacles = ", ".join(str(o) for o in sorted(lay.obstacles)) or "none"
        lines = [
            f"Grid {lay.side}x{lay.side}, cells (row, col) from (0, 0) to "
            f"({lay.side - 1}, {lay.side - 1}); up decreases the row.",
            f"Robot at {self.robot}.",
            f"Obstacles: {obstacles}.",
            f"Goals remaining: {', '.join(remaining) or 'none'}.",
            f"Goals picked: {', '.join(f'goal{i}' for i in self.picked) or 'none'}.",
        ]
        if lay.ordered:
            lines.append("Goals must be picked in index order (goal0 first).")
        return "\n".join(lines)

    def parse(self, reply: str) -> str:
        return str(json_action(reply, "action", str)).strip().lower()

    def step(self, action: str) -> StepResult:
        lay = self.layout
        if action in MOVES:
            dr, dc = MOVES[action]
            nxt = (self.robot[0] + dr, self.robot[1] + dc)
            if not (0 <= nxt[0] < lay.side and 0 <= nxt[1] < lay.side):
                return self.result(
                    errors=[
                        MoveError(
                            OUT_OF_GRID,
                            "off_grid",
                            f"{action} from {self.robot} leaves the grid",
                            True,
                        )
                    ]
                )
            if nxt in lay.obstacles:
                return self.result(
                    errors=[
                        MoveError(
                            COLLISION, "obstacle", f"{action} hits the obstacle at {nxt}", True
                        )
                    ]
                )
            self.robot = nxt
            return self.result()
        if action == "pick":
            here = [i for i, g in enumerate(lay.goals) if g == self.robot and i not in self.picked]
            if not here:
                return self.result(
                    errors=[
                        MoveError(INVALID_ACTION, "no_goal", f"no goal to pick at {self.robot}")
                    ]
                )
            index = here[0]
            if lay.ordered:
                expected = min(i for i in range(len(lay.goals)) if i not in self.picked)
                if index != expected:
                    return self.result(
                        errors=[
                            MoveError(
                                WRONG_ORDER,
                                "wrong_order",
                                f"picked goal{index} before goal{expected}",
                                True,
                            )
                        ]
                    )
            self.picked.append(index)
            return self.result(success=len(self.picked) == len(lay.goals))
        return self.result(
            errors=[
                MoveError(
                    INVALID_ACTION,
                    "unknown_action",
                    f"{action!r} is not an action; choose one of {', '.join(ACTIONS)}",
                )
            ]
        )

    def score(self) -> float:
        return len(self.picked) / len(self.layout.goals)

    def plan(self) -> list[str]:
        """A correct action sequence from the current state (BFS per goal), for baselines and benches."""
        lay = self.layout
        order = [i for i in range(len(lay.goals)) if i not in self.picked]
        pos, actions = self.robot, []
        for i in order:
            path = _path(lay.side, pos, lay.goals[i], lay.obstacles)
            actions.extend(path)
            actions.append("pick")
            pos = lay.goals[i]
        return actions


def _path(side: int, start: Cell, goal: Cell, blocked: frozenset[Cell]) -> list[str]:
    prev: dict[Cell, tuple[Cell, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if cur == goal:
            break
        for name, (dr, dc) in MOVES.items():
            nxt = (cur[0] + dr, cur[1] + dc)
            if 0 <= nxt[0] < side and 0 <= nxt[1] < side and nxt not in blocked and nxt not in prev:
                prev[nxt] = (cur, name)
                queue.append(nxt)
    steps: list[str] = []
    node = goal
    while (link := prev.get(node)) is not None:
        node, name = link
        steps.append(name)
    return steps[::-1]
