"""MIPLIB-NL in the harness: every dev instance loads, and our table formulations solve."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evals.datadir import DATA_DIR_ENV
from evals.loaders import miplib_nl_answer, miplib_nl_problem, read_miplib_nl
from modeling import solve
from modeling.formulation import load
from modeling.result import Status

DEV = "miplib_nl/dev"


def dev_root() -> Path:
    return Path(os.environ[DATA_DIR_ENV]) / DEV


def test_answers_are_normalised() -> None:
    assert miplib_nl_answer(3252).value == 3252.0
    assert miplib_nl_answer("-4783.733392").value == pytest.approx(-4783.733392)
    assert miplib_nl_answer("infeasible").kind == "infeasible"
    impossible = miplib_nl_answer("impossible")
    assert impossible.kind == "infeasible" and "impossible" in impossible.reason


def test_an_instance_folder_becomes_a_problem_with_its_data_folder(tmp_path: Path) -> None:
    inst = tmp_path / "toy"
    (inst / "data").mkdir(parents=True)
    (inst / "data" / "c.csv").write_text("i,c\na,1\n", encoding="utf-8")
    instance = {
        "abstract_problem": "Pick the cheapest item.",
        "parameters": {"n": 1},
        "files": {
            "costs": {"path": "./data/c.csv", "description": "Columns: i, c."},
            "gone": {"path": "data/missing.csv", "description": "absent"},
        },
        "optimal_value": "1",
    }
    (inst / "instance.json").write_text(json.dumps(instance), encoding="utf-8")
    (inst / "model.md").write_text("min c x", encoding="utf-8")
    (p,) = read_miplib_nl(tmp_path)
    assert p.id == "toy" and p.answer.value == 1.0
    assert "Pick the cheapest item." in p.question
    assert "- n = 1" in p.question
    assert "- c.csv (costs): Columns: i, c." in p.question
    assert "a,1" not in p.question  # tables are described, never inlined
    assert p.metadata["data_dir"] == str((inst / "data").resolve())
    assert p.metadata["files"]["costs"]["path"] == "c.csv"
    assert p.metadata["missing_files"] == ["missing.csv"]
    assert p.metadata["reference_model"] == "min c x"
    packed = miplib_nl_problem(
        {"problem": "toy", "instance.json": json.dumps(instance)}, "miplib_nl"
    )
    assert "data_dir" not in packed.metadata  # a packed record has no tables


@pytest.mark.needs_data
def test_every_dev_instance_loads() -> None:
    problems = read_miplib_nl(dev_root())
    assert len(problems) == 45
    kinds = {p.answer.kind for p in problems}
    assert kinds <= {"number", "infeasible"}
    for p in problems:
        assert p.question.strip()
        data = Path(p.data_dir) if p.data_dir else None  # None: no data/ (ex1010-pi)
        files = p.metadata["files"].values()
        present = [f for f in files if data is not None and (data / f["path"]).is_file()]
        assert len(present) + len(p.metadata.get("missing_files", [])) == len(p.metadata["files"])


# Written by us from stein9inf's and stein15inf's model.md: a set cover with a
# cardinality window K1 <= sum x <= K2; S1.csv lists, per location, the three
# hangars that cover it (Location_ID, Hangar_1, Hangar_2, Hangar_3).
STEIN = """
sets:
  L: {table: S1.csv, column: Location_ID}
  H: {table: S1.csv, column: [Hangar_1, Hangar_2, Hangar_3]}
  C1: {table: S1.csv, columns: [Location_ID, Hangar_1]}
  C2: {table: S1.csv, columns: [Location_ID, Hangar_2]}
  C3: {table: S1.csv, columns: [Location_ID, Hangar_3]}
parameters: {K1: %(K1)s, K2: %(K2)s}
variables:
  x: {index: [H], type: binary}
objective: {sense: min, expression: "sum(x[h] for h in H)"}
constraints:
  - name: cover
    forall: "l in L"
    expression: >-
      sum(x[h] for (a, h) in C1 if a == l) + sum(x[h] for (a, h) in C2 if a == l)
      + sum(x[h] for (a, h) in C3 if a == l) >= 1
  - {name: capacity, expression: "K1 <= sum(x[h] for h in H) <= K2"}
"""


@pytest.mark.needs_data
@pytest.mark.parametrize("name", ["stein9inf", "stein15inf"])
def test_our_table_formulation_reaches_the_reference_answer(name: str) -> None:
    (p,) = read_miplib_nl(dev_root(), [name])
    params = p.metadata["parameters"]
    doc = STEIN % {"K1": params["K1"], "K2": params["K2"]}
    result = solve(load(doc, data=p.metadata["data_dir"]), time_limit=60)
    assert p.answer.kind == "infeasible"
    assert result.status is Status.INFEASIBLE
    # the same mapping without the cardinality window finds the cover (not a data error)
    relaxed = solve(load(STEIN % {"K1": 0, "K2": 100}, data=p.metadata["data_dir"]))
    assert relaxed.status is Status.OPTIMAL
    assert relaxed.objective is not None and relaxed.objective > float(params["K2"])


# Written by us from beasleyC1's model.md: fixed-charge network flow. arcs.csv
# gives each arc's id and ends, costs.csv its fixed fee, flow_balance.csv each
# node's net supply, parameter.csv the arc capacity as key-value pairs.
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
@pytest.mark.parametrize(
    "name",
    # beasleyC2 takes HiGHS ~10 s of branching: slow; beasleyC1 ~2 s
    ["beasleyC1", pytest.param("beasleyC2", marks=pytest.mark.slow)],
)
def test_fixed_charge_network_reaches_the_reference_optimum(name: str) -> None:
    (p,) = read_miplib_nl(dev_root(), [name])
    result = solve(load(BEASLEY, data=p.metadata["data_dir"]), time_limit=60)
    assert p.answer.kind == "number" and p.answer.value is not None
    assert result.status is Status.OPTIMAL, result.message
    assert result.objective == pytest.approx(p.answer.value, rel=1e-6)


def test_a_registry_entry_with_instance_json_loads_as_miplib_nl(tmp_path: Path) -> None:
    from evals.loaders import load_entry
    from evals.registry import DatasetEntry

    for name, value in (("a", 3), ("b", "impossible")):
        (tmp_path / name / "data").mkdir(parents=True)
        instance = {"abstract_problem": f"Problem {name}.", "optimal_value": value}
        (tmp_path / name / "instance.json").write_text(json.dumps(instance), encoding="utf-8")
    entry = DatasetEntry(
        name="miplib_nl.toy",
        family="miplib_nl",
        variant="toy",
        title="toy",
        repo="optsuite/MIPLIB-NL",
        commit="0" * 40,
        path="dataset",
        local_path="miplib_nl/toy",
        format="folders",
        license="CC BY-SA 4.0",
        count=2,
        problems=["a", "b"],
        files=["instance.json"],
        question_file="instance.json",
        answer_file="instance.json",
    )
    a, b = load_entry(entry, tmp_path)
    assert (a.question, a.answer.value, b.answer.kind) == ("Problem a.", 3.0, "infeasible")
    assert a.dataset == "miplib_nl.toy"
    assert a.metadata["data_dir"] == str((tmp_path / "a" / "data").resolve())
