"""Scripted task and optimizer LLMs for offline demos, tests and benchmarks (no endpoint needed).

The scripted grid-world agent reads the state text and acts well only as far as
its prompt tells it to: without a phrase asking for a JSON object it answers in
prose (``wrong_format``); without a phrase about obstacles it walks greedily and
can hit one (``collision``); without a phrase about index order it picks the
nearest goal first (``wrong_order`` in ordered mode). The scripted optimizer
answers PROMST's summarize, rewrite, APE and APO calls: a rewrite adds the
corrective instruction of each error category named in the summaries (each with
probability ``fix_rate``) plus, sometimes, a harmless filler sentence.

So a search that reads its feedback improves a weak prompt, and one that does
not (APE) cannot::

    task_llm = FakeLLM(rules=[(lambda _: True, scripted_grid_agent)])
    opt_llm = FakeLLM(rules=[(lambda _: True, ScriptedOptimizer())])
"""

from __future__ import annotations

import json
import random
import re
from collections import deque
from collections.abc import Mapping, Sequence

from agent.llm import ChatMessage

__all__ = ["FIXES", "FILLERS", "ScriptedOptimizer", "scripted_grid_agent"]

# error category -> the instruction that fixes it, and the phrase the agent looks for
FIXES: dict[str, str] = {
    "wrong_format": 'Reply with a JSON object only, e.g. {"action": "up"}.',
    "collision": "Before each move, check that the next cell is not an obstacle.",
    "wrong_order": "Pick the goals in index order, goal0 first.",
    "out_of_grid": "Never move outside the grid.",
    "stuck": "Never repeat an action that did not change the state.",
    "out_of_steps": "Take the shortest path to each goal.",
}
_PHRASES = {
    "json": "json object",
    "obstacle": "not an obstacle",
    "order": "index order",
}
FILLERS = (
    "Think carefully before acting.",
    "Be precise.",
    "Stay calm and focused.",
    "Consider the whole grid.",
    "Double-check your reasoning.",
)

_CELL = r"\((\d+), (\d+)\)"
_MOVES = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


def _current_state(text: str) -> str:
    return text.rsplit("Current state:", 1)[-1]


def _grid_state(
    text: str,
) -> tuple[int, tuple[int, int], set[tuple[int, int]], list[tuple[int, tuple[int, int]]], bool]:
    state = _current_state(text)
    side_match = re.search(r"Grid (\d+)x", state)
    robot_match = re.search(r"Robot at " + _CELL, state)
    if side_match is None or robot_match is None:
        raise ValueError("not a grid-world state")
    side = int(side_match.group(1))
    robot = (int(robot_match.group(1)), int(robot_match.group(2)))
    obstacles_line = re.search(r"Obstacles: (.*)", state)
    obstacles = {
        (int(a), int(b))
        for a, b in re.findall(_CELL, obstacles_line.group(1) if obstacles_line else "")
    }
    goals_line = re.search(r"Goals remaining: (.*)", state)
    goals = [
        (int(i), (int(a), int(b)))
        for i, a, b in re.findall(
            r"goal(\d+) at " + _CELL, goals_line.group(1) if goals_line else ""
        )
    ]
    return side, robot, obstacles, goals, "index order" in state


def _bfs_first_move(
    side: int, start: tuple[int, int], goal: tuple[int, int], blocked: set[tuple[int, int]]
) -> str:
    prev: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if cur == goal:
            break
        for name, (dr, dc) in _MOVES.items():
            nxt = (cur[0] + dr, cur[1] + dc)
            if 0 <= nxt[0] < side and 0 <= nxt[1] < side and nxt not in blocked and nxt not in prev:
                prev[nxt] = (cur, name)
                queue.append(nxt)
    node, first = goal, "up"
    while (link := prev.get(node)) is not None:
        node, first = link
    return first


def scripted_grid_agent(messages: list[ChatMessage]) -> str:
    """A grid-world task LLM whose competence follows its system prompt (module docstring)."""
    prompt = str(messages[0].get("content", "")).lower() if messages else ""
    text = str(messages[-1].get("content", ""))
    side, robot, obstacles, goals, ordered = _grid_state(text)
    careful = _PHRASES["obstacle"] in prompt
    in_order = _PHRASES["order"] in prompt
    if not goals:
        action = "pick"
    else:
        if in_order or not ordered:
            target = min(goals)[1] if in_order else _nearest(robot, goals)
        else:
            target = _nearest(robot, goals)
        if target == robot:
            action = "pick"
        elif careful:
            action = _bfs_first_move(side, robot, target, obstacles)
        else:
            dr, dc = target[0] - robot[0], target[1] - robot[1]
            if dr:
                action = "down" if dr > 0 else "up"
            else:
                action = "right" if dc > 0 else "left"
    if _PHRASES["json"] not in prompt:
        return f"I will move {action} now."
    return json.dumps({"action": action})


def _nearest(robot: tuple[int, int], goals: list[tuple[int, tuple[int, int]]]) -> tuple[int, int]:
    return min(goals, key=lambda g: (abs(g[1][0] - robot[0]) + abs(g[1][1] - robot[1]), g[0]))[1]


class ScriptedOptimizer:
    """Answers PROMST's optimizer calls deterministically (seeded); see the module docstring.

    ``fixes`` maps an error category to the sentence a rewrite adds (default :data:`FIXES`).
    """

    def __init__(
        self,
        fix_rate: float = 1.0,
        filler_rate: float = 0.5,
        seed: int = 0,
        fixes: Mapping[str, str] | None = None,
    ) -> None:
        self.fixes = dict(FIXES if fixes is None else fixes)
        self.fix_rate = fix_rate
        self.filler_rate = filler_rate
        self.rng = random.Random(seed)

    def __call__(self, messages: Sequence[ChatMessage]) -> str:
        text = str(messages[-1].get("content", ""))
        prompt_match = re.search(r"<prompt>\n(.*?)\n</prompt>", text, re.S)
        prompt = prompt_match.group(1) if prompt_match else ""
        if "Summarize the reasons" in text:
            found = re.search(r"\(category (\w+)\)", text)
            return (
                f"Category {found.group(1) if found else 'other'}: the prompt does not prevent it."
            )
        if "For each wrong example" in text:
            seen = sorted(set(re.findall(r"Example \((\w+)\)", text)))
            return "Reasons: " + ", ".join(f"Category {c}" for c in seen)
        if "Generate a variation" in text:
            return self._add_filler(prompt, force=True)
        if "Output only the new prompt" in text:
            summaries = text.split("Error feedback from humans", 1)[-1].split(
                "The prompts that led", 1
            )[0]
            new = prompt
            for category in sorted(set(re.findall(r"Category (\w+)", summaries))):
                fix = self.fixes.get(category)
                if fix and fix not in new and self.rng.random() < self.fix_rate:
                    new = f"{new}\n{fix}"
            return self._add_filler(new)
        raise ValueError(f"ScriptedOptimizer: unexpected request {text[:80]!r}")

    def _add_filler(self, prompt: str, force: bool = False) -> str:
        if force or self.rng.random() < self.filler_rate:
            filler = self.rng.choice(FILLERS)
            if filler not in prompt:
                return f"{prompt}\n{filler}"
        return prompt
