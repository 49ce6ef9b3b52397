"""verify explains an infeasible model that reads tables with those tables (it used to end
the run with an internal error: the diagnosis ran without the data folder)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import upload_support as U

from agent.api import OptimizationAgent
from agent.fake import FakeLLM
from agent.verify import explain_infeasibility


def _infeasible() -> dict[str, object]:
    doc = copy.deepcopy(U.DOCUMENT)
    doc["constraints"].append({"name": "min_output", "expression": "sum(make[p] for p in P) >= 30"})
    return doc


def test_agent_solve_with_data_reports_an_infeasible_model_with_its_iis(tmp_path: Path) -> None:
    (tmp_path / "products.csv").write_bytes(U.products_csv())
    agent = OptimizationAgent(llm=FakeLLM([json.dumps(_infeasible())]), examples=0, max_repairs=0)
    result = agent.solve(U.PROBLEM, data=tmp_path)
    assert result.status == "infeasible"
    assert "internal error" not in (result.message or "")
    details = [f.get("detail", "") for a in result.attempts for f in a.errors]
    assert any("min_output" in d for d in details)  # the IIS, in the model's own names


def test_the_helpers_say_why_when_the_tables_are_missing() -> None:
    text = explain_infeasibility(_infeasible(), 5.0)  # reads products.csv; no folder given
    assert text.startswith("No infeasibility to explain:") and "data folder" in text
