"""``check`` lists every kind of problem of a document in one report (issue 9).

A structural error (a bad key, a missing field, wrong data, a bad name) must
not hide the expression errors of the same document, or a repair round fixes
one and meets the next.
"""

from __future__ import annotations

import copy
from typing import Any

from modeling import check

BASE: dict[str, Any] = {
    "sets": {"R": ["a", "b"]},
    "parameters": {"cap": {"index": ["R"], "values": [1, 2]}},
    "variables": {"x": {"index": ["R"]}},
    "objective": {"sense": "max", "expression": "sum(x[r] for r in R)"},
    "constraints": [{"name": "c", "forall": "for r in R", "expression": "x[r] <= cap[r]"}],
}


def doc() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def test_an_unknown_key_does_not_hide_names_data_and_expressions() -> None:
    d = doc()
    d["variables"]["x"]["domain"] = "integer"
    d["parameters"]["cap"]["values"] = [1, 2, 3]
    d["sets"]["1bad"] = [1]
    d["objective"]["expression"] = "sum(y[r] for r in R)"
    assert [i.location for i in check(d)] == [
        "variables.x.domain",
        "sets.1bad",
        "parameters.cap.values",
        "objective.expression",
    ]


def test_a_shape_error_does_not_hide_expression_errors() -> None:
    d = doc()
    d["variables"]["x"]["type"] = "whole"
    d["objective"] = {"expression": "sum(cots[r] * x[r] for r in R)"}
    d["constraints"][0]["expression"] = "x[r] <= cap[r] +"
    found = {i.location: i.message for i in check(d)}
    assert set(found) == {
        "variables.x.type",
        "objective.sense",
        "objective.expression",
        "constraints[0].expression",
    }
    assert "cots" in found["objective.expression"]


def test_data_errors_and_expression_errors_together() -> None:
    d = doc()
    d["parameters"]["cap"] = {"index": ["S"], "values": [1, 2]}
    d["objective"]["expression"] = "sum(x[r] for r in R) +* 2"
    assert [i.location for i in check(d)] == ["parameters.cap.index[0]", "objective.expression"]


def test_constraints_written_as_a_mapping_keep_their_expression_errors() -> None:
    d = doc()
    d["constraints"] = {"c": 3, "d": "x['a'] <= q"}
    issues = check(d)
    assert [i.location for i in issues] == ["constraints[0]", "constraints[1].expression"]
    assert "'q'" in issues[1].message
