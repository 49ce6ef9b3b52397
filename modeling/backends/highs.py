"""The fast path: the compiled arrays handed to HiGHS (highspy) in one call.

No modeling layer in between: the constraint matrix goes over as CSR arrays
(``passModel``), the quadratic objective as a lower-triangular Hessian.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from modeling._stdio import redirect_stdout
from modeling.backends.base import (
    Availability,
    BackendError,
    Capability,
    IISCandidates,
    LPRanging,
    RawSolution,
    SolverOptions,
)
from modeling.result import Status, Termination

if TYPE_CHECKING:
    import highspy

    from modeling.compiler import CompiledModel

_CAPS = frozenset(
    {
        Capability.LP,
        Capability.MILP,
        Capability.QP,
        Capability.DUALS,
        Capability.IIS,
        Capability.PRIMAL_RAY,
        Capability.RANGING,
        Capability.TIME_LIMIT,
        Capability.MIP_GAP,
    }
)


_QUIET_LOCK = threading.Lock()
_quieted = False


def _hp() -> Any:
    """highspy, after its one-time copyright banner was sent to /dev/null.

    HiGHS prints the banner from C++ on the first ``Highs()`` of a process, before any
    option can switch it off; it would otherwise corrupt reports and ``--json`` output.
    """
    global _quieted
    import highspy

    if not _quieted:
        with _QUIET_LOCK:
            if not _quieted:
                _quieted = True
                with redirect_stdout("devnull"):
                    highspy.Highs()
    return highspy


def silence_banner() -> None:
    """Make sure HiGHS' first-instance banner never reaches stdout (any backend uses HiGHS)."""
    _hp()


@functools.cache
def version() -> str:
    """The HiGHS version behind highspy, looked up once."""
    return str(_hp().Highs().version())


def build(
    model: CompiledModel, options: SolverOptions | None = None, objective: bool = True
) -> highspy.Highs:
    """A configured ``highspy.Highs`` holding the model (objective dropped if asked)."""
    hp = _hp()
    options = options or SolverOptions()
    h = hp.Highs()
    h.setOptionValue("output_flag", bool(options.verbose))
    if options.time_limit is not None:
        h.setOptionValue("time_limit", float(options.time_limit))
    h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    if options.threads:
        h.setOptionValue("threads", int(options.threads))
    for key, value in options.extra.items():
        h.setOptionValue(key, value)

    n, m = model.ncols, model.nrows
    A = model.matrix
    lp = hp.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = m
    maximize = model.sense == "maximize"
    quadratic = objective and len(model.obj_q[2]) > 0
    # HiGHS minimises 0.5 x'Qx + c'x; a maximised QP is passed negated.
    flip = -1.0 if (quadratic and maximize) else 1.0
    if objective:
        lp.col_cost_ = flip * model.obj_c
        lp.offset_ = flip * model.obj_const
        if maximize and not quadratic:
            lp.sense_ = hp.ObjSense.kMaximize
    else:
        lp.col_cost_ = np.zeros(n)
    lp.col_lower_ = model.col_lb
    lp.col_upper_ = model.col_ub
    lp.row_lower_ = model.row_lb
    lp.row_upper_ = model.row_ub
    lp.a_matrix_.format_ = hp.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = m
    if model.integer:
        K = hp.HighsVarType
        lp.integrality_ = [K.kInteger if t else K.kContinuous for t in model.col_type.tolist()]
    if h.passModel(lp) == hp.HighsStatus.kError:
        raise BackendError(
            "HiGHS rejected the model (non-finite or inconsistent data); "
            "check the bounds and coefficients"
        )
    if quadratic:
        qa, qb, qv = model.obj_q
        # x'Qx/2 with Q symmetric: v*xa*xb (a<b) -> Q_ab=Q_ba=v ; v*xa^2 -> Q_aa=2v.
        diag = qa == qb
        rows = np.concatenate([qb[~diag], qa[diag]])  # lower triangle: row >= col
        cols = np.concatenate([qa[~diag], qa[diag]])
        vals = flip * np.concatenate([qv[~diag], 2 * qv[diag]])
        Q = sp.csc_matrix((vals, (rows, cols)), shape=(n, n))
        Q.sum_duplicates()
        hess = hp.HighsHessian()
        hess.dim_ = n
        hess.format_ = hp.HessianFormat.kTriangular
        hess.start_ = Q.indptr.astype(np.int32)
        hess.index_ = Q.indices.astype(np.int32)
        hess.value_ = Q.data
        if h.passHessian(hess) == hp.HighsStatus.kError:
            raise BackendError("HiGHS rejected the quadratic objective")
    return h


