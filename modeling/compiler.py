"""Compile a formulation into a flat, solver-neutral model, vectorised.

Expressions are interpreted over *frames*: a frame holds N bindings of the
index names in scope (one per constraint instance, or per term of a sum) as
numpy arrays.  Every node evaluates once per frame, not once per binding, to
one of three kinds of value:

* :class:`Const` — a float per binding;
* :class:`Poly` — a polynomial of degree ≤ 2 per binding, stored as COO
  triplets (binding, column, coefficient) plus quadratic quadruplets;
* :class:`NL` — a per-binding expression tree for anything else.

So ``sum(cost[p, m] * ship[p, m] for p in P for m in M)`` costs a handful of
numpy calls whatever the sizes, and compile time grows linearly with the
number of nonzeros.  Trees are tuples:
``("c", v)``, ``("v", col)``, ``("+", args)``, ``("*", a, b)``, ``("/", a, b)``,
``("^", a, b)``, ``("neg", a)``, ``("f", name, a)``, ``("min"|"max", args)``,
``("poly", const, cols, coefs, qa, qb, qv)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modeling.data import ModelData, ParamData, SetData, element_text, resolve_data
from modeling.errors import FormulationError, Issue, did_you_mean
from modeling.expressions import (
    Aggregate,
    BinOp,
    BoolOp,
    Bound,
    Call,
    Compare,
    Generator,
    Index,
    Name,
    Neg,
    Node,
    Not,
    Num,
    ParseFailure,
    Pow,
    Relation,
    Str,
    Sum,
    Symbols,
    check_bounds,
    check_constant,
    check_expression,
    parse_expression,
    parse_forall,
    parse_relation,
)
from modeling.formulation import Constraint, Formulation, check_names, load_checked

if TYPE_CHECKING:
    import scipy.sparse as sp

Tree = tuple[Any, ...]
# The memory budget (modeling.limits) bounds model size to what fits the machine; this only
# keeps indices within the int32 range HiGHS and SciPy sparse matrices use.
MAX_TERMS = 2**31 - 1  # bindings in one frame, and columns in one model


class ModelClass(StrEnum):
    """The spec's model classes; they decide which backends and solvers can take a model."""

    LP = "LP"
    MILP = "MILP"
    QP = "QP"
    MIQP = "MIQP"
    NLP = "NLP"
    MINLP = "MINLP"


class EvalError(Exception):
    """An expression that parses but cannot be evaluated on the data (bad index, non-finite value)."""

    def __init__(self, message: str, hint: str = "", code: str = "data") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


# ------------------------------------------------------------------- frames


@dataclass
class Col:
    """One index name over a frame: element values and, when known, set positions."""

    values: np.ndarray
    set: str | None = None
    pos: np.ndarray | None = None

    def take(self, idx: np.ndarray) -> Col:
        """The bindings at ``idx`` only."""
        return Col(self.values[idx], self.set, None if self.pos is None else self.pos[idx])


@dataclass
class Frame:
    """N bindings of the index names in scope, one numpy column per name."""

    n: int
    names: dict[str, Col] = field(default_factory=dict)

    def take(self, idx: np.ndarray) -> Frame:
        """A frame of the bindings at ``idx`` only."""
        return Frame(len(idx), {k: c.take(idx) for k, c in self.names.items()})


ROOT = Frame(1, {})

# ------------------------------------------------------------------- values


@dataclass
class Const:
    """A constant per binding."""

    v: np.ndarray


_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=float)


@dataclass
class Poly:
    """A polynomial of degree <= 2 per binding: constants, COO linear terms, quadratic terms."""

    n: int
    const: np.ndarray
    lr: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    lc: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    lv: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    qr: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    qa: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    qb: np.ndarray = field(default_factory=lambda: _EMPTY_I)
    qv: np.ndarray = field(default_factory=lambda: _EMPTY_F)

    @property
    def quadratic(self) -> bool:
        """True when some binding has a product of two variables."""
        return len(self.qv) > 0

    def scaled(self, c: np.ndarray) -> Poly:
        """Every binding's polynomial times its constant ``c[binding]``."""
        return Poly(
            self.n,
            self.const * c,
            self.lr,
            self.lc,
            self.lv * c[self.lr],
            self.qr,
            self.qa,
            self.qb,
            self.qv * c[self.qr],
        )

    def has_terms(self) -> bool:
        """True when some binding involves a variable."""
        return len(self.lv) > 0 or len(self.qv) > 0


@dataclass
class NL:
    """Anything else: one expression tree per binding (see the module docstring)."""

    trees: list[Tree]


Value = Const | Poly | NL


def _poly_add(a: Poly, b: Poly, sign: float = 1.0) -> Poly:
    return Poly(
        a.n,
        a.const + sign * b.const,
        np.concatenate([a.lr, b.lr]),
        np.concatenate([a.lc, b.lc]),
        np.concatenate([a.lv, sign * b.lv]),
        np.concatenate([a.qr, b.qr]),
        np.concatenate([a.qa, b.qa]),
        np.concatenate([a.qb, b.qb]),
        np.concatenate([a.qv, sign * b.qv]),
    )


def _as_poly(x: Const | Poly, n: int) -> Poly:
    if isinstance(x, Poly):
        return x
    return Poly(n, x.v.astype(float, copy=True))


