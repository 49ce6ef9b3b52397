"""Diagnostics speak the formulation's names: IIS, unboundedness, sensitivity, sanity checks.

Tiny models with a known answer are built here as fixtures; where a number
matters (the transport duals) it was checked against highspy directly.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from spec_example import TRANSPORT

from modeling import compile_model, solve
from modeling.compiler import CompiledModel
from modeling.diagnostics import (
    DiagnosticsError,
    InfeasibilityReport,
    SensitivityReport,
    SolutionReport,
    UnboundedReport,
    eval_tree,
    explain,
    explain_infeasible,
    explain_unbounded,
    objective_value,
    sanity_check,
    sensitivity,
)
from modeling.diagnostics.iis import _candidates, _iis_backend, _LinearOracle
from modeling.result import SolveResult, Status

SAMPLES = Path(__file__).resolve().parents[2] / "datasets" / "samples"


def short_supply() -> dict[str, Any]:
    """Transport with 650 units of supply for 900 of demand, plus an unrelated block."""
    doc = copy.deepcopy(TRANSPORT)
    doc["name"] = "short_supply"
    doc["parameters"]["supply"]["values"] = [350, 300]
    doc["sets"]["Trucks"] = ["t1", "t2"]
    doc["variables"]["trucks"] = {"index": ["Trucks"], "upper": 5}
    doc["constraints"].append(
        {"name": "min_trucks", "forall": "for t in Trucks", "expression": "trucks[t] >= 1"}
    )
    return doc


FEED_BLEND: dict[str, Any] = {
    "name": "feed_blend",
    "sets": {"Ingredients": ["fishmeal", "soymeal", "corn", "wheat_bran"]},
    "parameters": {
        "protein": {"index": ["Ingredients"], "values": [60, 45, 9, 15]},
        "fat": {"index": ["Ingredients"], "values": [10, 2, 4, 4]},
        "available": {"index": ["Ingredients"], "values": [1000, 300, 1000, 1000]},
        "batch": 1000,
    },
    "variables": {"kg": {"index": ["Ingredients"], "upper": "available"}},
    "objective": {"sense": "minimize", "expression": "sum(kg[g] for g in Ingredients)"},
    "constraints": [
        {"name": "batch_size", "expression": "sum(kg[g] for g in Ingredients) == batch"},
        {
            "name": "min_protein",
            "expression": "sum(protein[g] * kg[g] for g in Ingredients) >= 40 * batch",
        },
        {"name": "max_fat", "expression": "sum(fat[g] * kg[g] for g in Ingredients) <= 5 * batch"},
    ],
}


def _json_ok(report: Any) -> dict[str, Any]:
    data = report.to_dict()
    json.dumps(data, allow_nan=False)
    assert Status(data["status"])  # the spec's vocabulary, so the CLI exit code is right
    return data


# ------------------------------------------------------------------ infeasibility


def test_iis_of_short_supply_lists_capacity_and_demand_rows_only() -> None:
    report = explain_infeasible(short_supply())
    assert isinstance(report, InfeasibilityReport)
    assert report.irreducible
    assert sorted(report.labels) == sorted(
        [
            "capacity['seattle']",
            "capacity['san_diego']",
            "meet_demand['new_york']",
            "meet_demand['chicago']",
            "meet_demand['topeka']",
        ]
    )  # supply < demand needs no bounds; the unrelated min_trucks rows stay out
    chicago = next(m for m in report.members if m.label == "meet_demand['chicago']")
    assert chicago.location == "constraints[1]"
    assert chicago.expression == "sum(ship[p, m] for p in Plants) >= demand[m]"
    assert chicago.forall == "for m in Markets"
    assert chicago.data == {"demand['chicago']": 300.0}
    assert chicago.lower == 300 and chicago.upper is None
    assert sorted(label for label, _ in chicago.terms) == [
        "ship['san_diego', 'chicago']",
        "ship['seattle', 'chicago']",
    ]
    text = report.to_text()
    assert "demand['chicago'] = 300" in text and "min_trucks" not in text
    data = _json_ok(report)
    assert data["members"][0]["location"].startswith("constraints[")


def test_iis_names_the_bounds_it_needs() -> None:
    report = explain_infeasible(FEED_BLEND)
    assert report.irreducible
    assert {m.label for m in report.constraints} == {"min_protein", "max_fat"}
    soy = next(m for m in report.bounds if m.label.startswith("kg['soymeal']"))
    assert soy.label == "kg['soymeal'] <= 300"
    assert soy.location == "variables.kg.upper"
    assert soy.data == {"available['soymeal']": 300.0}
    protein = next(m for m in report.constraints if m.label == "min_protein")
    assert protein.data["protein['soymeal']"] == 45 and protein.data["batch"] == 1000
    assert "batch_size" not in report.labels


def _assert_irreducible(model: CompiledModel, labels: list[str]) -> None:
    """The labelled set is infeasible and dropping any one member makes it feasible (HiGHS)."""
    oracle = _LinearOracle(model, deadline=math.inf, backend=_iis_backend("highs"))
    members = []
    for kind, i, k in _candidates(model, nonlinear=False):
        label = (
            model.row_label(i)
            if kind == "row"
            else f"{model.column_label(i)} {'>=' if kind == 'lb' else '<='} "
            f"{int(model.col_lb[i] if kind == 'lb' else model.col_ub[i])}"
        )
        if label in labels:
            members.append((kind, i, k))
    assert len(members) == len(labels)
    assert oracle(members) is True
    for m in members:
        assert oracle([c for c in members if c != m]) is False


def test_iis_is_irreducible() -> None:
    """Dropping any one member of the reported set makes the rest feasible."""
    model = compile_model(FEED_BLEND)
    _assert_irreducible(model, explain_infeasible(model).labels)


def test_default_lower_bound_is_named_as_such() -> None:
    doc = {
        "variables": {"x": {}, "y": {}},
        "objective": {"sense": "min", "expression": "x + y"},
        "constraints": [{"name": "negative_total", "expression": "x + y <= -1"}],
    }
    report = explain_infeasible(doc)
    assert sorted(report.labels) == ["negative_total", "x >= 0", "y >= 0"]
    assert all("lower: null" in m.note for m in report.bounds)


def test_milp_iis_by_deletion_filter() -> None:
    """Integrality makes it infeasible; the LP relaxation alone is feasible."""
    doc = {
        "sets": {"Sizes": ["six", "ten", "fourteen"]},
        "parameters": {"per_case": {"index": ["Sizes"], "values": [6, 10, 14]}, "needed": 125},
        "variables": {"cases": {"index": ["Sizes"], "type": "integer"}, "spare": {"upper": 3}},
        "objective": {"sense": "min", "expression": "sum(cases[k] for k in Sizes) + spare"},
        "constraints": [
            {"name": "exact", "expression": "sum(per_case[k] * cases[k] for k in Sizes) == needed"},
            {"name": "some_spare", "expression": "spare >= 1"},
            {"name": "window_lo", "expression": "spare >= 0.2"},
        ],
    }
    report = explain_infeasible(doc)
    assert report.model_class == "MILP"
    assert report.labels == ["exact"]  # an even sum can never be 125
    assert report.irreducible
    assert report.members[0].data["needed"] == 125


def test_milp_iis_with_two_rows_and_integrality() -> None:
    doc = {
        "variables": {"n": {"type": "integer", "lower": None}, "z": {}},
        "objective": {"sense": "min", "expression": "n + z"},
        "constraints": [
            {"name": "at_least", "expression": "n >= 0.2"},
            {"name": "at_most", "expression": "n <= 0.8"},
            {"name": "unrelated", "expression": "z <= 10"},
        ],
    }
    report = explain_infeasible(doc)
    assert sorted(report.labels) == ["at_least", "at_most"]


MILP_CASES = {
    "sets": {"Sizes": ["six", "ten", "fourteen"]},
    "parameters": {"per_case": {"index": ["Sizes"], "values": [6, 10, 14]}, "needed": 125},
    "variables": {"cases": {"index": ["Sizes"], "type": "integer"}, "spare": {"upper": 3}},
    "objective": {"sense": "min", "expression": "sum(cases[k] for k in Sizes) + spare"},
    "constraints": [
        {"name": "exact", "expression": "sum(per_case[k] * cases[k] for k in Sizes) == needed"},
        {"name": "some_spare", "expression": "spare >= 1"},
    ],
}


def test_scip_through_pyomo_is_a_second_iis_backend() -> None:
    """Integrality alone makes it infeasible: the deletion filter over SCIP finds the row."""
    by_scip = explain_infeasible(MILP_CASES, backend="pyomo", time_limit=20)
    assert by_scip.irreducible and by_scip.method == "deletion filter"
    assert by_scip.labels == explain_infeasible(MILP_CASES, backend="highs").labels == ["exact"]


def test_scip_iis_of_an_lp_is_irreducible() -> None:
    """An LP has several IISs; SCIP's need not be HiGHS's, but it must be one."""
    model = compile_model(FEED_BLEND)
    by_scip = explain_infeasible(model, backend="pyomo", time_limit=30)
    assert by_scip.irreducible
    _assert_irreducible(model, by_scip.labels)


def test_a_backend_without_iis_is_refused_with_a_way_out() -> None:
    with pytest.raises(DiagnosticsError, match="cannot diagnose infeasibility"):
        explain_infeasible(FEED_BLEND, backend="pulp")


def test_feasible_model_has_nothing_to_explain() -> None:
    with pytest.raises(DiagnosticsError, match="feasible"):
        explain_infeasible(TRANSPORT)


def test_sample_infeasible_lp() -> None:
    path = SAMPLES / "infeasible_feed_blend.yaml"
    report = explain_infeasible(path)
    assert {"min_protein", "max_fat"} <= set(report.labels)


def test_nonlinear_iis_through_solve() -> None:
    doc = {
        "variables": {"x": {"lower": None}, "y": {"lower": None}, "z": {"upper": 1}},
        "objective": {"sense": "min", "expression": "x + y"},
        "constraints": [
            {"name": "disc", "expression": "x ** 2 + y ** 2 <= 1"},
            {"name": "far", "expression": "x + y >= 3"},
            {"name": "other", "expression": "z <= 2"},
        ],
    }
    assert solve(doc).status is Status.INFEASIBLE  # SCIP, through Pyomo, proves it
    report = explain_infeasible(doc, time_limit=20)
    assert sorted(report.labels) == ["disc", "far"]


# ------------------------------------------------------------------ unboundedness


def test_unbounded_lp_reports_the_runaway_variable() -> None:
    doc = {
        "variables": {"x": {"upper": 4}, "y": {}},
        "objective": {"sense": "max", "expression": "x + 2 * y"},
        "constraints": [{"name": "link", "expression": "x - y <= 1"}],
    }
    report = explain_unbounded(doc)
    assert isinstance(report, UnboundedReport)
    assert report.labels == ["y"]
    assert report.variables[0].direction == "increase"
    assert report.variables[0].location == "variables.y"
    assert report.method.startswith("primal ray")
    assert "y" in report.to_text()
    _json_ok(report)


def test_unbounded_free_positions_in_formulation_names() -> None:
    doc = {
        "sets": {"I": ["fut", "call", "put"]},
        "parameters": {
            "price": {"index": ["I"], "values": [70, 3, 2]},
            "delta": {"index": ["I"], "values": [1, 0.5, -0.5]},
        },
        "variables": {"pos": {"index": ["I"], "lower": None}},
        "objective": {"sense": "min", "expression": "sum(price[i] * pos[i] for i in I)"},
        "constraints": [{"name": "hedge", "expression": "sum(delta[i] * pos[i] for i in I) == 5"}],
    }
    report = explain_unbounded(doc)
    assert set(report.labels) <= {"pos['fut']", "pos['call']", "pos['put']"}
    assert len(report.labels) >= 2
    # the direction is a ray: it keeps the hedge and lowers the cost
    steps = {v.label: (1 if v.direction == "increase" else -1) * v.step for v in report.variables}
    d = np.array([steps.get(f"pos['{k}']", 0.0) for k in ("fut", "call", "put")])
    assert abs(d @ [1, 0.5, -0.5]) < 1e-9 and d @ [70, 3, 2] < 0


def test_unbounded_milp() -> None:
    doc = {
        "variables": {"x": {"upper": 3}, "n": {"type": "integer"}},
        "objective": {"sense": "max", "expression": "x + 2 * n"},
        "constraints": [{"name": "cap", "expression": "x + n >= 1"}],
    }
    report = explain_unbounded(doc)
    assert report.labels == ["n"]


def test_bounded_model_is_not_unbounded() -> None:
    with pytest.raises(DiagnosticsError, match="does not look unbounded"):
        explain_unbounded(TRANSPORT)


# ------------------------------------------------------------------ sensitivity


def test_sensitivity_of_the_spec_transport() -> None:
    rep = sensitivity(TRANSPORT)
    assert isinstance(rep, SensitivityReport)
    assert rep.objective == pytest.approx(1707.5)
    # checked against highspy directly: row duals [0, 0, 2.5, 1.7, 1.4]
    assert rep.dual("meet_demand['new_york']") == pytest.approx(2.5)
    assert rep.dual("meet_demand['chicago']") == pytest.approx(1.7)
    assert rep.dual("meet_demand['topeka']") == pytest.approx(1.4)
    assert rep.dual("capacity['seattle']") == pytest.approx(0.0)
    chicago = next(c for c in rep.constraints if c.label == "meet_demand['chicago']")
    assert chicago.binding and chicago.slack == pytest.approx(0.0)
    assert (chicago.rhs_lower, chicago.rhs_upper) == pytest.approx((25.0, 350.0))
    sd = next(c for c in rep.constraints if c.label == "capacity['san_diego']")
    assert sd.slack == pytest.approx(50.0) and not sd.binding
    st = next(v for v in rep.variables if v.label == "ship['seattle', 'topeka']")
    assert st.value == pytest.approx(0.0)
    assert st.reduced_cost == pytest.approx(0.4)
    assert st.cost_lower == pytest.approx(1.4) and math.isinf(st.cost_upper)
    rows = rep.to_rows()
    assert {r["kind"] for r in rows} == {"variable", "constraint"}
    assert any(
        r["name"] == "meet_demand['chicago']" and r["dual"] == pytest.approx(1.7) for r in rows
    )
    text = rep.to_text()
    assert "shadow price" in text and "meet_demand['chicago']" in text and "1.7" in text
    _json_ok(rep)


def test_sensitivity_refuses_a_milp_with_a_way_out() -> None:
    milp = copy.deepcopy(TRANSPORT)
    milp["variables"]["ship"]["type"] = "integer"
    with pytest.raises(DiagnosticsError, match="sensitivity needs an LP; this is a MILP"):
        sensitivity(milp)
    rep = sensitivity(milp, fix_integers=True)
    assert rep.objective == pytest.approx(1707.5)
    assert "fixed" in rep.note


# ------------------------------------------------------------------ sanity checks


def test_sanity_check_clean_solution() -> None:
    result = solve(TRANSPORT)
    assert [f for f in sanity_check(result) if f.severity == "error"] == []


def test_sanity_check_catches_a_corrupted_result() -> None:
    doc = copy.deepcopy(TRANSPORT)
    doc["variables"]["ship"]["type"] = "integer"
    result = solve(doc)
    model = result.model
    assert model is not None and result.x is not None
    x = result.x.copy()
    col = {model.column_label(j): j for j in range(model.ncols)}
    x[col["ship['seattle', 'chicago']"]] = -0.5  # below its bound, fractional, short demand
    bad = replace(result, x=x)
    findings = sanity_check(bad)
    by_code = {(f.code, f.label) for f in findings}
    assert ("integrality", "ship['seattle', 'chicago']") in by_code
    assert ("bound", "ship['seattle', 'chicago']") in by_code
    assert ("constraint", "meet_demand['chicago']") in by_code
    assert any(f.code == "objective" for f in findings)
    demand = next(f for f in findings if f.label == "meet_demand['chicago']")
    assert demand.location == "constraints[1]" and demand.value == pytest.approx(300.5)
    assert "capacity['seattle']" not in {f.label for f in findings}


def test_sanity_check_evaluates_nonlinear_constraints() -> None:
    doc = {
        "variables": {"x": {"upper": 5}, "y": {"upper": 5}},
        "objective": {"sense": "max", "expression": "exp(x) + y"},
        "constraints": [
            {"name": "budget", "expression": "x * y + sqrt(x) <= 4"},
            {"name": "floor", "expression": "log(y + 1) >= 0.5"},
        ],
    }
    model = compile_model(doc)
    x = np.array([2.0, 3.0])  # budget: 6 + 1.414 > 4; floor: log 4 > 0.5
    assert objective_value(model, x) == pytest.approx(math.exp(2) + 3)
    result = SolveResult(Status.OPTIMAL, objective=math.exp(2) + 3, x=x, model=model)
    findings = sanity_check(result)
    assert [f.label for f in findings if f.code == "constraint"] == ["budget"]
    tree = model.nonlinear_blocks[0].trees[0]  # the body lhs - rhs of budget
    assert eval_tree(tree, x) == pytest.approx(6 + math.sqrt(2) - 4)


def test_sanity_check_numerical_smells() -> None:
    doc = {
        "variables": {"x": {"upper": 1}, "y": {"upper": 1}},
        "objective": {"sense": "max", "expression": "-x - y"},
        "constraints": [{"name": "mixed_units", "expression": "1e-6 * x + 1e6 * y <= 5"}],
    }
    findings = sanity_check(solve(doc))
    codes = {f.code for f in findings}
    assert "coefficients" in codes  # 1e-6 .. 1e6 spans 1e12
    assert "zero_solution" in codes  # maximise, all zero, objective 0


# ------------------------------------------------------------------ the dispatcher


def test_explain_dispatches_on_status() -> None:
    assert isinstance(explain(short_supply()), InfeasibilityReport)
    unbounded = {
        "variables": {"y": {}},
        "objective": {"sense": "max", "expression": "y"},
        "constraints": [{"name": "floor", "expression": "y >= 1"}],
    }
    assert isinstance(explain(unbounded), UnboundedReport)
    assert isinstance(explain(TRANSPORT), SensitivityReport)
    milp = copy.deepcopy(TRANSPORT)
    milp["variables"]["ship"]["type"] = "integer"
    report = explain(milp)
    assert isinstance(report, SolutionReport)
    assert report.status == "optimal" and report.objective == pytest.approx(1707.5)
    assert "meet_demand['chicago']" in {b.label for b in report.binding}
    assert "Binding constraints" in report.to_text()
    _json_ok(report)


def test_a_constraint_without_variables_shows_its_data_not_the_moved_constants() -> None:
    """``p >= 5`` with ``p = 3`` compiles to a row with no variable, ``0 >= 2``: the report
    shows ``3 >= 5``, what the user wrote with their data (QA Q9); a range too."""
    doc: dict[str, Any] = {
        "parameters": {"p": 3, "cap": {"index": ["Plants"], "values": {"a": 2, "b": 9}}},
        "sets": {"Plants": ["a", "b"]},
        "variables": {"x": {"lower": 0}},
        "constraints": {
            "c": "p >= 5",
            "r": {"expression": "4 <= cap[k] <= 8", "forall": "for k in Plants"},
            "d": "x <= 4",
        },
        "objective": {"sense": "min", "expression": "x"},
    }
    for name, caps, instance, data in (
        ("c", {"a": 2, "b": 9}, "3 >= 5", {"p": 3.0}),
        ("r", {"a": 2, "b": 6}, "4 <= 2 <= 8", {"cap['a']": 2.0}),
        ("r", {"a": 5, "b": 9}, "4 <= 9 <= 8", {"cap['b']": 9.0}),
    ):
        part = copy.deepcopy(doc)
        part["constraints"] = {name: doc["constraints"][name], "d": "x <= 4"}
        part["parameters"]["cap"]["values"] = caps
        report = explain_infeasible(part)
        assert isinstance(report, InfeasibilityReport), report
        member = next(m for m in report.members if m.data == data)
        assert member.instance == instance, member
    # a row with variables still shows its compiled terms
    short = explain_infeasible(short_supply())
    assert isinstance(short, InfeasibilityReport)
    chicago = next(m for m in short.members if m.label == "meet_demand['chicago']")
    assert chicago.instance.endswith(">= 300") and "ship[" in chicago.instance
