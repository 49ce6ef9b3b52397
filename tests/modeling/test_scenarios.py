"""Scenarios: change parameters, re-solve, compare, diff and explain, without an LLM."""

from __future__ import annotations

import pytest
from support import sample

from modeling import solve
from modeling.scenarios import (
    apply_changes,
    compare,
    explain_solution,
    snapshot,
    what_if,
    yaml_diff,
)

TRANSPORT = sample("transport_basic")["formulation"]


def test_what_if_changes_parameters_resolves_and_compares() -> None:
    report = what_if(TRANSPORT, {"demand": {"north": 300}, "supply": {"hillcrest": 400}})

    assert report.before["objective"] == pytest.approx(2528.0)
    assert report.comparison.delta == pytest.approx(report.after["objective"] - 2528.0)
    assert report.document["parameters"]["demand"]["values"]["north"] == 300
    assert report.document["parameters"]["supply"]["values"] == [420, 400]  # list form kept
    assert TRANSPORT["parameters"]["demand"]["values"]["north"] == 260  # input untouched
    assert "parameters.supply.values" in report.diff  # hunks are named by their place
    assert "+      north: 300\n" in report.diff
    assert "Objective: 2528 →" in report.comparison.to_text()


def test_what_if_reuses_a_given_base_solution() -> None:
    base = solve(TRANSPORT)
    report = what_if(TRANSPORT, {"demand": {"north": 260}}, base=base)
    assert report.comparison.delta == pytest.approx(0.0)
    assert report.diff == ""  # the same value: nothing changed
    assert "No decision changed." in report.comparison.to_text()


def test_apply_changes_handles_each_value_form_and_rejects_bad_input() -> None:
    doc = {
        "sets": {"I": ["a", "b"], "T": {"from": 1, "to": 3}},
        "parameters": {
            "budget": 10,
            "grid": {"index": ["I", "T"], "values": [[1, 2, 3], [4, 5, 6]]},
            "sparse": {"index": ["I", "T"], "rows": [["a", 1, 7]], "default": 0},
        },
        "variables": {"x": {}},
        "objective": {"sense": "min", "expression": "x"},
    }
    new = apply_changes(doc, {"budget": 5000, "grid": {"b,3": 60}, "sparse": {("b", 2): 9}})
    assert new["parameters"]["budget"] == 5000
    assert new["parameters"]["grid"]["values"] == [[1, 2, 3], [4, 5, 60]]
    assert new["parameters"]["sparse"]["rows"] == [["a", 1, 7], ["b", 2, 9.0]]
    with pytest.raises(ValueError, match="did you mean 'budget'"):
        apply_changes(doc, {"budgte": 1})
    with pytest.raises(ValueError, match="not an element of I"):
        apply_changes(doc, {"grid": {"c,1": 1}})
    with pytest.raises(ValueError, match="give \\{index: value\\}"):
        apply_changes(doc, {"grid": 3})
    with pytest.raises(ValueError, match="is a scalar"):
        apply_changes(doc, {"budget": {"a": 1}})


def test_compare_reports_status_objective_and_changed_decisions() -> None:
    before = {"status": "optimal", "objective": 100.0, "solution": {"x": {"a": 1.0, "b": 2.0}}}
    after = {"status": "optimal", "objective": 125.0, "solution": {"x": {"a": 1.0, "b": 5.0}}}
    c = compare(before, after)
    assert c.delta == pytest.approx(25.0) and c.rel_delta == pytest.approx(0.25)
    assert [d["name"] for d in c.changed] == ["x[b]"]
    text = c.to_text()
    assert "Objective: 100 → 125 (+25) (+25%)." in text
    assert "- x[b]: 2 → 5" in text
    lost = compare(before, {"status": "infeasible", "objective": None, "solution": {}})
    assert lost.delta is None and "Status: optimal → infeasible." in lost.to_text()


def test_yaml_diff_names_each_hunk_by_its_key_path() -> None:
    after = apply_changes(TRANSPORT, {"demand": {"north": 300}})
    diff = yaml_diff(TRANSPORT, after)
    header = next(line for line in diff.splitlines() if line.startswith("@@"))
    assert header.endswith("parameters.demand.values.north")
    assert yaml_diff(TRANSPORT, TRANSPORT) == ""


def test_explain_solution_states_the_optimum_and_the_decisions_in_the_documents_words() -> None:
    result = snapshot(solve(TRANSPORT))
    text = explain_solution(TRANSPORT, result["status"], result["objective"], result["solution"])
    assert text.startswith("Optimal solution: the minimum")
    assert "2528" in text and "Decisions that matter" in text
    infeasible = explain_solution(TRANSPORT, "infeasible", None, detail="IIS: a, b")
    assert "no feasible solution" in infeasible and infeasible.endswith("IIS: a, b")
    assert "time limit" in explain_solution(None, "time_limit", None)
