"""The eval's agent path with problems that come with data (MIPLIB-NL's ``data/`` folders)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import items_knapsack

from agent.api import OptimizationAgent
from agent.fake import FakeLLM
from evals.agent_solver import AgentSolver
from evals.datadir import DATA_DIR_ENV
from evals.loaders import read_miplib_nl
from evals.problems import Problem, normalize_answer

KNAPSACK = items_knapsack(5)


def _problem(folder: Path | None, legacy: bool = False) -> Problem:
    where: dict[str, Any] = {}
    if folder is not None:
        where = {"metadata": {"data_dir": str(folder)}} if legacy else {"data": str(folder)}
    return Problem(
        id="k1",
        dataset="toy",
        question="Pick items to maximise value; weight at most 5.",
        answer=normalize_answer(15),
        **where,
    )


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    rows = "item,value,weight\na,10,3\nb,7,3\nc,5,2\nd,1,4\ne,2,9\n"
    (folder / "items.csv").write_text(rows, encoding="utf-8")
    return folder


def test_a_problem_has_no_data_folder_unless_given_one(tmp_path: Path) -> None:
    assert _problem(None).data_dir is None
    assert _problem(tmp_path).data_dir == str(tmp_path)
    assert _problem(tmp_path, legacy=True).data_dir == str(tmp_path)  # loaders before `data`


@pytest.mark.parametrize("legacy", [False, True])
def test_the_agent_solver_sends_the_data_folder_with_the_problem(
    tmp_path: Path, legacy: bool
) -> None:
    fake = FakeLLM([json.dumps(KNAPSACK)])
    solver = AgentSolver(OptimizationAgent(llm=fake, examples=0))
    outcome = asyncio.run(solver.solve(_problem(_folder(tmp_path), legacy)))

    assert outcome["status"] == "optimal" and outcome["objective"] == pytest.approx(15.0)
    assert outcome["solver_stop"] == "optimal" and outcome["termination"] == "optimal"
    assert "items.csv: 5 rows" in fake.calls[0].last_user


def test_an_executor_that_takes_data_gets_it(tmp_path: Path) -> None:
    class Recording:
        name = "recording"

        def __init__(self) -> None:
            self.seen: list[tuple[str, str | None]] = []

        async def run(self, text: str, trace_dir: Path | None, data: str | None = None) -> Any:
            self.seen.append((text, data))
            return {"status": "optimal", "objective": 1.0}

        def close(self) -> None:
            pass

    executor = Recording()
    solver = AgentSolver(OptimizationAgent(llm=FakeLLM([]), examples=0), executor=executor)
    folder = _folder(tmp_path)
    asyncio.run(solver.solve(_problem(folder)))
    asyncio.run(solver.solve(_problem(None)))
    assert [d for _, d in executor.seen] == [str(folder), None]


def test_a_missing_data_folder_is_an_error_outcome_without_llm_calls(tmp_path: Path) -> None:
    fake = FakeLLM([])
    solver = AgentSolver(OptimizationAgent(llm=fake, examples=0))
    outcome = asyncio.run(solver.solve(_problem(tmp_path / "gone")))
    assert outcome["status"] == "error" and "is not there" in outcome["message"]
    assert fake.calls == []


# Written by us from beasleyC1's model.md (as tests/evals/test_miplib_nl.py's): fixed-charge
# network flow over arcs.csv, costs.csv, flow_balance.csv and parameter.csv.
BEASLEY = """
sets:
  N: {table: flow_balance.csv, column: node_id}
  A: {table: arcs.csv, columns: [arc_id, start_node, end_node]}
  AID: {table: arcs.csv, column: arc_id}
  KEY: {table: parameter.csv, column: parameter}
parameters:
  par: {index: [KEY], table: parameter.csv}
  f: {index: [AID], table: costs.csv, keys: arc_id, value: fixed_cost}
  b: {index: [N], table: flow_balance.csv}
variables:
  x: {index: [AID]}
  y: {index: [AID], type: binary}
objective: {sense: min, expression: "sum(f[a] * y[a] for a in AID)"}
constraints:
  - name: balance
    forall: "n in N"
    expression: >-
      sum(x[a] for (a, i, j) in A if i == n) - sum(x[a] for (a, i, j) in A if j == n) == b[n]
  - {name: capacity, forall: "a in AID", expression: "x[a] <= par['capacity_per_arc'] * y[a]"}
"""


@pytest.mark.needs_data
@pytest.mark.slow  # compile (~1 s) and HiGHS's branching (~2 s) on 2,500 columns, twice loaded
def test_the_agent_path_solves_a_miplib_nl_instance_after_repairing_a_data_error() -> None:
    (problem,) = read_miplib_nl(Path(os.environ[DATA_DIR_ENV]) / "miplib_nl/dev", ["beasleyC1"])
    # The first reply reads the fee from the wrong column: text ids, not numbers.
    right = yaml.safe_load(BEASLEY)
    wrong = yaml.safe_load(BEASLEY.replace("value: fixed_cost", "value: y_var"))
    fake = FakeLLM([json.dumps(wrong), json.dumps(right)])  # the agent asks for JSON
    solver = AgentSolver(OptimizationAgent(llm=fake, examples=0, max_repairs=1, time_limit=120))
    outcome = asyncio.run(solver.solve(problem))

    formulate, repair = (c.last_user for c in fake.calls)
    assert "arcs.csv: 1250 rows, 3 columns" in formulate
    assert "a0005" not in formulate  # first rows only, never the whole table
    # one finding at the parameter that reads the wrong column, naming the column of numbers
    assert (
        "parameters.f.value: column 'y_var' of costs.csv holds text "
        '("open_a0001", row 2 column 3, and 1,249 more cells); numeric columns: fixed_cost'
    ) in repair
    assert "row 3 column 3" not in repair  # not one line per cell
    assert outcome["first_status"] == "invalid" and outcome["repair_rounds"] == 1
    assert problem.answer.value is not None
    assert outcome["status"] == "optimal", outcome["message"]
    assert outcome["objective"] == pytest.approx(problem.answer.value, rel=1e-6)
    assert outcome["solver_stop"] == "optimal"
