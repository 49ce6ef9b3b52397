"""The README's own-environment example: a user's Environment subclass and rule file, run
through the whole search with scripted LLMs (the README shows the same code with real ones)."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

import pytest

from agent.fake import FakeLLM
from agent.llm import ChatMessage
from agent.promst import (
    Environment,
    Instance,
    MoveError,
    RuleSet,
    SearchConfig,
    StepResult,
    Task,
    evaluate_prompt,
    json_action,
    run_search,
)

RULES = """\
extends = ["common"]

[rules.out_of_range]
label = "Boiler broken"
show_reply = true
last_rounds = 2
message = "The temperature left the safe range: $detail. Never step past 0 or 40; use 1-degree steps near the edges."
"""

ADVICE = "use 1-degree steps near the edges"


class Thermostat(Environment):
    """Reach the target temperature in steps of 1 or 5 degrees; leaving 0..40 breaks the boiler."""

    name = "thermostat"
    max_steps = 12

    def __init__(self, start: int, target: int) -> None:
        self.start, self.target = start, target
        self.temp = start

    def reset(self) -> str:
        self.temp = self.start
        return self.state_text()

    def state_text(self) -> str:
        return f"Temperature {self.temp}, target {self.target}."

    def parse(self, reply: str) -> str:
        return json_action(reply, "action", str)

    def step(self, action: str) -> StepResult:
        deltas = {"up1": 1, "up5": 5, "down1": -1, "down5": -5}
        if action not in deltas:
            err = MoveError(
                "invalid_action", "unknown_action", f"{action!r} is not one of {sorted(deltas)}"
            )
            return self.result(errors=[err])
        new = self.temp + deltas[action]
        if not 0 <= new <= 40:
            return self.result(
                errors=[
                    MoveError("out_of_range", "boiler", f"{new} is outside 0..40", terminal=True)
                ]
            )
        self.temp = new
        return self.result(success=self.temp == self.target)

    def score(self) -> float:
        return max(0.0, 1 - abs(self.temp - self.target) / 40)

    def describe(self) -> str:
        return f"thermostat {self.start}->{self.target}"


def make_task(rules_path: Path) -> Task:
    return Task(
        name="thermostat",
        prompt='Reach the target temperature. Reply with JSON {"action": "up1" | "up5" | "down1" | "down5"}.',
        train=[
            Instance(f"t{s}-{t}", partial(Thermostat, s, t))
            for s, t in [(20, 38), (8, 0), (37, 40)]
        ],
        test=[Instance("t13-0", partial(Thermostat, 13, 0))],
        rules=RuleSet.load(rules_path),
    )


def thermostat_agent(messages: list[ChatMessage]) -> str:
    """Takes 5-degree steps while more than 2 away (4 when told to be careful near edges)."""
    careful = ADVICE in str(messages[0]["content"])
    state = str(messages[-1]["content"]).rsplit("Current state:", 1)[1]
    found = re.search(r"Temperature (\d+), target (\d+)", state)
    assert found is not None
    gap = int(found[2]) - int(found[1])
    size = 5 if abs(gap) > (4 if careful else 2) else 1
    return json.dumps({"action": ("up" if gap > 0 else "down") + str(size)})


def optimizer(messages: list[ChatMessage]) -> str:
    text = str(messages[-1]["content"])
    if "Summarize the reasons" in text:
        return "Overshoots break the boiler; " + (
            ADVICE if "Boiler broken" in text else "be careful"
        )
    prompt = text.split("<prompt>\n", 1)[1].split("\n</prompt>", 1)[0]
    return prompt + ("\nNear a target, " + ADVICE + "." if ADVICE in text else "")


def test_own_environment_and_rule_file_run_through_the_search(tmp_path: Path) -> None:
    rules_path = tmp_path / "thermostat.toml"
    rules_path.write_text(RULES, encoding="utf-8")
    task = make_task(rules_path)
    task_llm = FakeLLM(rules=[(lambda _t: True, thermostat_agent)])

    start = evaluate_prompt(task.prompt, task.train, task_llm, task.rules)
    assert start.outcomes == {"out_of_range": 2, "success": 1}
    broken = [f for f in start.feedback if f.category == "out_of_range"][0]
    assert broken.label == "Boiler broken" and "Last 2 round(s):" in broken.text
    assert "Never step past 0 or 40" in broken.text and "is outside 0..40" in broken.text

    result = run_search(
        task,
        task_llm,
        FakeLLM(rules=[(lambda _t: True, optimizer)]),
        SearchConfig(n_children=2, n_selected=1, use_score_model=False),
    )
    assert result.start.score == pytest.approx(0.95) and result.best.score == 1.0
    assert ADVICE in result.best.text
    assert result.test == {"start": 0.925, "best": 1.0}  # 13, 8, 3, then -2 breaks the boiler at 3
