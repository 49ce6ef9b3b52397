"""The findings table of report.md from a real agent run (loopback stub, real openai client,
real solver): a finding on a right model, one on a wrong model that repair fixes, none on a
right model."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from support import sample, sample_problem, stub_model

from agent import OptimizationAgent
from agent.stub_server import StubServer
from evals.agent_solver import AgentSolver
from evals.loaders import Dataset
from evals.report import REPORT_FILE
from evals.runner import run_eval


def relaxed(name: str) -> str:
    """The sample's formulation with every integer variable made continuous (a wrong model)."""
    doc = copy.deepcopy(sample(name)["formulation"])
    for var in doc["variables"].values():
        if isinstance(var, dict) and str(var.get("type", "")).lower() in ("integer", "int"):
            var["type"] = "continuous"
    return json.dumps(doc)


def right(name: str) -> str:
    return json.dumps(sample(name)["formulation"])


def test_report_tabulates_findings_of_a_stub_run(llm_stub: StubServer, tmp_path: Path) -> None:
    names = ["production_mix", "infeasible_feed_blend", "cutting_patterns"]
    problems = [sample_problem(n) for n in names]
    script = {
        "production_mix": (right("production_mix"), "unused"),
        # infeasible by construction: the finding is right, the repair keeps the document
        "infeasible_feed_blend": (right("infeasible_feed_blend"),) * 2,
        # integrality dropped: the integrality finding fires on a wrong model; repair fixes it
        "cutting_patterns": (relaxed("cutting_patterns"), right("cutting_patterns")),
    }

    def answer(body: dict[str, Any]) -> str:
        text = str(body["messages"][-1]["content"])
        node = 1 if "## Current document" in text else 0
        asked = text.split("## Problem\n\n", 1)[1]
        for p in problems:
            if asked.startswith(p.question):
                return script[p.id][node]
        return "no such problem"

    llm_stub.handler = answer
    dataset = Dataset(name="toy.samples", family="toy", variant="samples", problems=tuple(problems))
    solver = AgentSolver(OptimizationAgent(llm=stub_model(llm_stub), max_repairs=1))
    summary = run_eval(dataset, solver, model_name="stub", out_dir=tmp_path, progress=False)

    rows = {row.code: row for row in summary.findings}
    assert set(rows) == {"infeasible", "integrality"}
    infeasible, integrality = rows["infeasible"], rows["integrality"]
    assert (infeasible.severity, infeasible.problems, infeasible.final_right) == ("error", 1, 1)
    assert (integrality.severity, integrality.problems, integrality.final_right) == ("error", 1, 1)
    # The outcome lists findings per attempt: the integrality finding fired on the wrong
    # first model (a right alarm), the infeasible one on a right model that was kept.
    assert integrality.per_attempt and infeasible.per_attempt
    assert (integrality.fired, integrality.right_when_fired) == (1, 0)
    assert infeasible.right_when_fired == infeasible.fired >= 1
    assert summary.protocols["sirl"].correct == 3
    assert set(summary.by_stop) == {"optimal", "infeasible"}

    report = (Path(summary.run_dir) / REPORT_FILE).read_text(encoding="utf-8")
    assert "## Verify findings (sirl)" in report
    assert "| infeasible | error | 1 |" in report and "| integrality | error | 1 |" in report
    assert "## Failures: execution, modeling, time limit" in report
    assert "| correct | 3 (100.0%) |" in report
    assert "## By solver stop (sirl)" in report and "| optimal | 2 | 2 / 2 | 100.0% |" in report
