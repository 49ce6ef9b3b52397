"""Scripted task and optimizer LLMs for offline demos, tests and benchmarks (no endpoint needed).

The scripted grid-world agent reads the state text and acts well only as far as
its prompt tells it to: without a phrase asking for a JSON object it answers in
prose (``wrong_format``); without a phrase about obstacles it walks greedily and
can hit one (``collision``); without a phrase about index order it picks the
nearest goal first (``wrong_order`` in ordered mode). The scripted optimizer
answers PROMST's summarize, rewrite, APE and APO calls: a rewrite adds the
corrective instruction of each error category named in the summaries (each with
probability ``fix_rate``) plus, sometimes, a harmless filler sentence. It answers
OptoPrime (JSON suggestion for the prompt variable, from the ``#Feedback``), OPRO
(from the best prompt shown in the history and its feedback) and GEPA's
reflection (a new instruction in a fenced block) the same way: every method that
reads the feedback can repair the prompt, with the same odds.

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
from typing import Any

from agent.llm import ChatMessage

__all__ = [
    "FILLERS",
    "FIXES",
    "OPTIWISE_CASES",
    "OPTIWISE_FIXES",
    "ScriptedModeler",
    "ScriptedOptimizer",
    "scripted_grid_agent",
    "scripted_optiwise_problems",
]

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
            return self._fix(prompt, summaries)
        if "#Variables" in text and "#Feedback" in text:  # OptoPrime
            variables = text.rsplit("#Variables\n", 1)[-1].split("\n\n#Constraints", 1)[0]
            name, _, current = variables.partition("=")
            feedback = text.rsplit("#Feedback\n", 1)[-1]
            new = self._fix(current, feedback)
            key = name.split(")", 1)[-1].strip()
            return json.dumps({"reasoning": "add what the feedback asks", "suggestion": {key: new}})
        if "Below are values tried so far" in text:  # OPRO: the best shown comes last
            shown = re.findall(r"^\{\n.*?\n\}$", text, re.M | re.S)
            if not shown:
                raise ValueError("ScriptedOptimizer: an OPRO request without history")
            best = json.loads(shown[-1])
            key, current = next(iter(best["variables"].items()))
            new = self._fix(str(current), str(best.get("feedback") or ""))
            return json.dumps({"reasoning": "fix the best one", "suggestion": {key: new}})
        if "I provided an assistant with the following instructions" in text:  # GEPA
            parts = text.split("```")
            current, side = parts[1].strip("\n"), parts[3] if len(parts) > 3 else ""
            return "```\n" + self._fix(current, side) + "\n```"
        raise ValueError(f"ScriptedOptimizer: unexpected request {text[:80]!r}")

    def _fix(self, prompt: str, feedback: str) -> str:
        """``prompt`` plus the fix of each category named in ``feedback`` (odds ``fix_rate``)."""
        new = prompt
        for category in sorted(set(re.findall(r"Category (\w+)", feedback))):
            fix = self.fixes.get(category)
            if fix and fix not in new and self.rng.random() < self.fix_rate:
                new = f"{new}\n{fix}"
        return self._add_filler(new)

    def _add_filler(self, prompt: str, force: bool = False) -> str:
        if force or self.rng.random() < self.filler_rate:
            filler = self.rng.choice(FILLERS)
            if filler not in prompt:
                return f"{prompt}\n{filler}"
        return prompt


# -- optiwise's own pipeline, scripted ------------------------------------------------

DECLARE = "Declare every name you use in an expression."
SENSE = "State the objective's sense exactly as the problem asks."
OPTIWISE_FIXES: dict[str, str] = {"modeling_error": DECLARE, "wrong_answer": SENSE}
"""Rule category of :mod:`agent.promst.optiwise_task` -> the formulate instruction that fixes it."""

OPTIWISE_CASES: dict[str, str | None] = {
    "diet_planning": "undefined",
    "production_mix": "sense",
    "transport_basic": None,
    "crop_planning": "undefined",
    "alloy_blending": None,
}
"""Packaged sample -> the flaw a weak formulate prompt causes (None: always right)."""

_FLAW_FIX = {"undefined": DECLARE, "sense": SENSE}


def _sample_data(name: str) -> dict[str, Any]:
    import yaml

    from modeling.samples import samples_dir

    data: dict[str, Any] = yaml.safe_load(
        samples_dir().joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    )
    return data


class ScriptedModeler:
    """A task LLM for optiwise's pipeline: writes each sample's reference formulation,
    flawed (an undeclared name, or the objective's sense flipped) unless the formulate
    prompt carries the instruction that prevents the flaw (:data:`OPTIWISE_FIXES`)."""

    def __init__(self, cases: Mapping[str, str | None] | None = None) -> None:
        self.docs = {
            name: (_sample_data(name), flaw)
            for name, flaw in (OPTIWISE_CASES if cases is None else cases).items()
        }

    def __call__(self, messages: Sequence[ChatMessage]) -> str:
        import copy

        text = "\n".join(str(m.get("content", "")) for m in messages)
        for data, flaw in self.docs.values():
            if str(data["problem"]).strip() not in text:
                continue
            doc = copy.deepcopy(data["formulation"])
            # only the formulate prompt (the one being tuned) can carry the fix
            prevented = flaw is not None and _FLAW_FIX[flaw] in text and "Formulate the" in text
            if flaw == "undefined" and not prevented:
                doc["objective"]["expression"] += " + bogus_rate"
            elif flaw == "sense" and not prevented:
                sense = doc["objective"]["sense"]
                doc["objective"]["sense"] = "minimize" if sense == "maximize" else "maximize"
            return json.dumps(doc)
        raise ValueError("ScriptedModeler: the request names no scripted sample problem")


def scripted_optiwise_problems() -> tuple[list[Any], list[Any]]:
    """Train (3) and validation (2) problems of :class:`ScriptedModeler`, labelled by the samples."""
    from evals.problems import Problem, number

    def problem(name: str) -> Problem:
        data = _sample_data(name)
        return Problem(
            id=name,
            dataset="samples",
            question=data["problem"],
            answer=number(float(data["answer"]["objective"])),
        )

    names = list(OPTIWISE_CASES)
    return [problem(n) for n in names[:3]], [problem(n) for n in names[3:]]
