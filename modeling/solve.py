"""``solve()``: formulation in, one :class:`SolveResult` out, never an exception."""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

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
from modeling.errors import FormulationError
from modeling.result import SolveResult, Status, Termination, Timings


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
        n = len(exc.issues)
        return SolveResult(
            Status.INVALID,
            Termination.INVALID,
            errors=tuple(exc.issues),
            message=f"the formulation breaks the spec ({n} problem{'s' if n != 1 else ''}): {exc}",
            timings=Timings(total_s=time.perf_counter() - t0),
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
    try:
        raw = be.solve(model, opts)
        if raw.status is Status.INFEASIBLE_OR_UNBOUNDED:
            raw = _disambiguate(be, model, opts, raw)
    except Exception as exc:
        return SolveResult(
            Status.ERROR,
            Termination.ERROR,
            model_class=cls,
            backend=be.name,
            solver=solver or "",
            message=f"the solver failed: {exc}",
            model=model,
            timings=Timings(compile_s=t1 - t0, total_s=time.perf_counter() - t0),
        )
    return SolveResult(
        status=raw.status,
        termination=raw.termination,
        objective=raw.objective,
        bound=raw.bound,
        gap=raw.gap,
        model_class=cls,
        solver=raw.solver,
        solver_version=raw.version,
        backend=be.name,
        message=raw.message,
        timings=Timings(t1 - t0, raw.build_s, raw.solve_s, time.perf_counter() - t0),
        x=raw.x,
        row_duals=raw.row_duals,
        reduced=raw.reduced,
        model=model,
    )


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
