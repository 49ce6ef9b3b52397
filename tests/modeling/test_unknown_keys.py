"""Unknown keys: a typo inside an element is a located error; a documented extra is kept."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from spec_example import TRANSPORT, TRANSPORT_OPTIMUM
from support import SAMPLES

from modeling import check, load, solve
from modeling.errors import FormulationError


def transport(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(TRANSPORT)
    doc.update(changes)
    return doc


def test_a_variable_with_domain_instead_of_type_is_refused_not_solved_as_continuous() -> None:
    doc = {
        "variables": {"x": {"domain": "integer", "upper": 2.5}},
        "objective": {"sense": "max", "expression": "x"},
    }
    issues = check(doc)
    assert [str(i) for i in issues] == [
        "variables.x.domain: 'domain' is not a key of a variable "
        "(write type: continuous, integer or binary (and lower/upper for bounds))"
    ]
    assert solve(doc).status == "invalid"  # not 2.5 from a silently continuous x
    with pytest.raises(FormulationError):
        load(doc)


@pytest.mark.parametrize(
    ("path", "key", "location", "hint"),
    [
        (("variables", "ship"), "lb", "variables.ship.lb", "did you mean 'lower'?"),
        (("variables", "ship"), "tpye", "variables.ship.tpye", "did you mean 'type'?"),
        (("objective",), "sens", "objective.sens", "did you mean 'sense'?"),
        (("constraints", 0), "for_all", "constraints[0].for_all", "did you mean 'forall'?"),
        (("constraints", 1), "expresion", "constraints[1].expresion", "'expression'"),
        (("parameters", "supply"), "defualt", "parameters.supply.defualt", "'default'"),
        (("sets", "T"), "too", "sets.T.too", "did you mean 'to'?"),
    ],
)
def test_typos_inside_elements_are_located_with_a_hint(
    path: tuple[Any, ...], key: str, location: str, hint: str
) -> None:
    doc = transport()
    doc["sets"]["T"] = {"from": 1, "to": 3}
    target: Any = doc
    for part in path:
        target = target[part]
    target[key] = 0
    issues = check(doc)
    assert [i.location for i in issues] == [location]
    assert f"'{key}' is not a key of a" in issues[0].message
    assert hint in issues[0].hint


def test_a_misspelt_top_level_section_is_refused_instead_of_dropping_it() -> None:
    doc = transport()
    doc["constraint"] = doc.pop("constraints")  # all constraints would vanish: unbounded below 0
    issues = check(doc)
    assert [(i.location, i.hint) for i in issues] == [("constraint", "did you mean 'constraints'?")]
    doc = transport()
    doc["subject_to"] = [{"name": "extra", "expression": "ship['seattle', 'topeka'] >= 1"}]
    assert [i.hint for i in check(doc)] == ["did you mean 'constraints'?"]


def test_documented_extras_are_kept_and_ignored() -> None:
    doc = transport(units={"cost": "$ per case"}, id="spec-example", source="GAMS trnsport")
    doc["variables"]["ship"]["units"] = "cases"
    doc["parameters"]["cost"]["note"] = "thousands of dollars"
    doc["constraints"][0]["comment"] = "plants ship at most their supply"
    doc["objective"]["name"] = "total_cost"
    doc["assumptions"] = [{"text": "costs are per case", "parameters": ["cost"], "units": "$"}]
    assert check(doc) == []
    assert solve(doc).objective == pytest.approx(TRANSPORT_OPTIMUM)
    kept = load(doc).to_dict()
    assert kept["units"] == {"cost": "$ per case"} and kept["id"] == "spec-example"
    assert kept["variables"]["ship"]["units"] == "cases"
    assert load(yaml.safe_dump(kept)).to_dict() == kept


def test_unknown_keys_and_expression_errors_are_reported_together() -> None:
    doc = transport()
    doc["variables"]["ship"]["domain"] = "integer"
    doc["objective"]["expression"] = "sum(cots[p, m] * ship[p, m] for p in Plants for m in Markets)"
    locations = [i.location for i in check(doc)]
    assert locations == ["variables.ship.domain", "objective.expression"]


def test_a_parameter_written_as_a_bare_mapping_gets_the_data_message_not_key_noise() -> None:
    doc = transport()
    doc["parameters"]["supply"] = {"seattle": 350, "san_diego": 600}
    issues = check(doc)
    assert all("is not a key" not in i.message for i in issues)
    assert any(i.location.startswith("parameters.supply") for i in issues)


def test_every_sample_still_checks() -> None:
    paths = sorted(Path(SAMPLES).glob("*.yaml"))
    assert len(paths) >= 30
    for path in paths:
        assert check(path) == [], path.name
