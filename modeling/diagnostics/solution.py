"""A solve's point in the document's names: values and the constraints that bind."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from modeling.compiler import CompiledModel
from modeling.diagnostics._labels import (
    BINDING_TOL,
    _Labels,
    eval_tree,
)
from modeling.diagnostics.reports import (
    BindingConstraint,
    SolutionReport,
)
from modeling.diagnostics.sanity import sanity_check
from modeling.result import SolveResult


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
