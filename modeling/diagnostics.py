"""Explain a solve in the formulation's own names: infeasibility, unboundedness, sensitivity.

A solver says *infeasible*, *unbounded* or *optimal*; a person needs to know
*which* constraints clash, *which* variables run away and *what* the optimum
depends on, spoken in the document's names (``meet_demand['chicago']``,
``ship['seattle', 'topeka'] >= 0``, ``constraints[1]``) and with the data
each instance was made from (``demand['chicago'] = 300``).

* :func:`explain_infeasible` — an irreducible infeasible subset (IIS) of
  constraint instances and variable bounds: HiGHS's IIS for the linear part
  as a seed, made irreducible (and, for integer or nonlinear models, found)
  by a deletion filter that re-solves feasibility problems;
* :func:`explain_unbounded` — the variables that grow without limit, from a
  verified primal ray or by widening a box around the variables;
* :func:`sensitivity` — duals, slacks, reduced costs and ranging of an LP;
* :func:`sanity_check` — violations and numerical smells of a returned point;
* :func:`explain` — the dispatcher behind ``optiwise explain FILE``.

Every report has ``to_text()`` for a person and ``to_dict()`` for JSON.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from modeling.backends.base import SolverOptions
from modeling.compiler import (
    ROOT,
    CompiledModel,
    ConBlock,
    EvalError,
    Evaluator,
    Frame,
    ModelClass,
    Source,
    Tree,
    compile_model,
    instance_label,
)
from modeling.expressions import (
    Aggregate,
    BinOp,
    Call,
    Index,
    Name,
    Neg,
    Node,
    Pow,
    Relation,
    Sum,
    parse_forall,
)
from modeling.format import format_number
from modeling.result import SolveResult, Status

DEFAULT_TIME_LIMIT = 30.0
BINDING_TOL = 1e-6
"""Relative distance from a bound within which a constraint counts as binding."""
_MAX_TERMS = 12  # terms of a constraint instance shown before "… more"
_MAX_PARAM_ENTRIES = 8  # entries of one parameter shown per instance
_MAX_VALUES = 50  # rows of value tables in text reports
_IIS_IRREDUCIBLE_MAX = 600  # rows + columns up to which HiGHS's own irreducible IIS is asked for


class DiagnosticsError(ValueError):
    """A diagnosis that cannot be made; the message says why and what to do instead."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message} ({hint})" if hint else message)
        self.message = message
        self.hint = hint


# ------------------------------------------------------------------ formatting


def _json_num(x: float | None) -> float | None:
    """JSON has no infinities or NaN: they become null."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return 0.0 if x == 0 else x


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Left-aligned first column, right-aligned numbers: readable in a terminal."""
    if not rows:
        return []
    allrows = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[k]) for r in allrows) for k in range(len(header))]
    out = []
    for n, r in enumerate(allrows):
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append((indent + "  ".join(cells)).rstrip())
        if n == 0:
            out.append(indent + "  ".join("-" * w for w in widths))
    return out


def _linear_text(terms: Sequence[tuple[str, float]], limit: int = _MAX_TERMS) -> str:
    """``2.5 ship['seattle', 'chicago'] - x`` from (label, coefficient) pairs."""
    parts: list[str] = []
    for label, coef in terms[:limit]:
        sign = "-" if coef < 0 else "+"
        mag = abs(coef)
        body = label if mag == 1 else f"{format_number(mag)} {label}"
        if not parts:
            parts.append(f"-{body}" if sign == "-" else body)
        else:
            parts.append(f"{sign} {body}")
    if len(terms) > limit:
        parts.append(f"+ … ({len(terms) - limit} more terms)")
    return " ".join(parts) if parts else "0"


def _relation_text(body: str, lo: float, hi: float) -> str:
    if math.isfinite(lo) and math.isfinite(hi):
        if lo == hi:
            return f"{body} == {format_number(lo)}"
        return f"{format_number(lo)} <= {body} <= {format_number(hi)}"
    if math.isfinite(lo):
        return f"{body} >= {format_number(lo)}"
    if math.isfinite(hi):
        return f"{body} <= {format_number(hi)}"
    return f"{body} (free)"


# ------------------------------------------------------------------ model helpers


def _model(source: Source | SolveResult) -> CompiledModel:
    """The compiled model of any accepted input; raises FormulationError for bad documents."""
    if isinstance(source, CompiledModel):
        return source
    if isinstance(source, SolveResult):
        if source.model is None:
            raise DiagnosticsError("the result carries no model", "solve a valid formulation")
        return source.model
    return compile_model(source)


def _block_of_row(model: CompiledModel, row: int) -> tuple[ConBlock, int]:
    for b in model.con_blocks:
        if b.linear and b.row_start <= row < b.row_start + b.count:
            return b, row - b.row_start
    raise IndexError(row)


def _block_of_col(model: CompiledModel, col: int) -> tuple[str, int]:
    for b in model.blocks.values():
        if b.offset <= col < b.offset + b.size:
            return b.name, col - b.offset
    raise IndexError(col)


def _column_key(model: CompiledModel, col: int) -> tuple[Any, ...]:
    name, k = _block_of_col(model, col)
    return model.column_keys(model.blocks[name])[k]


class _Labels:
    """Instance and column names of one model, computed once.

    ``ConBlock.label(k)`` rebuilds the block's keys on every call; tables over
    every row would then cost rows² time.
    """

    def __init__(self, model: CompiledModel) -> None:
        self.model = model
        self._keys: dict[int, list[tuple[Any, ...]]] = {}
        self._cols: list[str] | None = None

    def key(self, blk: ConBlock, k: int) -> tuple[Any, ...]:
        keys = self._keys.get(id(blk))
        if keys is None:
            keys = self._keys[id(blk)] = blk.keys()
        return keys[k]

    def instance(self, blk: ConBlock, k: int) -> str:
        return instance_label(blk.name, self.key(blk, k))

    def column(self, j: int) -> str:
        if self._cols is None:
            m = self.model
            self._cols = [
                instance_label(b.name, key) for b in m.blocks.values() for key in m.column_keys(b)
            ]
        return self._cols[j]


def eval_tree(tree: Tree, x: np.ndarray) -> float:
    """The value of a compiled expression tree at the point ``x`` (NaN where undefined).

    The compiler keeps nonlinear constraint bodies and objectives as trees;
    checking a returned point needs their values without any solver.
    """
    op = tree[0]
    try:
        if op == "c":
            return float(tree[1])
        if op == "v":
            return float(x[tree[1]])
        if op == "poly":
            _, const, cols, coefs, qa, qb, qv = tree
            val = float(const)
            for c, w in zip(cols, coefs, strict=True):
                val += w * float(x[c])
            for a, b, w in zip(qa, qb, qv, strict=True):
                val += w * float(x[a]) * float(x[b])
            return val
        if op == "+":
            return float(sum(eval_tree(t, x) for t in tree[1]))
        if op == "neg":
            return -eval_tree(tree[1], x)
        if op == "*":
            return eval_tree(tree[1], x) * eval_tree(tree[2], x)
        if op == "/":
            den = eval_tree(tree[2], x)
            return eval_tree(tree[1], x) / den if den != 0 else math.nan
        if op == "^":
            res = eval_tree(tree[1], x) ** eval_tree(tree[2], x)
            return float(res) if not isinstance(res, complex) else math.nan
        if op == "f":
            arg = eval_tree(tree[2], x)
            fn: dict[str, Callable[[float], float]] = {
                "abs": abs,
                "exp": math.exp,
                "log": math.log,
                "sqrt": math.sqrt,
                "sin": math.sin,
                "cos": math.cos,
            }
            return float(fn[tree[1]](arg))
        if op in ("min", "max"):
            vals = [eval_tree(t, x) for t in tree[1]]
            return float(min(vals) if op == "min" else max(vals))
    except (ValueError, OverflowError, ZeroDivisionError):
        return math.nan
    raise ValueError(f"unknown tree node {op!r}")


def objective_value(model: CompiledModel, x: np.ndarray) -> float:
    """The objective of the document at ``x``, computed from the compiled model."""
    val = model.obj_const + float(model.obj_c @ x)
    qa, qb, qv = model.obj_q
    if len(qv):
        val += float(np.sum(qv * x[qa] * x[qb]))
    if model.obj_tree is not None:
        val += eval_tree(model.obj_tree, x)
    return val


# ------------------------------------------------------------ instance data


