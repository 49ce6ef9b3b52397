"""The compiler's semantics on small, hand-checked documents."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modeling import ModelClass, check, classify, compile_model, solve
from modeling.compiler import CompiledModel


def doc(
    objective: str,
    constraints: list[str | tuple[str, str]] | None = None,
    sense: str = "minimize",
    vtype: str = "continuous",
) -> dict[str, Any]:
    """Variables x, y (0..10, ``vtype``), z[T], w[R]; parameters a = 4, d[T] = 5..8."""
    cons: list[dict[str, Any]] = []
    for k, c in enumerate(constraints or []):
        if isinstance(c, tuple):
            cons.append({"name": f"c{k}", "forall": c[0], "expression": c[1]})
        else:
            cons.append({"name": f"c{k}", "expression": c})
    return {
        "sets": {"T": {"from": 1, "to": 4}, "R": ["n", "s", "e"]},
        "parameters": {
            "a": 4,
            "d": {"index": ["T"], "values": [5, 6, 7, 8]},
            "share": {"index": ["R"], "values": {"n": 0.5, "s": 0.25, "e": 0}},
        },
        "variables": {
            "x": {"type": vtype, "upper": 10},
            "y": {"type": vtype, "upper": 10},
            "z": {"index": ["T"]},
            "w": {"index": ["R"]},
        },
        "objective": {"sense": sense, "expression": objective},
        "constraints": cons,
    }


def objective_terms(m: CompiledModel) -> dict[str, float]:
    """Linear objective coefficients by column label (zeros left out)."""
    return {m.column_label(c): float(v) for c, v in enumerate(m.obj_c) if v != 0}


def rows(m: CompiledModel, name: str) -> list[tuple[dict[str, float], float, float]]:
    """Each instance of a linear constraint: (coefficients by column label, lower, upper)."""
    block = next(b for b in m.con_blocks if b.name == name)
    assert block.linear
    r, c, v = m.A
    out = []
    for k in range(block.count):
        i = block.row_start + k
        coef: dict[str, float] = {}
        for col, val in zip(c[r == i].tolist(), v[r == i].tolist(), strict=True):
            label = m.column_label(col)
            coef[label] = coef.get(label, 0.0) + val
        coef = {k2: v2 for k2, v2 in coef.items() if v2 != 0}
        out.append((coef, float(m.row_lb[i]), float(m.row_ub[i])))
    return out


INF = math.inf

# ------------------------------------------------------------------ sums and conditions


def test_sum_with_a_condition_on_the_index() -> None:
    m = compile_model(doc("sum(t * z[t] for t in T if t != 2)"))
    assert objective_terms(m) == {"z[1]": 1, "z[3]": 3, "z[4]": 4}


def test_sum_with_parameter_and_boolean_conditions() -> None:
    m = compile_model(doc("sum(d[t] * z[t] for t in T if t >= 2 and d[t] < 8)"))
    assert objective_terms(m) == {"z[2]": 6, "z[3]": 7}
    m = compile_model(doc("sum(z[t] for t in T if not (t == 1 or t == 4))"))
    assert objective_terms(m) == {"z[2]": 1, "z[3]": 1}
    m = compile_model(doc("sum(share[r] * w[r] for r in R if r != 'e')"))
    assert objective_terms(m) == {"w['n']": 0.5, "w['s']": 0.25}
    m = compile_model(doc("sum(w[r] for r in R if share[r] > 0)"))
    assert objective_terms(m) == {"w['n']": 1, "w['s']": 1}


def test_nested_generators_with_a_dependent_condition() -> None:
    m = compile_model(doc("sum(z[s] - z[t] for t in T for s in T if t < s)"))
    # z[s] counted (s-1) times, -z[t] counted (4-t) times
    assert objective_terms(m) == {"z[1]": -3, "z[2]": -1, "z[3]": 1, "z[4]": 3}


def test_sum_of_constants_and_empty_sum() -> None:
    m = compile_model(doc("x + sum(d[t] for t in T) + sum(z[t] for t in T if t > 9)"))
    assert m.obj_const == 26
    assert objective_terms(m) == {"x": 1}


def test_sum_inside_a_forall_uses_the_outer_index() -> None:
    m = compile_model(
        doc("x", [("for t in T if t >= 3", "sum(z[s] for s in T if s <= t) <= d[t]")])
    )
    assert rows(m, "c0") == [
        ({"z[1]": 1, "z[2]": 1, "z[3]": 1}, -INF, 7),
        ({"z[1]": 1, "z[2]": 1, "z[3]": 1, "z[4]": 1}, -INF, 8),
    ]
    block = m.con_blocks[0]
    assert block.keys() == [(3,), (4,)]
    assert [block.label(k) for k in range(2)] == ["c0[3]", "c0[4]"]


def test_min_and_max_of_constants_over_a_generator() -> None:
    m = compile_model(doc("min(d[t] for t in T) * x + max(d[t] for t in T if t < 3) * y"))
    assert objective_terms(m) == {"x": 5, "y": 6}
    assert classify(doc("min(d[t] for t in T) * x")) == "LP"


# ------------------------------------------------------------------ index arithmetic


def test_index_arithmetic_backwards_and_forwards() -> None:
    m = compile_model(doc("x", [("for t in T if t > 1", "z[t] - z[t - 1] <= d[t]")]))
    assert rows(m, "c0") == [
        ({"z[2]": 1, "z[1]": -1}, -INF, 6),
        ({"z[3]": 1, "z[2]": -1}, -INF, 7),
        ({"z[4]": 1, "z[3]": -1}, -INF, 8),
    ]
    m = compile_model(doc("x", [("for t in T if t + 1 <= 4", "z[t + 1] >= 2 * z[t]")]))
    assert [r[0] for r in rows(m, "c0")] == [
        {"z[2]": 1, "z[1]": -2},
        {"z[3]": 1, "z[2]": -2},
        {"z[4]": 1, "z[3]": -2},
    ]


def test_index_arithmetic_with_a_parameter_offset_and_literal_index() -> None:
    d = doc("x", [("for t in T if t <= a - 2", "z[t + 2] >= z[t]"), "z[4] + w['s'] >= 1"])
    m = compile_model(d)
    assert [r[0] for r in rows(m, "c0")] == [{"z[3]": 1, "z[1]": -1}, {"z[4]": 1, "z[2]": -1}]
    assert rows(m, "c1") == [({"z[4]": 1, "w['s']": 1}, 1, INF)]


def test_inventory_balance_solves_to_the_hand_computed_cost() -> None:
    d = {
        "sets": {"T": {"from": 1, "to": 3}},
        "parameters": {
            "demand": {"index": ["T"], "values": [10, 30, 20]},
            "price": {"index": ["T"], "values": [1, 5, 2]},
        },
        "variables": {"make": {"index": ["T"], "upper": 25}, "inv": {"index": ["T"]}},
        "objective": {
            "sense": "min",
            "expression": "sum(price[t] * make[t] + 0.5 * inv[t] for t in T)",
        },
        "constraints": [
            {"name": "first", "expression": "make[1] == demand[1] + inv[1]"},
            {
                "name": "balance",
                "forall": "for t in T if t > 1",
                "expression": "inv[t - 1] + make[t] == demand[t] + inv[t]",
            },
        ],
    }
    r = solve(d)
    # make 25 in t=1 (inv 15), 15 in t=2, 20 in t=3: 25 + 75 + 40 + 0.5 * 15
    assert r.status == "optimal"
    assert r.objective == pytest.approx(147.5)
    assert r.value("make", 1) == pytest.approx(25)
    assert r.value("inv", 1) == pytest.approx(15)


# ------------------------------------------------------------------ relations


def test_constants_on_both_sides_are_moved_to_the_bound() -> None:
    m = compile_model(doc("x", ["2 * x + 3 <= x + 7 + a"]))
    assert rows(m, "c0") == [({"x": 1}, -INF, 8)]
    r = solve(doc("x", ["2 * x + 3 <= x + 7 + a"], sense="max"))
    assert r.objective == pytest.approx(8)


def test_variables_on_both_sides_and_greater_equal() -> None:
    m = compile_model(doc("x", ["3 * x - 1 >= y + 2 * x + a"]))
    assert rows(m, "c0") == [({"x": 1, "y": -1}, 5, INF)]


def test_equality_gives_equal_bounds() -> None:
    m = compile_model(doc("x", ["x + y == 3", "2 * a == x"]))
    assert rows(m, "c0") == [({"x": 1, "y": 1}, 3, 3)]
    assert rows(m, "c1") == [({"x": -1}, -8, -8)]
    r = solve(doc("y", ["x + y == 5", "2 * a == 2 * x"]))
    assert (r.value("x"), r.objective) == (pytest.approx(4), pytest.approx(1))


def test_range_constraints_in_both_directions() -> None:
    m = compile_model(doc("x", ["1 <= x + y <= 3", "5 >= x - y >= -a", "a - 1 <= x <= 2 * a"]))
    assert rows(m, "c0") == [({"x": 1, "y": 1}, 1, 3)]
    assert rows(m, "c1") == [({"x": 1, "y": -1}, -4, 5)]
    assert rows(m, "c2") == [({"x": 1}, 3, 8)]
    r = solve(doc("x", ["a - 1 <= x <= 2 * a"], sense="max"))
    assert r.objective == pytest.approx(8)
    r = solve(doc("x", ["a - 1 <= x <= 2 * a"], sense="min"))
    assert r.objective == pytest.approx(3)


def test_range_with_constants_in_the_body() -> None:
    m = compile_model(doc("x", ["0 <= x + 2 <= 5"]))
    assert rows(m, "c0") == [({"x": 1}, -2, 3)]


def test_range_with_indexed_parameter_ends() -> None:
    m = compile_model(doc("x", [("for t in T if t <= 2", "d[t] - 5 <= z[t] <= d[t]")]))
    assert rows(m, "c0") == [({"z[1]": 1}, 0, 5), ({"z[2]": 1}, 1, 6)]


def test_constraint_without_variables() -> None:
    assert check(doc("x", ["a >= 2"])) == []
    r = solve(doc("x", ["a >= 2"]))
    assert (r.status, r.objective) == ("optimal", 0.0)
    r = solve(doc("x", ["a >= 5"]))
    assert r.status == "infeasible"
    r = solve(doc("x", ["a - a + 1 <= 0 * x"]))
    assert r.status == "infeasible"


def test_division_by_a_constant() -> None:
    m = compile_model(doc("x / 4 + y / a + (z[1] + z[2]) / 2 + 3 / a"))
    assert objective_terms(m) == {"x": 0.25, "y": 0.25, "z[1]": 0.5, "z[2]": 0.5}
    assert m.obj_const == pytest.approx(0.75)
    assert m.model_class is ModelClass.LP
    m = compile_model(doc("sum(z[t] / d[t] for t in T)"))
    assert objective_terms(m) == pytest.approx({f"z[{t}]": 1 / (t + 4) for t in range(1, 5)})


def test_negation_and_subtraction_of_sums() -> None:
    m = compile_model(doc("-(x - y) - sum(-z[t] for t in T if t < 3) - -a"))
    assert objective_terms(m) == {"x": -1, "y": 1, "z[1]": 1, "z[2]": 1}
    assert m.obj_const == 4


def test_objective_constant_and_sense() -> None:
    r = solve(doc("3 * x + 2 * y + 10", ["x + y <= 4"], sense="maximize"))
    assert (r.status, r.objective) == ("optimal", pytest.approx(22))
    assert r.value("x") == pytest.approx(4)
    r = solve(doc("3 * x + 2 * y + 10", ["x + y >= 4"]))
    assert r.objective == pytest.approx(18)


def test_powers_with_constant_exponents() -> None:
    m = compile_model(doc("x ** 1 + y ** 0 + a ** 2 * x + 2 ** -1"))
    assert objective_terms(m) == {"x": 17}
    assert m.obj_const == pytest.approx(1.5)
    assert m.model_class is ModelClass.LP


def test_functions_of_constants_are_constants() -> None:
    expression = "sqrt(a) * x + log(a) * y + exp(0) + abs(-3) * z[1] + min(a, 2) + max(a, 9, 1)"
    m = compile_model(doc(expression, ["abs(-3) * x + max(a, 2) <= min(a, 8) + sqrt(16)"]))
    assert m.model_class is ModelClass.LP
    assert objective_terms(m) == pytest.approx({"x": 2, "y": math.log(4), "z[1]": 3})
    assert m.obj_const == pytest.approx(12)
    assert rows(m, "c0") == [({"x": 3}, -INF, 4)]


def test_quadratic_objective_coefficients_and_solution() -> None:
    m = compile_model(doc("x ** 2 - 2 * x * y + 3"))
    qa, qb, qv = m.obj_q
    q = {(m.column_label(a), m.column_label(b)): v for a, b, v in zip(qa, qb, qv, strict=True)}
    assert q == {("x", "x"): 1, ("x", "y"): -2}
    assert m.obj_const == 3
    r = solve(doc("(x - 3) ** 2 + (y - 2) ** 2"))
    assert r.status == "optimal"
    assert r.objective == pytest.approx(0, abs=1e-6)
    assert (r.value("x"), r.value("y")) == (pytest.approx(3, abs=1e-4), pytest.approx(2, abs=1e-4))


# ------------------------------------------------------------------ classification

CLASSES: dict[str, tuple[str, list[str | tuple[str, str]], str, str]] = {
    "linear": ("x + 2 * y", ["x + y <= 4"], "continuous", "LP"),
    "linear integer": ("x + y", ["x + y <= 4"], "integer", "MILP"),
    "linear binary": ("x + y", [], "binary", "MILP"),
    "square": ("x ** 2 + y", [], "continuous", "QP"),
    "product": ("x * y", [], "continuous", "QP"),
    "square of a sum": ("(x + y + 1) ** 2", [], "continuous", "QP"),
    "product of sums": ("(x + 1) * (y - 2)", [], "continuous", "QP"),
    "sum of squares": ("sum(z[t] ** 2 for t in T)", [], "continuous", "QP"),
    "integer square": ("x ** 2", [], "integer", "MIQP"),
    "quadratic constraint": ("x", ["x ** 2 + y ** 2 <= 4"], "continuous", "NLP"),
    "bilinear constraint": ("x + y", ["x * y >= 1"], "continuous", "NLP"),
    "quadratic constraint, integer": ("x", ["x * y <= 4"], "integer", "MINLP"),
    "exp": ("exp(x)", [], "continuous", "NLP"),
    "exp, integer": ("exp(x)", [], "integer", "MINLP"),
    "cube": ("x ** 3", [], "continuous", "NLP"),
    "triple product": ("x * y * z[1]", [], "continuous", "NLP"),
    "square root": ("x ** 0.5", [], "continuous", "NLP"),
    "reciprocal": ("1 / x", [], "continuous", "NLP"),
    "division by a variable in a constraint": ("x", ["a / (x + 1) <= 2"], "continuous", "NLP"),
    "abs of a variable": ("abs(x - 3)", [], "continuous", "NLP"),
    "min of variables": ("x", ["min(x, y) >= 1"], "continuous", "NLP"),
    "max over a generator of variables": ("max(z[t] for t in T)", [], "continuous", "NLP"),
    "log in a constraint": ("x", ["log(x + 1) >= 1"], "continuous", "NLP"),
    "functions of constants": ("sqrt(a) * x + exp(0) * y", ["log(a) * x <= 3"], "continuous", "LP"),
    "functions of constants, integer": ("abs(-a) * x", [], "binary", "MILP"),
    "power one": ("x ** 1", [], "continuous", "LP"),
    "power zero": ("x ** 0 + y", [], "continuous", "LP"),
    "square of a constant": ("a ** 2 * x", [], "continuous", "LP"),
    "constant objective": ("3", ["x + y >= 1"], "continuous", "LP"),
}


@pytest.mark.parametrize(
    ("objective", "constraints", "vtype", "expected"), CLASSES.values(), ids=CLASSES.keys()
)
def test_classification(
    objective: str, constraints: list[str | tuple[str, str]], vtype: str, expected: str
) -> None:
    d = doc(objective, constraints, vtype=vtype)
    assert check(d) == []
    assert classify(d) == expected
    assert compile_model(d).model_class == expected


def test_integer_variable_anywhere_makes_it_mixed() -> None:
    d = doc("x ** 2")
    d["variables"]["w"]["type"] = "integer"
    assert classify(d) == "MIQP"


@pytest.mark.parametrize(
    ("objective", "sense", "convex"),
    [
        ("x ** 2", "minimize", True),
        ("x ** 2", "maximize", False),
        ("-(x ** 2)", "maximize", True),
        ("-(x ** 2)", "minimize", False),
        ("(x - y) ** 2 + 3 * x", "minimize", True),
        ("(x - y) ** 2", "maximize", False),
        ("x * y", "minimize", False),
        ("x ** 2 + y ** 2 + x * y", "minimize", True),
        ("x ** 2 + y ** 2 + 3 * x * y", "minimize", False),
        ("sum(z[t] ** 2 for t in T) - x ** 2", "minimize", False),
    ],
)
def test_convexity_of_a_quadratic_objective(objective: str, sense: str, convex: bool) -> None:
    m = compile_model(doc(objective, sense=sense))
    assert m.model_class is ModelClass.QP
    assert m.convex is convex


def test_convex_qp_is_solved_by_highs_and_maximised_correctly() -> None:
    r = solve(doc("-(x - 3) ** 2 - (y - 1) ** 2 + 5", sense="maximize"))
    assert r.status == "optimal"
    assert r.solver == "highs"
    assert r.objective == pytest.approx(5, abs=1e-6)
    assert r.value("x") == pytest.approx(3, abs=1e-4)


def test_nonlinear_constraint_keeps_its_trees() -> None:
    m = compile_model(doc("x", ["x * y >= 1", "x + y <= 4"]))
    assert [b.name for b in m.nonlinear_blocks] == ["c0"]
    assert m.nrows == 1  # only the linear one is in the matrix
    assert rows(m, "c1") == [({"x": 1, "y": 1}, -INF, 4)]


# ------------------------------------------------------------------ names of instances


def test_instances_are_named_by_their_bindings() -> None:
    m = compile_model(doc("x", [("for t in T for r in R if r != 'e' and t < 3", "z[t] >= w[r]")]))
    block = m.con_blocks[0]
    assert block.keys() == [(1, "n"), (1, "s"), (2, "n"), (2, "s")]
    assert block.label(1) == "c0[1, 's']"
    assert rows(m, "c0")[1] == ({"z[1]": 1, "w['s']": -1}, 0, INF)


def test_column_keys_and_result_values_use_formulation_names() -> None:
    r = solve(doc("sum(w[r] for r in R)", [("for r in R", "w[r] >= share[r]")]))
    assert r.values["w"] == {("n",): 0.5, ("s",): 0.25, ("e",): 0.0}
    assert r.to_spec()["variables"]["w"] == {"n": 0.5, "s": 0.25, "e": 0.0}
    assert np.isclose(r.objective, 0.75)


# ------------------------------------------------------------------ bugs found and fixed


def test_and_in_a_condition_short_circuits() -> None:
    m = compile_model(doc("sum(z[t] for t in T if t > 1 and d[t - 1] > 5)"))
    assert objective_terms(m) == {"z[3]": 1, "z[4]": 1}
    m = compile_model(doc("sum(z[t] for t in T if t == 1 or d[t - 1] > 6)"))
    assert objective_terms(m) == {"z[1]": 1, "z[4]": 1}


def test_cancelling_quadratic_terms_leave_a_linear_model() -> None:
    assert classify(doc("x ** 2 - x ** 2 + y")) == "LP"


def test_compile_model_takes_a_path_a_document_or_a_compiled_model(tmp_path: Path) -> None:
    doc = {
        "variables": {"x": {"upper": 4}},
        "constraints": [{"name": "c", "expression": "x + x - x <= 3"}],
        "objective": {"sense": "max", "expression": "x"},
    }
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    from_path = compile_model(path)
    assert compile_model(str(path)).ncols == from_path.ncols == 1
    assert compile_model(from_path) is from_path
    # the cached matrix sums the three x terms into one entry
    assert from_path.matrix is from_path.matrix
    assert from_path.matrix.nnz == 1 and from_path.matrix[0, 0] == 1.0
