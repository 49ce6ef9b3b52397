"""``solve()``: formulation in, one :class:`SolveResult` out, never an exception.

Before a solver failure becomes an ``error``, :func:`solve` tries again: the same
solver with its numerics-emphasis settings (:data:`NUMERICS_OPTIONS`; SCIP's
"error in LP solver" is usually numerical), then (with backend ``auto``) every other
backend able to solve the model class. A nonlinear model "solved" to optimality with an unbounded
variable at a huge value (SCIP caps free variables near 1e5 and may call that
optimal) is re-solved in two bound boxes: an objective that keeps improving with
the box confirms the model unbounded; one that does not, with no variable at the
box, stands. ``SolveResult.tried`` lists every solve behind the answer.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from modeling.backends import (
    AUTO_ORDER,
    Backend,
    BackendError,
    RawSolution,
    SolverOptions,
    get_backend,
    required_capability,
)
from modeling.compiler import CompiledModel, Source, compile_model
from modeling.errors import FormulationError, Issue
from modeling.result import SolveResult, Status, Termination, Timings

__all__ = [
    "FALLBACKS",
    "HUGE",
    "INTEGRALITY_TOLERANCE",
    "NUMERICS_OPTIONS",
    "choose_backend",
    "integral_solution",
    "limit_message",
    "solve",
]

NUMERICS_OPTIONS: dict[str, dict[str, Any]] = {
    # SCIP's own "emphasis numerics" parameter set (SCIPsetEmphasis NUMERICS, SCIP 9/10).
    "scip": {
        "lp/minmarkowitz": 0.999,
        "lp/fastmip": 0,
        "lp/scaling": 2,
        "lp/presolving": False,
        "lp/refactorinterval": 40,
        "numerics/hugeval": 1e10,
        "separating/maxcoefratio": 100.0,
        "separating/maxcoefratiofacrowprep": 1.0,
        "constraints/nonlinear/varboundrelaxamount": 1e-7,
        "constraints/nonlinear/conssiderelaxamount": 1e-7,
        "constraints/linear/simplifyinequalities": False,
        "constraints/linear/rangedrowpropagation": False,
        "constraints/linear/maxmultaggrquot": 10.0,
        "constraints/linear/maxdualmultaggrquot": 10.0,
        "constraints/linear/extractcliques": False,
        "constraints/linear/upgrade/knapsack": False,
        "constraints/linear/upgrade/setppc": False,
    },
    # HiGHS: no presolve (its reductions are where tolerances bite) and the primal simplex.
    "highs": {"presolve": "off", "simplex_strategy": 4},
}
"""Per solver, the settings of a retry after a solver error."""

FALLBACKS: tuple[tuple[str, str | None], ...] = (
    ("pyomo", "scip"),
    ("highs", None),
    ("pulp", "cbc"),
)
"""(backend, solver) pairs tried, in order, when a solver fails even with its numerics
settings; each only if it can solve the model class and runs here."""

HUGE = 1e5 * (1 - 1e-6)
"""A variable without a bound at or beyond this value makes a nonlinear "optimal" suspect."""


def choose_backend(
    model: CompiledModel, backend: str = "auto", solver: str | None = None
) -> Backend:
    """The backend that will solve ``model``: named, or the first able one in AUTO_ORDER."""
    need = required_capability(model)
    names = AUTO_ORDER if backend == "auto" else (backend,)
    reasons = []
    for name in names:
        try:
            be = get_backend(name)
        except ImportError as exc:
            reasons.append(f"{name} is not installed ({exc})")
            continue
        if need not in be.capabilities(solver):
            reasons.append(f"{name} cannot solve a {need}")
            continue
        avail = be.available(solver)
        if not avail:
            reasons.append(f"{name}: {avail.reason}")
            continue
        return be
    hint = " Use backend 'pyomo' (SCIP) for NLP, MINLP, MIQP and nonconvex QP."
    raise BackendError(
        "; ".join(reasons) + "." + (hint if need.value not in ("LP", "MILP") else "")
    )


def solve(
    source: Source,
    backend: str = "auto",
    solver: str | None = None,
    time_limit: float | None = None,
    mip_gap: float = 1e-7,
    threads: int | None = None,
    verbose: bool = False,
    options: Mapping[str, Any] | None = None,
) -> SolveResult:
    """Compile and solve a formulation; bad input gives status ``invalid``, a crash ``error``.

    ``backend`` is ``auto`` (HiGHS for LP, MILP and convex QP; Pyomo with SCIP otherwise),
    ``highs``, ``pyomo`` or ``pulp``; ``solver`` picks the solver inside it (a Pyomo
    solver name, or ``highs``/``cbc``/``scip`` for PuLP).

    >>> r = solve({"variables": {"x": {"upper": 4}},
    ...            "objective": {"sense": "max", "expression": "3 * x"}})
    >>> r.status, r.objective
    (<Status.OPTIMAL: 'optimal'>, 12.0)
    """
    t0 = time.perf_counter()
    try:
        model = compile_model(source)
    except FormulationError as exc:
        return SolveResult.invalid(
            exc.issues, str(exc), timings=Timings(total_s=time.perf_counter() - t0)
        )
    except Exception as exc:  # a bug of ours must not escape to the caller
        return SolveResult(
            Status.ERROR,
            Termination.ERROR,
            message=f"compiling failed: {exc!r}\n{traceback.format_exc(limit=3)}",
            timings=Timings(total_s=time.perf_counter() - t0),
        )
    t1 = time.perf_counter()
    cls = str(model.model_class)
    try:
        be = choose_backend(model, backend, solver)
    except BackendError as exc:
        return SolveResult(
            Status.ERROR,
            Termination.ERROR,
            model_class=cls,
            backend=backend,
            message=str(exc),
            model=model,
            timings=Timings(compile_s=t1 - t0, total_s=time.perf_counter() - t0),
        )
    opts = SolverOptions(
        solver=solver,
        time_limit=time_limit,
        mip_gap=mip_gap,
        threads=threads,
        verbose=verbose,
        extra=dict(options or {}),
    )
    too_big = _memory_issues(be, model, opts)
    if too_big:
        return SolveResult(
            Status.INVALID,
            Termination.INVALID,
            errors=tuple(too_big),
            model_class=cls,
            backend=be.name,
            solver=_solver_name(be, model, opts),
            message=f"refused before solving: {too_big[0]}",
            model=model,
            timings=Timings(compile_s=t1 - t0, total_s=time.perf_counter() - t0),
        )
    raw, failure = _attempt(be, model, opts)
    tried: list[str] = []
    if failure is not None:
        tried.append(f"{_label(be, model, opts)}: {failure}")
        for be2, opts2, label in _fallbacks(be, model, opts, switch=backend == "auto"):
            if be2 is not be:
                skip = _memory_issues(be2, model, opts2)
                if skip:
                    tried.append(f"{label}: skipped, {skip[0].message}")
                    continue
            raw2, failure2 = _attempt(be2, model, opts2)
            tried.append(f"{label}: {failure2 or raw2.status if raw2 else failure2}")
            if failure2 is None and raw2 is not None:
                be, raw, failure = be2, raw2, None
                break
    if failure is not None or raw is None:
        also = f" (tried: {'; '.join(tried[1:])})" if len(tried) > 1 else ""
        return SolveResult(
            Status.ERROR,
            Termination.ERROR,
            model_class=cls,
            backend=be.name,
            solver=solver or "",
            message=f"the solver failed: {failure}{also}",
            model=model,
            tried=tuple(tried),
            timings=Timings(compile_s=t1 - t0, total_s=time.perf_counter() - t0),
        )
    raw, boxed = _check_huge_optimum(be, model, opts, raw)
    tried.extend(boxed)
    message = raw.message
    if raw.status in (Status.FEASIBLE, Status.TIME_LIMIT):
        message = limit_message(raw.status, raw.termination, raw.message)
    x, objective = raw.x, raw.objective
    if raw.status.has_solution:
        x, objective = integral_solution(model, x, objective)
    if len(tried) > 1 or boxed:
        message = f"{message}; tried: {'; '.join(tried)}".lstrip("; ")
    return SolveResult(
        status=raw.status,
        termination=raw.termination,
        objective=objective,
        bound=raw.bound,
        gap=raw.gap,
        model_class=cls,
        solver=raw.solver,
        solver_version=raw.version,
        backend=be.name,
        message=message,
        timings=Timings(t1 - t0, raw.build_s, raw.solve_s, time.perf_counter() - t0),
        x=x,
        row_duals=raw.row_duals,
        reduced=raw.reduced,
        model=model,
        tried=tuple(tried),
    )


INTEGRALITY_TOLERANCE = 1e-6
"""How far from an integer an integer variable's value may be and still count as that
integer: the solvers' own default (HiGHS ``mip_feasibility_tolerance``, SCIP ``feastol``)."""


