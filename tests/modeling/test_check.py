"""check(): every kind of mistake gives a precise, located issue with a useful hint.

Also the lenient readings of ``formulation.py`` and the value rules of the spec.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from modeling import FormulationError, Issue, check, compile_model, load, solve


def base(**changes: Any) -> dict[str, Any]:
    """A small valid document; keyword arguments replace its top-level keys."""
    doc: dict[str, Any] = {
        "sets": {"R": ["north", "south"], "T": {"from": 1, "to": 3}},
        "parameters": {
            "cost": {"index": ["R"], "values": [4, 6]},
            "dem": {"index": ["T"], "values": [1, 2, 3]},
            "cap": 10,
        },
        "variables": {"x": {"index": ["R"]}, "inv": {"index": ["T"]}, "y": {}},
        "objective": {"sense": "minimize", "expression": "sum(cost[r] * x[r] for r in R) + y"},
        "constraints": [
            {"name": "limit", "forall": "for r in R", "expression": "x[r] <= cap"},
        ],
    }
    doc.update(copy.deepcopy(changes))
    return doc


def objective(expression: str) -> dict[str, Any]:
    return base(objective={"sense": "min", "expression": expression})


def constraint(expression: str, forall: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "expression": expression}
    if forall is not None:
        c["forall"] = forall
    return base(constraints=[c])


def params(**extra: Any) -> dict[str, Any]:
    p = base()["parameters"]
    p.update(extra)
    return base(parameters=p)


def only(issues: list[Issue]) -> Issue:
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_base_document_is_valid() -> None:
    assert check(base()) == []


# (document, location, fragments of the message, fragments of the hint)
CASES: dict[str, tuple[dict[str, Any], str, list[str], list[str]]] = {
    "undefined name with did-you-mean": (
        objective("sum(cots[r] * x[r] for r in R)"),
        "objective.expression",
        ["unknown name 'cots'"],
        ["did you mean 'cost'?"],
    ),
    "undefined scalar name": (
        objective("capp * y"),
        "objective.expression",
        ["unknown name 'capp'"],
        ["did you mean 'cap'?"],
    ),
    "undefined name in a constraint": (
        constraint("x[r] <= cpa", forall="for r in R"),
        "constraints[0].expression",
        ["unknown name 'cpa'"],
        ["'cap'"],
    ),
    "wrong index count": (
        objective("sum(x[r, r] for r in R)"),
        "objective.expression",
        ["'x' takes 1 index", "[R]", "got 2"],
        ["x[i]"],
    ),
    "indexed variable without index": (
        objective("y + x"),
        "objective.expression",
        ["variable 'x' is indexed by [R]"],
        ["x[...]"],
    ),
    "scalar with an index": (
        objective("y[1]"),
        "objective.expression",
        ["'y' is a scalar"],
        ["write y"],
    ),
    "literal index not in the set": (
        objective("x['nort']"),
        "objective.expression",
        ["'nort'", "not an element of set R"],
        [],
    ),
    "mapping key not in the set": (
        params(cost={"index": ["R"], "values": {"north": 1, "sout": 2}}),
        "parameters.cost.values.sout",
        ["'sout' is not an element of set R"],
        ["did you mean 'south'?"],
    ),
    "row key not in the set": (
        params(cost={"index": ["R"], "rows": [["north", 1], ["sout", 2]]}),
        "parameters.cost.rows[1]",
        ["'sout' is not an element of set R"],
        ["did you mean 'south'?"],
    ),
    "row of the wrong length": (
        params(cost={"index": ["R"], "rows": [["north", "x", 1]]}),
        "parameters.cost.rows[0]",
        ["a row has 2 entries"],
        ["[R, value]"],
    ),
    "non-constant exponent": (
        objective("x['north'] ** y"),
        "objective.expression",
        ["variable 'y'", "exponent"],
        [],
    ),
    "strict inequality <": (
        constraint("y < 3"),
        "constraints[0].expression",
        ["strict '<'"],
        ["'<='", "+ 1"],
    ),
    "strict inequality >": (
        constraint("y > 3"),
        "constraints[0].expression",
        ["strict '>'"],
        ["'>='", "+ 1"],
    ),
    "nested list of the wrong length": (
        params(m={"index": ["R", "T"], "values": [[1, 2, 3], [1, 2]]}),
        "parameters.m.values[1]",
        ["has 2 entries but set T has 3"],
        ["one entry per element of T"],
    ),
    "outer list of the wrong length": (
        params(m={"index": ["R", "T"], "values": [[1, 2, 3]]}),
        "parameters.m.values",
        ["has 1 entries but set R has 2"],
        [],
    ),
    "a value that is not a number": (
        params(cost={"index": ["R"], "values": [4, "lots"]}),
        "parameters.cost.values[1]",
        ["'lots' is not a number"],
        [],
    ),
    "forall over an unknown set": (
        constraint("inv[t] >= 0", forall="for t in TT"),
        "constraints[0].forall",
        ["unknown set 'TT'"],
        ["did you mean 'T'?"],
    ),
    "forall over a parameter": (
        constraint("y >= 0", forall="for t in dem"),
        "constraints[0].forall",
        ["dem is a parameter, not a set"],
        [],
    ),
    "generator over an unknown set": (
        objective("sum(x[r] for r in Regions)"),
        "objective.expression",
        ["unknown set 'Regions'"],
        [],
    ),
    "a set and a parameter with the same name": (
        base(sets={"R": ["north", "south"], "T": {"from": 1, "to": 3}, "cap": [1, 2]}),
        "parameters.cap",
        ["'cap' is already defined in sets"],
        ["unique"],
    ),
    "a parameter and a variable with the same name": (
        params(y=3),
        "variables.y",
        ["'y' is already defined in parameters"],
        [],
    ),
    "duplicate constraint names": (
        base(
            constraints=[
                {"name": "c", "expression": "y >= 0"},
                {"name": "c", "expression": "y <= 3"},
            ]
        ),
        "constraints[1].name",
        ["constraint name 'c' is used twice", "constraints[0]"],
        [],
    ),
    "index name equal to a set name": (
        constraint("x[R] >= 0", forall="for R in R"),
        "constraints[0].forall",
        ["index name 'R' is already the name of a set"],
        ["another index name"],
    ),
    "index name equal to a parameter name": (
        objective("sum(x[cap] for cap in R)"),
        "objective.expression",
        ["index name 'cap' is already the name of a parameter"],
        [],
    ),
    "Python keyword as a name": (
        base(variables={"x": {"index": ["R"]}, "inv": {"index": ["T"]}, "y": {}, "lambda": {}}),
        "variables.lambda",
        ["'lambda' is a reserved word"],
        ["lambda_"],
    ),
    "function name as a name": (
        params(exp=2.7),
        "parameters.exp",
        ["'exp' is a reserved word"],
        [],
    ),
    "sum as a set name": (
        base(sets={"R": ["north", "south"], "T": {"from": 1, "to": 3}, "sum": [1]}),
        "sets.sum",
        ["'sum' is a reserved word"],
        [],
    ),
    "invalid identifier": (
        params(**{"unit-cost": 3}),
        "parameters.unit-cost",
        ["'unit-cost' is not a valid name"],
        [],
    ),
    "range with a variable in an end": (
        constraint("0 <= y <= x['north']"),
        "constraints[0].expression",
        ["variable 'x' cannot appear in a range's ends"],
        [],
    ),
    "relation in the objective": (
        objective("y <= 3"),
        "objective.expression",
        ["is a relation, not an expression"],
        ["without <=, >= or =="],
    ),
    "constraint that is not a relation": (
        constraint("y + 3"),
        "constraints[0].expression",
        ["is not a relation"],
        ["lhs <= rhs"],
    ),
    "!= as a constraint": (
        constraint("y != 3"),
        "constraints[0].expression",
        ["'!='"],
        [],
    ),
    "mixed directions in a range": (
        constraint("0 <= y >= 3"),
        "constraints[0].expression",
        ["mixes directions"],
        [],
    ),
    "sum without a generator": (
        objective("sum(x)"),
        "objective.expression",
        ["sum() takes one generator"],
        ["sum(x[i] for i in I)"],
    ),
    "sum of two arguments": (
        objective("sum(y, y)"),
        "objective.expression",
        ["sum() takes one generator"],
        [],
    ),
    "generator outside sum": (
        objective("(x[r] for r in R)"),
        "objective.expression",
        ["a generator must be inside sum()"],
        [],
    ),
    "unknown function": (
        objective("foo(y)"),
        "objective.expression",
        ["unknown function 'foo'"],
        ["abs", "sqrt"],
    ),
    "misspelt function": (
        objective("sqr(y)"),
        "objective.expression",
        ["unknown function 'sqr'"],
        ["did you mean 'sqrt'?"],
    ),
    "range() in a generator": (
        objective("sum(inv[t] for t in range(3))"),
        "objective.expression",
        ["'for' must iterate over a set name"],
        ["{from: 1, to: 12}"],
    ),
    "__import__ call": (
        objective("__import__('os').system('true')"),
        "objective.expression",
        ["only the functions"],
        [],
    ),
    "attribute access": (
        objective("().__class__"),
        "objective.expression",
        ["attribute access"],
        [],
    ),
    "dunder attribute chain": (
        objective("y.__class__.__bases__[0].__subclasses__()"),
        "objective.expression",
        ["only the functions"],
        [],
    ),
    "lambda": (
        objective("(lambda: 1)()"),
        "objective.expression",
        ["only the functions"],
        [],
    ),
    "bare lambda": (
        objective("lambda: y"),
        "objective.expression",
        ["lambda is not allowed"],
        [],
    ),
    "list comprehension": (
        objective("[y for r in R]"),
        "objective.expression",
        ["list comprehension is not allowed"],
        [],
    ),
    "dict comprehension": (
        objective("{r: y for r in R}"),
        "objective.expression",
        ["not allowed"],
        [],
    ),
    "walrus": (
        objective("(z := y)"),
        "objective.expression",
        ["':=' is not allowed"],
        [],
    ),
    "f-string": (
        objective("f'{y}'"),
        "objective.expression",
        ["f-string is not allowed"],
        [],
    ),
    "keyword argument": (
        objective("abs(y, key=1)"),
        "objective.expression",
        ["takes no keyword arguments"],
        [],
    ),
    "caret for power": (
        objective("y ^ 2"),
        "objective.expression",
        ["operator '^' is not allowed"],
        ["**"],
    ),
    "modulo": (
        objective("y % 2"),
        "objective.expression",
        ["operator '%' is not allowed"],
        [],
    ),
    "'in' in a condition": (
        objective("sum(x[r] for r in R if r in R)"),
        "objective.expression",
        ["'in', 'is' are not allowed"],
        [],
    ),
    "single = in a constraint": (
        constraint("y = 3"),
        "constraints[0].expression",
        ["not a valid expression"],
        ["use == for equality"],
    ),
    "variable in a condition": (
        objective("sum(x[r] for r in R if x[r] > 1)"),
        "objective.expression",
        ["variable 'x' cannot appear in a condition"],
        [],
    ),
    "condition that is not a comparison": (
        objective("sum(inv[t] for t in T if t)"),
        "objective.expression",
        ["a condition must be a comparison"],
        ["if i != j"],
    ),
    "set used as a value": (
        objective("y + T"),
        "objective.expression",
        ["set 'T' cannot be used as a value"],
        ["for i in T"],
    ),
    "label used as a number": (
        objective("y + 'north'"),
        "objective.expression",
        ["label 'north' is used as a number"],
        [],
    ),
    "label index used as a number": (
        objective("sum(r * x[r] for r in R)"),
        "objective.expression",
        ["index 'r' holds labels"],
        [],
    ),
    "unpacking a plain set": (
        objective("sum(x[i] for (i, j) in R)"),
        "objective.expression",
        ["unpacks 2 names but R has single elements"],
        ["for i in R"],
    ),
    "empty expression": (
        objective("   "),
        "objective.expression",
        ["is empty"],
        [],
    ),
    "syntax error": (
        objective("sum(x[r] for r in R"),
        "objective.expression",
        ["not a valid expression"],
        [],
    ),
    "bad forall clause": (
        constraint("y >= 0", forall="each r in R"),
        "constraints[0].forall",
        ["not a valid 'for ... in ...' clause"],
        ["for i in I"],
    ),
    "unknown sense": (
        base(objective={"sense": "minimum-ish", "expression": "y"}),
        "objective.sense",
        ["'minimize' or 'maximize'"],
        [],
    ),
    "unknown variable type": (
        base(
            variables={"y": {"type": "complex"}},
            constraints=[],
            objective={"sense": "min", "expression": "y"},
        ),
        "variables.y.type",
        ["'continuous', 'integer' or 'binary'"],
        [],
    ),
    "variable over an unknown set": (
        base(
            variables={"y": {"index": ["Q"]}},
            constraints=[],
            objective={"sense": "min", "expression": "sum(y[q] for q in R)"},
        ),
        "variables.y.index[0]",
        ["unknown set 'Q'"],
        [],
    ),
    "parameter over an unknown set": (
        params(m={"index": ["Regions"], "values": [1, 2]}),
        "parameters.m.index[0]",
        ["unknown set 'Regions'"],
        [],
    ),
    "bound naming an unknown parameter": (
        base(
            variables={"x": {"index": ["R"], "upper": "capacity"}, "inv": {"index": ["T"]}, "y": {}}
        ),
        "variables.x.upper",
        ["'capacity' is neither a number nor a parameter"],
        [],
    ),
    "bound parameter with another index": (
        base(variables={"x": {"index": ["R"], "upper": "dem"}, "inv": {"index": ["T"]}, "y": {}}),
        "variables.x.upper",
        ["parameter 'dem' is indexed by [T] but variable x by [R]"],
        [],
    ),
    "duplicate set element": (
        base(sets={"R": ["north", "south", "north"], "T": {"from": 1, "to": 3}}),
        "sets.R[2]",
        ["duplicate element 'north'"],
        [],
    ),
    "tuples of different lengths": (
        base(sets={"R": ["north", "south"], "T": {"from": 1, "to": 3}, "A": [[1, 2], [1, 2, 3]]}),
        "sets.A[1]",
        ["has 3 parts but earlier elements have 2"],
        [],
    ),
    "range with a non-integer end": (
        base(sets={"R": ["north", "south"], "T": {"from": 1, "to": 2.5}}),
        "sets.T",
        ["integer 'from' and 'to'"],
        [],
    ),
    "division by a zero constant": (
        objective("y / (cap - 10)"),
        "objective.expression",
        ["division by zero"],
        [],
    ),
    "log of a nonpositive constant": (
        objective("y + log(cap - 10)"),
        "objective.expression",
        ["log of a number"],
        [],
    ),
    "min over an empty selection": (
        objective("y * min(dem[t] for t in T if t > 5)"),
        "objective.expression",
        ["min() over an empty selection"],
        [],
    ),
    "tuple set given as a mapping": (
        base(
            sets={"R": ["north", "south"], "T": {"from": 1, "to": 3}, "A": [["a", "b"]]},
            parameters={
                "cost": {"index": ["R"], "values": [4, 6]},
                "cap": 10,
                "w": {"index": ["A"], "values": {"a": {"b": 1}}},
            },
        ),
        "parameters.w.values",
        ["set A holds tuples and has no mapping form"],
        ["rows"],
    ),
}


@pytest.mark.parametrize(("doc", "location", "message", "hint"), CASES.values(), ids=CASES.keys())
def test_issue_is_located_and_helpful(
    doc: dict[str, Any], location: str, message: list[str], hint: list[str]
) -> None:
    issues = check(doc)
    at = [i for i in issues if i.location == location]
    assert at, f"no issue at {location}: {[str(i) for i in issues]}"
    issue = at[0]
    for fragment in message:
        assert fragment in issue.message, str(issue)
    for fragment in hint:
        assert fragment in issue.hint, str(issue)
    # the same problem makes compile_model raise, and solve() report it
    with pytest.raises(FormulationError) as exc:
        compile_model(doc)
    assert any(i.location == location for i in exc.value.issues)
    result = solve(doc)
    assert result.status == "invalid"
    assert any(i.location == location for i in result.errors)


def test_missing_required_keys() -> None:
    issues = check({"sets": {}})
    assert {i.location for i in issues} == {"variables", "objective"}
    assert all(i.message == "is required" for i in issues)
    assert all(i.hint for i in issues)
    issues = check(base(objective={"sense": "min"}))
    assert [i.location for i in issues] == ["objective.expression"]
    issues = check(base(constraints=[{"expression": "y >= 0"}]))
    assert [i.location for i in issues] == ["constraints[0].name"]


def test_wrong_types_of_sections() -> None:
    assert only(check(base(variables=["x"]))).location == "variables"
    assert only(check(base(constraints="y >= 0"))).location == "constraints"
    assert only(check(base(objective="y"))).location == "objective"
    assert only(check(base(variables={"x": 3}))).location == "variables.x"
    for doc in ([1, 2], "just text", 42, None):
        issue = only(check(doc))
        assert issue.location == "document"
        assert "mapping" in issue.message


def test_index_arithmetic_out_of_the_set_names_the_set_and_hints_if() -> None:
    doc = constraint("inv[t - 1] + dem[t] >= inv[t]", forall="for t in T")
    issue = only(check(doc))
    assert issue.location == "constraints[0].expression"
    assert "inv[...]" in issue.message
    assert "set T" in issue.message
    assert "if" in issue.hint
    assert check(constraint("inv[t - 1] + dem[t] >= inv[t]", forall="for t in T if t > 1")) == []
    # forwards, and inside a sum
    assert "set T" in only(check(constraint("inv[t + 1] >= inv[t]", forall="for t in T"))).message
    assert "set T" in only(check(objective("sum(inv[t - 1] for t in T)"))).message
    assert check(objective("sum(inv[t - 1] for t in T if t >= 2)")) == []


def test_index_arithmetic_message_shows_the_integer() -> None:
    issue = only(check(constraint("inv[t - 1] >= inv[t]", forall="for t in T")))
    assert "0.0" not in issue.message
    assert "'0'" in issue.message or " 0 " in issue.message


def test_missing_parameter_entry_names_parameter_and_index() -> None:
    doc = params(cost={"index": ["R"], "values": {"north": 4}})
    issue = only(check(doc))
    assert issue.location == "objective.expression"
    assert "cost[south]" in issue.message
    assert "default" in issue.hint
    # with a default the document is valid, and the default is used
    doc = params(cost={"index": ["R"], "values": {"north": 4}, "default": 7})
    assert check(doc) == []
    # sparse rows: the entry that is used is named, with both indices
    doc = params(m={"index": ["R", "T"], "rows": [["north", 1, 5]]})
    doc["constraints"] = [
        {"name": "c", "forall": "for r in R for t in T", "expression": "inv[t] >= m[r, t]"}
    ]
    issue = only(check(doc))
    assert issue.location == "constraints[0].expression"
    assert "m[north, 2]" in issue.message
    # an entry that is never used needs no value
    doc["constraints"][0]["forall"] = "for r in R for t in T if r == 'north' and t == 1"
    assert check(doc) == []


def test_check_returns_all_issues_at_once() -> None:
    doc = base(
        sets={"R": ["north", "south"], "T": {"from": 1, "to": 3}, "cap": [1]},
        objective={"sense": "min", "expression": "sum(cots[r] * x[r] for r in R)"},
        constraints=[
            {"name": "a", "expression": "y < 3"},
            {"name": "b", "forall": "for t in Q", "expression": "inv[t] >= 0"},
            {"name": "b", "expression": "foo(y) >= 1"},
            {"name": "d", "expression": "x['nort'] >= 1"},
        ],
    )
    doc["parameters"]["dem"]["values"] = [1, 2]
    issues = check(doc)
    locations = [i.location for i in issues]
    for expected in (
        "parameters.cap",
        "parameters.dem.values",
        "objective.expression",
        "constraints[0].expression",
        "constraints[1].forall",
        "constraints[2].name",
        "constraints[2].expression",
    ):
        assert expected in locations, [str(i) for i in issues]
    assert all(isinstance(i, Issue) and i.message for i in issues)


def test_load_reports_every_shape_problem_at_once() -> None:
    with pytest.raises(FormulationError) as exc:
        load({"variables": {"x": {"type": "complex"}}, "objective": {"sense": "up"}})
    locations = {i.location for i in exc.value.issues}
    assert {"variables.x.type", "objective.sense", "objective.expression"} <= locations


def test_issue_text_form() -> None:
    issue = only(check(constraint("y < 3")))
    assert str(issue) == f"{issue.location}: {issue.message} ({issue.hint})"
    assert issue.to_dict()["location"] == "constraints[0].expression"
    assert issue.code == "strict"


# ------------------------------------------------------------------ YAML safety

PAYLOAD_YAML = """\
variables:
  x: !!python/object/apply:os.system ["touch {marker}"]
