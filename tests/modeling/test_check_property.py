"""Property tests: check() and solve() never raise and never run code from a document.

Expressions come from a small grammar of the spec's language, from soups of
tokens (Python's and ours), from raw random text, and from known code-injection
payloads; documents come from valid ones with keys deleted or renamed, values
replaced by random data and strings injected.

Integers reach huge values (a ``{from, to}`` range of 10**15 must be refused,
a literal too large for a float reported), and rows may hold lists or mappings.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeling import FormulationError, Issue, check, compile_model, solve
from modeling.result import SolveResult, Status

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

MARKER = Path(tempfile.gettempdir()) / f"optiwise-pwned-{os.getpid()}"

PAYLOADS = [
    f"__import__('os').system('touch {MARKER}')",
    f"open('{MARKER}', 'w')",
    f"exec(\"open('{MARKER}', 'w')\")",
    f"eval(\"__import__('os').system('touch {MARKER}')\")",
    f"(lambda: __import__('os').system('touch {MARKER}'))()",
    f"[__import__('os').system('touch {MARKER}') for r in R]",
    f"sum(__import__('os').system('touch {MARKER}') for r in R)",
    f"sum(x[r] for r in R if __import__('os').system('touch {MARKER}'))",
    f"globals()['__builtins__']['open']('{MARKER}', 'w')",
    f"getattr(__import__('os'), 'system')('touch {MARKER}')",
    "().__class__.__bases__[0].__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "x.__class__.__init__.__globals__",
    f"breakpoint() or open('{MARKER}', 'w')",
    f"y if open('{MARKER}', 'w') else y",
    f"(m := open('{MARKER}', 'w'))",
    f"f\"{{open('{MARKER}', 'w')}}\"",
]

# ast node types the spec's language may contain; anything else must be rejected.
WHITELIST: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Subscript,
    ast.Tuple,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.UnaryOp,
    ast.USub,
    ast.UAdd,
    ast.Not,
    ast.Call,
    ast.GeneratorExp,
    ast.ListComp,
    ast.comprehension,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.BoolOp,
    ast.And,
    ast.Or,
)

# Snippets each holding at least one node outside the whitelist (or a forbidden constant).
FORBIDDEN = [
    "y.real",
    "(lambda: 1)",
    "(lambda q: q)(y)",
    "(1 if y else 2)",
    "{1: 2}",
    "{1, 2}",
    "[1, 2]",
    "f'{y}'",
    "(q := 1)",
    "d[1:3]",
    "y // 2",
    "y % 2",
    "y @ y",
    "y ^ 2",
    "y | 1",
    "y & 1",
    "y << 1",
    "~y",
    "{r: 1 for r in R}",
    "{r for r in R}",
    "abs(y, key=1)",
    "abs(*[y])",
    "y in R",
    "y is y",
    "y not in R",
    "True",
    "None",
    "b'x'",
    "1j",
    "...",
]


def base_document() -> dict[str, Any]:
    return {
        "name": "base",
        "sets": {"R": ["n", "s", "e"], "T": {"from": 1, "to": 4}, "A": [["n", "s"], ["s", "e"]]},
        "parameters": {
            "a": 4,
            "cost": {"index": ["R"], "values": [3, 1.5, "2"]},
            "d": {"index": ["T"], "values": {"1": 5, "2": 6, "3": 7, "4": 8}},
            "cap": {"index": ["A"], "rows": [["n", "s", 4], ["s", "e", 2]], "default": 0},
        },
        "variables": {
            "x": {"index": ["R"], "upper": 10},
            "y": {"type": "integer", "upper": "a"},
            "z": {"index": ["T"], "lower": None, "upper": "d"},
            "f": {"index": ["A"], "upper": "cap"},
        },
        "objective": {
            "sense": "minimize",
            "expression": "sum(cost[r] * x[r] for r in R) + y - sum(f[i, j] for (i, j) in A)",
        },
        "constraints": [
            {"name": "total", "expression": "sum(x[r] for r in R) + y >= 3"},
            {"name": "flow", "forall": "for a2 in A", "expression": "f[a2] <= x['n'] + 1"},
            {
                "name": "ramp",
                "forall": "for t in T if t > 1",
                "expression": "z[t] - z[t - 1] <= d[t]",
            },
            {"name": "band", "expression": "0 <= x['s'] - x['e'] <= a"},
        ],
    }


TRANSPORT = {
    "sets": {"P": ["seattle", "san_diego"], "M": ["new_york", "chicago", "topeka"]},
    "parameters": {
        "supply": {"index": ["P"], "values": [350, 600]},
        "demand": {"index": ["M"], "values": {"new_york": 325, "chicago": 300, "topeka": 275}},
        "cost": {"index": ["P", "M"], "values": [[2.5, 1.7, 1.8], [2.5, 1.8, 1.4]]},
    },
    "variables": {"ship": {"index": ["P", "M"]}},
    "objective": {
        "sense": "minimize",
        "expression": "sum(cost[p, m] * ship[p, m] for p in P for m in M)",
    },
    "constraints": [
        {
            "name": "cap",
            "forall": "for p in P",
            "expression": "sum(ship[p, m] for m in M) <= supply[p]",
        },
        {
            "name": "dem",
            "forall": "for m in M",
            "expression": "sum(ship[p, m] for p in P) >= demand[m]",
        },
    ],
}

DOCUMENTS = [base_document(), TRANSPORT]

# ------------------------------------------------------------------ strategies

LEAVES = [
    "x",
    "y",
    "a",
    "t",
    "r",
    "q",
    "T",
    "R",
    "z[t]",
    "z[1]",
    "z[t - 1]",
    "z[9]",
    "x[r]",
    "x['n']",
    "x['nort']",
    "cost[r]",
    "cost[r, r]",
    "d[t]",
    "f[i, j]",
    "f[a2]",
    "cap[i, j]",
    "1",
    "0",
    "2.5",
    "1e6",
    "'n'",
    "-3",
]
BINOPS = ["+", "-", "*", "/", "**"]
FUNCS = ["abs", "exp", "log", "sqrt", "sin", "cos", "min", "max", "foo", "Sum"]
GENERATORS = [
    "for r in R",
    "for t in T",
    "for t in T if t > 1",
    "for r in R if r != 'n'",
    "for (i, j) in A",
    "for a2 in A",
    "for t in T for r in R if t >= 2 and r == 'e'",
    "for t in Q",
    "for t in T if t",
    "for T in T",
    "for t in range(3)",
]
RELATIONS = ["<=", ">=", "==", "<", ">", "!=", "="]


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(BINOPS), children).map(
            lambda p: f"({p[0]} {p[1]} {p[2]})"
        ),
        children.map(lambda c: f"-{c}"),
        st.tuples(st.sampled_from(FUNCS), children).map(lambda p: f"{p[0]}({p[1]})"),
        st.tuples(st.sampled_from(["min", "max"]), children, children).map(
            lambda p: f"{p[0]}({p[1]}, {p[2]})"
        ),
        st.tuples(
            st.sampled_from(["sum", "min", "max"]), children, st.sampled_from(GENERATORS)
        ).map(lambda p: f"{p[0]}({p[1]} {p[2]})"),
        st.tuples(st.sampled_from(["z", "x", "d", "cost"]), children).map(
            lambda p: f"{p[0]}[{p[1]}]"
        ),
    )


expressions = st.recursive(st.sampled_from(LEAVES), _extend, max_leaves=10)

relations = st.one_of(
    st.tuples(expressions, st.sampled_from(RELATIONS), expressions).map(" ".join),
    st.tuples(expressions, expressions, expressions).map(lambda p: f"{p[0]} <= {p[1]} <= {p[2]}"),
)

TOKENS = [
    *LEAVES,
    *BINOPS,
    *RELATIONS,
    *FUNCS,
    "sum(",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    ":",
    ":=",
    "//",
    "%",
    "@",
    "^",
    "|",
    "&",
    "~",
    "not",
    "and",
    "or",
    "in",
    "is",
    "if",
    "else",
    "for",
    "lambda",
    "yield",
    "await",
    "__import__",
    "__class__",
    "eval",
    "exec",
    "open",
    "os",
    "'os'",
    "globals",
    "*",
    "**",
    "1j",
    "True",
    "None",
    "\\",
    "#",
    "\n",
]
token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map(" ".join)

raw_text = st.text(max_size=40)

any_expression = st.one_of(expressions, token_soup, raw_text, st.sampled_from(PAYLOADS))
any_relation = st.one_of(relations, token_soup, raw_text, st.sampled_from(PAYLOADS))
any_forall = st.one_of(st.sampled_from(GENERATORS), token_soup, raw_text, st.sampled_from(PAYLOADS))

# JSON-like values, small and huge integers alike.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-100, 100),
    st.sampled_from([10**9, -(10**12), 10**15, 10**400]),
    st.floats(-1e3, 1e3),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.text(max_size=12),
    st.sampled_from(["1e6", "nan", "inf", "n", "T", "a", "-", "", "for", "sum", *PAYLOADS[:3]]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(
                st.text(max_size=6),
                st.sampled_from(
                    [
                        "index",
                        "values",
                        "rows",
                        "from",
                        "to",
                        "default",
                        "type",
                        "lower",
                        "upper",
                        "expression",
                        "forall",
                        "name",
                        "sense",
                    ]
                ),
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=10,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for k, v in enumerate(node):
            out.extend(_paths(v, (*prefix, k)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    node = doc
    for p in path[:-1]:
        node = node[p]
    return node


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """A valid document with a few random deletions, renames, replacements and injections."""
    doc: Any = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["delete", "rename", "replace", "inject", "expression"]))
        if not path:
            if op == "replace":
                doc = draw(json_values)
            continue
        parent = _parent(doc, path)
        if not isinstance(parent, dict | list):
            continue
        key = path[-1]
        if op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            new = draw(
                st.one_of(
                    st.text(max_size=8),
                    st.sampled_from(["sum", "lambda", "x", "R", "T", "1x", "a b", "for"]),
                )
            )
            parent[new] = parent.pop(key)
        elif op == "replace":
            parent[key] = draw(json_values)
        elif op == "inject":
            parent[key] = draw(st.sampled_from(PAYLOADS))
        else:
            parent[key] = draw(st.one_of(any_expression, any_relation, any_forall))
    return doc


def document_with(objective: str, relation: str, forall: str | None) -> dict[str, Any]:
    doc = base_document()
    doc["objective"]["expression"] = objective
    c: dict[str, Any] = {"name": "extra", "expression": relation}
    if forall is not None:
        c["forall"] = forall
    doc["constraints"].append(c)
    return doc


# ------------------------------------------------------------------ assertions

LOCATION_HEADS = (
    "document",
    "name",
    "description",
    "sets",
    "parameters",
    "variables",
    "objective",
    "constraints",
    "formulation",
)


def assert_issues(issues: object) -> None:
    assert isinstance(issues, list)
    for issue in issues:
        assert isinstance(issue, Issue)
        assert isinstance(issue.location, str) and issue.location
        assert issue.location.startswith(LOCATION_HEADS), issue
        assert isinstance(issue.message, str) and issue.message
        assert "Traceback" not in issue.message
    assert not MARKER.exists(), "a payload was executed"


def assert_result(result: object) -> None:
    assert isinstance(result, SolveResult)
    assert result.status in set(Status)
    if result.status is Status.INVALID:
        assert result.errors
        assert_issues(list(result.errors))
    json.dumps(result.to_spec(), allow_nan=False)
    assert not MARKER.exists(), "a payload was executed"


def _contains_forbidden(text: str) -> bool:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in ast.walk(tree):
        if not isinstance(node, WHITELIST):
            return True
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str):
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return True
    return False


def setup_module() -> None:
    MARKER.unlink(missing_ok=True)


def teardown_module() -> None:
    assert not MARKER.exists(), "a payload was executed"


# ------------------------------------------------------------------ properties


@SETTINGS
@given(objective=any_expression, relation=any_relation, forall=st.one_of(st.none(), any_forall))
def test_check_never_raises_on_expressions(
    objective: str, relation: str, forall: str | None
) -> None:
    doc = document_with(objective, relation, forall)
    issues = check(doc)
    assert_issues(issues)
    if issues:
        try:
            compile_model(doc)
        except FormulationError as exc:
            assert exc.issues == issues
        else:
            raise AssertionError("check() found issues but compile_model() did not raise")


@SETTINGS
@given(doc=mutated_documents())
def test_check_never_raises_on_mutated_documents(doc: Any) -> None:
    issues = check(doc)
    assert_issues(issues)
    if not issues:
        model = compile_model(doc)  # valid means it compiles
        assert model.ncols >= 0


@SETTINGS
@given(doc=mutated_documents())
def test_solve_never_raises_on_mutated_documents(doc: Any) -> None:
    assert_result(solve(doc, time_limit=5))


@SETTINGS
@given(objective=any_expression, relation=any_relation, forall=st.one_of(st.none(), any_forall))
def test_solve_never_raises_on_expressions(
    objective: str, relation: str, forall: str | None
) -> None:
    assert_result(solve(document_with(objective, relation, forall), time_limit=5))


@SETTINGS
@given(text=st.one_of(raw_text, token_soup, st.sampled_from(PAYLOADS)), as_yaml=st.booleans())
def test_whole_document_as_random_text(text: str, as_yaml: bool) -> None:
    source = f"variables: {{x: {{}}}}\nobjective: {{sense: min, expression: {json.dumps(text)}}}\n"
    assert_issues(check(source if as_yaml else text + "\n"))


@settings(max_examples=len(PAYLOADS) * 4, deadline=None)
@given(
    payload=st.sampled_from(PAYLOADS),
    where=st.sampled_from(["objective", "constraint", "forall", "set", "value"]),
)
def test_payloads_are_rejected_and_never_run(payload: str, where: str) -> None:
    doc = base_document()
    if where == "objective":
        doc["objective"]["expression"] = payload
        location = "objective.expression"
    elif where == "constraint":
        doc["constraints"][0]["expression"] = f"{payload} >= 1"
        location = "constraints[0].expression"
    elif where == "forall":
        doc["constraints"][1]["forall"] = f"for a2 in A if {payload}"
        location = "constraints[1].forall"
    elif where == "set":
        doc["sets"]["R"] = ["n", "s", payload]  # a label: harmless, but the data no longer fit
        location = ""
    else:
        doc["parameters"]["a"] = payload
        location = "parameters.a"
    issues = check(doc)
    assert_issues(issues)
    assert issues
    if location:
        assert any(i.location == location for i in issues), [str(i) for i in issues]
    assert_result(solve(doc))


@SETTINGS
@given(
    valid=expressions,
    bad=st.sampled_from(FORBIDDEN),
    shape=st.sampled_from(
        ["{v} + {b}", "{b} * {v}", "sum({b} for r in R)", "abs({b})", "x[{b}]", "({v}) ** ({b})"]
    ),
)
def test_nodes_outside_the_whitelist_are_rejected(valid: str, bad: str, shape: str) -> None:
    text = shape.format(v=valid, b=bad)
    doc = base_document()
    doc["objective"]["expression"] = text
    issues = check(doc)
    assert_issues(issues)
    assert any(i.location == "objective.expression" for i in issues), text
    # in a forall condition too
    doc = base_document()
    doc["constraints"][1]["forall"] = f"for a2 in A if {bad} == 1"
    issues = check(doc)
    assert any(i.location == "constraints[1].forall" for i in issues), bad


@SETTINGS
@given(text=st.one_of(token_soup, expressions))
def test_whatever_parses_with_forbidden_nodes_is_rejected(text: str) -> None:
    if not _contains_forbidden(text):
        return
    doc = base_document()
    doc["objective"]["expression"] = text
    assert any(i.location == "objective.expression" for i in check(doc)), text


def test_forbidden_snippets_really_are_outside_the_whitelist() -> None:
    for snippet in FORBIDDEN:
        assert _contains_forbidden(snippet), snippet
