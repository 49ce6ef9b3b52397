"""What is wrong or suspicious about a returned point."""

from __future__ import annotations

import math

import numpy as np

from modeling.compiler import CompiledModel
from modeling.diagnostics._labels import (
    _block_of_col,
    _block_of_row,
    _Labels,
    _relation_text,
    eval_tree,
    objective_value,
)
from modeling.diagnostics.reports import Finding
from modeling.format import format_number
from modeling.result import SolveResult


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
    labels = _Labels(model)
    out: list[Finding] = []
    for check in (_integrality_findings, _bound_findings, _row_findings, _nonlinear_findings):
        out.extend(check(model, x, labels, tol))
    out.extend(_objective_findings(model, x, result.objective, tol))
    out.extend(_magnitude_findings(model, x, labels, tol))
    out.extend(_coefficient_findings(model, labels))
    out.extend(_zero_solution_findings(model, x, result.objective, tol))
    return out


def _integrality_findings(
    model: CompiledModel, x: np.ndarray, labels: _Labels, tol: float
) -> list[Finding]:
    """Integer columns whose value is not an integer."""
    out: list[Finding] = []
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
    return out


def _bound_findings(
    model: CompiledModel, x: np.ndarray, labels: _Labels, tol: float
) -> list[Finding]:
    """Columns outside their bounds."""
    out: list[Finding] = []
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
    return out


def _row_findings(
    model: CompiledModel, x: np.ndarray, labels: _Labels, tol: float
) -> list[Finding]:
    """Linear rows whose activity A·x breaks their bounds."""
    out: list[Finding] = []
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
    return out


def _nonlinear_findings(
    model: CompiledModel, x: np.ndarray, labels: _Labels, tol: float
) -> list[Finding]:
    """Nonlinear instances violated at ``x``, or not defined there."""
    out: list[Finding] = []
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
    return out


def _magnitude_findings(
    model: CompiledModel, x: np.ndarray, labels: _Labels, tol: float
) -> list[Finding]:
    """Values above 1e9: usually a missing bound or a unit slip."""
    out: list[Finding] = []
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
    return out


def _objective_findings(
    model: CompiledModel, x: np.ndarray, reported: float | None, tol: float
) -> list[Finding]:
    """The objective the solver reported against the one recomputed from ``x``."""
    out: list[Finding] = []
    obj = objective_value(model, x)
    if reported is not None and math.isfinite(obj):
        diff = abs(obj - reported)
        if diff > 1e-6 * max(1.0, abs(obj)) + tol:
            out.append(
                Finding(
                    "warning",
                    "objective",
                    "objective",
                    f"the solver reported {format_number(reported)} but the values give "
                    f"{format_number(obj)}",
                    "objective.expression",
                    obj,
                )
            )
    return out


def _zero_solution_findings(
    model: CompiledModel, x: np.ndarray, reported: float | None, tol: float
) -> list[Finding]:
    """A maximisation whose best is doing nothing: often a sign slip."""
    out: list[Finding] = []
    if (
        model.sense == "maximize"
        and reported is not None
        and abs(reported) <= tol
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