objective: {{sense: min, expression: x}}
"""


@pytest.mark.parametrize(
    "tag",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        '!!python/object/new:os.system ["touch {marker}"]',
        "!!python/name:os.system",
        '!!python/object/apply:subprocess.call [["touch", "{marker}"]]',
    ],
)
def test_yaml_python_tags_are_rejected_never_constructed(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "pwned"
    text = (
        f"variables:\n  x: {tag.format(marker=marker)}\nobjective: {{sense: min, expression: x}}\n"
    )
    path = tmp_path / "evil.yaml"
    path.write_text(text, encoding="utf-8")
    for source in (text, str(path)):
        issue = only(check(source))
        assert issue.location in ("document", str(path))
        assert "tag" in issue.message
        assert solve(source).status == "invalid"
    assert not marker.exists()


def test_yaml_from_a_file_and_from_text_agree(tmp_path: Path) -> None:
    text = "variables: {x: {upper: 4}}\nobjective: {sense: max, expression: '2 * x'}\n"
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    assert solve(text).objective == solve(str(path)).objective == solve(path).objective == 8.0


# ------------------------------------------------------------------ lenient readings


def test_lenient_sense_type_index_and_forall_spellings() -> None:
    doc = {
        "sets": {"I": [1, 2]},
        "variables": {"x": {"index": "I", "type": "int", "upper": 3}, "b": {"type": "bool"}},
        "objective": {"sense": "maximise", "expression": "sum(x[i] for i in I) + b"},
        "constraints": [{"name": "c", "forall": "i in I", "expression": "x[i] <= 2.5"}],
    }
    assert check(doc) == []
    f = load(doc)
    assert f.objective.sense == "maximize"
    assert f.variables["x"].type == "integer" and f.variables["x"].index == ["I"]
    assert f.variables["b"].type == "binary"
    assert f.constraints[0].forall == "for i in I"
    r = solve(doc)
    assert (r.status, r.objective, r.model_class) == ("optimal", 5.0, "MILP")
    for spelling, sense in (("min", "minimize"), ("MAX", "maximize"), ("minimise", "minimize")):
        assert load(base(objective={"sense": spelling, "expression": "y"})).objective.sense == sense


def test_lenient_constraints_as_a_mapping() -> None:
    doc = base(
        constraints={
            "cap_total": "sum(x[r] for r in R) <= 15",
            "each": {"forall": "for r in R", "expression": "x[r] >= 1"},
        }
    )
    assert check(doc) == []
    assert [c.name for c in load(doc).constraints] == ["cap_total", "each"]
    assert solve(doc).objective == pytest.approx(10.0)


def test_lenient_extra_keys_and_wrapped_document() -> None:
    doc = base()
    doc["parameters"]["cap"] = 10
    doc["variables"]["y"] = {"units": "tons", "description": "slack"}
    doc["units"] = {"cost": "$"}
    assert check(doc) == []
    assert check({"id": "sample", "formulation": base()}) == []


def test_numeric_strings_are_numbers() -> None:
    doc = params(cap="1e6", big={"index": ["R"], "values": ["1e3", "2.5"]})
    doc["objective"] = {"sense": "max", "expression": "sum(big[r] * x[r] for r in R)"}
    assert check(doc) == []
    r = solve(doc)
    assert r.objective == pytest.approx((1000 + 2.5) * 1e6)
    # YAML 1.1 reads 1e6 (no dot) as a string: still the number
    text = "parameters: {c: 1e6}\nvariables: {x: {upper: 1}}\nobjective: {sense: max, expression: c * x}\n"
    assert solve(text).objective == pytest.approx(1e6)
    # bounds too
    doc = {"variables": {"x": {"upper": "2.5e1"}}, "objective": {"sense": "max", "expression": "x"}}
    assert solve(doc).objective == pytest.approx(25.0)


def test_mapping_key_string_matches_integer_element() -> None:
    doc = {
        "sets": {"K": [1, 3]},
        "parameters": {"c": {"index": ["K"], "values": {"3": 2, 1: 5}}},
        "variables": {"x": {"index": ["K"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(c[k] * x[k] for k in K)"},
        "constraints": [{"name": "only3", "expression": "x[1] <= 0"}],
    }
    r = solve(doc)
    assert r.objective == pytest.approx(2.0)
    # YAML text with unquoted and quoted keys
    text = (
        "sets: {K: {from: 1, to: 2}}\n"
        "parameters: {c: {index: [K], values: {1: 4, '2': 6}}}\n"
        "variables: {x: {index: [K], upper: 1}}\n"
        "objective: {sense: max, expression: 'sum(c[k] * x[k] for k in K)'}\n"
    )
    assert solve(text).objective == pytest.approx(10.0)


def test_rows_for_a_tuple_set_index_and_tuple_binding() -> None:
    doc = {
        "sets": {"N": ["a", "b", "c"], "ARCS": [["a", "b"], ["b", "c"], ["a", "c"]]},
        "parameters": {
            "cap": {"index": ["ARCS"], "rows": [["a", "b", 4], ["b", "c", 3], ["a", "c", 1]]},
            "w": {"index": ["ARCS", "N"], "rows": [["a", "b", "c", 2]], "default": 1},
        },
        "variables": {"flow": {"index": ["ARCS"], "upper": "cap"}},
        "objective": {"sense": "max", "expression": "sum(flow[a] for a in ARCS)"},
        "constraints": [
            {
                "name": "into_c",
                "expression": "sum(flow[i, j] for (i, j) in ARCS if j == 'c') <= 3.5",
            },
            {"name": "whole", "forall": "for a in ARCS", "expression": "flow[a] <= cap[a]"},
            {
                "name": "parts",
                "forall": "for (i, j) in ARCS",
                "expression": "flow[i, j] <= cap[i, j]",
            },
            {"name": "w", "forall": "for a in ARCS", "expression": "w[a, 'c'] * flow[a] <= 100"},
        ],
    }
    assert check(doc) == []
    r = solve(doc)
    assert r.objective == pytest.approx(7.5)
    assert r.values["flow"][("a", "b")] == pytest.approx(4.0)
    assert r.to_spec()["variables"]["flow"]["a,b"] == pytest.approx(4.0)
    m = compile_model(doc)
    whole = next(b for b in m.con_blocks if b.name == "whole")
    parts = next(b for b in m.con_blocks if b.name == "parts")
    assert whole.keys() == parts.keys() == [("a", "b"), ("b", "c"), ("a", "c")]
    # flow[a] and flow[i, j] give identical rows
    r_, c_, v_ = m.A
    rows = {
        k: sorted(zip(c_[r_ == k].tolist(), v_[r_ == k].tolist(), strict=True))
        for k in set(r_.tolist())
    }
    for k in range(3):
        assert rows[whole.row_start + k] == rows[parts.row_start + k]
    assert list(m.row_ub[whole.row_start : whole.row_start + 3]) == [4, 3, 1]


def test_tuple_set_nested_list_values() -> None:
    doc = {
        "sets": {"ARCS": [["a", "b"], ["b", "c"]], "K": [1, 2]},
        "parameters": {"c": {"index": ["ARCS", "K"], "values": [[1, 2], [3, 4]]}},
        "variables": {"x": {"index": ["ARCS", "K"], "upper": 1}},
        "objective": {
            "sense": "max",
            "expression": "sum(c[i, j, k] * x[i, j, k] for (i, j) in ARCS for k in K)",
        },
    }
    assert solve(doc).objective == pytest.approx(10.0)


def test_range_sets_and_lenient_elements() -> None:
    doc = base(sets={"R": {"elements": ["north", "south"]}, "T": {"from": "1", "to": 3}})
    assert check(doc) == []
    assert check(params(cap={"value": 10})) == []


def test_free_variable_needs_lower_null() -> None:
    doc = {"variables": {"x": {}}, "objective": {"sense": "min", "expression": "x"}}
    assert solve(doc).objective == 0.0  # default lower bound 0
    doc["variables"]["x"] = {"lower": None}
    assert solve(doc).status == "unbounded"
    doc["variables"]["x"] = {"lower": "-inf", "upper": "inf"}
    assert solve(doc).status == "unbounded"


def test_binary_is_bounded_whatever_is_written() -> None:
    doc = {
        "variables": {"b": {"type": "binary", "upper": 7, "lower": -3}},
        "objective": {"sense": "max", "expression": "b"},
    }
    r = solve(doc)
    assert (r.status, r.objective) == ("optimal", 1.0)


# ------------------------------------------------------------------ bugs found and fixed


def test_huge_integer_literal_is_an_issue() -> None:
    issue = only(check(objective("y + " + "9" * 400)))
    assert issue.location == "objective.expression"


def test_unhashable_row_key_is_an_issue() -> None:
    issue = only(check(params(cost={"index": ["R"], "rows": [[{}, 2]]})))
    assert issue.location == "parameters.cost.rows[0]"
    # a list as a part of a tuple-set key: tuple([[], 's']) is unhashable too
    doc = base(sets={"R": ["north", "south"], "T": {"from": 1, "to": 3}, "A": [["n", "s"]]})
    doc["parameters"]["w"] = {"index": ["A"], "rows": [[[], "s", 4]]}
    issue = only(check(doc))
    assert issue.location == "parameters.w.rows[0]"


def test_deeply_nested_document_is_an_issue() -> None:
    issue = only(check('{"a":' * 100_000 + "1" + "}" * 100_000))
    assert issue.location == "document"


def test_huge_range_set_is_an_issue() -> None:
    doc = base(sets={"R": ["north", "south"], "T": {"from": 1, "to": 10**15}})
    doc["parameters"].pop("dem")
    issues = check(doc)
    assert any(i.location == "sets.T" for i in issues)


def test_nan_parameter_is_an_issue() -> None:
    issue = only(check(params(cap="nan")))
    assert issue.location == "parameters.cap"


def test_nan_default_is_an_issue() -> None:
    issues = check(params(m={"index": ["R"], "default": "nan"}))
    assert any(i.location == "parameters.m.default" for i in issues), [str(i) for i in issues]


def test_nan_bound_is_an_issue() -> None:
    doc = {
        "variables": {"x": {"upper": float("nan")}},
        "objective": {"sense": "max", "expression": "x"},
    }
    assert any(i.location == "variables.x.upper" for i in check(doc))


@pytest.mark.parametrize(
    "doc",
    [
        objective("y + exp(1000)"),
        params(cap="inf") | {"objective": {"sense": "min", "expression": "cap * y"}},
    ],
    ids=["exp-overflow", "inf-coefficient"],
)
def test_non_finite_constants_are_issues(doc: dict[str, Any]) -> None:
    assert check(doc) != []


@pytest.mark.parametrize("rhs", ["1e400", "big"])
def test_infinite_right_hand_side_is_an_issue_or_no_limit(rhs: str) -> None:
    doc = {
        "parameters": {"big": "inf"},
        "variables": {"y": {"upper": 3}},
        "objective": {"sense": "max", "expression": "y"},
        "constraints": [{"name": "c", "expression": f"y <= {rhs}"}],
    }
    r = solve(doc)
    assert r.status == "invalid" or (r.status == "optimal" and r.objective == pytest.approx(3))


def test_bool_values_are_rejected_in_lists_as_in_mappings() -> None:
    assert check(params(cost={"index": ["R"], "values": {"north": True, "south": 1}})) != []
    issue = only(check(params(cost={"index": ["R"], "values": [True, 1]})))
    assert issue.location == "parameters.cost.values[0]"


def test_bool_bound_message_is_clean() -> None:
    doc = base(variables={"x": {"index": ["R"], "upper": True}, "inv": {"index": ["T"]}, "y": {}})
    issue = only(check(doc))
    assert issue.location == "variables.x.upper"
    assert not issue.message.startswith("Value error")


def test_elements_with_the_same_text_are_duplicates() -> None:
    doc = base(sets={"R": ["north", "south"], "T": [1, "1", 2]})
    doc["parameters"].pop("dem")
    assert any(i.location.startswith("sets.T") for i in check(doc))


# ------------------------------------------------------------ issue 9 (hardening)


def test_flat_sum_of_thousands_of_terms_checks_and_solves() -> None:
    n = 5000
    terms = " + ".join(f"{k % 5 + 1} * z[{k}]" if k % 4 else f"- z[{k}]" for k in range(n))
    doc = {
        "sets": {"K": {"from": 0, "to": n - 1}},
        "variables": {"z": {"index": "K", "upper": 1}},
        "objective": {"sense": "max", "expression": terms.replace("+ -", "-")},
        "constraints": [{"name": "c", "expression": terms.replace("+ -", "-") + " <= 1e6"}],
    }
    assert check(doc) == []
    r = solve(doc)
    assert r.objective == pytest.approx(sum(k % 5 + 1 for k in range(n) if k % 4))


def test_thousand_term_sum_is_not_nested_too_deeply() -> None:
    assert check(objective(" + ".join(["y"] * 1000))) == []


def test_duplicate_yaml_key_is_refused_with_both_lines() -> None:
    text = """variables:
  x: {upper: 4}