class _InstanceData:
    """Parameter values behind one constraint instance, found by walking its expression.

    Reuses the compiler's evaluator, so indices such as ``inv[t - 1]`` and
    conditions inside sums resolve exactly as they did when compiling.
    """

    def __init__(self, model: CompiledModel) -> None:
        self.model = model
        self.ev = Evaluator(model.data, model.blocks)
        self._frames: dict[int, Frame] = {}

    def frame(self, block: ConBlock) -> Frame:
        f = self._frames.get(block.index)
        if f is None:
            c = self.model.formulation.constraints[block.index]
            if c.forall:
                f, _ = self.ev.expand(ROOT, parse_forall(c.forall))
            else:
                f = ROOT
            self._frames[block.index] = f
        return f

    def of(self, block: ConBlock, k: int) -> dict[str, float]:
        rel = block.relation
        if rel is None:
            return {}
        try:
            frame = self.frame(block)
            if frame.n != block.count:
                return {}
            one = frame.take(np.array([k], dtype=np.int64))
            out: dict[str, float] = {}
            more: dict[str, int] = {}
            for node in _relation_nodes(rel):
                self._visit(node, one, out, more)
        except (EvalError, KeyError, IndexError, ValueError):
            return {}
        for name, n in more.items():
            out[f"{name}[…]"] = float(n)
        return out

    def _visit(self, node: Node, frame: Frame, out: dict[str, float], more: dict[str, int]) -> None:
        data = self.model.data
        if frame.n == 0:
            return
        if isinstance(node, Name):
            p = data.params.get(node.id)
            if p is not None and p.scalar and node.id not in frame.names:
                out[node.id] = float(p.array)
            return
        if isinstance(node, Index):
            for item in node.items:
                self._visit(item, frame, out, more)
            p = data.params.get(node.base)
            if p is None:
                return
            pos = self.ev.positions(node.base, p.sets, node.items, frame)
            vals = self.ev.param(node, frame)
            shown = sum(1 for key in out if key.startswith(node.base + "["))
            for r in range(frame.n):
                key: list[Any] = []
                for s, q in zip(p.sets, pos, strict=True):
                    e = data.sets[s].elements[int(q[r])]
                    key.extend(e if isinstance(e, tuple) else (e,))
                label = instance_label(node.base, tuple(key))
                if label in out:
                    continue
                if shown >= _MAX_PARAM_ENTRIES:
                    more[node.base] = more.get(node.base, 0) + 1
                    continue
                out[label] = float(vals[r])
                shown += 1
            return
        if isinstance(node, Sum | Aggregate):
            inner, _ = self.ev.expand(frame, node.gens)
            if inner.n > 200:
                inner = inner.take(np.arange(200))
            self._visit(node.body, inner, out, more)
            return
        if isinstance(node, BinOp):
            self._visit(node.left, frame, out, more)
            self._visit(node.right, frame, out, more)
        elif isinstance(node, Neg):
            self._visit(node.operand, frame, out, more)
        elif isinstance(node, Pow):
            self._visit(node.base, frame, out, more)
            self._visit(node.exponent, frame, out, more)
        elif isinstance(node, Call):
            for a in node.args:
                self._visit(a, frame, out, more)


def _relation_nodes(rel: Relation) -> list[Node]:
    if rel.body is not None and rel.lo is not None and rel.hi is not None:
        return [rel.lo, rel.body, rel.hi]
    return [rel.lhs, rel.rhs]


def _data_text(data: Mapping[str, float]) -> str:
    parts = []
    for k, v in data.items():
        if k.endswith("[…]"):
            parts.append(f"{k[:-3]}[…] ({int(v)} more)")
        else:
            parts.append(f"{k} = {format_number(v)}")
    return ", ".join(parts)


# ------------------------------------------------------------------ reports


class Report(ABC):
    """What :func:`explain` returns: readable text and JSON-ready data."""

    status: str

    @abstractmethod
    def to_text(self) -> str: ...

    @abstractmethod
    def to_dict(self) -> dict[str, Any]: ...

    def __str__(self) -> str:
        return self.to_text()


@dataclass
class IISMember:
    """One constraint instance or variable bound of an infeasible subset."""

    kind: Literal["constraint", "bound"]
    label: str  # meet_demand['chicago'] | ship['seattle', 'topeka'] >= 0
    name: str  # the constraint's or the variable's name
    key: tuple[Any, ...]
    location: str  # constraints[1] | variables.ship.lower
    expression: str | None = None  # the document's expression (constraints)
    forall: str | None = None
    description: str | None = None
    instance: str = ""  # the instance as compiled: terms and bounds
    lower: float | None = None
    upper: float | None = None
    terms: list[tuple[str, float]] = field(default_factory=list)
    data: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "name": self.name,
            "index": list(self.key),
            "location": self.location,
            "expression": self.expression,
            "forall": self.forall,
            "description": self.description,
            "instance": self.instance,
            "lower": _json_num(self.lower),
            "upper": _json_num(self.upper),
            "terms": [{"variable": lab, "coefficient": c} for lab, c in self.terms],
            "data": dict(self.data),
            "note": self.note,
        }

    def to_text(self) -> str:
        if self.kind == "bound":
            lines = [f"- bound {self.label}    [{self.location}]"]
        else:
            lines = [f"- {self.label}    [{self.location}]"]
            doc = self.expression or ""
            if self.forall:
                doc += f"    {self.forall}"
            if doc:
                lines.append(f"    formulation: {doc}")
            if self.description:
                lines.append(f"    meaning:     {self.description}")
        if self.instance:
            lines.append(f"    instance:    {self.instance}")
        if self.data:
            lines.append(f"    data:        {_data_text(self.data)}")
        if self.note:
            lines.append(f"    note:        {self.note}")
        return "\n".join(lines)


@dataclass
class InfeasibilityReport(Report):
    """An infeasible subset of the model, irreducible unless the time budget ran out."""

    members: list[IISMember]
    method: str
    irreducible: bool
    model_class: str
    name: str | None = None
    elapsed_s: float = 0.0
    message: str = ""
    status: str = "infeasible"

    @property
    def constraints(self) -> list[IISMember]:
        return [m for m in self.members if m.kind == "constraint"]

    @property
    def bounds(self) -> list[IISMember]:
        return [m for m in self.members if m.kind == "bound"]

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.members]

    def to_text(self) -> str:
        n = len(self.members)
        what = "This condition cannot hold on its own" if n == 1 else ""
        title = f"The model{f' {self.name}' if self.name else ''} is infeasible."
        if n == 1:
            head = f"{what} (an irreducible infeasible subset of one member):"
        elif self.irreducible:
            head = (
                f"These {n} conditions cannot all hold; drop any one of them and the rest "
                "can be satisfied (an irreducible infeasible subset):"
            )
        else:
            head = (
                f"These {n} conditions cannot all hold (an infeasible subset; "
                "it may not be minimal):"
            )
        lines = [title, head, ""]
        for m in self.constraints:
            lines.append(m.to_text())
        if self.bounds:
            if self.constraints:
                lines.append("")
            lines.append("Variable bounds involved:")
            for m in self.bounds:
                lines.append(m.to_text())
        lines.append("")
        lines.append(
            "To repair the model, change the data or a constraint in this list (or relax a "
            "bound); constraints not listed are not part of this conflict."
        )
        if self.message:
            lines.append(self.message)
        lines.append(f"(found by {self.method} in {self.elapsed_s:.2f} s)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "infeasibility",
            "status": self.status,
            "name": self.name,
            "model_class": self.model_class,
            "method": self.method,
            "irreducible": self.irreducible,
            "members": [m.to_dict() for m in self.members],
            "message": self.message,
            "elapsed_s": round(self.elapsed_s, 6),
        }


@dataclass
class UnboundedVariable:
    """A variable that can grow without limit while the objective keeps improving."""

    label: str
    name: str
    key: tuple[Any, ...]
    location: str
    direction: Literal["increase", "decrease"]
    step: float  # its component in the improving direction (largest = 1)
    objective_coefficient: float | None
    bounds: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "name": self.name,
            "index": list(self.key),
            "location": self.location,
            "direction": self.direction,
            "step": self.step,
            "objective_coefficient": self.objective_coefficient,
            "bounds": self.bounds,
        }


