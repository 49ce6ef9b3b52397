"""Unknown-key messages read well and point at annotations (QA F7)."""

from __future__ import annotations

from typing import Any

from modeling import check


def _doc(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "variables": {"x": {"upper": 3}},
        "objective": {"sense": "max", "expression": "x"},
        "constraints": [{"name": "cap", "expression": "x <= 2"}],
    }
    doc.update(extra)
    return doc


def test_an_assumption_and_an_objective_take_an() -> None:
    doc = _doc(assumptions=[{"text": "x is whole", "parameter": ["x"]}])
    doc["objective"]["goal"] = "max"
    found = [str(i) for i in check(doc)]
    assert "objective.goal: 'goal' is not a key of an objective (did you mean 'sense'?)" in found
    assert (
        "assumptions[0].parameter: 'parameter' is not a key of an assumption "
        "(did you mean 'parameters'?)"
    ) in found


def test_a_capitalised_key_is_named_in_its_spelling() -> None:
    doc = _doc()
    doc["constraints"][0]["Description"] = "the cap"
    doc["variables"]["x"]["Upper"] = 2
    found = [str(i) for i in check(doc)]
    assert found == [
        "variables.x.Upper: 'Upper' is not a key of a variable (did you mean 'upper'?)",
        "constraints[0].Description: 'Description' is not a key of a constraint "
        "(did you mean 'description'?)",
    ]


def test_a_misspelt_annotation_is_suggested() -> None:
    doc = _doc()
    doc["constraints"][0]["descripton"] = "the cap"
    assert [i.hint for i in check(doc)] == ["did you mean 'description'?"]


def test_the_list_of_keys_says_annotations_are_allowed() -> None:
    doc = _doc()
    doc["constraints"][0]["colour"] = "red"
    (issue,) = check(doc)
    assert issue.hint == (
        "a constraint has the keys expression, forall, name and may carry the annotations "
        "description, units, unit, note, notes, comment"
    )
    doc["constraints"][0]["description"] = "red"  # an annotation the hint names is accepted
    del doc["constraints"][0]["colour"]
    assert check(doc) == []