def fit_highs_threads(threads: int | None) -> None:
    """Let the next HiGHS run use ``threads`` threads, whatever ran before in this process.

    Why: HiGHS keeps one global thread scheduler, sized by the first run; a later
    run asking for another explicit count fails with model status "Not Set".
    Resetting the scheduler first makes ``threads=`` work on every solve.
    """
    if not threads:
        return
    with contextlib.suppress(Exception):
        _hp().Highs.resetGlobalScheduler(True)


class HighsBackend:
    """Direct HiGHS: LP, MILP and convex QP, with duals, ranging and IIS."""

    name = "highs"

    def capabilities(self, solver: str | None = None) -> frozenset[Capability]:
        """Everything this backend (with ``solver``, if given) can do."""
        return _CAPS

    def supports(self, capability: Capability, solver: str | None = None) -> bool:
        """``capability in capabilities(solver)``: the question callers ask."""
        return capability in self.capabilities(solver)

    def available(self, solver: str | None = None) -> Availability:
        """Truthy when it can run here (with ``solver``); says why not otherwise."""
        if solver not in (None, "highs"):
            return Availability(False, f"the highs backend runs only HiGHS, not {solver!r}")
        try:
            return Availability(True, version=version())
        except ImportError as exc:  # pragma: no cover - highspy is a dependency
            return Availability(False, f"highspy is not installed ({exc})")

    def solve(self, model: CompiledModel, options: SolverOptions) -> RawSolution:
        """Solve ``model``; ``modeling.solve`` wraps this and never raises."""
        hp = _hp()
        t0 = time.perf_counter()
        h = build(model, options)
        t1 = time.perf_counter()
        fit_highs_threads(options.threads)
        h.run()
        t2 = time.perf_counter()
        ver = str(h.version())
        ms = h.getModelStatus()
        info = h.getInfo()
        K = hp.HighsModelStatus
        has_primal = info.primal_solution_status == 2
        sol = h.getSolution() if has_primal else None
        x = np.asarray(sol.col_value) if sol is not None else None
        flip = -1.0 if (len(model.obj_q[2]) and model.sense == "maximize") else 1.0
        obj = flip * float(info.objective_function_value) if has_primal else None
        bound = gap = None
        if model.integer:
            if np.isfinite(info.mip_dual_bound):
                bound = flip * float(info.mip_dual_bound)
            gap = float(info.mip_gap) if np.isfinite(info.mip_gap) else None
        row_duals = reduced = None
        if (
            not model.integer
            and sol is not None
            and info.dual_solution_status == 2
            and not len(model.obj_q[2])
        ):
            row_duals = np.asarray(sol.row_dual)
            reduced = np.asarray(sol.col_dual)

        status: Status
        term: Termination
        message = h.modelStatusToString(ms)
        if ms == K.kOptimal:
            status, term = Status.OPTIMAL, Termination.OPTIMAL
        elif ms == K.kModelEmpty:
            status, term = Status.OPTIMAL, Termination.OPTIMAL
            obj = model.obj_const
            x = np.zeros(model.ncols)
        elif ms == K.kInfeasible:
            status, term = Status.INFEASIBLE, Termination.INFEASIBLE
        elif ms == K.kUnbounded:
            status, term = Status.UNBOUNDED, Termination.UNBOUNDED
        elif ms == K.kUnboundedOrInfeasible:  # modeling.solve re-solves to tell which
            status, term = Status.INFEASIBLE_OR_UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED
        elif ms in (
            K.kTimeLimit,
            K.kIterationLimit,
            K.kSolutionLimit,
            K.kInterrupt,
            K.kObjectiveBound,
            K.kObjectiveTarget,
            K.kMemoryLimit,
        ):
            term = {
                K.kTimeLimit: Termination.TIME_LIMIT,
                K.kIterationLimit: Termination.ITERATION_LIMIT,
                K.kSolutionLimit: Termination.SOLUTION_LIMIT,
                K.kInterrupt: Termination.INTERRUPTED,
                K.kObjectiveBound: Termination.OBJECTIVE_LIMIT,
                K.kObjectiveTarget: Termination.OBJECTIVE_LIMIT,
            }.get(ms, Termination.ERROR)
            status = (
                Status.FEASIBLE
                if has_primal
                else (Status.TIME_LIMIT if term is Termination.TIME_LIMIT else Status.ERROR)
            )
        elif ms in (
            K.kSolveError,
            K.kPostsolveError,
            K.kPresolveError,
            K.kLoadError,
            K.kModelError,
        ):
            status, term = Status.ERROR, Termination.ERROR
            if len(model.obj_q[2]) and not model.convex:
                message += " (HiGHS solves convex QPs only; use backend pyomo with SCIP)"
        else:
            status, term = Status.ERROR, Termination.UNKNOWN
            message = f"HiGHS returned an unknown status: {message}"
        if not status.has_solution:
            x = None
            obj = None
            row_duals = reduced = None
        return RawSolution(
            status,
            term,
            "highs",
            ver,
            obj,
            bound,
            gap,
            x,
            row_duals,
            reduced,
            message,
            build_s=t1 - t0,
            solve_s=t2 - t1,
        )

    # -- diagnostics (Capability.IIS, PRIMAL_RAY, RANGING) ---------------------------
    def feasibility_oracle(self, model: CompiledModel, integer: bool) -> HighsFeasibility:
        """A warm HiGHS instance deciding feasibility as bounds change (see IISBackend)."""
        return HighsFeasibility(model, integer)

    def iis(self, model: CompiledModel, time_limit: float) -> IISCandidates | None:
        """HiGHS's IIS of the continuous relaxation; None when HiGHS finds none or fails.

        HiGHS's irreducible IIS solves many LPs and ignores the time limit, so it
        is asked for only on small models; larger ones get its cheap infeasible
        subset from one LP (the caller makes that irreducible).
        """
        hp = _hp()
        strategy = int(hp.IisStrategy.kIisStrategyFromLp)
        if model.nrows + model.ncols <= IIS_IRREDUCIBLE_MAX:
            strategy |= int(hp.IisStrategy.kIisStrategyIrreducible)
        try:
            h = build(
                _relaxed(model),
                SolverOptions(time_limit=max(0.1, time_limit), extra={"iis_strategy": strategy}),
                objective=False,
            )
            h.run()
            if h.getModelStatus() != hp.HighsModelStatus.kInfeasible:
                return None
            status, iis = h.getIis()
        except Exception:  # an experimental HiGHS facility: never let it break the diagnosis
            return None
        if status == hp.HighsStatus.kError or not iis.valid_:
            return None
        B = hp.IisBoundStatus
        lower_ok = (int(B.kIisBoundStatusLower), int(B.kIisBoundStatusBoxed))
        upper_ok = (int(B.kIisBoundStatusUpper), int(B.kIisBoundStatusBoxed))
        out = IISCandidates(rows=[int(r) for r in iis.row_index_], lower=[], upper=[])
        for j, st in zip(list(iis.col_index_), list(iis.col_bound_), strict=False):
            if st in lower_ok and math.isfinite(model.col_lb[j]):
                out.lower.append(int(j))
            if st in upper_ok and math.isfinite(model.col_ub[j]):
                out.upper.append(int(j))
        return out

    def primal_ray(self, model: CompiledModel, time_limit: float) -> np.ndarray | None:
        """HiGHS's primal ray of the continuous relaxation of a linear model, unverified."""
        hp = _hp()
        if model.obj_tree is not None or model.nonlinear_blocks or len(model.obj_q[2]):
            return None
        try:
            h: Any = build(
                _relaxed(model),
                SolverOptions(time_limit=time_limit, extra={"presolve": "off"}),
            )
            h.run()
            if h.getModelStatus() != hp.HighsModelStatus.kUnbounded:
                return None
            _, has, ray = h.getPrimalRay()
        except Exception:
            return None
        return np.asarray(ray, dtype=float)[: model.ncols] if has else None

    def ranging(self, model: CompiledModel, time_limit: float | None) -> LPRanging:
        """Solve an LP with HiGHS and read its duals, basis and ranging."""
        hp = _hp()
        h = build(model, SolverOptions(time_limit=time_limit))
        h.run()
        ms = h.getModelStatus()
        if ms != hp.HighsModelStatus.kOptimal:
            raise BackendError(f"HiGHS says {h.modelStatusToString(ms)}")
        sol = h.getSolution()
        n, m = model.ncols, model.nrows
        nan_n, nan_m = np.full(n, np.nan), np.full(m, np.nan)
        cost = (nan_n, nan_n)
        rhs = objective = (nan_m, nan_m)
        ranged = False
        try:
            st, rng = h.getRanging()
            if st != hp.HighsStatus.kError and rng.valid:
                cost = (_arr(rng.col_cost_dn.value_, n), _arr(rng.col_cost_up.value_, n))
                rhs = (_arr(rng.row_bound_dn.value_, m), _arr(rng.row_bound_up.value_, m))
                objective = (
                    _arr(rng.row_bound_dn.objective_, m),
                    _arr(rng.row_bound_up.objective_, m),
                )
                ranged = True
        except Exception:  # ranging is a bonus: duals are still worth reporting without it
            pass
        basic = np.array(
            [st == hp.HighsBasisStatus.kBasic for st in h.getBasis().col_status], dtype=bool
        )
        return LPRanging(
            objective=float(h.getInfo().objective_function_value),
            x=_arr(sol.col_value, n),
            activity=_arr(sol.row_value, m),
            row_dual=_arr(sol.row_dual, m),
            col_dual=_arr(sol.col_dual, n),
            basic=np.concatenate([basic, np.zeros(max(0, n - len(basic)), dtype=bool)])[:n],
            cost_lower=cost[0],
            cost_upper=cost[1],
            rhs_lower=rhs[0],
            rhs_upper=rhs[1],
            objective_at_rhs_lower=objective[0],
            objective_at_rhs_upper=objective[1],
            ranged=ranged,
        )