def integral_solution(
    model: CompiledModel, x: np.ndarray | None, objective: float | None
) -> tuple[np.ndarray | None, float | None]:
    """Integer values as integers: ``18.999999`` of an integer variable is reported as 19.

    A MIP solver accepts a value within its integrality tolerance of an integer;
    each integer or binary column within :data:`INTEGRALITY_TOLERANCE` of an
    integer is set to it (a value farther away is left as the solver gave it).
    The objective is recomputed at the rounded point only when it is provably
    an integer there: linear or quadratic, every term on integer columns
    that were rounded, with integral coefficients and constant; and only if the
    recomputed value is within the tolerance of the solver's objective.
    Continuous values and every other objective are left as they are.
    """
    if x is None or not model.integer:
        return x, objective
    ints = np.flatnonzero(model.col_type > 0)
    vals = x[ints]
    near = np.round(vals)
    # (1 + 1e-6): 18.999999 is 1e-6 from 19 up to the last bit of a float
    tol = np.maximum(INTEGRALITY_TOLERANCE, 1e-9 * np.abs(vals)) * (1 + 1e-6)
    snap = np.abs(vals - near) <= tol
    out = x.copy()
    out[ints[snap]] = near[snap]
    if objective is None or not math.isfinite(objective) or model.obj_tree is not None:
        return out, objective
    qa, qb, qv = model.obj_q
    used = np.union1d(np.flatnonzero(model.obj_c), np.union1d(qa, qb)).astype(int)
    snapped = np.zeros(model.ncols, dtype=bool)
    snapped[ints[snap]] = True

    def whole(a: np.ndarray | float) -> bool:
        return bool(np.all(np.isfinite(a)) and np.all(np.asarray(a) == np.round(a)))

    if not (np.all(snapped[used]) and whole(model.obj_c) and whole(qv) and whole(model.obj_const)):
        return out, objective
    value = float(model.obj_const + model.obj_c @ out + np.sum(qv * out[qa] * out[qb]))
    if abs(value - objective) <= INTEGRALITY_TOLERANCE * max(1.0, abs(objective)):
        return out, value
    return out, objective


