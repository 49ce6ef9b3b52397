"""The repair-message hook: the built-in formatting is today's, a tuned source changes it, safely."""

from __future__ import annotations

import copy
import json

import pytest
from spec_example import TRANSPORT

import agent.feedback as fb
from agent import FakeLLM, OptimizationAgent
from agent.context import AgentConfig
from agent.feedback import (
    DEFAULT_SOURCE,
    SAMPLE_FINDINGS,
    check_hook,
    evidence_line,
    repair_errors,
)
from agent.state import error_lines

FINDINGS = [
    *SAMPLE_FINDINGS,
    {"location": None, "message": "bound x <= 3 is violated by 4", "evidence": "4"},
    {"location": "objective", "message": "unbounded", "hint": "add an upper bound"},
]

TUNED = '''def repair_feedback(findings):
    """Most severe first, each with its code."""
    order = sorted(findings, key=lambda f: f.get("severity") != "error")
    return "\\n".join(f"[{f.get('code', 'error')}] {f.get('location')}: {f.get('message')}"
                     for f in order)
'''


def test_default_is_the_pre_hook_formatting() -> None:
    before = error_lines([{**e, "detail": e.get("detail") or evidence_line(e)} for e in FINDINGS])
    assert repair_errors(FINDINGS) == before
    assert repair_errors(FINDINGS, DEFAULT_SOURCE) == before
    assert before.splitlines()[:3] == [
        "constraints.capacity: the model is infeasible "
        "(check the direction of the capacity constraint)",
        "  evidence: IIS: capacity[1], demand[1]",
        "variables.x: x is 0 in the optimal solution",
    ]
    # the evidence "4" is already in the message, so it is not repeated
    assert "evidence: 4" not in before


def test_tuned_source_changes_the_message_and_runs_sandboxed() -> None:
    out = repair_errors(FINDINGS, TUNED)
    assert out.splitlines()[0] == "[infeasible] constraints.capacity: the model is infeasible"
    assert out != repair_errors(FINDINGS)
    assert check_hook(TUNED) is None


def test_a_broken_hook_falls_back_to_the_builtin_formatting() -> None:
    fb.last_failure.clear()
    raising = "def repair_feedback(findings):\n    return 1 / 0\n"
    assert repair_errors(FINDINGS, raising) == repair_errors(FINDINGS)
    assert "ZeroDivisionError" in fb.last_failure[-1]
    assert "does not parse: line 1" in (check_hook("def repair_feedback(:\n") or "")
    assert "top-level function" in (check_hook("def other(findings):\n    return 'x'\n") or "")
    assert "not str" in (check_hook("def repair_feedback(findings):\n    return 3\n") or "")


def test_a_hook_cannot_read_our_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = (
        "import os\n"
        "def repair_feedback(findings):\n"
        "    return os.environ.get('OPENAI_API_KEY', 'none')\n"
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-test")
    assert repair_errors(FINDINGS, spy) == "none"


def test_the_agent_sends_the_tuned_hook_s_message_in_its_repair_request() -> None:
    broken = copy.deepcopy(TRANSPORT)
    broken["objective"]["expression"] += " + bogus_rate"

    def repair_request(hook: str | None) -> str:
        llm = FakeLLM(rules=[(lambda _t: True, json.dumps(broken))])
        config = AgentConfig(max_repairs=1, examples=0, repair_hook=hook, solve_in_process=True)
        OptimizationAgent(llm=llm, config=config).solve("Ship goods from two plants to markets.")
        return str(llm.calls[1].messages[-1]["content"])

    default, tuned = repair_request(None), repair_request(TUNED)
    assert "objective.expression: unknown name 'bogus_rate'" in default
    assert "[undefined] objective.expression: unknown name 'bogus_rate'" in tuned
    assert "[undefined]" not in default
