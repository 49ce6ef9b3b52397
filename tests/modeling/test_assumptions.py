"""Spec v1.2 stated assumptions: validated, located, kept through round trips and exports."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import highspy
import pytest
import yaml

from agent.cli import main
from modeling import check, load, solve
from modeling.export import to_lp, to_mps, to_pyomo_script

ASSUMED = [
    {"text": "the cost per loaf is not given; assumed 1 dollar", "parameters": ["cost"]},
    {"text": "loaves are whole; the text does not say so", "parameters": ["loaves"]},
]

BAKERY: dict[str, Any] = {
    "parameters": {"price": 3, "cost": 1, "oven": 200},
    "variables": {"loaves": {"type": "integer", "upper": "oven"}},
    "objective": {"sense": "maximize", "expression": "(price - cost) * loaves"},
    "constraints": [{"name": "flour", "expression": "loaves <= 150"}],
    "assumptions": ASSUMED,
}


def bakery(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BAKERY)
    doc.update(changes)
    return doc


def test_assumptions_are_exposed_and_do_not_change_the_model() -> None:
    f = load(BAKERY)
    assert [a.text for a in f.assumptions] == [a["text"] for a in ASSUMED]
    assert f.assumptions[0].parameters == ["cost"]
    assert check(BAKERY) == []
    without = bakery()
    del without["assumptions"]
    assert load(without).assumptions == []
    assert solve(BAKERY).objective == solve(without).objective == pytest.approx(300)


def test_round_trip_keeps_assumptions_and_adds_none_to_documents_without() -> None:
    f = load(BAKERY)
    assert f.to_dict()["assumptions"] == ASSUMED
    again = load(f.to_yaml())
    assert again.to_dict() == f.to_dict()
    assert load(f.to_json()).assumptions == f.assumptions
    plain = bakery(assumptions=None)
    assert "assumptions" not in load(plain).to_dict()
    # one name written as a string is the list of that name
    single = bakery(assumptions=[{"text": "cost assumed", "parameters": "cost"}])
    assert load(single).assumptions[0].parameters == ["cost"]


def test_a_misspelt_name_is_located_with_the_closest_name() -> None:
    doc = bakery(
        assumptions=[
            {"text": "cost assumed", "parameters": ["cost"]},
            {"text": "oven size assumed", "parameters": ["ovne", "nothing_like_it"]},
        ]
    )
    issues = check(doc)
    assert [str(i) for i in issues] == [
        "assumptions[1].parameters[0]: 'ovne' is not a set, parameter or variable "
        "(did you mean 'oven'?)",
        "assumptions[1].parameters[1]: 'nothing_like_it' is not a set, parameter or variable "
        "(name the sets, parameters or variables the assumption affects)",
    ]
    assert solve(doc).status == "invalid"


def test_sets_and_variables_may_be_named() -> None:
    doc = {
        "sets": {"T": {"from": 1, "to": 12}},
        "variables": {"x": {"index": ["T"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(x[t] for t in T)"},
        "assumptions": [{"text": "a year of months", "parameters": ["T", "x"]}],
    }
    assert check(doc) == []


@pytest.mark.parametrize(
    ("assumptions", "location", "message"),
    [
        (["cost is 1"], "assumptions[0]", "must be a mapping"),
        ([{"parameters": ["cost"]}], "assumptions[0].text", "is required"),
        ([{"text": "   ", "parameters": ["cost"]}], "assumptions[0].text", "must not be empty"),
        ({"text": "cost is 1"}, "assumptions", "must be a list"),
        ([{"text": "cost", "parameters": [3]}], "assumptions[0].parameters[0]", "a string"),
    ],
)
def test_malformed_assumptions_are_located(assumptions: Any, location: str, message: str) -> None:
    issues = check(bakery(assumptions=assumptions))
    assert [i.location for i in issues] == [location]
    assert message in issues[0].message


def test_exports_carry_the_assumptions_as_comments_and_stay_readable(tmp_path: Path) -> None:
    lp, mps = to_lp(BAKERY), to_mps(BAKERY)
    assert lp.startswith("\\ Assumptions")
    assert "\\   - the cost per loaf is not given; assumed 1 dollar [affects: cost]" in lp
    assert mps.startswith("* Assumptions")
    for text, suffix in ((lp, ".lp"), (mps, ".mps")):
        path = tmp_path / f"model{suffix}"
        path.write_text(text, encoding="utf-8")
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        assert h.readModel(str(path)) == highspy.HighsStatus.kOk
        h.run()
        assert h.getInfo().objective_function_value == pytest.approx(300)
    script = to_pyomo_script(BAKERY)
    assert "#   - loaves are whole; the text does not say so [affects: loaves]" in script
    compile(script, "model.py", "exec")  # still a valid program
    plain = bakery(assumptions=None)
    assert "Assumptions" not in to_lp(plain) + to_pyomo_script(plain)


def test_cli_solve_and_check_show_the_assumptions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bakery.yaml"
    path.write_text(yaml.safe_dump(BAKERY), encoding="utf-8")
    assert main(["solve", str(path)]) == 0
    out = capsys.readouterr().out
    assert "assumptions (the text left these out" in out
    assert "  - the cost per loaf is not given; assumed 1 dollar [affects: cost]" in out
    assert main(["check", str(path)]) == 0
    assert "loaves are whole" in capsys.readouterr().out