@dataclass
class UnboundedReport(Report):
    """Which variables run away, found from a primal ray or by widening a box."""

    variables: list[UnboundedVariable]
    method: str
    model_class: str
    sense: str
    objective: str
    name: str | None = None
    message: str = ""
    status: str = "unbounded"

    @property
    def labels(self) -> list[str]:
        return [v.label for v in self.variables]

    def to_text(self) -> str:
        better = "decreases" if self.sense == "minimize" else "increases"
        lines = [
            f"The model{f' {self.name}' if self.name else ''} is unbounded: the objective "
            f"({self.sense} {self.objective}) {better} without limit when these variables "
            "move together in the direction shown:",
            "",
        ]
        rows = [
            [
                v.label,
                v.direction,
                format_number(v.step),
                format_number(v.objective_coefficient),
                v.bounds,
            ]
            for v in self.variables
        ]
        lines += _table(["variable", "direction", "step", "objective coef.", "bounds"], rows)
        lines.append("")
        lines.append(
            "To fix it, bound these variables (lower/upper under variables), add the "
            "constraint that limits them in reality, or check the objective's sense and signs."
        )
        if self.message:
            lines.append(self.message)
        lines.append(f"(found by {self.method})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "unboundedness",
            "status": self.status,
            "name": self.name,
            "model_class": self.model_class,
            "method": self.method,
            "sense": self.sense,
            "objective": self.objective,
            "variables": [v.to_dict() for v in self.variables],
            "message": self.message,
        }


@dataclass
class Finding:
    """One thing :func:`sanity_check` noticed about a solution."""

    severity: Literal["error", "warning", "info"]
    code: str  # integrality | constraint | bound | magnitude | coefficients | zero_solution | ...
    label: str  # the instance, variable or model part concerned
    message: str
    location: str = ""
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "label": self.label,
            "message": self.message,
            "location": self.location,
            "value": _json_num(self.value),
        }

    def __str__(self) -> str:
        where = f" [{self.location}]" if self.location else ""
        return f"{self.severity}: {self.label}: {self.message}{where}"


@dataclass
class VariableSensitivity:
    label: str
    value: float
    reduced_cost: float
    cost: float
    cost_lower: float  # the cost coefficient can move in [cost_lower, cost_upper] ...
    cost_upper: float  # ... with the same optimal basis
    lower: float
    upper: float
    basic: bool

    def to_row(self) -> dict[str, Any]:
        return {
            "kind": "variable",
            "name": self.label,
            "value": self.value,
            "reduced_cost": self.reduced_cost,
            "cost": self.cost,
            "cost_lower": self.cost_lower,
            "cost_upper": self.cost_upper,
            "lower": self.lower,
            "upper": self.upper,
            "basic": self.basic,
        }


@dataclass
class ConstraintSensitivity:
    label: str
    location: str
    activity: float
    lower: float
    upper: float
    slack: float
    dual: float  # objective change per unit increase of the constraint's constant side
    rhs: float  # the bound that matters (the one nearer the activity)
    rhs_lower: float  # the rhs can move in [rhs_lower, rhs_upper] with the same basis
    rhs_upper: float
    objective_at_rhs_lower: float
    objective_at_rhs_upper: float

    @property
    def binding(self) -> bool:
        return abs(self.slack) <= BINDING_TOL * max(1.0, abs(self.rhs))

    def to_row(self) -> dict[str, Any]:
        return {
            "kind": "constraint",
            "name": self.label,
            "location": self.location,
            "activity": self.activity,
            "lower": self.lower,
            "upper": self.upper,
            "slack": self.slack,
            "dual": self.dual,
            "binding": self.binding,
            "rhs": self.rhs,
            "rhs_lower": self.rhs_lower,
            "rhs_upper": self.rhs_upper,
            "objective_at_rhs_lower": self.objective_at_rhs_lower,
            "objective_at_rhs_upper": self.objective_at_rhs_upper,
        }


@dataclass
class SensitivityReport(Report):
    """Duals, slacks, reduced costs and ranging of an optimal LP, in formulation names."""

    objective: float
    sense: str
    variables: list[VariableSensitivity]
    constraints: list[ConstraintSensitivity]
    model_class: str = "LP"
    name: str | None = None
    findings: list[Finding] = field(default_factory=list)
    note: str = ""
    status: str = "optimal"

    def dual(self, label: str) -> float:
        """The shadow price of one constraint instance: ``report.dual("meet_demand['chicago']")``."""
        for c in self.constraints:
            if c.label == label:
                return c.dual
        raise KeyError(label)

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per variable and per constraint instance (``kind`` tells which)."""
        return [v.to_row() for v in self.variables] + [c.to_row() for c in self.constraints]

    def to_text(self) -> str:
        lines = [
            f"Optimal{f' ({self.name})' if self.name else ''}: objective = "
            f"{format_number(self.objective)} ({self.sense}).",
        ]
        if self.note:
            lines.append(self.note)
        lines += ["", "Constraints (shadow price = change of the objective per unit increase of"]
        lines.append("the right-hand side; the range keeps the same optimal basis):")
        crow = [
            [
                c.label,
                format_number(c.activity),
                format_number(c.rhs),
                format_number(c.slack),
                format_number(c.dual),
                f"[{format_number(c.rhs_lower)}, {format_number(c.rhs_upper)}]",
                "yes" if c.binding else "",
            ]
            for c in self.constraints
        ]
        lines += _table(
            ["constraint", "activity", "rhs", "slack", "shadow price", "rhs range", "binding"],
            crow[:_MAX_VALUES],
        )
        if len(crow) > _MAX_VALUES:
            lines.append(f"  … and {len(crow) - _MAX_VALUES} more (see to_rows())")
        lines += ["", "Variables (reduced cost = change of the objective per unit increase of the"]
        lines.append("variable from its bound; the cost range keeps the solution optimal):")
        vrow = [
            [
                v.label,
                format_number(v.value),
                format_number(v.reduced_cost),
                format_number(v.cost),
                f"[{format_number(v.cost_lower)}, {format_number(v.cost_upper)}]",
            ]
            for v in self.variables
        ]
        lines += _table(
            ["variable", "value", "reduced cost", "cost", "cost range"], vrow[:_MAX_VALUES]
        )
        if len(vrow) > _MAX_VALUES:
            lines.append(f"  … and {len(vrow) - _MAX_VALUES} more (see to_rows())")
        if self.findings:
            lines += ["", "Checks:"] + [f"  {f}" for f in self.findings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        def clean(row: dict[str, Any]) -> dict[str, Any]:
            return {k: (_json_num(v) if isinstance(v, float) else v) for k, v in row.items()}

        return {
            "report": "sensitivity",
            "status": self.status,
            "name": self.name,
            "model_class": self.model_class,
            "objective": _json_num(self.objective),
            "sense": self.sense,
            "note": self.note,
            "variables": [clean(v.to_row()) for v in self.variables],
            "constraints": [clean(c.to_row()) for c in self.constraints],
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass
class BindingConstraint:
    """A constraint instance holding at one of its bounds at a point."""

    label: str
    """The instance in the document's names, e.g. ``supply['seattle']``."""
    location: str
    """Where the constraint sits in the document, e.g. ``constraints[0]``."""
    activity: float
    """The body's value at the point (constant terms moved to the bound)."""
    bound: float
    """The bound it holds at (the lower one for equalities)."""
    side: Literal["lower", "upper", "equal"]
    """Which bound: ``equal`` when both sides hold (an equality or a tight range)."""
    row: int | None = None
    """The row of the compiled linear matrix, ``None`` for a nonlinear instance."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "location": self.location,
            "activity": _json_num(self.activity),
            "bound": _json_num(self.bound),
            "side": self.side,
        }


@dataclass
class SolutionReport(Report):
    """A solve's outcome when no deeper diagnosis applies: values, binding rows, checks."""

    status: str
    objective: float | None
    model_class: str | None
    solver: str
    message: str = ""
    name: str | None = None
    values: list[tuple[str, float]] = field(default_factory=list)
    binding: list[BindingConstraint] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    gap: float | None = None
    errors: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        head = f"Status: {self.status}"
        if self.objective is not None:
            head += f", objective = {format_number(self.objective)}"
        if self.model_class:
            head += f" ({self.model_class}"
            head += f", {self.solver})" if self.solver else ")"
        lines = [head]
        if self.gap is not None and self.gap > 0:
            lines.append(f"relative MIP gap: {self.gap:.3g}")
        if self.message:
            lines.append(self.message)
        lines += [f"  {e}" for e in self.errors]
        if self.values:
            lines += ["", "Nonzero values:"]
            lines += _table(
                ["variable", "value"],
                [[lab, format_number(v)] for lab, v in self.values[:_MAX_VALUES]],
            )
            if len(self.values) > _MAX_VALUES:
                lines.append(f"  … and {len(self.values) - _MAX_VALUES} more")
        if self.binding:
            lines += ["", "Binding constraints (at a bound):"]
            lines += _table(
                ["constraint", "activity", "bound", "side", "location"],
                [
                    [b.label, format_number(b.activity), format_number(b.bound), b.side, b.location]
                    for b in self.binding[:_MAX_VALUES]
                ],
            )
            if len(self.binding) > _MAX_VALUES:
                lines.append(f"  … and {len(self.binding) - _MAX_VALUES} more")
        if self.findings:
            lines += ["", "Checks:"] + [f"  {f}" for f in self.findings]
        elif self.values:
            lines += ["", "Checks: no violations or numerical smells found."]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "solution",
            "status": self.status,
            "name": self.name,
            "objective": _json_num(self.objective),
            "model_class": self.model_class,
            "solver": self.solver,
            "message": self.message,
            "gap": self.gap,
            "values": {lab: _json_num(v) for lab, v in self.values},
            "binding": [b.to_dict() for b in self.binding],
            "findings": [f.to_dict() for f in self.findings],
            "errors": list(self.errors),
        }


