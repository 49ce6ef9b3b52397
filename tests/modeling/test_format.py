"""One number format and one rule for "binding", shared by the CLI, explain and the agent."""

from __future__ import annotations

import math

import numpy as np

from modeling import compile_model, solve
from modeling.cli import format_report
from modeling.diagnostics import binding_constraints, explain
from modeling.format import format_number


def test_numbers_read_as_a_person_writes_them() -> None:
    assert format_number(300.0) == "300"
    assert format_number(299.99999999997) == "300"
    assert format_number(2 / 3) == "0.666667"
    assert format_number(2 / 3, digits=10) == "0.6666666667"
    assert format_number(None) == "-"
    assert format_number(math.nan) == "-"
    assert format_number(-math.inf) == "-inf"
    assert format_number(1e20) == "1e+20"


NONLINEAR = {
    "variables": {"x": {"lower": 0}, "y": {"lower": 0}},
    "constraints": [
        {"name": "disc", "expression": "x * x + y * y <= 2"},
        {"name": "tie", "expression": "x == y"},
        {"name": "loose", "expression": "x <= 10"},
    ],
    "objective": {"sense": "max", "expression": "x + y"},
}


def test_binding_keeps_nonlinear_rows_and_equalities() -> None:
    model = compile_model(NONLINEAR)
    found = {b.label: b.side for b in binding_constraints(model, np.array([1.0, 1.0]))}
    assert found == {"disc": "upper", "tie": "equal"}


def test_cli_report_and_explain_list_the_same_binding_constraints() -> None:
    doc = {
        "variables": {"x": {"lower": 0}, "y": {"lower": 0}},
        "constraints": [
            {"name": "cap", "expression": "x + y <= 4"},
            {"name": "fix", "expression": "x == 1"},
            {"name": "slack", "expression": "y <= 100"},
        ],
        "objective": {"sense": "max", "expression": "x + 2 * y"},
    }
    result = solve(doc)
    report = explain(doc)
    cli_text = format_report(result)
    labels = {b.label for b in binding_constraints(result.model, result.x)}  # type: ignore[arg-type]
    assert labels == {"cap", "fix"}
    for label in labels:
        assert label in cli_text
    assert "slack" not in cli_text.split("binding", 1)[-1]
    explained = {row["name"] for row in report.to_dict()["constraints"] if row.get("binding")}
    assert explained == labels