_LIMITS = {
    Termination.TIME_LIMIT: "the time limit was reached",
    Termination.ITERATION_LIMIT: "the iteration limit was reached",
    Termination.SOLUTION_LIMIT: "the solution limit was reached",
    Termination.OBJECTIVE_LIMIT: "the objective limit was reached",
    Termination.INTERRUPTED: "the solve was interrupted",
    Termination.NUMERICAL: "the solver stopped on numerical trouble",
}


def limit_message(status: Status, termination: Termination, said: str = "") -> str:
    """What a solve that stopped early left the user with, in words that cannot mislead.

    Solvers word this their own way (PuLP: "Time limit reached (Optimal, Solution
    Found)"); the message says which limit stopped it and whether the point is
    a solution that is not proven optimal or there is none.  The solver's own
    words follow in parentheses when they add something.

    >>> limit_message(Status.FEASIBLE, Termination.TIME_LIMIT, "Time limit reached")
    'the time limit was reached: the best solution found is returned, not proven optimal'
    """
    reason = _LIMITS.get(termination, "the solver stopped early")
    if status is Status.FEASIBLE:
        text = f"{reason}: the best solution found is returned, not proven optimal"
    else:
        text = f"{reason} before any solution was found"
    said = said.strip()
    limit_word = reason.split(" was ")[0].removeprefix("the ")
    if said and limit_word not in said.lower():
        text += f" (solver: {said})"
    return text


