"""Equality-constrained smooth problems ``min f(x) s.t. c(x) = 0``, from callables or expressions.

:class:`EqualityProblem` is what :func:`modeling.numeric.sketched_newton` and
the SciPy wrappers read: value, gradient, constraints, Jacobian and the
Hessian of the Lagrangian (a matrix, or Hessian-vector products).  Library
users build one from their own Python callables; :func:`expression_problem`
and :func:`model_problem` build one from our expression language, with every
derivative exact (reverse mode and forward-over-reverse over the compiler's
trees, :mod:`modeling.numeric.autodiff`) — never finite differences.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp

from modeling.compiler import CompiledModel, compile_model
from modeling.errors import FormulationError
from modeling.numeric.autodiff import Tape

__all__ = ["EqualityProblem", "expression_problem", "model_problem"]

# A dense ndarray or a SciPy sparse matrix; Any because SciPy's sparse types have no
# common typed interface (both support @, .T and .shape).
Matrix: TypeAlias = Any


@dataclass
class EqualityProblem:
    """``min fun(x)  s.t.  cons(x) = 0`` with first and second derivatives.

    ``jac(x)`` is the ``m x n`` Jacobian of ``cons`` (dense or SciPy sparse).
    Second order: ``hess(x, lam)`` returns the Hessian of the Lagrangian
    ``f + lam @ c`` (dense or sparse), or ``hvp(x, lam, v)`` its product with
    ``v``; with only ``hvp`` the matrix is assembled from ``n`` products when
    a method needs it (fine for small ``n``).  ``m = 0`` is an unconstrained
    problem.
    """

    n: int
    fun: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    x0: np.ndarray
    m: int = 0
    cons: Callable[[np.ndarray], np.ndarray] | None = None
    jac: Callable[[np.ndarray], Matrix] | None = None
    hess: Callable[[np.ndarray, np.ndarray], Matrix] | None = None
    hvp: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None
    names: list[str] = field(default_factory=list)
    sign: float = 1.0
    """-1 when the problem maximises the user's expression (``fun`` is its negative)."""

    def __post_init__(self) -> None:
        self.x0 = np.asarray(self.x0, dtype=float).copy()
        if self.x0.shape != (self.n,):
            raise ValueError(f"x0 has shape {self.x0.shape}, expected ({self.n},)")
        if self.m and (self.cons is None or self.jac is None):
            raise ValueError("a constrained problem needs cons and jac")
        if self.hess is None and self.hvp is None:
            raise ValueError("give hess(x, lam) or hvp(x, lam, v): Newton needs second derivatives")

    def constraints(self, x: np.ndarray) -> np.ndarray:
        """``c(x)`` (empty when unconstrained)."""
        if not self.m or self.cons is None:
            return np.zeros(0)
        return np.asarray(self.cons(x), dtype=float).reshape(self.m)

    def jacobian(self, x: np.ndarray) -> Matrix:
        """The Jacobian of ``c`` at ``x`` (a 0 x n matrix when unconstrained)."""
        if not self.m or self.jac is None:
            return np.zeros((0, self.n))
        j = self.jac(x)
        return j if sp.issparse(j) else np.asarray(j, dtype=float).reshape(self.m, self.n)

    def hessian(self, x: np.ndarray, lam: np.ndarray) -> Matrix:
        """The Hessian of the Lagrangian, assembled from products when only ``hvp`` is given."""
        if self.hess is not None:
            h = self.hess(x, lam)
            return h if sp.issparse(h) else np.asarray(h, dtype=float)
        assert self.hvp is not None
        eye = np.eye(self.n)
        h = np.column_stack([self.hvp(x, lam, eye[:, i]) for i in range(self.n)])
        return 0.5 * (h + h.T)

    def hess_vec(self, x: np.ndarray, lam: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``H(x, lam) @ v``."""
        if self.hvp is not None:
            return np.asarray(self.hvp(x, lam, v), dtype=float)
        return np.asarray(self.hessian(x, lam) @ v, dtype=float).reshape(self.n)

    def point(self, x: np.ndarray) -> dict[str, float]:
        """``x`` by variable name (``x[i]`` names when the problem has none)."""
        names = self.names or [f"x[{i}]" for i in range(self.n)]
        return {k: float(v) for k, v in zip(names, x, strict=True)}


def _as_equality(text: str) -> str:
    """``"x + y - 1"`` means ``x + y - 1 == 0``; a written ``==`` is kept."""
    return text if "==" in text else f"{text} == 0"


def expression_problem(
    objective: str,
    variables: Sequence[str] | Mapping[str, float | None],
    *,
    equalities: Sequence[str] = (),
    constants: Mapping[str, float] | None = None,
    sense: str = "minimize",
) -> EqualityProblem:
    """A problem from expressions of our language over scalar variables.

    ``variables`` is a list of names or ``{name: start}``; each equality is
    ``"lhs == rhs"`` or an expression meaning ``expr == 0``.  The expressions
    are checked by the compiler (unknown names get a "did you mean"); a bad
    one raises ``ValueError`` naming it.

    >>> p = expression_problem("(x - 1)**2 + (y - 2)**2", ["x", "y"], equalities=["x + y - 1"])
    >>> p.n, p.m
    (2, 1)
    """
    starts = dict(variables) if isinstance(variables, Mapping) else dict.fromkeys(variables)
    if not starts:
        raise ValueError("declare at least one variable")
    consts = {k: float(v) for k, v in (constants or {}).items()}
    clash = sorted(set(starts) & set(consts))
    if clash:
        raise ValueError(f"{', '.join(clash)} is both a variable and a constant")
    doc = {
        "parameters": consts,
        "variables": {n: {"lower": None} for n in starts},
        "objective": {"sense": sense, "expression": objective},
        "constraints": [
            {"name": f"eq{k + 1}", "expression": _as_equality(e)} for k, e in enumerate(equalities)
        ],
    }
    try:
        model = compile_model(doc)
    except FormulationError as exc:
        first = exc.issues[0]
        where = first.location.replace("objective.expression", "the objective")
        for k in range(len(equalities)):
            where = where.replace(f"constraints[{k}].expression", f"equality {k + 1}")
        hint = f" ({first.hint})" if first.hint else ""
        raise ValueError(f"{where}: {first.message}{hint}") from None
    x0 = np.array([0.0 if s is None else float(s) for s in starts.values()])
    return model_problem(model, x0=x0)


def model_problem(model: CompiledModel, *, x0: np.ndarray | None = None) -> EqualityProblem:
    """The problem of a compiled document whose constraints are all equalities.

    Indexed variables and sums over data work (the compiler has flattened
    them).  Finite variable bounds and inequality rows are refused with a
    hint, since the methods here take ``c(x) = 0`` only.
    """
    bounded = np.isfinite(model.col_lb) | np.isfinite(model.col_ub)
    if np.any(bounded):
        col = int(np.flatnonzero(bounded)[0])
        raise ValueError(
            f"variable {model.column_label(col)} has a bound; these methods take free "
            "variables (declare lower: null, or use a solver through optiwise solve)"
        )
    n = model.ncols
    sign = -1.0 if model.sense == "maximize" else 1.0
    qa, qb, qv = model.obj_q
    q = sp.coo_matrix(
        (np.concatenate([qv, qv]), (np.concatenate([qa, qb]), np.concatenate([qb, qa]))),
        shape=(n, n),
    ).toarray()
    q *= sign
    c_lin = sign * np.asarray(model.obj_c, dtype=float)
    obj_tape = Tape(model.obj_tree) if model.obj_tree is not None else None

    a = model.matrix
    if a.shape[0] and np.any(model.row_lb != model.row_ub):
        row = int(np.flatnonzero(model.row_lb != model.row_ub)[0])
        raise ValueError(
            f"constraint row {row} is an inequality; these methods take equalities only"
        )
    a_dense = a.toarray()
    b_lin = np.asarray(model.row_lb, dtype=float)
    tapes: list[Tape] = []
    rhs: list[float] = []
    for blk in model.nonlinear_blocks:
        if np.any(blk.lb != blk.ub):
            raise ValueError(
                f"constraint {blk.name} is an inequality; these methods take equalities only"
            )
        for tree, lo in zip(blk.trees, blk.lb, strict=True):
            tapes.append(Tape(tree))
            rhs.append(float(lo))
    rhs_arr = np.asarray(rhs)
    m_lin = a_dense.shape[0]
    m = m_lin + len(tapes)

    def fun(x: np.ndarray) -> float:
        v = sign * model.obj_const + float(c_lin @ x) + 0.5 * float(x @ q @ x)
        if obj_tape is not None:
            v += sign * obj_tape.value(x)
        return v

    def grad(x: np.ndarray) -> np.ndarray:
        g = c_lin + q @ x
        if obj_tape is not None:
            g = g + sign * obj_tape.sweep(x)[1]
        return g

    def cons(x: np.ndarray) -> np.ndarray:
        lin = a_dense @ x - b_lin
        nl = np.array([t.value(x) for t in tapes]) - rhs_arr if tapes else np.zeros(0)
        return np.concatenate([lin, nl])

    def jac(x: np.ndarray) -> np.ndarray:
        rows = [t.sweep(x)[1] for t in tapes]
        return np.vstack([a_dense, *rows]) if rows else a_dense

    def hvp(x: np.ndarray, lam: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = q @ v
        if obj_tape is not None:
            hv = obj_tape.sweep(x, v)[2]
            assert hv is not None
            out = out + sign * hv
        for k, t in enumerate(tapes):
            w = float(lam[m_lin + k])
            if w != 0.0:
                hv = t.sweep(x, v)[2]
                assert hv is not None
                out = out + w * hv
        return out

    names = [model.column_label(j) for j in range(n)]
    start = np.zeros(n) if x0 is None else np.asarray(x0, dtype=float)
    return EqualityProblem(
        n=n,
        fun=fun,
        grad=grad,
        x0=start,
        m=m,
        cons=cons if m else None,
        jac=jac if m else None,
        hvp=hvp,
        names=names,
        sign=sign,
    )