IIS_IRREDUCIBLE_MAX = 600
"""Rows + columns up to which HiGHS's own irreducible IIS is asked for."""


def _arr(values: Any, n: int) -> np.ndarray:
    return np.asarray(values, dtype=float)[:n]


def _relaxed(model: CompiledModel) -> CompiledModel:
    """The continuous relaxation: every column's integrality dropped (bounds kept)."""
    if not model.integer:
        return model
    return replace(model, col_type=np.zeros(model.ncols, dtype=np.int8))


class HighsFeasibility:
    """One HiGHS instance, objective dropped, whose bounds change between checks.

    Every check after the first starts warm. A continuous oracle runs without
    presolve so that HiGHS leaves a dual (Farkas) ray behind, which names every
    row the last infeasibility proof used.
    """

    def __init__(self, model: CompiledModel, integer: bool) -> None:
        self.model = model
        self.continuous = not (integer and model.integer)
        base = _relaxed(model) if self.continuous else model
        extra = {"presolve": "off"} if self.continuous else {}
        self.h: Any = build(base, SolverOptions(extra=extra), objective=False)
        self.rows = np.arange(model.nrows, dtype=np.int32)
        self.cols = np.arange(model.ncols, dtype=np.int32)

    def is_infeasible(
        self,
        row_lb: np.ndarray,
        row_ub: np.ndarray,
        col_lb: np.ndarray,
        col_ub: np.ndarray,
        time_limit: float,
    ) -> bool | None:
        m = self.model
        if m.nrows:
            self.h.changeRowsBounds(m.nrows, self.rows, row_lb, row_ub)
        if m.ncols:
            self.h.changeColsBounds(m.ncols, self.cols, col_lb, col_ub)
        self.h.setOptionValue("time_limit", float(time_limit))
        self.h.run()
        ms = self.h.getModelStatus()
        K = _hp().HighsModelStatus
        if ms in (K.kInfeasible, K.kUnboundedOrInfeasible):
            return True  # with no objective, "unbounded" is impossible
        if ms in (K.kOptimal, K.kModelEmpty):
            return False
        return None

    def dual_ray(self) -> np.ndarray | None:
        if not self.continuous:
            return None
        try:
            _, has, ray = self.h.getDualRay()
        except Exception:
            return None
        return np.asarray(ray, dtype=float)[: self.model.nrows] if has else None
