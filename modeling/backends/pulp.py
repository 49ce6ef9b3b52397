"""PuLP: LP and MILP through PuLP's HiGHS (in-process), bundled CBC, or SCIP.

Why a PuLP route at all: it is the modeling layer many users know, CBC is a
second, independent MILP solver to cross-check HiGHS against, and PuLP writes
LP/MPS files with readable names (``ship_seattle_topeka``). PuLP needs plain
names, so each column keeps its index in a list and names are only labels.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from modeling._stdio import redirect_stdout
from modeling.backends.base import (
    SOLVE_LOCK,
    Availability,
    BackendError,
    Capability,
    RawSolution,
    SolverOptions,
)
from modeling.backends.highs import fit_highs_threads
from modeling.backends.pyomo import (
    rest_point,
    trivial_outcome,
)
from modeling.result import Status, Termination

if TYPE_CHECKING:
    from modeling.compiler import CompiledModel

_BASE = frozenset({Capability.LP, Capability.MILP, Capability.TIME_LIMIT, Capability.MIP_GAP})
_CAPS = {
    "highs": _BASE | {Capability.DUALS},
    "cbc": _BASE | {Capability.DUALS},
    "scip": _BASE,
}
_SOLVERS = ("highs", "cbc", "scip")


def _pulp() -> Any:
    import pulp

    return pulp


def _plain(text: str) -> str:
    out = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return out if out and not out[0].isdigit() else f"_{out}"


class _Names:
    """Unique plain names: ``ship[seattle, topeka]`` -> ``ship_seattle_topeka``."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, base: str, key: tuple[Any, ...] = ()) -> str:
        name = _plain("_".join([base, *(str(e) for e in key)]))
        candidate, k = name, 1
        while candidate in self.used:
            k += 1
            candidate = f"{name}__{k}"
        self.used.add(candidate)
        return candidate


class PulpModel:
    """A PuLP problem plus the maps back to the compiled model's columns and rows."""

    def __init__(self, model: CompiledModel) -> None:
        pulp = _pulp()
        self.model = model
        sense = pulp.LpMaximize if model.sense == "maximize" else pulp.LpMinimize
        self.problem = pulp.LpProblem(_plain(model.formulation.name or "optiwise"), sense)
        var_names = _Names()
        cats = (pulp.LpContinuous, pulp.LpInteger, pulp.LpBinary)
        lbs = model.col_lb.tolist()
        ubs = model.col_ub.tolist()
        types = model.col_type.tolist()
        make = getattr(self.problem, "add_variable", None)
        self.cols: list[Any] = []
        for b in model.blocks.values():
            keys = model.column_keys(b) if b.sets else [()]
            for j, key in enumerate(keys, start=b.offset):
                lb = lbs[j] if math.isfinite(lbs[j]) else None
                ub = ubs[j] if math.isfinite(ubs[j]) else None
                name = var_names(b.name, key)
                cat = cats[types[j]]
                if make is not None:
                    self.cols.append(make(name, lb, ub, cat))
                else:  # PuLP < 3.3
                    self.cols.append(pulp.LpVariable(name, lb, ub, cat))
        # Every column goes into the objective, zero or not, so that PuLP passes columns
        # no constraint uses to the solver too (their bounds matter).
        self.set_objective(model.obj_c, model.obj_const)

        A = model.matrix
        indptr = A.indptr.tolist()
        indices = A.indices.tolist()
        data = A.data.tolist()
        row_lb = model.row_lb.tolist()
        row_ub = model.row_ub.tolist()
        con_names = _Names()
        self.rows: list[list[Any]] = [[] for _ in range(model.nrows)]
        for blk in model.con_blocks:
            if not blk.linear:
                raise BackendError(
                    f"constraint {blk.name} is nonlinear; PuLP solves LP and MILP only "
                    "(use backend 'pyomo' with SCIP)"
                )
            keys = blk.keys()
            for k in range(blk.count):
                r = blk.row_start + k
                s, e = indptr[r], indptr[r + 1]
                if s == e:
                    continue  # no variables: checked before solving
                terms = dict(zip([self.cols[c] for c in indices[s:e]], data[s:e], strict=True))
                name = con_names(blk.name, keys[k])
                lo, hi = row_lb[r], row_ub[r]
                if math.isfinite(lo) and lo == hi:
                    self._add(r, terms, pulp.LpConstraintEQ, name, lo)
                    continue
                if math.isfinite(lo) and math.isfinite(hi):  # a range: two rows
                    self._add(r, terms, pulp.LpConstraintGE, con_names(f"{name}_lo"), lo)
                    self._add(r, terms, pulp.LpConstraintLE, con_names(f"{name}_hi"), hi)
                elif math.isfinite(lo):
                    self._add(r, terms, pulp.LpConstraintGE, name, lo)
                elif math.isfinite(hi):
                    self._add(r, terms, pulp.LpConstraintLE, name, hi)

    def _add(self, row: int, terms: dict[Any, float], sense: int, name: str, rhs: float) -> None:
        pulp = _pulp()
        con = pulp.LpConstraint(pulp.LpAffineExpression(terms), sense, name, rhs)
        self.problem.addConstraint(con, name)
        self.rows[row].append(con)

    def set_objective(self, c: np.ndarray, const: float) -> None:
        pulp = _pulp()
        expr = pulp.LpAffineExpression(dict(zip(self.cols, c.tolist(), strict=True)), const)
        self.problem.setObjective(expr)


