"""Problem-class hints: picked by keywords, shown to the formulate prompt, switchable off."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from support import SAMPLES

from agent import FakeLLM, OptimizationAgent
from agent.cli import main
from agent.context import AgentConfig
from agent.hints import hint_classes, pick_class, render_hints
from agent.stub_server import StubServer
from modeling.samples import load_samples


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("transport_basic", "transportation"),
        ("facility_location", "facility_location"),
        ("min_cost_flow", "network_flow"),
        ("machine_tardiness", "scheduling"),
        ("makespan_two_lines", "scheduling"),
        ("nurse_shifts", "staffing"),
        ("lot_sizing_setup", "lot_sizing"),
        ("tsp_delivery_route", "routing"),
        ("knapsack_relief_cargo", "knapsack_assignment"),
        ("worker_assignment", "knapsack_assignment"),
        ("infeasible_feed_blend", "blending"),
        ("least_squares_calibration", "cone_programs"),
        ("portfolio_markowitz", "portfolio"),
    ],
)
def test_the_class_of_a_sample_is_picked_from_its_words(sample: str, expected: str) -> None:
    s = next(s for s in load_samples() if s.id == sample)
    chosen = pick_class(s.problem)
    assert chosen is not None and chosen.name == expected


def test_a_problem_without_class_words_gets_no_hints() -> None:
    assert pick_class("Find the largest x with 3x + 2 <= 11.") is None
    assert render_hints(None) == ""


def test_every_hint_file_is_complete() -> None:
    names = {c.name for c in hint_classes()}
    assert {"scheduling", "facility_location", "network_flow", "cone_programs", "staffing"} <= names
    assert {"lot_sizing", "routing", "knapsack_assignment", "blending", "transportation"} <= names
    for c in hint_classes():
        assert c.title and len(c.keywords) >= 5 and len(c.hints) >= 3, c.name


def _formulate_prompt(hints: bool) -> str:
    problem = next(s for s in load_samples() if s.id == "machine_tardiness").problem
    doc = json.dumps(
        {"variables": {"x": {"upper": 1}}, "objective": {"sense": "max", "expression": "x"}}
    )
    fake = FakeLLM([doc])
    OptimizationAgent(llm=fake, config=AgentConfig(hints=hints, max_repairs=0)).solve(problem)
    return fake.calls[0].last_user


def test_the_formulate_prompt_carries_the_hints_unless_switched_off() -> None:
    with_hints = _formulate_prompt(True)
    assert "## Modeling hints: Scheduling with disjunctions" in with_hints
    assert "smallest valid horizon" in with_hints
    without = _formulate_prompt(False)
    assert "Modeling hints" not in without
    assert without.split("## Problem")[1] == with_hints.split("## Problem")[1]


def test_optiwise_ask_no_hints_leaves_them_out(
    monkeypatch: pytest.MonkeyPatch, llm_stub: StubServer
) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "OPTIWISE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.base_url)
    sample = yaml.safe_load((SAMPLES / "transport_basic.yaml").read_text(encoding="utf-8"))
    llm_stub.push(json.dumps(sample["formulation"]), json.dumps(sample["formulation"]))

    assert main(["ask", "--json", sample["problem"]]) == 0
    assert main(["ask", "--json", "--no-hints", sample["problem"]]) == 0
    first, second = (
        [m for m in r.messages if m["role"] == "user"][-1]["content"]
        for r in llm_stub.chat_requests
    )
    assert "## Modeling hints: Transportation" in first
    assert "Modeling hints" not in second