def _attempt(
    be: Backend, model: CompiledModel, opts: SolverOptions
) -> tuple[RawSolution | None, str | None]:
    """One solve: ``(raw, None)``, or ``(raw or None, why it failed)`` on a solver failure.

    A failure is an exception, an ``error`` status, or a numerical or error stop with
    no point: what a retry might fix. Infeasible, unbounded and limits are answers.
    """
    try:
        raw = be.solve(model, opts)
        if raw.status is Status.INFEASIBLE_OR_UNBOUNDED:
            raw = _disambiguate(be, model, opts, raw)
    except Exception as exc:
        return None, str(exc) or type(exc).__name__
    if raw.status is Status.ERROR or (
        not raw.status.has_solution
        and raw.termination in (Termination.ERROR, Termination.NUMERICAL)
    ):
        return raw, raw.message or str(raw.termination)
    return raw, None


def _memory_issues(be: Backend, model: CompiledModel, opts: SolverOptions) -> list[Issue]:
    """Issues when ``be`` would need more than the memory budget for ``model`` (else []).

    The document's estimate covers compiling and HiGHS; Pyomo and PuLP build
    Python objects per variable and term (Pyomo with SCIP ~45 times HiGHS'
    memory), so the chosen backend is checked before it builds anything, in
    process too (``modeling.worker.solve_isolated`` checks the same way).
    """
    from modeling.limits import check_backend_memory

    return check_backend_memory(model, be.name, _solver_name(be, model, opts))


def _solver_name(be: Backend, model: CompiledModel, opts: SolverOptions) -> str:
    if opts.solver:
        return opts.solver.lower()
    if be.name == "pyomo":
        from modeling.backends.pyomo import PyomoBackend

        return PyomoBackend.default_solver(model)
    return "highs"  # the highs backend, and pulp's default


def _label(be: Backend, model: CompiledModel, opts: SolverOptions) -> str:
    return f"{be.name}/{_solver_name(be, model, opts)}"


def _fallbacks(
    be: Backend, model: CompiledModel, opts: SolverOptions, switch: bool = True
) -> list[tuple[Backend, SolverOptions, str]]:
    """The retries after a failed solve: numerics settings first, then other backends.

    Other backends only with ``switch`` (backend ``auto``): a backend the caller
    named is the one they want, so only its numerics retry runs.
    """
    out: list[tuple[Backend, SolverOptions, str]] = []
    first = _solver_name(be, model, opts)
    numerics = NUMERICS_OPTIONS.get("scip" if first.startswith("scip") else first)
    if numerics is not None and not (be.name == "pulp" and first == "scip"):
        extra = {**numerics, **opts.extra}
        out.append((be, replace(opts, extra=extra), f"{be.name}/{first} numerics emphasis"))
    need = required_capability(model)
    for name, solver in FALLBACKS if switch else ():
        try:
            other = get_backend(name)
        except ImportError:
            continue
        if (name, solver or "highs") == (be.name, first) or need not in other.capabilities(solver):
            continue
        if not other.available(solver):
            continue
        out.append((other, replace(opts, solver=solver, extra={}), f"{name}/{solver or 'highs'}"))
    return out


