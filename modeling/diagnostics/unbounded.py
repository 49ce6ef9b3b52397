"""Why a model is unbounded: the variables that grow without limit."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import cast

import numpy as np

from modeling.backends import Capability, RayBackend, backend_with
from modeling.compiler import (
    CompiledModel,
    Source,
)
from modeling.diagnostics._labels import (
    DEFAULT_TIME_LIMIT,
    DiagnosticsError,
    _block_of_col,
    _column_key,
    _model,
)
from modeling.diagnostics.reports import (
    UnboundedReport,
    UnboundedVariable,
)
from modeling.format import format_number


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


def _primal_ray(model: CompiledModel) -> tuple[np.ndarray, str] | None:
    """A backend's primal ray of the (relaxed) LP, verified, and who found it; None if none."""
    be = backend_with(Capability.PRIMAL_RAY)
    if be is None:
        return None
    d = cast("RayBackend", be).primal_ray(model, time_limit=10.0)
    if d is None or not _valid_ray(model, d):
        return None
    return d, {"highs": "HiGHS"}.get(be.name, be.name)


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
    ray = _primal_ray(model)
    if ray is not None:
        d: np.ndarray | None = ray[0]
        method = f"primal ray ({ray[1]})"
    else:
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