def _pairs(ra: np.ndarray, rb: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (ia, ib) with ra[ia] == rb[ib]: all products within each binding."""
    oa = np.argsort(ra, kind="stable")
    ob = np.argsort(rb, kind="stable")
    ca = np.bincount(ra, minlength=n)
    cb = np.bincount(rb, minlength=n)
    sa = np.cumsum(ca) - ca
    sb = np.cumsum(cb) - cb
    per = ca * cb
    total = int(per.sum())
    if total == 0:
        return _EMPTY_I, _EMPTY_I
    r = np.repeat(np.arange(n), per)
    k = np.arange(total) - np.repeat(np.cumsum(per) - per, per)
    ia = oa[sa[r] + k // cb[r]]
    ib = ob[sb[r] + k % cb[r]]
    return ia, ib


def _poly_mul(a: Poly, b: Poly) -> Poly | None:
    """Product of two polynomials, or None when the degree would exceed 2."""
    if (a.quadratic and len(b.lv) + len(b.qv)) or (b.quadratic and len(a.lv) + len(a.qv)):
        return None
    if a.quadratic:
        a, b = b, a
    # now a is affine; b may be quadratic only if a has no terms (then a is constant)
    n = a.n
    ia, ib = _pairs(a.lr, b.lr, n)
    qr = np.concatenate([a.lr[ia], b.qr])
    qa = np.concatenate([a.lc[ia], b.qa])
    qb = np.concatenate([b.lc[ib], b.qb])
    qv = np.concatenate([a.lv[ia] * b.lv[ib], b.qv * a.const[b.qr]])
    lr = np.concatenate([a.lr, b.lr])
    lc = np.concatenate([a.lc, b.lc])
    lv = np.concatenate([a.lv * b.const[a.lr], b.lv * a.const[b.lr]])
    return Poly(n, a.const * b.const, lr, lc, lv, qr, qa, qb, qv)


def _group(rows: np.ndarray, n: int) -> list[np.ndarray]:
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=n)
    return np.split(order, np.cumsum(counts)[:-1])


def poly_trees(p: Poly) -> list[Tree]:
    """One ``("poly", …)`` tree per binding."""
    lin = _group(p.lr, p.n)
    quad = _group(p.qr, p.n)
    out: list[Tree] = []
    for r in range(p.n):
        li, qi = lin[r], quad[r]
        out.append(
            (
                "poly",
                float(p.const[r]),
                tuple(p.lc[li].tolist()),
                tuple(p.lv[li].tolist()),
                tuple(p.qa[qi].tolist()),
                tuple(p.qb[qi].tolist()),
                tuple(p.qv[qi].tolist()),
            )
        )
    return out


def to_trees(x: Value, n: int) -> list[Tree]:
    """One expression tree per binding, whatever kind of value ``x`` is."""
    if isinstance(x, NL):
        return x.trees
    if isinstance(x, Const):
        v = np.broadcast_to(x.v, (n,))
        return [("c", float(c)) for c in v]
    return poly_trees(x)


# ---------------------------------------------------------------- evaluator

_FUNCS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "sin": np.sin,
    "cos": np.cos,
}


@dataclass
class VarBlock:
    """A variable of the document: its columns ``offset … offset+size``."""

    name: str
    sets: list[str]
    shape: tuple[int, ...]
    offset: int
    size: int
    vtype: str
    description: str | None = None


_HASHED_LOOKUP = 10_000
"""From this many keys on, non-integer keys are looked up in one pandas hash-table call."""


class Evaluator:
    """Evaluates expression nodes over frames against a model's data and variable blocks.

    The compiler and diagnostics share it, so an index or condition resolves the
    same way whether a model is being built or explained.
    """

    def __init__(self, data: ModelData, blocks: Mapping[str, VarBlock]) -> None:
        self.sets = data.sets
        self.params = data.params
        self.blocks = blocks
        self._components: dict[tuple[str, int], np.ndarray] = {}

    # -- index handling --------------------------------------------------
    def component(self, s: SetData, k: int) -> np.ndarray:
        """Component ``k`` of every element of tuple set ``s`` (cached)."""
        key = (s.name, k)
        arr = self._components.get(key)
        if arr is None:
            parts = [e[k] for e in s.elements]
            if all(type(p) is int for p in parts):
                arr = np.asarray(parts, dtype=np.int64)
            else:
                arr = np.empty(len(parts), dtype=object)
                arr[:] = parts
            self._components[key] = arr
        return arr

    def expand(self, frame: Frame, gens: Sequence[Generator]) -> tuple[Frame, np.ndarray]:
        """Bind the generators' names; return the inner frame and each binding's parent."""
        parent = np.arange(frame.n)
        cur = frame
        for g in gens:
            s = self.sets[g.set]
            m = len(s)
            if cur.n * m > MAX_TERMS:
                raise EvalError(
                    f"'for ... in {g.set}' expands to {cur.n * m:,} terms, more than "
                    f"the limit of {MAX_TERMS:,}",
                    "check the sets and the sums",
                    code="size",
                )
            rep = np.repeat(np.arange(cur.n), m)
            tile = np.tile(np.arange(m), cur.n)
            names = {k: c.take(rep) for k, c in cur.names.items()}
            if g.unpacked:
                for k, t in enumerate(g.targets):
                    names[t] = Col(self.component(s, k)[tile])
            else:
                names[g.targets[0]] = Col(s.values[tile], g.set, tile)
            parent = parent[rep]
            cur = Frame(cur.n * m, names)
            for cond in g.conds:
                mask = self.condition(cond, cur)
                if not mask.all():
                    keep = np.flatnonzero(mask)
                    cur = cur.take(keep)
                    parent = parent[keep]
        return cur, parent

    def term(self, node: Node, frame: Frame) -> np.ndarray:
        """A constant term of a condition or an index: element values or numbers."""
        if isinstance(node, Name):
            col = frame.names.get(node.id)
            if col is not None:
                return col.values
            p = self.params.get(node.id)
            if p is not None and p.scalar:
                return np.full(frame.n, float(p.array))
            raise EvalError(f"'{node.id}' is not a constant here", code="constant")
        if isinstance(node, Str):
            arr = np.empty(frame.n, dtype=object)
            arr[:] = [node.value] * frame.n
            return arr
        if isinstance(node, Num):
            v = node.value
            if v.is_integer() and abs(v) < 2**62:
                return np.full(frame.n, int(v), dtype=np.int64)
            return np.full(frame.n, v)
        if isinstance(node, Index) and node.base in self.params:
            return self.param(node, frame)
        if isinstance(node, BinOp | Neg | Pow | Call):
            val = self.eval(node, frame, allow_index=True)
            if isinstance(val, Const):
                arr = val.v
                whole = np.isfinite(arr) & (np.abs(arr) < 2**62)
                if np.all(whole) and np.all(arr == np.round(arr)):
                    return arr.astype(np.int64)  # integer arithmetic on indices stays integer
                return arr
        if isinstance(node, Sum | Aggregate):
            val = self.eval(node, frame)
            if isinstance(val, Const):
                return val.v
        raise EvalError("a condition or index must be constant", code="constant")

    def condition(self, node: Node, frame: Frame) -> np.ndarray:
        """A boolean per binding: an ``if`` filter or a comparison, short-circuited."""
        if isinstance(node, BoolOp):
            # Short-circuit like Python: later operands only where they still matter, so
            # that 'if t > 1 and d[t - 1] > 5' never looks up d[0].
            mask = self.condition(node.values[0], frame).copy()
            for operand in node.values[1:]:
                todo = np.flatnonzero(mask if node.op == "and" else ~mask)
                if len(todo):
                    mask[todo] = self.condition(operand, frame.take(todo))
            return mask
        if isinstance(node, Not):
            return ~self.condition(node.operand, frame)
        if isinstance(node, Compare):
            left = self.term(node.left, frame)
            result = np.ones(frame.n, dtype=bool)
            for op, right_node in zip(node.ops, node.rights, strict=True):
                right = self.term(right_node, frame)
                try:
                    res = _compare(op, left, right)
                except TypeError:
                    raise EvalError(
                        "compares a label with a number",
                        "compare labels with labels and numbers with numbers",
                        code="condition",
                    ) from None
                result &= res
                left = right
            return result
        raise EvalError("a condition must be a comparison", code="condition")

    def positions(
        self, base: str, sets: list[str], items: tuple[Node, ...], frame: Frame
    ) -> list[np.ndarray]:
        """Per indexed set, the position of each binding's index in it (``p[i, j]`` lookups)."""
        out: list[np.ndarray] = []
        it = iter(items)
        for sname in sets:
            s = self.sets[sname]
            item = next(it)
            col = frame.names.get(item.id) if isinstance(item, Name) else None
            if s.dim == 1:
                if col is not None and col.set == sname and col.pos is not None:
                    out.append(col.pos)
                    continue
                values = col.values if col is not None else self.term(item, frame)
                out.append(self._lookup(s, values, base))
            else:
                if col is not None and col.set is not None and self.sets[col.set].dim == s.dim:
                    if col.set == sname and col.pos is not None:
                        out.append(col.pos)
                        continue
                    out.append(self._lookup(s, col.values, base))
                    continue
                parts = [col.values if col is not None else self.term(item, frame)]
                for _ in range(s.dim - 1):
                    nxt = next(it)
                    c2 = frame.names.get(nxt.id) if isinstance(nxt, Name) else None
                    parts.append(c2.values if c2 is not None else self.term(nxt, frame))
                tuples = np.empty(frame.n, dtype=object)
                tuples[:] = list(zip(*[_py(p) for p in parts], strict=True))
                out.append(self._lookup(s, tuples, base))
        return out

    def _sorted(self, s: SetData) -> tuple[np.ndarray, np.ndarray]:
        """An integer set's values in increasing order and their positions (cached)."""
        key = (s.name, -1)
        order = self._components.get(key)
        if order is None:
            order = np.argsort(s.values, kind="stable")
            self._components[key] = order
        return s.values[order], order

    def _fast_positions(self, s: SetData, values: np.ndarray) -> np.ndarray | None:
        """Positions found without a Python loop (-1: not found this way), or None.

        Integer keys in an integer set by binary search (index arithmetic such as
        ``x[i, j + 1]`` over 1M bindings: ~0.05 s instead of ~5 s); many keys
        of another kind by pandas' hash table. What is not found is looked up
        one by one afterwards (its text form, or the located error).
        """
        n = len(values)
        if n == 0 or len(s) == 0:
            return None
        if values.dtype.kind in "iu" and s.dim == 1 and s.values.dtype.kind == "i":
            sv, order = self._sorted(s)
            k = np.minimum(np.searchsorted(sv, values), len(sv) - 1)
            return np.where(sv[k] == values, order[k], -1).astype(np.int64)
        if n >= _HASHED_LOOKUP and values.dtype == object:
            import pandas as pd

            index = pd.Index(s.values, dtype=object, tupleize_cols=False)
            if index.is_unique:
                return np.asarray(index.get_indexer(values), dtype=np.int64)
        return None

    def _lookup(self, s: SetData, values: np.ndarray, base: str) -> np.ndarray:
        fast = self._fast_positions(s, values)
        pairs: Iterable[tuple[int, Any]]
        if fast is not None:
            pos = fast
            bad = np.flatnonzero(pos < 0)
            vals = _py(values[bad])
            pairs = zip(bad.tolist(), vals, strict=True)
        else:
            vals = _py(values)
            get = s.pos.get
            pos = np.fromiter((get(v, -1) for v in vals), dtype=np.int64, count=len(vals))
            bad = np.flatnonzero(pos < 0)
            pairs = ((int(k), vals[k]) for k in bad)
        for k, v in pairs:
            alt = s.text_pos.get(element_text(v))
            if alt is None:
                shown = element_text(v)
                hint = did_you_mean(shown, s.text_pos) if isinstance(v, str) else ""
                raise EvalError(
                    f"{base}[...] uses {shown!r}, which is not an element of set {s.name}",
                    hint or "restrict the 'for' with an 'if' (e.g. 'if t > 1') or fix the index",
                    code="element",
                )
            pos[k] = alt
        return pos

    def param(self, node: Index, frame: Frame) -> np.ndarray:
        """A parameter entry per binding; a missing entry raises with its index."""
        p = self.params[node.base]
        pos = self.positions(node.base, p.sets, node.items, frame)
        vals = p.array[tuple(pos)]
        vals = np.broadcast_to(vals, (frame.n,)) if np.ndim(vals) == 0 else vals
        nan = np.flatnonzero(np.isnan(vals))
        if len(nan):
            at = tuple(int(q[nan[0]]) for q in pos)
            raise EvalError(
                _missing(p, at, self.sets),
                f"add the entry, or give {p.name} a default",
                code="missing",
            )
        return np.asarray(vals, dtype=float)

    # -- numeric evaluation ------------------------------------------------
    def eval(self, node: Node, frame: Frame, allow_index: bool = False) -> Value:
        """``node`` over every binding of ``frame`` at once: a Const, a Poly or an NL."""
        n = frame.n
        if isinstance(node, Num):
            return Const(np.full(n, node.value))
        if isinstance(node, Name):
            col = frame.names.get(node.id)
            if col is not None:
                if col.values.dtype == object:
                    raise EvalError(
                        f"index '{node.id}' holds labels and cannot be used as a number",
                        "use it as an index, e.g. x[i]",
                        code="type",
                    )
                return Const(col.values.astype(float))
            if node.id in self.params:
                return Const(np.full(n, float(self.params[node.id].array)))
            b = self.blocks[node.id]
            return Poly(n, np.zeros(n), np.arange(n), np.full(n, b.offset), np.ones(n))
        if isinstance(node, Str):
            raise EvalError(
                f"the label '{node.value}' is used as a number",
                "labels only appear as indices or in conditions",
                code="type",
            )
        if isinstance(node, Index):
            if node.base in self.params:
                return Const(self.param(node, frame))
            b = self.blocks[node.base]
            pos = self.positions(node.base, b.sets, node.items, frame)
            cols = b.offset + (np.ravel_multi_index(tuple(pos), b.shape) if pos else 0)
            cols = np.asarray(cols, dtype=np.int64)
            return Poly(n, np.zeros(n), np.arange(n), cols, np.ones(n))
        if isinstance(node, Neg):
            return self.neg(self.eval(node.operand, frame))
        if isinstance(node, BinOp):
            a = self.eval(node.left, frame)
            b2 = self.eval(node.right, frame)
            return self.binop(node.op, a, b2, n)
        if isinstance(node, Pow):
            return self.power(self.eval(node.base, frame), self.eval(node.exponent, frame), n)
        if isinstance(node, Call):
            args = [self.eval(a, frame) for a in node.args]
            return self.call(node.func, args, n)
        if isinstance(node, Sum):
            inner, parent = self.expand(frame, node.gens)
            body = self.eval(node.body, inner)
            return _reduce(body, parent, n)
        if isinstance(node, Aggregate):
            inner, parent = self.expand(frame, node.gens)
            body = self.eval(node.body, inner)
            return self.aggregate(node.func, body, parent, n)
        raise EvalError("this expression cannot be evaluated here", code="invalid")

    def neg(self, a: Value) -> Value:
        """``-a``, keeping its kind."""
        if isinstance(a, Const):
            return Const(-a.v)
        if isinstance(a, Poly):
            return a.scaled(np.full(a.n, -1.0))
        return NL([("neg", t) for t in a.trees])

    def binop(self, op: str, a: Value, b: Value, n: int) -> Value:
        """``a op b`` for ``+ - * /``: polynomial while the degree stays <= 2, else trees."""
        if op in "+-":
            sign = 1.0 if op == "+" else -1.0
            if isinstance(a, Const) and isinstance(b, Const):
                return Const(a.v + sign * b.v)
            if not isinstance(a, NL) and not isinstance(b, NL):
                return _poly_add(_as_poly(a, n), _as_poly(b, n), sign)
            ta, tb = to_trees(a, n), to_trees(b, n)
            if op == "+":
                return NL([("+", (x, y)) for x, y in zip(ta, tb, strict=True)])
            return NL([("+", (x, ("neg", y))) for x, y in zip(ta, tb, strict=True)])
        if op == "*":
            if isinstance(a, Const) and isinstance(b, Const):
                return Const(a.v * b.v)
            if isinstance(a, Const) and isinstance(b, Poly):
                return b.scaled(a.v)
            if isinstance(b, Const) and isinstance(a, Poly):
                return a.scaled(b.v)
            if isinstance(a, Poly) and isinstance(b, Poly):
                prod = _poly_mul(a, b)
                if prod is not None:
                    return prod
            ta, tb = to_trees(a, n), to_trees(b, n)
            return NL([("*", x, y) for x, y in zip(ta, tb, strict=True)])
        # division
        if isinstance(b, Const):
            if np.any(b.v == 0):
                raise EvalError("division by zero", "check the divisor's data", code="value")
            if isinstance(a, Const):
                return Const(a.v / b.v)
            if isinstance(a, Poly):
                return a.scaled(1.0 / b.v)
        ta, tb = to_trees(a, n), to_trees(b, n)
        return NL([("/", x, y) for x, y in zip(ta, tb, strict=True)])

    def power(self, base: Value, exp: Value, n: int) -> Value:
        """``base ** exp`` with a constant exponent; squares of linear terms stay polynomial."""
        if not isinstance(exp, Const):
            raise EvalError(
                "the exponent must be a constant", "write x ** 2, not x ** y", code="exponent"
            )
        if isinstance(base, Const):
            with np.errstate(all="ignore"):
                v = np.power(base.v, exp.v)
            overflow = np.isinf(v) & np.isfinite(base.v) & (base.v != 0)
            if np.any(overflow) and not np.any(np.isnan(v)):
                raise EvalError(
                    "a constant power is too large to compute (it overflows)",
                    "use smaller numbers, or rescale the data",
                    code="value",
                )
            if not np.all(np.isfinite(v)):
                raise EvalError(
                    "a power has no real value (e.g. a negative base with a "
                    "fractional exponent, or 0 to a negative power)",
                    code="value",
                )
            return Const(v)
        e = exp.v
        if isinstance(base, Poly) and len(e) and np.all(e == e[0]):
            k = float(e[0])
            if k == 0:
                return Const(np.ones(n))
            if k == 1:
                return base
            if k == 2:
                sq = _poly_mul(base, base)
                if sq is not None:
                    return sq
        tb = to_trees(base, n)
        return NL([("^", t, ("c", float(k))) for t, k in zip(tb, e, strict=True)])

    def call(self, func: str, args: list[Value], n: int) -> Value:
        """A built-in function (``min``, ``max``, ``abs``, ``exp``, ``log``…) per binding."""
        if all(isinstance(a, Const) for a in args):
            vs = [a.v for a in args if isinstance(a, Const)]
            if func == "min":
                return Const(np.minimum.reduce(vs))
            if func == "max":
                return Const(np.maximum.reduce(vs))
            x = vs[0]
            if func == "log" and np.any(x <= 0):
                raise EvalError("log of a number ≤ 0", code="value")
            if func == "sqrt" and np.any(x < 0):
                raise EvalError("sqrt of a negative number", code="value")
            return Const(_FUNCS[func](x))
        trees = [to_trees(a, n) for a in args]
        if func in ("min", "max"):
            return NL([(func, tuple(ts)) for ts in zip(*trees, strict=True)])
        return NL([("f", func, t) for t in trees[0]])

    def aggregate(self, func: str, body: Value, parent: np.ndarray, n: int) -> Value:
        """``min``/``max`` over generated terms, grouped back to their ``parent`` binding."""
        counts = np.bincount(parent, minlength=n)
        if np.any(counts == 0):
            raise EvalError(f"{func}() over an empty selection", code="value")
        if isinstance(body, Const):
            out = np.full(n, np.inf if func == "min" else -np.inf)
            (np.minimum if func == "min" else np.maximum).at(out, parent, body.v)
            return Const(out)
        trees = to_trees(body, len(parent))
        groups: list[list[Tree]] = [[] for _ in range(n)]
        for p, t in zip(parent.tolist(), trees, strict=True):
            groups[p].append(t)
        return NL([(func, tuple(g)) if len(g) > 1 else g[0] for g in groups])


def _py(values: np.ndarray) -> list[Any]:
    return values.tolist()


def _compare(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if op == "==":
        return np.asarray(a == b, dtype=bool)
    if op == "!=":
        return np.asarray(a != b, dtype=bool)
    if op == "<":
        return np.asarray(a < b, dtype=bool)
    if op == "<=":
        return np.asarray(a <= b, dtype=bool)
    if op == ">":
        return np.asarray(a > b, dtype=bool)
    return np.asarray(a >= b, dtype=bool)


def _missing(p: ParamData, at: tuple[int, ...], sets: Mapping[str, SetData]) -> str:
    key = ", ".join(element_text(sets[s].elements[k]) for s, k in zip(p.sets, at, strict=True))
    return f"parameter {p.name}[{key}] has no value and no default"


def _merged(p: Poly) -> Poly:
    """Quadratic terms as (a <= b) pairs, duplicates summed and zeros dropped.

    So ``x**2 - x**2 + y`` is linear, and every backend sees each product once.
    """
    if not len(p.qv):
        return p
    a, b = np.minimum(p.qa, p.qb), np.maximum(p.qa, p.qb)
    keys = np.stack([p.qr, a, b], axis=1)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    vals = np.bincount(inverse.reshape(-1), weights=p.qv, minlength=len(uniq))
    keep = vals != 0
    uniq, vals = uniq[keep], vals[keep]
    return Poly(
        p.n,
        p.const,
        p.lr,
        p.lc,
        p.lv,
        uniq[:, 0].astype(np.int64),
        uniq[:, 1].astype(np.int64),
        uniq[:, 2].astype(np.int64),
        vals,
    )


def _require_finite(p: Poly, allow_const: bool) -> None:
    if not (np.all(np.isfinite(p.lv)) and np.all(np.isfinite(p.qv))):
        raise EvalError(
            "a coefficient is infinite or not a number",
            "check the parameter values that multiply variables (e.g. 'inf')",
            code="value",
        )
    if not allow_const and not np.all(np.isfinite(p.const)):
        raise EvalError("a constant term is infinite", "check the constants", code="value")


def _reduce(body: Value, parent: np.ndarray, n: int) -> Value:
    if isinstance(body, Const):
        return Const(np.bincount(parent, weights=body.v, minlength=n).astype(float))
    if isinstance(body, Poly):
        return Poly(
            n,
            np.bincount(parent, weights=body.const, minlength=n).astype(float),
            parent[body.lr],
            body.lc,
            body.lv,
            parent[body.qr],
            body.qa,
            body.qb,
            body.qv,
        )
    groups: list[list[Tree]] = [[] for _ in range(n)]
    for p, t in zip(parent.tolist(), body.trees, strict=True):
        groups[p].append(t)
    return NL([("+", tuple(g)) for g in groups])


# ------------------------------------------------------------ the compiled model


@dataclass
class ConBlock:
    """The instances of one constraint of the document."""

    name: str
    index: int  # position in the document's constraints list
    keys_cols: list[np.ndarray]
    count: int
    linear: bool
    row_start: int = -1  # first row in the linear matrix (linear blocks)
    trees: list[Tree] = field(default_factory=list)  # nonlinear blocks: body per instance
    lb: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    ub: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    relation: Relation | None = None
    _keys: list[tuple[Any, ...]] | None = field(default=None, repr=False, compare=False)

    def keys(self) -> list[tuple[Any, ...]]:
        """Each instance's index tuple (tuple-set elements flattened); computed once."""
        if self._keys is None:
            self._keys = self._make_keys()
        return self._keys

    def _make_keys(self) -> list[tuple[Any, ...]]:
        if not self.keys_cols:
            return [()] * self.count
        cols = [c.tolist() for c in self.keys_cols]
        out = []
        for parts in zip(*cols, strict=True):
            flat: list[Any] = []
            for p in parts:
                if isinstance(p, tuple):
                    flat.extend(p)
                else:
                    flat.append(p)
            out.append(tuple(flat))
        return out

    def label(self, k: int) -> str:
        """Instance ``k`` in the document's names, e.g. ``meet_demand['chicago']``."""
        key = self.keys()[k] if self.keys_cols else ()
        return instance_label(self.name, key)


def instance_label(name: str, key: tuple[Any, ...]) -> str:
    """``name['a', 2]`` for an index tuple, ``name`` for a scalar: how every report names things."""
    if not key:
        return name
    return f"{name}[{', '.join(repr(e) if isinstance(e, str) else str(e) for e in key)}]"


@dataclass
class CompiledModel:
    """A flat model every backend can read: columns, a sparse matrix, trees for the rest."""

    formulation: Formulation
    data: ModelData
    blocks: dict[str, VarBlock]
    ncols: int
    col_lb: np.ndarray
    col_ub: np.ndarray
    col_type: np.ndarray  # 0 continuous, 1 integer, 2 binary
    sense: str
    obj_const: float
    obj_c: np.ndarray
    obj_q: tuple[np.ndarray, np.ndarray, np.ndarray]  # (a, b, v), a <= b, x'Qx as sum v*xa*xb
    obj_tree: Tree | None
    con_blocks: list[ConBlock]
    nrows: int
    A: tuple[np.ndarray, np.ndarray, np.ndarray]  # COO (row, col, value)
    row_lb: np.ndarray
    row_ub: np.ndarray
    model_class: ModelClass = ModelClass.LP
    convex: bool | None = None

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """The linear rows as an ``nrows x ncols`` CSR matrix, built once per model.

        Duplicate entries are summed and zeros dropped (``x - x`` is no term), so
        ``matrix.nnz`` counts real nonzeros. Every backend and diagnosis reads
        this one copy instead of converting the COO triplets :attr:`A` itself;
        treat it as read-only.
        """
        import scipy.sparse as sp

        r, c, v = self.A
        a = sp.csr_matrix((v, (r, c)), shape=(self.nrows, self.ncols))
        a.sum_duplicates()
        a.eliminate_zeros()
        return a

    def without_objective(self) -> CompiledModel:
        """The same constraints and bounds with a zero objective: a pure feasibility problem.

        Solved to tell *infeasible* from *unbounded* when a solver proved only
        that no optimum exists.
        """
        m = replace(
            self,
            obj_const=0.0,
            obj_c=np.zeros(self.ncols),
            obj_q=(_EMPTY_I, _EMPTY_I, _EMPTY_F),
            obj_tree=None,
        )
        m.model_class, m.convex = _classify(m)
        return m

    @property
    def integer(self) -> bool:
        """True when some column is integer or binary."""
        return bool(np.any(self.col_type > 0))

    @property
    def nonlinear_blocks(self) -> list[ConBlock]:
        """The constraints kept as trees (not rows of :attr:`matrix`)."""
        return [b for b in self.con_blocks if not b.linear]

    def column_label(self, col: int) -> str:
        """Column ``col`` in the document's names, e.g. ``ship['seattle', 'topeka']``."""
        for b in self.blocks.values():
            if b.offset <= col < b.offset + b.size:
                if not b.sets:
                    return b.name
                at = np.unravel_index(col - b.offset, b.shape)
                key: list[Any] = []
                for s, k in zip(b.sets, at, strict=True):
                    e = self.data.sets[s].elements[int(k)]
                    key.extend(e if isinstance(e, tuple) else (e,))
                return instance_label(b.name, tuple(key))
        return f"col{col}"

    def column_keys(self, block: VarBlock) -> list[tuple[Any, ...]]:
        """Index tuples of a variable's columns in column order (tuple sets flattened)."""
        if not block.sets:
            return [()]
        axes: list[list[tuple[Any, ...]]] = []
        for s in block.sets:
            axes.append([e if isinstance(e, tuple) else (e,) for e in self.data.sets[s].elements])
        out: list[tuple[Any, ...]] = [()]
        for axis in axes:
            out = [k + e for k in out for e in axis]
        return out

    def row_label(self, row: int) -> str:
        """Linear row ``row`` as the constraint instance it came from."""
        for b in self.con_blocks:
            if b.linear and b.row_start <= row < b.row_start + b.count:
                return b.label(row - b.row_start)
        return f"row{row}"


Source = Formulation | Mapping[str, Any] | str | Path | CompiledModel
"""Anything :func:`compile_model` accepts: a document (dict, JSON/YAML text, a
:class:`~modeling.formulation.Formulation`), a file path (``str`` or ``Path``),
or an already compiled model (returned as is)."""


def _classify(m: CompiledModel) -> tuple[ModelClass, bool | None]:
    integer = m.integer
    if m.obj_tree is not None or m.nonlinear_blocks:
        return (ModelClass.MINLP if integer else ModelClass.NLP), None
    if len(m.obj_q[2]) and np.any(m.obj_q[2] != 0):
        convex = _quadratic_convex(m)
        return (ModelClass.MIQP if integer else ModelClass.QP), convex
    return (ModelClass.MILP if integer else ModelClass.LP), True


def _quadratic_convex(m: CompiledModel) -> bool:
    a, b, v = m.obj_q
    cols = np.unique(np.concatenate([a, b]))
    if len(cols) > 2000:
        return False  # too large to decide cheaply; SCIP handles either case
    idx = {int(c): k for k, c in enumerate(cols)}
    Q = np.zeros((len(cols), len(cols)))
    for i, j, w in zip(a.tolist(), b.tolist(), v.tolist(), strict=True):
        Q[idx[i], idx[j]] += w / 2
        Q[idx[j], idx[i]] += w / 2
    eig = np.linalg.eigvalsh(Q)
    tol = 1e-9 * max(1.0, float(np.abs(eig).max()))
    if m.sense == "minimize":
        return bool(eig.min() >= -tol)
    return bool(eig.max() <= tol)


def symbols_of(f: Formulation, data: ModelData) -> Symbols:
    """The names an expression may use (sets with their dimension, parameters, variables)."""
    set_dims = {name: s.dim for name, s in data.sets.items()}
    for name in f.sets:
        set_dims.setdefault(name, 1)
    params: dict[str, list[str]] = {}
    for name, spec in f.parameters.items():
        if name in data.params:
            params[name] = data.params[name].sets
        elif isinstance(spec, Mapping) and isinstance(spec.get("index"), list):
            params[name] = [str(s) for s in spec["index"]]
        elif isinstance(spec, Mapping) and isinstance(spec.get("index"), str):
            params[name] = [spec["index"]]
        else:
            params[name] = []
    variables = {name: list(v.index) for name, v in f.variables.items()}
    return Symbols(set_dims, params, variables)


def _bound_array(
    value: float | str | None,
    default: float,
    block: VarBlock,
    data: ModelData,
    loc: str,
    issues: list[Issue],
) -> np.ndarray:
    if value is None:
        return np.full(block.size, default)
    if isinstance(value, int | float):
        return np.full(block.size, float(value))
    p = data.params.get(value)
    if p is None:
        issues.append(
            Issue(
                loc,
                f"'{value}' is neither a number nor a parameter",
                "write a number, null, or the name of a parameter",
                code="undefined",
            )
        )
        return np.full(block.size, default)
    if p.scalar:
        return np.full(block.size, float(p.array))
    if p.sets != block.sets:
        issues.append(
            Issue(
                loc,
                f"parameter '{value}' is indexed by [{', '.join(p.sets)}] but "
                f"variable {block.name} by [{', '.join(block.sets)}]",
                "a bound parameter has the variable's index (or none)",
                code="index",
            )
        )
        return np.full(block.size, default)
    arr = p.array.reshape(-1).astype(float)
    if np.any(np.isnan(arr)):
        issues.append(
            Issue(
                loc, f"parameter '{value}' has missing entries", "give it a default", code="missing"
            )
        )
        arr = np.where(np.isnan(arr), default, arr)
    return arr


def _issue_from(exc: ParseFailure | EvalError, loc: str) -> Issue:
    return Issue(loc, exc.message, exc.hint, exc.code)


def compile_model(source: Source) -> CompiledModel:
    """Validate and compile a formulation; raise :class:`FormulationError` with every issue.

    ``source`` is a dict, JSON/YAML text, a file path (``str`` or ``Path``), a
    :class:`~modeling.formulation.Formulation`, or a :class:`CompiledModel`
    (returned unchanged, so every entry point can take either).

    >>> m = compile_model({"variables": {"x": {"upper": 4}},
    ...                    "objective": {"sense": "max", "expression": "3 * x"}})
    >>> m.model_class, m.ncols, compile_model(m) is m
    (<ModelClass.LP: 'LP'>, 1, True)
    """
    if isinstance(source, CompiledModel):
        return source
    with np.errstate(all="ignore"):  # non-finite results are checked and reported instead
        return _compile(source)


def _compile(source: Formulation | Mapping[str, Any] | str | Path) -> CompiledModel:
    """The compiler's pipeline; each step collects issues instead of stopping at the first.

    Names, data and every expression are checked before anything is
    evaluated, so one run reports every problem of a document.
    """
    f, issues = load_checked(source)  # unknown keys reported with everything else
    issues += check_names(f)
    data = resolve_data(f, issues)
    sym = symbols_of(f, data)
    blocks, ncols = _columns(f, data, issues)
    obj_node = _parse_objective(f, sym, issues)
    parsed = [_parse_constraint(k, c, sym, issues) for k, c in enumerate(f.constraints)]
    if issues:
        raise FormulationError(issues)

    ev = Evaluator(data, blocks)
    col_lb, col_ub, col_type = _column_bounds(f, data, blocks, ncols, issues)
    assert obj_node is not None
    obj = _objective(ev, obj_node, ncols, issues)
    rows = _constraint_rows(f, parsed, ev, issues)
    if issues:
        raise FormulationError(issues)

    model = CompiledModel(
        formulation=f,
        data=data,
        blocks=blocks,
        ncols=ncols,
        col_lb=col_lb,
        col_ub=col_ub,
        col_type=col_type,
        sense=f.objective.sense,
        obj_const=obj.const,
        obj_c=obj.c,
        obj_q=obj.q,
        obj_tree=obj.tree,
        con_blocks=rows.blocks,
        nrows=rows.nrows,
        A=rows.coo(),
        row_lb=np.concatenate(rows.lb) if rows.lb else _EMPTY_F,
        row_ub=np.concatenate(rows.ub) if rows.ub else _EMPTY_F,
    )
    model.model_class, model.convex = _classify(model)
    return model


def _columns(
    f: Formulation, data: ModelData, issues: list[Issue]
) -> tuple[dict[str, VarBlock], int]:
    """One block of columns per variable, laid out in document order: variables -> columns."""
    blocks: dict[str, VarBlock] = {}
    offset = 0
    for name, v in f.variables.items():
        shape: list[int] = []
        for k, s in enumerate(v.index):
            if s not in data.sets:
                if s in f.sets:
                    shape.append(0)  # the set itself is broken and reported already
                    continue
                issues.append(
                    Issue(
                        f"variables.{name}.index[{k}]",
                        f"unknown set '{s}'",
                        did_you_mean(s, data.sets) or "declare it under sets",
                        code="undefined",
                    )
                )
                shape.append(0)
            else:
                shape.append(len(data.sets[s]))
        size = math.prod(shape) if shape else 1
        if size > MAX_TERMS:
            issues.append(
                Issue(
                    f"variables.{name}.index",
                    f"makes {size:,} variables, more than the limit of {MAX_TERMS:,}",
                    "index it by fewer or smaller sets",
                    code="size",
                )
            )
            size, shape = 0, [0] * len(shape)
        blocks[name] = VarBlock(
            name, list(v.index), tuple(shape), offset, size, v.type, v.description
        )
        offset += size
    return blocks, offset


def _parse_objective(f: Formulation, sym: Symbols, issues: list[Issue]) -> Node | None:
    """The objective's syntax tree, checked against the document's names."""
    try:
        node = parse_expression(f.objective.expression)
    except ParseFailure as exc:
        issues.append(_issue_from(exc, "objective.expression"))
        return None
    issues.extend(check_expression(node, sym, "objective.expression"))
    return node


_Parsed = tuple[tuple[Generator, ...], Relation] | None


def _parse_constraint(k: int, c: Constraint, sym: Symbols, issues: list[Issue]) -> _Parsed:
    """A constraint's ``forall`` generators and relation, or None when either has issues."""
    gens: tuple[Generator, ...] = ()
    scope: dict[str, Bound] = {}
    ok = True
    if c.forall:
        try:
            gens = parse_forall(c.forall)
            found, scope = check_bounds(gens, sym, f"constraints[{k}].forall")
            issues.extend(found)
            ok = not found
        except ParseFailure as exc:
            issues.append(_issue_from(exc, f"constraints[{k}].forall"))
            ok = False
    try:
        rel = parse_relation(c.expression)
    except ParseFailure as exc:
        issues.append(_issue_from(exc, f"constraints[{k}].expression"))
        return None
    loc = f"constraints[{k}].expression"
    if rel.body is not None:
        assert rel.lo is not None and rel.hi is not None
        found = check_constant(rel.lo, sym, loc, scope, "a range's ends")
        found += check_constant(rel.hi, sym, loc, scope, "a range's ends")
        found += check_expression(rel.body, sym, loc, scope)
    else:
        found = check_expression(rel.lhs, sym, loc, scope)
        found += check_expression(rel.rhs, sym, loc, scope)
    issues.extend(found)
    return (gens, rel) if ok and not found else None


def _column_bounds(
    f: Formulation,
    data: ModelData,
    blocks: Mapping[str, VarBlock],
    ncols: int,
    issues: list[Issue],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper bound and type (0 continuous, 1 integer, 2 binary) of every column."""
    col_lb = np.empty(ncols)
    col_ub = np.empty(ncols)
    col_type = np.zeros(ncols, dtype=np.int8)
    for name, v in f.variables.items():
        b = blocks[name]
        sl = slice(b.offset, b.offset + b.size)
        if v.type == "binary":
            col_lb[sl], col_ub[sl], col_type[sl] = 0.0, 1.0, 2
            continue
        col_lb[sl] = _bound_array(v.lower, -np.inf, b, data, f"variables.{name}.lower", issues)
        col_ub[sl] = _bound_array(v.upper, np.inf, b, data, f"variables.{name}.upper", issues)
        if v.type == "integer":
            col_type[sl] = 1
    return col_lb, col_ub, col_type


@dataclass
class _Objective:
    """The objective split as the backends read it: constant, linear, quadratic, or a tree."""

    const: float = 0.0
    c: np.ndarray = field(default_factory=lambda: _EMPTY_F)
    q: tuple[np.ndarray, np.ndarray, np.ndarray] = (_EMPTY_I, _EMPTY_I, _EMPTY_F)
    tree: Tree | None = None


def _objective(ev: Evaluator, node: Node, ncols: int, issues: list[Issue]) -> _Objective:
    """Evaluate the objective once: a constant, a polynomial of degree <= 2, or a tree."""
    out = _Objective(c=np.zeros(ncols))
    try:
        val = ev.eval(node, ROOT)
        if isinstance(val, Poly):
            val = _merged(val)
            _require_finite(val, allow_const=False)
        if isinstance(val, Const):
            if not np.all(np.isfinite(val.v)):
                raise EvalError(
                    "the objective is not a finite number",
                    "check the constants (e.g. exp of a large number)",
                    code="value",
                )
            out.const = float(val.v[0])
        elif isinstance(val, Poly):
            out.const = float(val.const[0])
            np.add.at(out.c, val.lc, val.lv)
            out.q = (val.qa, val.qb, val.qv)
        else:
            out.tree = val.trees[0]
    except EvalError as exc:
        issues.append(_issue_from(exc, "objective.expression"))
    return out


@dataclass
class _Rows:
    """The constraint blocks and the linear rows gathered so far (COO pieces, bounds)."""

    blocks: list[ConBlock] = field(default_factory=list)
    r: list[np.ndarray] = field(default_factory=list)
    c: list[np.ndarray] = field(default_factory=list)
    v: list[np.ndarray] = field(default_factory=list)
    lb: list[np.ndarray] = field(default_factory=list)
    ub: list[np.ndarray] = field(default_factory=list)
    nrows: int = 0

    def coo(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.concatenate(self.r) if self.r else _EMPTY_I,
            np.concatenate(self.c) if self.c else _EMPTY_I,
            np.concatenate(self.v) if self.v else _EMPTY_F,
        )


def _constraint_rows(
    f: Formulation, parsed: Sequence[_Parsed], ev: Evaluator, issues: list[Issue]
) -> _Rows:
    """Every constraint, all instances at once: linear ones as matrix rows, others as trees."""
    rows = _Rows()
    for k, (c, item) in enumerate(zip(f.constraints, parsed, strict=True)):
        if item is None:
            continue
        gens, rel = item
        loc = f"constraints[{k}].expression"
        try:
            n, key_cols, body, lo_v, hi_v = _instances(ev, gens, rel)
        except EvalError as exc:
            issues.append(_issue_from(exc, loc))
            continue
        if isinstance(body, Poly):
            body = _merged(body)
            try:
                _require_finite(body, allow_const=True)
            except EvalError as exc:
                issues.append(_issue_from(exc, loc))
                continue
        if isinstance(body, Poly) and not body.quadratic:
            blk = ConBlock(c.name, k, key_cols, n, True, row_start=rows.nrows, relation=rel)
            rows.r.append(body.lr + rows.nrows)
            rows.c.append(body.lc)
            rows.v.append(body.lv)
            # an infinite constant on the far side means "no limit" (inf - inf -> no bound)
            with np.errstate(invalid="ignore"):
                lb, ub = lo_v - body.const, hi_v - body.const
            rows.lb.append(np.where(np.isnan(lb), -np.inf, lb))
            rows.ub.append(np.where(np.isnan(ub), np.inf, ub))
            blk.lb, blk.ub = rows.lb[-1], rows.ub[-1]
            rows.nrows += n
        else:
            blk = ConBlock(
                c.name,
                k,
                key_cols,
                n,
                False,
                trees=to_trees(body, n),
                lb=np.asarray(lo_v, dtype=float),
                ub=np.asarray(hi_v, dtype=float),
                relation=rel,
            )
        rows.blocks.append(blk)
    return rows


def _instances(
    ev: Evaluator, gens: tuple[Generator, ...], rel: Relation
) -> tuple[int, list[np.ndarray], Value, np.ndarray, np.ndarray]:
    """A relation over its ``forall`` frame: count, index columns, body and its two bounds.

    ``lhs op rhs`` becomes ``lo <= lhs - rhs <= hi``; a range keeps its body.
    """
    frame, _ = ev.expand(ROOT, gens) if gens else (ROOT, np.zeros(1, dtype=np.int64))
    n = frame.n
    key_cols = [frame.names[t].values for g in gens for t in g.targets]
    if rel.body is not None:
        assert rel.lo is not None and rel.hi is not None
        lo = ev.eval(rel.lo, frame)
        hi = ev.eval(rel.hi, frame)
        body = ev.eval(rel.body, frame)
        if not isinstance(lo, Const) or not isinstance(hi, Const):
            raise EvalError("the ends of a range must be constant", code="range")
        if isinstance(body, Const):
            body = Poly(n, body.v.copy())
        return n, key_cols, body, lo.v, hi.v
    lhs = ev.eval(rel.lhs, frame)
    rhs = ev.eval(rel.rhs, frame)
    body = ev.binop("-", lhs, rhs, n)
    if isinstance(body, Const):
        body = Poly(n, body.v.copy())
    zeros = np.zeros(n)
    lo_v = zeros if rel.op in (">=", "==") else np.full(n, -np.inf)
    hi_v = zeros if rel.op in ("<=", "==") else np.full(n, np.inf)
    return n, key_cols, body, lo_v, hi_v


def check(source: Source) -> list[Issue]:
    """Every problem of a document, each located and with a hint; [] when it is valid.

    Never raises for a bad document and never runs anything from it.

    >>> check({"variables": {"x": {}}, "objective": {"sense": "min", "expression": "y"}})[0].message
    "unknown name 'y'"
    """
    try:
        compile_model(source)
    except FormulationError as exc:
        return exc.issues
    return []


def finite(x: float) -> float | None:
    """``x``, or None when it is infinite or NaN (JSON has neither)."""
    return None if math.isinf(x) or math.isnan(x) else x
