"""Duals, slacks, reduced costs and ranging of an LP, in the document's names."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import cast

import numpy as np

from modeling.backends import BackendError, Capability, LPRanging, RangingBackend, backend_with
from modeling.compiler import (
    CompiledModel,
    ModelClass,
    Source,
)
from modeling.diagnostics._labels import (
    DiagnosticsError,
    _Labels,
    _model,
)
from modeling.diagnostics.reports import (
    ConstraintSensitivity,
    SensitivityReport,
    VariableSensitivity,
)
from modeling.diagnostics.sanity import sanity_check
from modeling.result import SolveResult, Status


def sensitivity(
    source: Source, fix_integers: bool = False, time_limit: float | None = None
) -> SensitivityReport:
    """Shadow prices, slacks, reduced costs and ranging of an LP, in formulation names.

    Duals answer "what is one more unit of this right-hand side worth?" and
    ranging "how far can a cost or a right-hand side move before the optimal
    basis changes?" — both are defined for LPs only.  For a MILP pass
    ``fix_integers=True``: the integers are fixed at their optimal values and
    the remaining LP is analysed (its duals are only valid locally).  The
    solver is the first backend declaring :data:`Capability.RANGING`.

    >>> rep = sensitivity("transport.yaml")  # the spec's example  # doctest: +SKIP
    >>> rep.dual("meet_demand['chicago']")  # doctest: +SKIP
    1.7
    """
    model = _model(source)
    cls = model.model_class
    note = ""
    if cls is ModelClass.MILP and fix_integers:
        model, note = _integers_fixed(model, time_limit)
    elif cls is not ModelClass.LP:
        raise DiagnosticsError(f"sensitivity needs an LP; {_why_not_lp(cls)}")
    r = _ranging(model, time_limit)
    if not r.ranged:
        note = (note + " " if note else "") + "The solver could not compute ranging."
    labels = _Labels(model)
    result = SolveResult(Status.OPTIMAL, x=r.x, model=model, objective=r.objective)
    return SensitivityReport(
        objective=r.objective,
        sense=model.sense,
        variables=_variable_rows(model, r, labels),
        constraints=_constraint_rows(model, r, labels),
        model_class=str(cls),
        name=model.formulation.name,
        findings=sanity_check(result),
        note=note,
    )


def _why_not_lp(cls: ModelClass) -> str:
    """What to do instead when the model is not an LP."""
    return {
        ModelClass.MILP: "this is a MILP — fix the integers and re-solve "
        "(sensitivity(source, fix_integers=True)), or relax them to continuous to "
        "study the LP relaxation",
        ModelClass.QP: "this is a QP — its duals exist but ranging does not; read "
        "result.duals after modeling.solve",
    }.get(cls, f"this is a {cls} — duals and ranging are defined for linear programs")


def _integers_fixed(model: CompiledModel, time_limit: float | None) -> tuple[CompiledModel, str]:
    """The LP left when a MILP's integers are fixed at their optimal values, and a note."""
    from modeling.solve import solve

    res = solve(model, time_limit=time_limit)
    if res.x is None:
        raise DiagnosticsError(
            f"the MILP has no solution to fix (status {res.status})",
            "sensitivity needs an optimal solution",
        )
    ints = model.col_type > 0
    xi = np.round(res.x)
    fixed = replace(
        model,
        col_lb=np.where(ints, xi, model.col_lb),
        col_ub=np.where(ints, xi, model.col_ub),
        col_type=np.zeros(model.ncols, dtype=np.int8),
    )
    fixed.model_class = ModelClass.LP
    return fixed, (
        "The integer variables are fixed at their optimal values; these duals and "
        "ranges describe the LP that remains and hold only near this solution."
    )


def _ranging(model: CompiledModel, time_limit: float | None) -> LPRanging:
    """The LP's optimum, duals and ranging from the backend declaring RANGING."""
    be = backend_with(Capability.RANGING)
    if be is None:
        raise DiagnosticsError(
            "no installed backend computes ranging (none declares the ranging capability)",
            "install highspy",
        )
    try:
        return cast("RangingBackend", be).ranging(model, time_limit)
    except BackendError as exc:
        raise DiagnosticsError(
            f"sensitivity needs an optimal LP; {exc}",
            "use explain() to diagnose an infeasible or unbounded model",
        ) from exc


def _variable_rows(
    model: CompiledModel, r: LPRanging, labels: _Labels
) -> list[VariableSensitivity]:
    return [
        VariableSensitivity(
            label=labels.column(j),
            value=float(r.x[j]),
            reduced_cost=_clean_zero(float(r.col_dual[j])),
            cost=float(model.obj_c[j]),
            cost_lower=float(r.cost_lower[j]),
            cost_upper=float(r.cost_upper[j]),
            lower=float(model.col_lb[j]),
            upper=float(model.col_ub[j]),
            basic=bool(r.basic[j]),
        )
        for j in range(model.ncols)
    ]


def _constraint_rows(
    model: CompiledModel, r: LPRanging, labels: _Labels
) -> list[ConstraintSensitivity]:
    out: list[ConstraintSensitivity] = []
    for blk in model.con_blocks:
        if not blk.linear:
            continue
        for k in range(blk.count):
            i = blk.row_start + k
            lo, hi, a = float(model.row_lb[i]), float(model.row_ub[i]), float(r.activity[i])
            slack_lo = a - lo if math.isfinite(lo) else math.inf
            slack_hi = hi - a if math.isfinite(hi) else math.inf
            out.append(
                ConstraintSensitivity(
                    label=labels.instance(blk, k),
                    location=f"constraints[{blk.index}]",
                    activity=a,
                    lower=lo,
                    upper=hi,
                    slack=_clean_zero(min(slack_lo, slack_hi)),
                    dual=_clean_zero(float(r.row_dual[i])),
                    rhs=lo if slack_lo <= slack_hi else hi,
                    rhs_lower=float(r.rhs_lower[i]),
                    rhs_upper=float(r.rhs_upper[i]),
                    objective_at_rhs_lower=float(r.objective_at_rhs_lower[i]),
                    objective_at_rhs_upper=float(r.objective_at_rhs_upper[i]),
                )
            )
    return out


def _clean_zero(x: float) -> float:
    return 0.0 if abs(x) < 1e-12 else x