# ------------------------------------------------------------ describing members


class _Describer:
    """Turns rows, bounds and nonlinear instances into :class:`IISMember` objects."""

    def __init__(self, model: CompiledModel) -> None:
        self.model = model
        self.A = model.matrix
        self.data = _InstanceData(model)
        self.labels = _Labels(model)

    def row(self, row: int) -> IISMember:
        m = self.model
        blk, k = _block_of_row(m, row)
        c = m.formulation.constraints[blk.index]
        start, end = self.A.indptr[row], self.A.indptr[row + 1]
        terms = [
            (self.labels.column(int(j)), float(v))
            for j, v in zip(self.A.indices[start:end], self.A.data[start:end], strict=True)
            if v != 0
        ]
        lo, hi = float(m.row_lb[row]), float(m.row_ub[row])
        return IISMember(
            kind="constraint",
            label=self.labels.instance(blk, k),
            name=blk.name,
            key=self.labels.key(blk, k),
            location=f"constraints[{blk.index}]",
            expression=c.expression,
            forall=c.forall,
            description=c.description,
            instance=_relation_text(_linear_text(terms), lo, hi),
            lower=_none_if_inf(lo),
            upper=_none_if_inf(hi),
            terms=terms,
            data=self.data.of(blk, k),
        )

    def nonlinear(self, bi: int, k: int) -> IISMember:
        m = self.model
        blk = m.con_blocks[bi]
        c = m.formulation.constraints[blk.index]
        lo, hi = float(blk.lb[k]), float(blk.ub[k])
        return IISMember(
            kind="constraint",
            label=self.labels.instance(blk, k),
            name=blk.name,
            key=self.labels.key(blk, k),
            location=f"constraints[{blk.index}]",
            expression=c.expression,
            forall=c.forall,
            description=c.description,
            lower=_none_if_inf(lo),
            upper=_none_if_inf(hi),
            data=self.data.of(blk, k),
            note="nonlinear constraint",
        )

    def bound(self, col: int, side: Literal["lower", "upper"]) -> IISMember:
        m = self.model
        name, _ = _block_of_col(m, col)
        key = _column_key(m, col)
        label = m.column_label(col)
        value = float(m.col_lb[col] if side == "lower" else m.col_ub[col])
        op = ">=" if side == "lower" else "<="
        vdef = m.formulation.variables[name]
        written = getattr(vdef, side)
        note = ""
        data: dict[str, float] = {}
        if side == "lower" and "lower" not in vdef.model_fields_set:
            note = "the default lower bound 0; write 'lower: null' for a free variable"
        elif isinstance(written, str):
            p = m.data.params.get(written)
            if p is not None:
                if p.scalar:
                    data[written] = float(p.array)
                else:
                    data[instance_label(written, key)] = value
        if vdef.type == "integer":
            note = (note + "; " if note else "") + "integer variable"
        return IISMember(
            kind="bound",
            label=f"{label} {op} {format_number(value)}",
            name=name,
            key=key,
            location=f"variables.{name}.{side}",
            lower=value if side == "lower" else None,
            upper=value if side == "upper" else None,
            data=data,
            note=note,
        )


def _none_if_inf(x: float) -> float | None:
    return None if math.isinf(x) else x


# ------------------------------------------------------------------ feasibility oracles

Cand = tuple[str, int, int]  # ("row", r, 0) | ("lb", j, 0) | ("ub", j, 0) | ("nl", block, k)


def _candidates(model: CompiledModel, nonlinear: bool) -> list[Cand]:
    """Everything a deletion filter may drop; bounds first, so that rows are kept by preference.

    Binary columns keep their 0/1 bounds: they define the variable's domain.
    """
    out: list[Cand] = []
    free = model.col_type != 2
    for j in np.flatnonzero(np.isfinite(model.col_lb) & free).tolist():
        out.append(("lb", j, 0))
    for j in np.flatnonzero(np.isfinite(model.col_ub) & free).tolist():
        out.append(("ub", j, 0))
    for r in range(model.nrows):
        if math.isfinite(model.row_lb[r]) or math.isfinite(model.row_ub[r]):
            out.append(("row", r, 0))
    if nonlinear:
        for bi, b in enumerate(model.con_blocks):
            if not b.linear:
                out.extend(("nl", bi, k) for k in range(b.count))
    return out


