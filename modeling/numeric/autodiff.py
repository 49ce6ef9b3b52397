"""Exact derivatives of the compiler's expression trees: reverse mode, and forward-over-reverse.

The compiler (:mod:`modeling.compiler`) turns an expression of our language
into a tree of tuples — ``("c", v)``, ``("v", col)``, ``("+", args)``,
``("*", a, b)``, ``("/", a, b)``, ``("^", a, b)``, ``("neg", a)``,
``("f", name, a)``, ``("min"|"max", args)`` and the vectorised
``("poly", const, cols, coefs, qa, qb, qv)``.  A :class:`Tape` flattens one
tree into a post-order list of instructions once; each sweep then gives

* the value,
* the gradient (one reverse sweep), and
* a Hessian-vector product ``H v`` (the reverse sweep differentiated along
  ``v``: forward-over-reverse, exact, no finite differences).

Nothing here ever runs Python code from a document: the tree is data.

>>> from modeling.compiler import compile_model
>>> m = compile_model({"variables": {"x": {"lower": None}},
...     "objective": {"sense": "minimize", "expression": "exp(2 * x)"}})
>>> t = Tape(m.obj_tree)
>>> value, grad, hv = t.sweep(np.array([0.0]), np.array([1.0]))
>>> float(value), float(grad[0]), float(hv[0])
(1.0, 2.0, 4.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Tape", "TreeError"]

Tree = tuple[Any, ...]


class TreeError(ValueError):
    """A tree node this module does not know (a compiler change it has not caught up with)."""


def _nan_guard(fn: Any, *args: float) -> float:
    try:
        out = fn(*args)
    except (ValueError, OverflowError, ZeroDivisionError):
        return math.nan
    return math.nan if isinstance(out, complex) else float(out)


_F = {
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sin": math.sin,
    "cos": math.cos,
    "abs": abs,
}


class Tape:
    """One expression tree flattened for repeated exact differentiation.

    ``ops[k]`` is an instruction whose operands are indices of earlier
    instructions, so forward sweeps run in order and reverse sweeps backwards,
    with no recursion after construction.  ``ncols`` is only a lower bound used
    when the caller does not say how many columns the point has.
    """

    def __init__(self, tree: Tree) -> None:
        self.ops: list[tuple[Any, ...]] = []
        self.ncols = 0
        self._emit(tree)

    def _emit(self, tree: Tree) -> int:
        op = tree[0]
        if op == "c":
            ins: tuple[Any, ...] = ("c", float(tree[1]))
        elif op == "v":
            self.ncols = max(self.ncols, int(tree[1]) + 1)
            ins = ("v", int(tree[1]))
        elif op == "poly":
            _, const, cols, coefs, qa, qb, qv = tree
            arrays = (
                np.asarray(cols, dtype=np.int64),
                np.asarray(coefs, dtype=float),
                np.asarray(qa, dtype=np.int64),
                np.asarray(qb, dtype=np.int64),
                np.asarray(qv, dtype=float),
            )
            for cols_of in (arrays[0], arrays[2], arrays[3]):
                if len(cols_of):
                    self.ncols = max(self.ncols, int(cols_of.max()) + 1)
            ins = ("poly", float(const), *arrays)
        elif op in ("+", "min", "max"):
            ins = (op, tuple(self._emit(t) for t in tree[1]))
        elif op in ("*", "/", "^"):
            a = self._emit(tree[1])
            b = self._emit(tree[2])
            ins = (op, a, b)
        elif op == "neg":
            ins = ("neg", self._emit(tree[1]))
        elif op == "f":
            if tree[1] not in _F:
                raise TreeError(f"no derivative for the function {tree[1]!r}")
            ins = ("f", tree[1], self._emit(tree[2]))
        else:
            raise TreeError(f"unknown tree node {op!r}")
        self.ops.append(ins)
        return len(self.ops) - 1

    def value(self, x: np.ndarray) -> float:
        """The value at ``x`` (NaN where the expression is undefined)."""
        return self._forward(np.asarray(x, dtype=float), None)[0][-1]

    def sweep(
        self, x: np.ndarray, direction: np.ndarray | None = None
    ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """``(value, gradient, H @ direction)`` at ``x``; the last is None without a direction.

        The gradient has ``len(x)`` entries.  Where a function is not
        differentiable (``abs`` at 0, ties of ``min``/``max``) a one-sided
        derivative is used.
        """
        x = np.asarray(x, dtype=float)
        d = None if direction is None else np.asarray(direction, dtype=float)
        vals, tans = self._forward(x, d)
        grad, hv = self._reverse(x, d, vals, tans)
        return vals[-1], grad, hv

    # ------------------------------------------------------------ sweeps

    def _forward(self, x: np.ndarray, d: np.ndarray | None) -> tuple[list[float], list[float]]:
        vals: list[float] = []
        tans: list[float] = []
        with_t = d is not None
        for ins in self.ops:
            op = ins[0]
            t = 0.0
            if op == "c":
                v = ins[1]
            elif op == "v":
                v = float(x[ins[1]])
                if with_t:
                    assert d is not None
                    t = float(d[ins[1]])
            elif op == "poly":
                _, const, cols, coefs, qa, qb, qv = ins
                v = const + float(coefs @ x[cols]) + float(qv @ (x[qa] * x[qb]))
                if with_t:
                    assert d is not None
                    t = float(coefs @ d[cols]) + float(qv @ (d[qa] * x[qb] + x[qa] * d[qb]))
            elif op == "+":
                v = float(sum(vals[k] for k in ins[1]))
                t = float(sum(tans[k] for k in ins[1])) if with_t else 0.0
            elif op == "neg":
                v, t = -vals[ins[1]], -tans[ins[1]]
            elif op in ("min", "max"):
                pick = (min if op == "min" else max)(ins[1], key=lambda k: vals[k])
                v, t = vals[pick], tans[pick]
            elif op == "*":
                a, b = vals[ins[1]], vals[ins[2]]
                v = a * b
                t = tans[ins[1]] * b + a * tans[ins[2]]
            elif op == "/":
                a, b = vals[ins[1]], vals[ins[2]]
                v = a / b if b != 0 else math.nan
                t = (tans[ins[1]] - v * tans[ins[2]]) / b if b != 0 else math.nan
            elif op == "^":
                a, b = vals[ins[1]], vals[ins[2]]
                v = _nan_guard(pow, a, b)
                pa, pb = self._pow_partials(a, b, v)
                t = pa * tans[ins[1]] + pb * tans[ins[2]] if with_t else 0.0
            else:  # "f"
                a = vals[ins[2]]
                v = _nan_guard(_F[ins[1]], a)
                t = self._f_partial(ins[1], a, v) * tans[ins[2]] if with_t else 0.0
            vals.append(v)
            tans.append(t)
        return vals, tans

    @staticmethod
    def _pow_partials(a: float, b: float, v: float) -> tuple[float, float]:
        pa = 0.0 if b == 0 else b * _nan_guard(pow, a, b - 1)
        pb = 0.0 if v == 0 or a <= 0 else v * math.log(a)
        return pa, pb

    @staticmethod
    def _f_partial(name: str, a: float, v: float) -> float:
        if name == "exp":
            return v
        if name == "log":
            return 1.0 / a if a != 0 else math.nan
        if name == "sqrt":
            return 0.5 / v if v != 0 else math.nan
        if name == "sin":
            return math.cos(a)
        if name == "cos":
            return -math.sin(a)
        return 1.0 if a >= 0 else -1.0  # abs

    @staticmethod
    def _f_second(name: str, a: float, v: float) -> float:
        if name == "exp":
            return v
        if name == "log":
            return -1.0 / (a * a) if a != 0 else math.nan
        if name == "sqrt":
            return -0.25 / (v * a) if a > 0 else math.nan
        if name == "sin":
            return -math.sin(a)
        if name == "cos":
            return -math.cos(a)
        return 0.0  # abs

    def _reverse(
        self, x: np.ndarray, d: np.ndarray | None, vals: list[float], tans: list[float]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        n = len(x)
        grad = np.zeros(n)
        hv = np.zeros(n) if d is not None else None
        with_t = d is not None
        adj = [0.0] * len(self.ops)
        adt = [0.0] * len(self.ops)  # the adjoints' derivatives along d
        adj[-1] = 1.0

        def push(k: int, p: float, tp: float, a_z: float, at_z: float) -> None:
            # z depends on node k with partial p; tp is p's derivative along d
            adj[k] += a_z * p
            if with_t:
                adt[k] += at_z * p + a_z * tp

        for i in range(len(self.ops) - 1, -1, -1):
            a_z, at_z = adj[i], adt[i]
            if a_z == 0.0 and at_z == 0.0:
                continue
            ins = self.ops[i]
            op = ins[0]
            if op == "c":
                continue
            if op == "v":
                grad[ins[1]] += a_z
                if hv is not None:
                    hv[ins[1]] += at_z
            elif op == "poly":
                _, _c, cols, coefs, qa, qb, qv = ins
                np.add.at(grad, cols, a_z * coefs)
                np.add.at(grad, qa, a_z * qv * x[qb])
                np.add.at(grad, qb, a_z * qv * x[qa])
                if hv is not None:
                    assert d is not None
                    np.add.at(hv, cols, at_z * coefs)
                    np.add.at(hv, qa, at_z * qv * x[qb] + a_z * qv * d[qb])
                    np.add.at(hv, qb, at_z * qv * x[qa] + a_z * qv * d[qa])
            elif op == "+":
                for k in ins[1]:
                    push(k, 1.0, 0.0, a_z, at_z)
            elif op == "neg":
                push(ins[1], -1.0, 0.0, a_z, at_z)
            elif op in ("min", "max"):
                pick = (min if op == "min" else max)(ins[1], key=lambda k: vals[k])
                push(pick, 1.0, 0.0, a_z, at_z)
            elif op == "*":
                ka, kb = ins[1], ins[2]
                push(ka, vals[kb], tans[kb], a_z, at_z)
                push(kb, vals[ka], tans[ka], a_z, at_z)
            elif op == "/":
                ka, kb = ins[1], ins[2]
                a, b = vals[ka], vals[kb]
                ta, tb = tans[ka], tans[kb]
                if b == 0:
                    push(ka, math.nan, math.nan, a_z, at_z)
                    continue
                push(ka, 1.0 / b, -tb / (b * b), a_z, at_z)
                push(kb, -a / (b * b), -ta / (b * b) + 2.0 * a * tb / (b**3), a_z, at_z)
            elif op == "^":
                ka, kb = ins[1], ins[2]
                a, b, v = vals[ka], vals[kb], vals[i]
                ta, tb, tv = tans[ka], tans[kb], tans[i]
                pa, pb = self._pow_partials(a, b, v)
                tpa = tpb = 0.0
                if with_t:
                    if b != 0:
                        # pa = b a^(b-1): along d, tb a^(b-1) + b (b-1) a^(b-2) ta + b a^(b-1) ln(a) tb
                        tpa = b * (b - 1) * _nan_guard(pow, a, b - 2) * ta if b != 1 else 0.0
                        if tb != 0:
                            am1 = _nan_guard(pow, a, b - 1)
                            tpa += tb * am1 + (b * am1 * math.log(a) * tb if a > 0 else 0.0)
                    if pb != 0:
                        tpb = tv * math.log(a) + v * ta / a
                push(ka, pa, tpa, a_z, at_z)
                if pb != 0 or tpb != 0:
                    push(kb, pb, tpb, a_z, at_z)
            else:  # "f"
                k = ins[2]
                a, v = vals[k], vals[i]
                p = self._f_partial(ins[1], a, v)
                tp = self._f_second(ins[1], a, v) * tans[k] if with_t else 0.0
                push(k, p, tp, a_z, at_z)
        return grad, hv
