"""Names, numbers and instance data: how diagnostics speak the document's language."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from modeling.compiler import (
    ROOT,
    CompiledModel,
    ConBlock,
    Const,
    EvalError,
    Evaluator,
    Frame,
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
from modeling.result import SolveResult

DEFAULT_TIME_LIMIT = 30.0
BINDING_TOL = 1e-6
"""Relative distance from a bound within which a constraint counts as binding."""
_MAX_TERMS = 12  # terms of a constraint instance shown before "… more"
_MAX_PARAM_ENTRIES = 8  # entries of one parameter shown per instance
_MAX_VALUES = 50  # rows of value tables in text reports


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

    def constant_text(self, block: ConBlock, k: int) -> str | None:
        """``3 >= 5`` for an instance whose sides are all constants, else None.

        The compiled row of such an instance keeps no variable and moves the constants
        to its bound (``0 >= 2``): true to the matrix, but not the data the user wrote.
        """
        rel = block.relation
        if rel is None:
            return None
        if rel.body is not None and rel.lo is not None and rel.hi is not None:
            nodes, ops = [rel.lo, rel.body, rel.hi], ["<=", "<="]
        else:
            nodes, ops = [rel.lhs, rel.rhs], [rel.op]
        try:
            frame = self.frame(block)
            if frame.n != block.count:
                return None
            one = frame.take(np.array([k], dtype=np.int64))
            values = [self.ev.eval(node, one) for node in nodes]
        except (EvalError, KeyError, IndexError, ValueError):
            return None
        if not all(isinstance(v, Const) and v.v.shape == (1,) for v in values):
            return None
        texts = [format_number(float(v.v[0])) for v in values if isinstance(v, Const)]
        return " ".join([texts[0], *(f"{op} {t}" for op, t in zip(ops, texts[1:], strict=True))])

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