def _masks(
    model: CompiledModel, active: Sequence[Cand]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row and column bounds with everything not active relaxed to ±inf."""
    rl = np.full(model.nrows, -np.inf)
    ru = np.full(model.nrows, np.inf)
    cl = np.where(model.col_type == 2, model.col_lb, -np.inf)
    cu = np.where(model.col_type == 2, model.col_ub, np.inf)
    for kind, i, _ in active:
        if kind == "row":
            rl[i], ru[i] = model.row_lb[i], model.row_ub[i]
        elif kind == "lb":
            cl[i] = model.col_lb[i]
        elif kind == "ub":
            cu[i] = model.col_ub[i]
    return rl, ru, cl, cu


class _LinearOracle:
    """Is the linear part (rows, bounds, integrality) infeasible with only ``active`` kept?

    One HiGHS instance is reused and only its bounds change between checks,
    so every check after the first starts warm.  A continuous oracle runs
    without presolve so that HiGHS leaves a dual (Farkas) ray behind: its
    support names every row and bound the last infeasibility proof used, and
    lets the deletion filter drop all the others at once.
    """

    def __init__(self, model: CompiledModel, deadline: float, integer: bool = True) -> None:
        from modeling.backends.highs import build

        self.model = model
        self.deadline = deadline
        self.continuous = not (integer and model.integer)
        base = model if integer else replace(model, col_type=np.zeros(model.ncols, dtype=np.int8))
        extra = {"presolve": "off"} if self.continuous else {}
        self.h: Any = build(base, SolverOptions(extra=extra), objective=False)
        self.rows = np.arange(model.nrows, dtype=np.int32)
        self.cols = np.arange(model.ncols, dtype=np.int32)
        self.At = model.matrix.T.tocsr()
        self.calls = 0

    def __call__(self, active: Sequence[Cand]) -> bool | None:
        import highspy

        m = self.model
        rl, ru, cl, cu = _masks(m, active)
        if m.nrows:
            self.h.changeRowsBounds(m.nrows, self.rows, rl, ru)
        if m.ncols:
            self.h.changeColsBounds(m.ncols, self.cols, cl, cu)
        left = self.deadline - time.monotonic()
        if left <= 0:
            return None
        self.h.setOptionValue("time_limit", max(0.05, left))
        self.calls += 1
        self.h.run()
        ms = self.h.getModelStatus()
        K = highspy.HighsModelStatus
        if ms in (K.kInfeasible, K.kUnboundedOrInfeasible):
            return True  # with no objective, "unbounded" is impossible
        if ms in (K.kOptimal, K.kModelEmpty):
            return False
        return None

    def support(self, active: Sequence[Cand]) -> list[Cand] | None:
        """The members of ``active`` that the last infeasibility proof used, if HiGHS kept one."""
        if not self.continuous:
            return None
        try:
            _, has, ray = self.h.getDualRay()
        except Exception:
            return None
        if not has:
            return None
        y = np.asarray(ray, dtype=float)[: self.model.nrows]
        if not len(y) or not np.all(np.isfinite(y)):
            return None
        scale = float(np.max(np.abs(y))) if len(y) else 0.0
        if scale == 0:
            return None
        rows = np.abs(y) > 1e-9 * scale
        d = np.abs(self.At @ np.where(rows, y, 0.0))
        cols = d > 1e-9 * max(scale, float(d.max()) if len(d) else 0.0)
        out = []
        for c in active:
            kind, i, _ = c
            if (kind == "row" and rows[i]) or (kind in ("lb", "ub") and cols[i]) or kind == "nl":
                out.append(c)
        return out


class _SolveOracle:
    """Feasibility of the whole model (nonlinear instances too) via :func:`modeling.solve`."""

    def __init__(self, model: CompiledModel, deadline: float) -> None:
        self.model = model
        self.deadline = deadline
        self.calls = 0

    def __call__(self, active: Sequence[Cand]) -> bool | None:
        from modeling.solve import solve

        left = self.deadline - time.monotonic()
        if left <= 0:
            return None
        self.calls += 1
        res = solve(_restricted(self.model, active), time_limit=max(0.5, left))
        if res.status is Status.INFEASIBLE:
            return True
        if res.status.has_solution:
            return False
        return None


def _restricted(model: CompiledModel, active: Sequence[Cand]) -> CompiledModel:
    """A copy of ``model`` with no objective and only the ``active`` candidates enforced."""
    rl, ru, cl, cu = _masks(model, active)
    keep: dict[int, list[int]] = {}
    for kind, bi, k in active:
        if kind == "nl":
            keep.setdefault(bi, []).append(k)
    blocks: list[ConBlock] = []
    for bi, b in enumerate(model.con_blocks):
        if b.linear:
            blocks.append(b)
            continue
        ks = sorted(keep.get(bi, []))
        if not ks:
            continue
        idx = np.asarray(ks, dtype=np.int64)
        blocks.append(
            replace(
                b,
                keys_cols=[c[idx] for c in b.keys_cols],
                count=len(ks),
                trees=[b.trees[k] for k in ks],
                lb=b.lb[idx],
                ub=b.ub[idx],
            )
        )
    m2 = replace(
        model,
        col_lb=cl,
        col_ub=cu,
        row_lb=rl,
        row_ub=ru,
        con_blocks=blocks,
        obj_const=0.0,
        obj_c=np.zeros(model.ncols),
        obj_q=(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)),
        obj_tree=None,
    )
    # with no objective left, the constraints alone decide the class (and the solver)
    nonlinear = any(not b.linear for b in blocks)
    if nonlinear:
        m2.model_class = ModelClass.MINLP if model.integer else ModelClass.NLP
        m2.convex = None
    else:
        m2.model_class = ModelClass.MILP if model.integer else ModelClass.LP
        m2.convex = True
    return m2


def _deletion_filter(
    cands: list[Cand],
    infeasible: Callable[[Sequence[Cand]], bool | None],
    deadline: float,
    support: Callable[[Sequence[Cand]], list[Cand] | None] | None = None,
) -> tuple[list[Cand], bool]:
    """Shrink an infeasible set until dropping any member makes it feasible.

    Chunks are dropped while the rest stays infeasible, halving on failure,
    so a small conflict among many candidates costs about k·log(n) solves.
    With ``support`` (LPs), everything the last infeasibility proof did not
    use is dropped at once, after one check that the rest is still
    infeasible.  Members kept earlier are necessary for every subset, so a
    valid proof always contains them.  Returns the set and whether it is
    proven irreducible (no time-out, no undecided solve).
    """
    keep: list[Cand] = []
    pending = list(cands)
    complete = True

    def shrink(rest: list[Cand]) -> list[Cand]:
        if support is None:
            return rest
        used = support(keep + rest)
        if used is None:
            return rest
        used_set = set(used)
        smaller = [c for c in rest if c in used_set]
        if len(smaller) < len(rest) and infeasible(keep + smaller) is True:
            return smaller
        return rest

    pending = shrink(pending) if support is not None and infeasible(pending) is True else pending
    chunk = max(1, len(pending) // 2)
    while pending:
        if time.monotonic() >= deadline:
            keep.extend(pending)
            return keep, False
        chunk = min(chunk, len(pending))
        rest = pending[chunk:]
        res = infeasible(keep + rest)
        if res is True:
            pending = shrink(rest)
            chunk = max(1, chunk * 2)
        elif chunk > 1:
            chunk //= 2
        else:
            if res is None:
                complete = False
            keep.append(pending[0])
            pending = rest
    return keep, complete


def _highs_iis_seed(model: CompiledModel, deadline: float) -> list[Cand] | None:
    """HiGHS's IIS of the continuous linear part, as candidates; None when unavailable."""
    import highspy

    from modeling.backends.highs import build

    relaxed = replace(model, col_type=np.zeros(model.ncols, dtype=np.int8))
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    # HiGHS's irreducible IIS solves many LPs and ignores the time limit, so it is asked
    # for only on small models; larger ones get its cheap infeasible subset from one LP.
    strategy = int(highspy.IisStrategy.kIisStrategyFromLp)
    if model.nrows + model.ncols <= _IIS_IRREDUCIBLE_MAX:
        strategy |= int(highspy.IisStrategy.kIisStrategyIrreducible)
    try:
        h = build(
            relaxed,
            SolverOptions(time_limit=max(0.1, left), extra={"iis_strategy": strategy}),
            objective=False,
        )
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kInfeasible:
            return None
        status, iis = h.getIis()
    except Exception:  # an experimental HiGHS facility: never let it break the diagnosis
        return None
    if status == highspy.HighsStatus.kError or not iis.valid_:
        return None
    B = highspy.IisBoundStatus
    out: list[Cand] = []
    binary = model.col_type == 2
    for j, st in zip(list(iis.col_index_), list(iis.col_bound_), strict=False):
        if binary[j]:
            continue
        if st in (int(B.kIisBoundStatusLower), int(B.kIisBoundStatusBoxed)) and math.isfinite(
            model.col_lb[j]
        ):
            out.append(("lb", int(j), 0))
        if st in (int(B.kIisBoundStatusUpper), int(B.kIisBoundStatusBoxed)) and math.isfinite(
            model.col_ub[j]
        ):
            out.append(("ub", int(j), 0))
    for r in list(iis.row_index_):
        out.append(("row", int(r), 0))
    return out or None


def explain_infeasible(
    source: Source, time_limit: float = DEFAULT_TIME_LIMIT
) -> InfeasibilityReport:
    """An irreducible infeasible subset of constraint instances and bounds, in document names.

    LP: HiGHS's IIS, verified and made irreducible by a deletion filter.
    MILP (and anything HiGHS's IIS cannot handle): the LP relaxation's IIS, if
    the relaxation is already infeasible, as the starting set, else every
    constraint instance and finite bound; then a deletion filter drops one
    candidate at a time (in growing chunks) and keeps it only if dropping it
    makes the rest feasible.  Nonlinear constraints are handled the same way
    through :func:`modeling.solve` when the linear part alone is feasible.
    With the time budget spent, the set is still infeasible but may not be
    minimal (``irreducible`` is False).

    >>> report = explain_infeasible("datasets/samples/infeasible_feed_blend.yaml")  # doctest: +SKIP
    >>> [m.label for m in report.constraints]  # doctest: +SKIP
    ['min_protein', 'max_fat']
    """
    model = _model(source)
    t0 = time.monotonic()
    deadline = t0 + float(time_limit)
    linear = _LinearOracle(model, deadline)
    lin_cands = _candidates(model, nonlinear=False)
    verdict = linear(lin_cands)
    method = "deletion filter"
    describer = _Describer(model)
    if verdict is True:
        seed = _highs_iis_seed(model, deadline)
        cands = lin_cands
        if seed is not None and linear(seed) is True:
            cands = seed
            method = "HiGHS IIS + deletion filter"
        order = {c: n for n, c in enumerate(lin_cands)}
        cands = sorted(cands, key=lambda c: order.get(c, len(order)))
        support = linear.support if linear.continuous else None
        members, complete = _deletion_filter(cands, linear, deadline, support)
    elif model.nonlinear_blocks:
        oracle = _SolveOracle(model, deadline)
        cands = _candidates(model, nonlinear=True)
        verdict = oracle(cands)
        if verdict is not True:
            raise DiagnosticsError(
                "could not show that the model is infeasible"
                + (" within the time limit" if verdict is None else ": it has a feasible point"),
                "solve it to see its status; raise time_limit for a slow nonlinear model",
            )
        method = "deletion filter with modeling.solve"
        members, complete = _deletion_filter(cands, oracle, deadline)
    elif verdict is False:
        raise DiagnosticsError(
            "the model is feasible: there is no infeasible subset to explain",
            "an 'infeasible' status from a solver may have come from a time limit or "
            "numerical trouble; solve again and read the status",
        )
    else:
        raise DiagnosticsError(
            "could not decide feasibility within the time limit", "raise time_limit"
        )

    def doc_order(c: Cand) -> tuple[int, int, int, int]:
        kind, i, k = c
        if kind == "row":
            return (0, _block_of_row(model, i)[0].index, i, 0)
        if kind == "nl":
            return (0, model.con_blocks[i].index, k, 0)
        return (1, i, int(kind == "ub"), 0)

    out: list[IISMember] = []
    for kind, i, k in sorted(members, key=doc_order):
        if kind == "row":
            out.append(describer.row(i))
        elif kind == "lb":
            out.append(describer.bound(i, "lower"))
        elif kind == "ub":
            out.append(describer.bound(i, "upper"))
        else:
            out.append(describer.nonlinear(i, k))
    message = "" if complete else "The time budget ran out: the subset may not be minimal."
    return InfeasibilityReport(
        members=out,
        method=method,
        irreducible=complete,
        model_class=str(model.model_class),
        name=model.formulation.name,
        elapsed_s=time.monotonic() - t0,
        message=message,
    )


# ------------------------------------------------------------------ unboundedness


def _valid_ray(model: CompiledModel, d: np.ndarray, tol: float = 1e-7) -> bool:
    """True when ``d`` is an improving direction of the linear model's recession cone."""
    scale = float(np.max(np.abs(d))) if len(d) else 0.0
    if scale == 0 or not np.all(np.isfinite(d)):
        return False
    d = d / scale
    ad = model.matrix @ d if model.nrows else np.zeros(0)
    if np.any(ad[np.isfinite(model.row_ub)] > tol) or np.any(ad[np.isfinite(model.row_lb)] < -tol):
        return False
    if np.any(d[np.isfinite(model.col_ub)] > tol) or np.any(d[np.isfinite(model.col_lb)] < -tol):
        return False
    gain = float(model.obj_c @ d)
    return gain < -tol if model.sense == "minimize" else gain > tol


def _primal_ray(model: CompiledModel) -> np.ndarray | None:
    """HiGHS's primal ray of the (relaxed) LP, verified; None when there is none."""
    import highspy

    from modeling.backends.highs import build

    if model.obj_tree is not None or model.nonlinear_blocks or len(model.obj_q[2]):
        return None
    relaxed = replace(model, col_type=np.zeros(model.ncols, dtype=np.int8))
    try:
        h: Any = build(relaxed, SolverOptions(time_limit=10.0, extra={"presolve": "off"}))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kUnbounded:
            return None
        _, has, ray = h.getPrimalRay()
    except Exception:
        return None
    if not has:
        return None
    d = np.asarray(ray, dtype=float)[: model.ncols]
    return d if _valid_ray(model, d) else None


def _box_direction(model: CompiledModel, time_limit: float) -> np.ndarray | None:
    """The change of the optimum when a box around the free directions widens tenfold."""
    from modeling.solve import solve

    finite = np.concatenate(
        [
            model.col_lb[np.isfinite(model.col_lb)],
            model.col_ub[np.isfinite(model.col_ub)],
            model.row_lb[np.isfinite(model.row_lb)],
            model.row_ub[np.isfinite(model.row_ub)],
        ]
    )
    scale = float(np.max(np.abs(finite))) if len(finite) else 1.0
    box = min(1e8, max(1e4, 1e3 * scale))
    xs = []
    for b in (box, 10 * box):
        m2 = replace(
            model,
            col_lb=np.where(np.isinf(model.col_lb), -b, model.col_lb),
            col_ub=np.where(np.isinf(model.col_ub), b, model.col_ub),
        )
        res = solve(m2, time_limit=time_limit / 2)
        if res.x is None:
            return None
        xs.append(np.asarray(res.x, dtype=float))
    d = xs[1] - xs[0]
    moving = np.abs(d) > 1e-3 * box
    if not moving.any():
        return None
    return np.where(moving, d, 0.0)


def _bounds_text(model: CompiledModel, col: int) -> str:
    lo, hi = model.col_lb[col], model.col_ub[col]
    if math.isinf(lo) and math.isinf(hi):
        return "free"
    if math.isinf(hi):
        return f">= {format_number(lo)}, no upper bound"
    if math.isinf(lo):
        return f"<= {format_number(hi)}, no lower bound"
    return f"in [{format_number(lo)}, {format_number(hi)}]"


def explain_unbounded(source: Source, time_limit: float = DEFAULT_TIME_LIMIT) -> UnboundedReport:
    """The variables that can grow without limit while the objective keeps improving.

    For linear models the LP's primal ray from HiGHS (checked against every
    row and bound); otherwise, or without a ray, the model is solved inside a
    box of size B and of size 10·B around its unbounded directions, and the
    variables that move with the box are reported.
    """
    model = _model(source)
    method = "primal ray (HiGHS)"
    d = _primal_ray(model)
    if d is None:
        method = "widening box"
        d = _box_direction(model, time_limit)
    if d is None:
        raise DiagnosticsError(
            "no variable grows without limit: the model does not look unbounded",
            "solve it and read the status; a time limit can hide an optimum",
        )
    scale = float(np.max(np.abs(d)))
    linear_obj = model.obj_tree is None
    out: list[UnboundedVariable] = []
    for j in np.argsort(-np.abs(d), kind="stable").tolist():
        step = float(d[j]) / scale
        if abs(step) <= 1e-9:
            continue
        name, _ = _block_of_col(model, j)
        out.append(
            UnboundedVariable(
                label=model.column_label(j),
                name=name,
                key=_column_key(model, j),
                location=f"variables.{name}",
                direction="increase" if step > 0 else "decrease",
                step=abs(step),
                objective_coefficient=float(model.obj_c[j]) if linear_obj else None,
                bounds=_bounds_text(model, j),
            )
        )
    return UnboundedReport(
        variables=out,
        method=method,
        model_class=str(model.model_class),
        sense=model.sense,
        objective=model.formulation.objective.expression,
        name=model.formulation.name,
    )


# ------------------------------------------------------------------ sensitivity


def sensitivity(
    source: Source, fix_integers: bool = False, time_limit: float | None = None
) -> SensitivityReport:
    """Shadow prices, slacks, reduced costs and ranging of an LP, in formulation names.

    Duals answer "what is one more unit of this right-hand side worth?" and
    ranging "how far can a cost or a right-hand side move before the optimal
    basis changes?" — both are defined for LPs only.  For a MILP pass
    ``fix_integers=True``: the integers are fixed at their optimal values and
    the remaining LP is analysed (its duals are only valid locally).

    >>> rep = sensitivity("transport.yaml")  # the spec's example  # doctest: +SKIP
    >>> rep.dual("meet_demand['chicago']")  # doctest: +SKIP
    1.7
    """
    import highspy

    from modeling.backends.highs import build

    model = _model(source)
    cls = model.model_class
    note = ""
    if cls is ModelClass.MILP and fix_integers:
        from modeling.solve import solve

        res = solve(model, time_limit=time_limit)
        if res.x is None:
            raise DiagnosticsError(
                f"the MILP has no solution to fix (status {res.status})",
                "sensitivity needs an optimal solution",
            )
        ints = model.col_type > 0
        xi = np.round(res.x)
        model = replace(
            model,
            col_lb=np.where(ints, xi, model.col_lb),
            col_ub=np.where(ints, xi, model.col_ub),
            col_type=np.zeros(model.ncols, dtype=np.int8),
        )
        model.model_class = ModelClass.LP
        note = (
            "The integer variables are fixed at their optimal values; these duals and "
            "ranges describe the LP that remains and hold only near this solution."
        )
    elif cls is not ModelClass.LP:
        what = {
            ModelClass.MILP: "this is a MILP — fix the integers and re-solve "
            "(sensitivity(source, fix_integers=True)), or relax them to continuous to "
            "study the LP relaxation",
            ModelClass.QP: "this is a QP — its duals exist but ranging does not; read "
            "result.duals after modeling.solve",
        }.get(cls, f"this is a {cls} — duals and ranging are defined for linear programs")
        raise DiagnosticsError(f"sensitivity needs an LP; {what}")

    opts = SolverOptions(time_limit=time_limit)
    h = build(model, opts)
    h.run()
    ms = h.getModelStatus()
    if ms != highspy.HighsModelStatus.kOptimal:
        raise DiagnosticsError(
            f"sensitivity needs an optimal LP; HiGHS says {h.modelStatusToString(ms)}",
            "use explain() to diagnose an infeasible or unbounded model",
        )
    sol = h.getSolution()
    x = np.asarray(sol.col_value, dtype=float)
    act = np.asarray(sol.row_value, dtype=float)
    rdual = np.asarray(sol.row_dual, dtype=float)
    cdual = np.asarray(sol.col_dual, dtype=float)
    basis = h.getBasis()
    basic = [s == highspy.HighsBasisStatus.kBasic for s in basis.col_status]
    n, m = model.ncols, model.nrows
    nan_n, nan_m = np.full(n, np.nan), np.full(m, np.nan)
    cost_lo, cost_hi = nan_n, nan_n
    rhs_lo, rhs_hi, obj_lo, obj_hi = nan_m, nan_m, nan_m, nan_m
    try:
        st, rng = h.getRanging()
        if st != highspy.HighsStatus.kError and rng.valid:
            cost_lo = np.asarray(rng.col_cost_dn.value_, dtype=float)[:n]
            cost_hi = np.asarray(rng.col_cost_up.value_, dtype=float)[:n]
            rhs_lo = np.asarray(rng.row_bound_dn.value_, dtype=float)[:m]
            rhs_hi = np.asarray(rng.row_bound_up.value_, dtype=float)[:m]
            obj_lo = np.asarray(rng.row_bound_dn.objective_, dtype=float)[:m]
            obj_hi = np.asarray(rng.row_bound_up.objective_, dtype=float)[:m]
    except Exception:  # ranging is a bonus: duals are still worth reporting without it
        note = (note + " " if note else "") + "HiGHS could not compute ranging."

    labels = _Labels(model)
    variables = [
        VariableSensitivity(
            label=labels.column(j),
            value=float(x[j]),
            reduced_cost=_clean_zero(float(cdual[j])),
            cost=float(model.obj_c[j]),
            cost_lower=float(cost_lo[j]),
            cost_upper=float(cost_hi[j]),
            lower=float(model.col_lb[j]),
            upper=float(model.col_ub[j]),
            basic=bool(basic[j]) if j < len(basic) else False,
        )
        for j in range(n)
    ]
    constraints: list[ConstraintSensitivity] = []
    for blk in model.con_blocks:
        if not blk.linear:
            continue
        for k in range(blk.count):
            i = blk.row_start + k
            lo, hi, a = float(model.row_lb[i]), float(model.row_ub[i]), float(act[i])
            slack_lo = a - lo if math.isfinite(lo) else math.inf
            slack_hi = hi - a if math.isfinite(hi) else math.inf
            rhs = lo if slack_lo <= slack_hi else hi
            constraints.append(
                ConstraintSensitivity(
                    label=labels.instance(blk, k),
                    location=f"constraints[{blk.index}]",
                    activity=a,
                    lower=lo,
                    upper=hi,
                    slack=_clean_zero(min(slack_lo, slack_hi)),
                    dual=_clean_zero(float(rdual[i])),
                    rhs=rhs,
                    rhs_lower=float(rhs_lo[i]),
                    rhs_upper=float(rhs_hi[i]),
                    objective_at_rhs_lower=float(obj_lo[i]),
                    objective_at_rhs_upper=float(obj_hi[i]),
                )
            )
    info = h.getInfo()
    result = SolveResult(Status.OPTIMAL, x=x, model=model, objective=info.objective_function_value)
    return SensitivityReport(
        objective=float(info.objective_function_value),
        sense=model.sense,
        variables=variables,
        constraints=constraints,
        model_class=str(cls),
        name=model.formulation.name,
        findings=sanity_check(result),
        note=note,
    )


def _clean_zero(x: float) -> float:
    return 0.0 if abs(x) < 1e-12 else x


# ------------------------------------------------------------------ sanity checks


def _scaled(tol: float, ref: np.ndarray | float) -> np.ndarray:
    return tol * np.maximum(1.0, np.abs(np.where(np.isfinite(ref), ref, 0.0)))


def sanity_check(result: SolveResult, tol: float = 1e-6) -> list[Finding]:
    """What is wrong or suspicious about a returned point, in formulation names.

    Checks, each relative to the size of the numbers involved: integrality,
    linear rows (A·x against their bounds), nonlinear constraints (their
    expression trees evaluated at x), variable bounds, the objective the
    solver reported against the one recomputed from x, values above 1e9,
    coefficients spanning more than 1e9 (they hurt every solver's numerics),
    and an all-zero solution with objective 0 of a maximisation (often a
    sign or a missing term).
    """
    model, x = result.model, result.x
    if model is None or x is None:
        return [
            Finding(
                "info",
                "no_solution",
                "model",
                f"no solution to check (status {result.status})",
            )
        ]
    x = np.asarray(x, dtype=float)
    out: list[Finding] = []
    labels = _Labels(model)

    ints = np.flatnonzero(model.col_type > 0)
    frac = np.abs(x[ints] - np.round(x[ints]))
    for j, f in zip(ints[frac > tol].tolist(), frac[frac > tol].tolist(), strict=True):
        name, _ = _block_of_col(model, j)
        out.append(
            Finding(
                "error",
                "integrality",
                labels.column(j),
                f"is {format_number(x[j])}, not an integer (off by {f:.3g})",
                f"variables.{name}.type",
                float(x[j]),
            )
        )

    lo_v = model.col_lb - x
    hi_v = x - model.col_ub
    for side, viol, ref in (("lower", lo_v, model.col_lb), ("upper", hi_v, model.col_ub)):
        bad = np.flatnonzero(viol > _scaled(tol, ref))
        for j in bad.tolist():
            name, _ = _block_of_col(model, j)
            op = ">=" if side == "lower" else "<="
            out.append(
                Finding(
                    "error",
                    "bound",
                    labels.column(j),
                    f"is {format_number(x[j])} but must be {op} {format_number(ref[j])}",
                    f"variables.{name}.{side}",
                    float(x[j]),
                )
            )

    if model.nrows:
        act = model.matrix @ x
        viol = np.maximum(model.row_lb - act, act - model.row_ub)
        ref = np.where(model.row_lb - act > act - model.row_ub, model.row_lb, model.row_ub)
        for i in np.flatnonzero(viol > _scaled(tol, ref)).tolist():
            blk, k = _block_of_row(model, i)
            out.append(
                Finding(
                    "error",
                    "constraint",
                    labels.instance(blk, k),
                    f"is violated by {viol[i]:.3g}: "
                    + _relation_text(format_number(act[i]), model.row_lb[i], model.row_ub[i]),
                    f"constraints[{blk.index}]",
                    float(viol[i]),
                )
            )
    for blk in model.nonlinear_blocks:
        for k, tree in enumerate(blk.trees):
            v = eval_tree(tree, x)
            lo, hi = float(blk.lb[k]), float(blk.ub[k])
            if math.isnan(v):
                out.append(
                    Finding(
                        "error",
                        "constraint",
                        labels.instance(blk, k),
                        "cannot be evaluated at the solution (log or sqrt of a negative "
                        "number, or a division by zero)",
                        f"constraints[{blk.index}]",
                    )
                )
                continue
            gap = max(lo - v, v - hi, 0.0)
            ref_v = lo if lo - v > v - hi else hi
            if gap > tol * max(1.0, abs(ref_v) if math.isfinite(ref_v) else 1.0):
                out.append(
                    Finding(
                        "error",
                        "constraint",
                        labels.instance(blk, k),
                        f"is violated by {gap:.3g}: " + _relation_text(format_number(v), lo, hi),
                        f"constraints[{blk.index}]",
                        gap,
                    )
                )

    obj = objective_value(model, x)
    if result.objective is not None and math.isfinite(obj):
        diff = abs(obj - result.objective)
        if diff > 1e-6 * max(1.0, abs(obj)) + tol:
            out.append(
                Finding(
                    "warning",
                    "objective",
                    "objective",
                    f"the solver reported {format_number(result.objective)} but the values give "
                    f"{format_number(obj)}",
                    "objective.expression",
                    obj,
                )
            )

    big = np.flatnonzero(np.abs(x) > 1e9)
    for j in big[:10].tolist():
        name, _ = _block_of_col(model, j)
        out.append(
            Finding(
                "warning",
                "magnitude",
                labels.column(j),
                f"is {format_number(x[j])}: values above 1e9 usually mean a missing bound or a "
                "unit slip (e.g. dollars vs millions)",
                f"variables.{name}",
                float(x[j]),
            )
        )
    out.extend(_coefficient_findings(model, labels))

    if (
        model.sense == "maximize"
        and result.objective is not None
        and abs(result.objective) <= tol
        and np.all(np.abs(x) <= tol)
    ):
        out.append(
            Finding(
                "warning",
                "zero_solution",
                "objective",
                "the best found is to do nothing (every variable 0, objective 0) in a "
                "maximisation: check the signs of the objective's terms and whether a "
                "constraint forbids every positive choice",
                "objective.expression",
                0.0,
            )
        )
    return out


def _coefficient_findings(model: CompiledModel, labels: _Labels) -> list[Finding]:
    """Coefficients spanning more than 1e9, or single ones above 1e9 (big-M smells)."""
    A = model.matrix
    out: list[Finding] = []
    coefs: list[tuple[float, str, str]] = []
    if A.nnz:
        rows = np.repeat(np.arange(model.nrows), np.diff(A.indptr))
        mag = np.abs(A.data)
        nz = mag > 0
        if nz.any():
            imax = int(np.argmax(np.where(nz, mag, -np.inf)))
            imin = int(np.argmin(np.where(nz, mag, np.inf)))
            for idx in (imax, imin):
                blk, k = _block_of_row(model, int(rows[idx]))
                coefs.append(
                    (
                        float(mag[idx]),
                        f"{labels.instance(blk, k)}: coefficient of {labels.column(int(A.indices[idx]))}",
                        f"constraints[{blk.index}]",
                    )
                )
    c = np.abs(model.obj_c)
    if np.any(c > 0):
        jmax = int(np.argmax(c))
        jmin = int(np.argmin(np.where(c > 0, c, np.inf)))
        for j in (jmax, jmin):
            coefs.append(
                (float(c[j]), f"objective: coefficient of {labels.column(j)}", "objective")
            )
    if not coefs:
        return out
    hi = max(coefs, key=lambda t: t[0])
    lo = min(coefs, key=lambda t: t[0])
    if hi[0] > 1e9:
        out.append(
            Finding(
                "warning",
                "magnitude",
                hi[1],
                f"is {format_number(hi[0])}: coefficients above 1e9 (a big-M?) make solvers "
                "unreliable; use the smallest valid bound",
                hi[2],
                hi[0],
            )
        )
    if lo[0] > 0 and hi[0] / lo[0] > 1e9:
        out.append(
            Finding(
                "warning",
                "coefficients",
                "model",
                f"coefficients span {hi[0] / lo[0]:.2g} (from {format_number(lo[0])} in {lo[1]} to "
                f"{format_number(hi[0])} in {hi[1]}): rescale units so they span less than 1e9",
                hi[2],
                hi[0] / lo[0],
            )
        )
    return out


# ------------------------------------------------------------------ the dispatcher


def binding_constraints(
    model: CompiledModel, x: np.ndarray, tol: float = BINDING_TOL
) -> list[BindingConstraint]:
    """The constraint instances holding at a bound at ``x``: optiwise's one rule for "binding".

    An instance binds when its activity lies within ``tol * max(1, |bound|)`` of a
    finite bound. Linear and nonlinear instances both count, and so do
    equalities (they always bind; ``side`` is ``"equal"``), so that the CLI
    report, ``optiwise explain`` and the agent all list the same constraints.

    >>> m = compile_model({"variables": {"x": {}}, "constraints": ["x <= 4"],
    ...                    "objective": {"sense": "max", "expression": "x"}})
    >>> [b.label for b in binding_constraints(m, np.array([4.0]))]
    ['constraints[0]']
    """
    out: list[BindingConstraint] = []
    labels = _Labels(model)
    x = np.asarray(x, dtype=float)
    act = model.matrix @ x if model.nrows else np.zeros(0)
    for blk in model.con_blocks:
        for k in range(blk.count):
            row: int | None = None
            if blk.linear:
                row = blk.row_start + k
                a, lo, hi = float(act[row]), float(model.row_lb[row]), float(model.row_ub[row])
            else:
                a, lo, hi = eval_tree(blk.trees[k], x), float(blk.lb[k]), float(blk.ub[k])
            at_lo = math.isfinite(lo) and abs(a - lo) <= tol * max(1.0, abs(lo))
            at_hi = math.isfinite(hi) and abs(a - hi) <= tol * max(1.0, abs(hi))
            if not (at_lo or at_hi):
                continue
            side: Literal["lower", "upper", "equal"] = (
                "equal" if at_lo and at_hi else ("lower" if at_lo else "upper")
            )
            out.append(
                BindingConstraint(
                    labels.instance(blk, k),
                    f"constraints[{blk.index}]",
                    a,
                    lo if at_lo else hi,
                    side,
                    row,
                )
            )
    return out


def solution_report(result: SolveResult) -> SolutionReport:
    """Values, binding constraints and sanity findings of any solve result."""
    model = result.model
    values: list[tuple[str, float]] = []
    binding: list[BindingConstraint] = []
    if model is not None and result.x is not None:
        x = np.asarray(result.x, dtype=float)
        labels = _Labels(model)
        for j in np.flatnonzero(np.abs(x) > 1e-9).tolist():
            values.append((labels.column(j), float(x[j])))
        binding = binding_constraints(model, x)
    return SolutionReport(
        status=str(result.status),
        objective=result.objective,
        model_class=result.model_class,
        solver=result.solver,
        message=result.message,
        name=model.formulation.name if model is not None else None,
        values=values,
        binding=binding,
        findings=sanity_check(result) if result.x is not None else [],
        gap=result.gap,
        errors=[str(e) for e in result.errors],
    )


def explain(source: Source, time_limit: float | None = None) -> Report:
    """Solve and explain: the report a person needs for whatever the solver said.

    infeasible → :func:`explain_infeasible`; unbounded → :func:`explain_unbounded`;
    optimal LP → :func:`sensitivity`; anything else → values, binding constraints
    and :func:`sanity_check` findings.  A document that breaks the spec raises
    :class:`~modeling.errors.FormulationError` (its issues are the explanation).
    """
    from modeling.solve import solve

    model = _model(source)
    budget = DEFAULT_TIME_LIMIT if time_limit is None else time_limit
    result = solve(model, time_limit=time_limit)
    status = result.status
    try:
        if status is Status.INFEASIBLE:
            return explain_infeasible(model, time_limit=budget)
        if status is Status.UNBOUNDED:
            return explain_unbounded(model, time_limit=budget)
        if status is Status.INFEASIBLE_OR_UNBOUNDED:
            try:
                return explain_infeasible(model, time_limit=budget)
            except DiagnosticsError:
                return explain_unbounded(model, time_limit=budget)
        if status is Status.OPTIMAL and model.model_class is ModelClass.LP:
            return sensitivity(model, time_limit=time_limit)
    except DiagnosticsError as exc:
        report = solution_report(result)
        report.message = (report.message + "; " if report.message else "") + str(exc)
        return report
    return solution_report(result)


__all__ = [
    "BindingConstraint",
    "ConstraintSensitivity",
    "DiagnosticsError",
    "Finding",
    "IISMember",
    "InfeasibilityReport",
    "Report",
    "SensitivityReport",
    "SolutionReport",
    "UnboundedReport",
    "UnboundedVariable",
    "VariableSensitivity",
    "binding_constraints",
    "eval_tree",
    "explain",
    "explain_infeasible",
    "explain_unbounded",
    "format_number",
    "objective_value",
    "sanity_check",
    "sensitivity",
    "solution_report",
]