class PulpBackend:
    """PuLP with HiGHS (default), CBC or SCIP: LP and MILP, with duals from HiGHS and CBC."""

    name = "pulp"

    def __init__(self) -> None:
        self._avail: dict[str, Availability] = {}

    def supports(self, capability: Capability, solver: str | None = None) -> bool:
        """``capability in capabilities(solver)``: the question callers ask."""
        return capability in self.capabilities(solver)

    def capabilities(self, solver: str | None = None) -> frozenset[Capability]:
        """Everything this backend (with ``solver``, if given) can do."""
        return _CAPS.get((solver or "highs").lower(), _BASE)

    def available(self, solver: str | None = None) -> Availability:
        """Truthy when it can run here (with ``solver``); says why not otherwise."""
        key = (solver or "highs").lower()
        if key not in self._avail:
            self._avail[key] = self._check(key)
        return self._avail[key]

    def _check(self, solver: str) -> Availability:
        if solver not in _SOLVERS:
            return Availability(
                False,
                f"the pulp backend runs 'highs', 'cbc' or 'scip', not {solver!r}; "
                "for other solvers use backend 'pyomo'",
            )
        try:
            pulp = _pulp()
            with redirect_stdout():
                ok = bool(self._solver(solver, SolverOptions(), integer=True).available())
        except Exception as exc:
            return Availability(False, f"PuLP cannot run {solver!r} ({exc})")
        if not ok:
            return Availability(False, f"PuLP's {solver!r} solver is not available here")
        return Availability(True, version=str(pulp.__version__))

    @staticmethod
    def _solver(name: str, options: SolverOptions, integer: bool) -> Any:
        pulp = _pulp()
        kw: dict[str, Any] = {"msg": bool(options.verbose)}
        if options.time_limit is not None:
            kw["timeLimit"] = float(options.time_limit)
        if integer:
            kw["gapRel"] = float(options.mip_gap)
        if options.threads:
            kw["threads"] = int(options.threads)
        if name == "highs":
            return pulp.HiGHS(**kw, **options.extra)
        if name == "cbc":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                return pulp.PULP_CBC_CMD(
                    **kw, options=[f"{k} {v}" for k, v in options.extra.items()]
                )
        if name == "scip":
            if options.threads:
                del kw["threads"]  # SCIP_PY runs one thread and warns otherwise
            return pulp.SCIP_PY(**kw, options=[f"{k}={v}" for k, v in options.extra.items()])
        raise BackendError(f"the pulp backend runs 'highs', 'cbc' or 'scip', not {name!r}")

    def solve(self, model: CompiledModel, options: SolverOptions) -> RawSolution:
        """Solve ``model``; ``modeling.solve`` wraps this and never raises."""
        with SOLVE_LOCK:
            return self._solve(model, options)

    def _solve(self, model: CompiledModel, options: SolverOptions) -> RawSolution:
        solver = (options.solver or "highs").lower()
        t0 = time.perf_counter()
        if model.nonlinear_blocks or model.obj_tree is not None or len(model.obj_q[2]):
            raise BackendError(
                f"PuLP solves LP and MILP only, not a {model.model_class}; "
                "use backend 'pyomo' (SCIP) or 'highs' for a convex QP"
            )
        trivial = trivial_outcome(model)
        if trivial is not None:
            return RawSolution(trivial[0], Termination.INFEASIBLE, solver, message=trivial[1])
        avail = self.available(solver)
        if not avail:
            raise BackendError(avail.reason)
        pm = PulpModel(model)
        t1 = time.perf_counter()
        with redirect_stdout(enabled=not options.verbose):
            status, term, message, has = self._run(pm, solver, options)
            if status in (Status.FEASIBLE, Status.TIME_LIMIT):
                # PuLP's codes read "Optimal, Solution Found" for a solve stopped at a
                # limit: keep only the solver's own words (modeling.solve words the rest)
                message = self._native(pm.problem, solver)
            t2 = time.perf_counter()
            version = self._version(solver)
        x = obj = bound = gap = None
        row_duals = reduced = None
        if status.has_solution and has:
            x = np.array(
                [
                    rest_point_j if v.varValue is None else float(v.varValue)
                    for v, rest_point_j in zip(pm.cols, rest_point(model).tolist(), strict=True)
                ]
            )
            obj = float(model.obj_const + model.obj_c @ x)
            if model.integer:
                bound = self._bound(pm, solver, model)
                if bound is not None:
                    gap = 0.0 if bound == obj else abs(obj - bound) / max(abs(obj), 1e-10)
            elif solver in ("highs", "cbc"):
                row_duals, reduced = self._duals(pm, solver, model)
        elif status.has_solution:
            status, term = Status.ERROR, Termination.ERROR
            message += "; the solver reported a solution but returned no values"
        return RawSolution(
            status,
            term,
            solver,
            version,
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

    def _run(
        self, pm: PulpModel, solver: str, options: SolverOptions
    ) -> tuple[Status, Termination, str, bool]:
        """Solve once; (status, termination, message, whether values were returned)."""
        pulp = _pulp()
        prob = pm.problem
        if solver == "highs":
            fit_highs_threads(options.threads)
        prob.solve(self._solver(solver, options, pm.model.integer))
        text = f"{pulp.LpStatus.get(prob.status, prob.status)}, " + str(
            pulp.LpSolution.get(prob.sol_status, prob.sol_status)
        )
        native = self._native(prob, solver)
        if native:
            text = f"{native} ({text})"
        has = prob.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        limited = options.time_limit is not None

        if solver == "highs" and native:
            return (*self._from_highs(native, has, limited), text, has)
        if solver == "scip" and native:
            return (*self._from_scip(native, has), text, has)
        if prob.status == pulp.LpStatusOptimal:
            if prob.sol_status == pulp.LpSolutionOptimal:
                return Status.OPTIMAL, Termination.OPTIMAL, text, has
            # CBC stopped early with an incumbent ("Stopped on time/nodes - objective …")
            term = Termination.TIME_LIMIT if limited else Termination.UNKNOWN
            return Status.FEASIBLE, term, text, has
        if prob.status == pulp.LpStatusInfeasible:
            return Status.INFEASIBLE, Termination.INFEASIBLE, text, False
        if prob.status == pulp.LpStatusUnbounded:
            return Status.UNBOUNDED, Termination.UNBOUNDED, text, False
        if prob.status == pulp.LpStatusNotSolved and limited:
            return Status.TIME_LIMIT, Termination.TIME_LIMIT, text, False
        return (
            Status.ERROR,
            Termination.UNKNOWN,
            f"PuLP ({solver}) stopped with an unknown status: {text}",
            False,
        )

    @staticmethod
    def _native(prob: Any, solver: str) -> str:
        sm = getattr(prob, "solverModel", None)
        if sm is None:
            return ""
        try:
            if solver == "highs":
                return str(sm.modelStatusToString(sm.getModelStatus()))
            if solver == "scip":
                return str(sm.getStatus())
        except Exception:
            return ""
        return ""

    @staticmethod
    def _from_highs(native: str, has: bool, limited: bool) -> tuple[Status, Termination]:
        n = native.lower()
        if n == "optimal":
            return Status.OPTIMAL, Termination.OPTIMAL
        if n == "infeasible":
            return Status.INFEASIBLE, Termination.INFEASIBLE
        if n == "unbounded":
            return Status.UNBOUNDED, Termination.UNBOUNDED
        if "unbounded" in n and "infeasible" in n:
            return Status.INFEASIBLE_OR_UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED
        if "time limit" in n:
            return (Status.FEASIBLE if has else Status.TIME_LIMIT), Termination.TIME_LIMIT
        if "iteration limit" in n or "solution limit" in n or "interrupt" in n:
            return (Status.FEASIBLE if has else Status.ERROR), Termination.ITERATION_LIMIT
        if "objective" in n:
            return (Status.FEASIBLE if has else Status.ERROR), Termination.OBJECTIVE_LIMIT
        if "error" in n:
            return Status.ERROR, Termination.ERROR
        return Status.ERROR, Termination.UNKNOWN

    @staticmethod
    def _from_scip(native: str, has: bool) -> tuple[Status, Termination]:
        if native in ("optimal", "gaplimit"):
            return Status.OPTIMAL, Termination.OPTIMAL
        if native == "infeasible":
            return Status.INFEASIBLE, Termination.INFEASIBLE
        if native == "unbounded":
            return Status.UNBOUNDED, Termination.UNBOUNDED
        if native == "inforunbd":
            return Status.INFEASIBLE_OR_UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED
        if native == "timelimit":
            return (Status.FEASIBLE if has else Status.TIME_LIMIT), Termination.TIME_LIMIT
        if native in ("nodelimit", "totalnodelimit", "stallnodelimit"):
            return (Status.FEASIBLE if has else Status.ERROR), Termination.ITERATION_LIMIT
        if native in ("sollimit", "bestsollimit"):
            return (Status.FEASIBLE if has else Status.ERROR), Termination.SOLUTION_LIMIT
        if native == "userinterrupt":
            return (Status.FEASIBLE if has else Status.ERROR), Termination.INTERRUPTED
        return Status.ERROR, Termination.UNKNOWN

    @staticmethod
    def _duals(
        pm: PulpModel, solver: str, model: CompiledModel
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Row duals and reduced costs in HiGHS' convention (what the highs backend returns).

        PuLP passes a maximisation to HiGHS as the minimisation of the negated
        objective, so for ``maximize`` its signs flip back; CBC gets ``-max`` and
        already reports in the maximisation's terms.
        """
        flip = -1.0 if model.sense == "maximize" and solver == "highs" else 1.0
        duals = np.zeros(model.nrows)
        for r, cons in enumerate(pm.rows):
            pis = [c.pi for c in cons]
            if any(p is None for p in pis):
                return None, None
            duals[r] = flip * float(sum(pis))
        djs = [v.dj for v in pm.cols]
        if any(d is None for d in djs):
            return duals, None
        return duals, flip * np.asarray(djs, dtype=float)

    @staticmethod
    def _bound(pm: PulpModel, solver: str, model: CompiledModel) -> float | None:
        """The MIP's dual bound (HiGHS, SCIP), with the objective constant PuLP leaves out."""
        sm = getattr(pm.problem, "solverModel", None)
        if sm is None:
            return None
        try:
            if solver == "highs":
                raw = float(sm.getInfo().mip_dual_bound)
                raw = -raw if model.sense == "maximize" else raw
            elif solver == "scip":
                raw = float(sm.getDualbound())
            else:
                return None
        except Exception:
            return None
        return raw + model.obj_const if math.isfinite(raw) and abs(raw) < 1e20 else None

    @staticmethod
    def _version(solver: str) -> str:
        pulp = _pulp()
        try:
            if solver == "highs":
                import highspy

                return f"highspy {highspy.Highs().version()} via PuLP {pulp.__version__}"
            if solver == "scip":
                import pyscipopt

                return f"pyscipopt {pyscipopt.__version__} via PuLP {pulp.__version__}"
        except Exception:
            pass
        return f"PuLP {pulp.__version__}"