objective: {sense: max, expression: x}
constraints:
  - {name: a, expression: x <= 3}
constraints:
  - {name: b, expression: x <= 2}
"""
    issue = only(check(text))
    assert issue.location == "constraints" and issue.code == "duplicate"
    assert "lines 4 and 6" in issue.message


def test_duplicate_json_key_is_refused_with_both_places() -> None:
    text = '{"variables": {"x": {}, "x": {"upper": 1}},\n "objective": {"sense": "max", "expression": "x"}}'
    issue = only(check(text))
    assert issue.location == "variables.x" and "columns" in issue.message


def test_yaml_merge_keys_may_override() -> None:
    text = "base: &b {upper: 3}\nvariables:\n  x: {<<: *b, upper: 4}\nobjective: {sense: max, expression: x}\n"
    assert check(text) == []


def test_shape_errors_and_expression_errors_are_reported_together() -> None:
    doc = base(
        variables={"x": {"index": ["R"], "type": "real-ish"}, "inv": {"index": ["T"]}, "y": {}}
    )
    doc["constraints"] = [{"name": "c", "forall": "for r in R", "expression": "x[r] <= capp"}]
    locations = {i.location: str(i) for i in check(doc)}
    assert "variables.x.type" in locations
    assert "unknown name 'capp'" in locations["constraints[0].expression"]


def test_5000_digit_literal_gets_our_message() -> None:
    text = str(only(check(objective("y + 1" + "0" * 5000))))
    assert "4,300 digits" in text and "set_int_max_str_digits" not in text


def test_sum_with_start_gets_a_message_about_sum() -> None:
    text = str(only(check(objective("sum(cost[r] * x[r] for r in R, start=1)"))))
    assert "sum(" in text and "==" not in text
    text = str(only(check(objective("sum((cost[r] * x[r] for r in R), start=1)"))))
    assert "start=" in text and "==" not in text


def test_a_single_equals_still_suggests_double() -> None:
    assert "use ==" in only(check(constraint("y = 3"))).hint