def _check_huge_optimum(
    be: Backend, model: CompiledModel, opts: SolverOptions, raw: RawSolution
) -> tuple[RawSolution, list[str]]:
    """Confirm or refute a nonlinear "optimal" resting on an unbounded variable at a huge value.

    Re-solve with every infinite bound replaced by ±1e3, then ±1e4 (below SCIP's
    1e5 cap on free variables). The model is unbounded if the objective improves
    with the box while a variable sits at it; the first answer stands if the two
    boxes agree with no variable at the box (the huge point was not an improving
    direction); otherwise it stands with a note that the check was inconclusive.
    """
    from modeling.compiler import ModelClass

    if (
        not raw.status.has_solution
        or raw.x is None
        or model.model_class in (ModelClass.LP, ModelClass.MILP)
        or (model.model_class is ModelClass.QP and model.convex)
    ):
        return raw, []
    x = np.asarray(raw.x, dtype=float)
    open_side = (~np.isfinite(model.col_lb) & (x <= -HUGE)) | (
        ~np.isfinite(model.col_ub) & (x >= HUGE)
    )
    if not open_side.any():
        return raw, []
    label = _label(be, model, opts)
    values: list[float] = []
    at_box = False
    for box in (1e3, 1e4):
        boxed = replace(
            model,
            col_lb=np.where(np.isfinite(model.col_lb), model.col_lb, -box),
            col_ub=np.where(np.isfinite(model.col_ub), model.col_ub, box),
        )
        try:
            check = be.solve(boxed, opts)
        except Exception as exc:
            return raw, [f"{label} in a ±{box:g} box: failed ({exc}); the first answer stands"]
        if not check.status.has_solution or check.objective is None or check.x is None:
            return raw, [f"{label} in a ±{box:g} box: {check.status}; the first answer stands"]
        values.append(float(check.objective))
        bx = np.asarray(check.x, dtype=float)
        free = ~np.isfinite(model.col_lb) | ~np.isfinite(model.col_ub)
        at_box = bool(np.any(free & (np.abs(bx) >= box * (1 - 1e-6))))
    sign = 1.0 if model.sense.startswith("max") else -1.0
    grows = sign * (values[1] - values[0]) > 1e-6 * max(1.0, abs(values[0]))
    steps = f"{label} in ±1e3 and ±1e4 boxes: objective {values[0]:g}, then {values[1]:g}"
    if grows and at_box:
        return (
            replace(
                raw,
                status=Status.UNBOUNDED,
                termination=Termination.UNBOUNDED,
                objective=None,
                x=None,
                row_duals=None,
                reduced=None,
                message=f"{raw.message}; the reported optimum rests on a variable without a "
                "bound at a huge value and the objective keeps improving as the bound box "
                "grows: unbounded".lstrip("; "),
            ),
            [f"{steps}, improving with the box: unbounded"],
        )
    if not grows and not at_box and math.isclose(values[0], values[1], rel_tol=1e-6, abs_tol=1e-6):
        return raw, [f"{steps}, no variable at the box: the reported optimum stands"]
    return raw, [f"{steps}: inconclusive, the reported optimum stands"]


def _disambiguate(
    be: Backend, model: CompiledModel, options: SolverOptions, raw: RawSolution
) -> RawSolution:
    """Infeasible or unbounded? Solve for feasibility alone (a zero objective) to tell.

    A solver (HiGHS' presolve, SCIP, CBC) may prove that no optimum exists without
    saying why. Any feasible point of the constraints then proves the model
    unbounded; a proof of infeasibility proves it infeasible; anything else
    leaves the answer open. One step here for every backend.
    """
    try:
        check = be.solve(model.without_objective(), options)
    except Exception:  # the first answer stands; a failed second look must not lose it
        return raw
    if check.status.has_solution:
        status, term = Status.UNBOUNDED, Termination.UNBOUNDED
    elif check.status is Status.INFEASIBLE:
        status, term = Status.INFEASIBLE, Termination.INFEASIBLE
    else:
        return raw
    message = f"{raw.message}; re-solved with a zero objective to tell: {status}"
    return replace(
        raw,
        status=status,
        termination=term,
        message=message.lstrip("; "),
        build_s=raw.build_s + check.build_s,
        solve_s=raw.solve_s + check.solve_s,
    )
