"""Pyomo: the formulation as a named Pyomo model, solved by HiGHS, SCIP or any Pyomo solver.

Why a second route next to direct HiGHS: Pyomo reaches the model classes HiGHS
cannot (nonconvex QP, MIQP, NLP, MINLP through SCIP's global solver), any solver
a user has installed, and Pyomo's writers for exports. So that an exported
model reads like the document, its components carry the formulation's names:
``ship[seattle, topeka]``, ``meet_demand[chicago]``, an objective named after
the document.

HiGHS and SCIP run through Pyomo's new solver interface
(``pyomo.contrib.solver``), which keeps *why the solver stopped* apart from
*what the returned point is*; any other name goes to the legacy
``SolverFactory``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modeling._stdio import redirect_stdout
from modeling.backends.base import (
    SOLVE_LOCK,
    Availability,
    BackendError,
    Capability,
    IISCandidates,
    RawSolution,
    SolverOptions,
)
from modeling.backends.highs import fit_highs_threads
from modeling.result import Status, Termination

if TYPE_CHECKING:
    import pyomo.environ as pyo

    from modeling.compiler import CompiledModel, Tree

_MODEL_CLASSES = frozenset(
    {
        Capability.LP,
        Capability.MILP,
        Capability.QP,
        Capability.NONCONVEX_QP,
        Capability.MIQP,
        Capability.NLP,
        Capability.MINLP,
    }
)
_LIMITS = frozenset({Capability.TIME_LIMIT, Capability.MIP_GAP})
_HIGHS_CAPS = frozenset({Capability.LP, Capability.MILP, Capability.QP, Capability.DUALS}) | _LIMITS
# The legacy APPSI interface to HiGHS passes no quadratic objective.
_APPSI_HIGHS_CAPS = frozenset({Capability.LP, Capability.MILP, Capability.DUALS}) | _LIMITS
_SCIP_CAPS = _MODEL_CLASSES | _LIMITS | {Capability.IIS}  # IIS: a deletion filter over SCIP
# An unknown solver may or may not cope; claiming the common classes lets it say no itself.
_OTHER_CAPS = (
    frozenset({Capability.LP, Capability.MILP, Capability.QP, Capability.NLP, Capability.MINLP})
    | _LIMITS
)

# Our short names -> the pyomo.contrib.solver name that implements them.
_CONTRIB_ALIASES = {"highs": "highs", "scip": "scip_direct"}
_SCIP_NAMES = frozenset({"scip", "scip_direct", "scip_persistent"})
_WORKING_HERE = "'highs' (LP, MILP, convex QP) and 'scip' (every class, incl. NLP and MINLP)"

# Legacy (pyomo.opt) solvers name their relative-gap and thread options differently.
_GAP_OPTION = {
    "appsi_highs": "mip_rel_gap",
    "cbc": "ratioGap",
    "glpk": "mipgap",
    "cplex": "mipgap",
    "cplex_direct": "mipgap",
    "gurobi": "MIPGap",
    "xpress": "miprelstop",
    "xpress_direct": "miprelstop",
}
_THREADS_OPTION = {
    "appsi_highs": "threads",
    "cbc": "threads",
    "cplex": "threads",
    "gurobi": "Threads",
}


def _pyo() -> Any:
    import pyomo.environ as pyo

    return pyo


# ------------------------------------------------------------ building models


@dataclass
class PyomoBuild:
    """A Pyomo model plus the maps back to the compiled model's columns and rows."""

    model: Any  # pyomo.environ.ConcreteModel
    cols: list[Any]  # VarData per column
    rows: list[Any]  # ConstraintData (or None when the row was vacuous) per linear row
    objective: Any  # the Objective component
    names: dict[str, str] = field(default_factory=dict)  # formulation name -> component name


def _identifier(text: str | None, default: str) -> str:
    name = re.sub(r"\W", "_", text or "").strip("_")
    if not name:
        return default
    return f"_{name}" if name[0].isdigit() else name


def _add(pm: Any, name: str, comp: Any) -> str:
    """Add ``comp`` under ``name``, or ``name_1``, ``name_2``… when taken or reserved by Pyomo."""
    candidate, k = name, 0
    while True:
        if pm.component(candidate) is None and not hasattr(pm, candidate):
            try:
                pm.add_component(candidate, comp)
                return candidate
            except ValueError:
                pass
        k += 1
        candidate = f"{name}_{k}"


def _index(key: tuple[Any, ...]) -> Any:
    return key[0] if len(key) == 1 else key


def _relation(lo: float, body: Any, hi: float) -> Any:
    lo_f, hi_f = math.isfinite(lo), math.isfinite(hi)
    if lo_f and hi_f and lo == hi:
        return body == lo
    return (lo if lo_f else None, body, hi if hi_f else None)


class _Trees:
    """Compiled expression trees -> Pyomo expressions over the model's columns."""

    def __init__(self, cols: Sequence[Any]) -> None:
        pyo = _pyo()
        self.cols = cols
        self.funcs: dict[str, Callable[[Any], Any]] = {
            "exp": pyo.exp,
            "log": pyo.log,
            "sqrt": pyo.sqrt,
            "sin": pyo.sin,
            "cos": pyo.cos,
            "abs": abs,
        }

    def poly(
        self,
        const: float,
        cols: Sequence[int],
        coefs: Sequence[float],
        qa: Sequence[int] = (),
        qb: Sequence[int] = (),
        qv: Sequence[float] = (),
    ) -> Any:
        from pyomo.core.expr import LinearExpression

        pyo = _pyo()
        x = self.cols
        lin = LinearExpression(
            constant=float(const),
            linear_coefs=[float(c) for c in coefs],
            linear_vars=[x[j] for j in cols],
        )
        if not len(qv):
            return lin
        quad = [
            float(v) * x[a] ** 2 if a == b else float(v) * x[a] * x[b]
            for a, b, v in zip(qa, qb, qv, strict=True)
        ]
        return pyo.quicksum([lin, *quad])

    def expr(self, t: Tree) -> Any:
        tag = t[0]
        if tag == "c":
            return float(t[1])
        if tag == "v":
            return self.cols[t[1]]
        if tag == "poly":
            return self.poly(*t[1:])
        if tag == "+":
            return _pyo().quicksum([self.expr(a) for a in t[1]])
        if tag == "*":
            return self.expr(t[1]) * self.expr(t[2])
        if tag == "/":
            return self.expr(t[1]) / self.expr(t[2])
        if tag == "^":
            e = t[2]
            if e[0] == "c" and float(e[1]).is_integer():
                return self.expr(t[1]) ** int(e[1])
            return self.expr(t[1]) ** self.expr(e)
        if tag == "neg":
            return -self.expr(t[1])
        if tag == "f":
            return self.funcs[t[1]](self.expr(t[2]))
        if tag in ("min", "max"):
            args = [self.expr(a) for a in t[1]]
            out = args[0]
            for b in args[1:]:
                # min(a, b) = (a + b - |a - b|) / 2 and max(a, b) = (a + b + |a - b|) / 2:
                # every solver that knows abs() then knows min and max.
                d = abs(out - b)
                out = (out + b - d) / 2 if tag == "min" else (out + b + d) / 2
            return out
        raise ValueError(f"unknown expression node {tag!r}")


def _build(model: CompiledModel) -> PyomoBuild:
    pyo = _pyo()
    from pyomo.core.expr import LinearExpression

    pm = pyo.ConcreteModel(name=model.formulation.name or "optiwise")
    names: dict[str, str] = {}

    # the document's sets, so that variables are indexed like the document says
    set_comp: dict[str, Any] = {}
    for sname, s in model.data.sets.items():
        comp = pyo.Set(initialize=list(s.elements), dimen=s.dim, ordered=True)
        names[sname] = _add(pm, sname, comp)
        set_comp[sname] = comp

    cols: list[Any] = [None] * model.ncols
    lb = [None if not math.isfinite(v) else float(v) for v in model.col_lb.tolist()]
    ub = [None if not math.isfinite(v) else float(v) for v in model.col_ub.tolist()]
    for vname, b in model.blocks.items():
        kind = int(model.col_type[b.offset]) if b.size else 0
        domain = (pyo.Reals, pyo.Integers, pyo.Binary)[kind]
        if not b.sets:
            var = pyo.Var(domain=domain)
            names[vname] = _add(pm, vname, var)
            datas = [var]
        else:
            var = pyo.Var(*[set_comp[s] for s in b.sets], domain=domain, dense=True)
            names[vname] = _add(pm, vname, var)
            datas = [var[_index(k)] for k in model.column_keys(b)]
        for j, d in enumerate(datas, start=b.offset):
            d.setlb(lb[j])
            d.setub(ub[j])
            cols[j] = d

    A = model.matrix
    indptr = A.indptr.tolist()
    indices = A.indices.tolist()
    data = A.data.tolist()
    row_lb = model.row_lb.tolist()
    row_ub = model.row_ub.tolist()
    rows: list[Any] = [None] * model.nrows
    trees = _Trees(cols)

    for blk in model.con_blocks:
        keys = blk.keys()
        scalar = not blk.keys_cols and blk.count == 1
        if not scalar and len(set(keys)) != len(keys):
            keys = [(k,) for k in range(blk.count)]  # never expected; keep every instance
        if scalar:
            con = pyo.Constraint()
            cname = _add(pm, blk.name, con)
        else:
            dim = len(keys[0]) if keys else 1
            idx = pyo.Set(initialize=[_index(k) for k in keys], dimen=dim, ordered=True)
            _add(pm, f"{blk.name}_index", idx)
            con = pyo.Constraint(idx)
            cname = _add(pm, blk.name, con)
        names[blk.name] = cname
        for k in range(blk.count):
            if blk.linear:
                r = blk.row_start + k
                s, e = indptr[r], indptr[r + 1]
                if s == e:
                    continue  # no variables: trivial_outcome() has checked it holds
                body = LinearExpression(
                    constant=0.0,
                    linear_coefs=data[s:e],
                    linear_vars=[cols[j] for j in indices[s:e]],
                )
                lo, hi = row_lb[r], row_ub[r]
            else:
                body = trees.expr(blk.trees[k])
                lo, hi = float(blk.lb[k]), float(blk.ub[k])
            if not math.isfinite(lo) and not math.isfinite(hi):
                continue  # a free row constrains nothing
            rel = _relation(lo, body, hi)
            if scalar:
                con.set_value(rel)
                data_k = con
            else:
                key = _index(keys[k])
                con[key] = rel
                data_k = con[key]
            if blk.linear:
                rows[blk.row_start + k] = data_k

    sense = pyo.maximize if model.sense == "maximize" else pyo.minimize
    if model.obj_tree is not None:
        expr = trees.expr(model.obj_tree)
        if model.obj_const:
            expr = expr + model.obj_const
    else:
        nz = np.flatnonzero(model.obj_c)
        qa, qb, qv = model.obj_q
        expr = trees.poly(
            model.obj_const,
            nz.tolist(),
            model.obj_c[nz].tolist(),
            qa.tolist(),
            qb.tolist(),
            qv.tolist(),
        )
    obj = pyo.Objective(expr=expr, sense=sense)
    oname = _identifier(model.formulation.name, "objective")
    names["objective"] = _add(pm, oname, obj)
    return PyomoBuild(pm, cols, rows, obj, names)


def to_pyomo(model: CompiledModel) -> pyo.ConcreteModel:
    """The compiled model as a Pyomo ``ConcreteModel`` named like the formulation.

    Variables are indexed by the document's sets (``m.ship['seattle', 'topeka']``),
    each constraint is one component indexed by its ``forall`` bindings, and the
    objective is named after the document. Exports and the app build on it::

        m = to_pyomo(compile_model("transport.yaml"))
        m.write("transport.lp")
    """
    return _build(model).model


# ------------------------------------------------------------------ solving


@dataclass
class _Outcome:
    """One solver run, in the solver's own terms plus what we could read back."""

    termination: Termination
    has_solution: bool
    raw: str
    objective: float | None = None
    bound: float | None = None
    x: np.ndarray | None = None
    row_duals: np.ndarray | None = None
    reduced: np.ndarray | None = None
    version: str = ""


def _status_of(term: Termination, has_solution: bool) -> Status:
    """The spec's status for a termination: keeps 'why it stopped' apart from 'what we have'."""
    if term is Termination.OPTIMAL:
        return Status.OPTIMAL if has_solution else Status.ERROR
    if term is Termination.INFEASIBLE:
        return Status.INFEASIBLE
    if term is Termination.UNBOUNDED:
        return Status.UNBOUNDED
    if term is Termination.INFEASIBLE_OR_UNBOUNDED:
        return Status.INFEASIBLE_OR_UNBOUNDED
    if has_solution and term in (
        Termination.TIME_LIMIT,
        Termination.ITERATION_LIMIT,
        Termination.SOLUTION_LIMIT,
        Termination.OBJECTIVE_LIMIT,
        Termination.INTERRUPTED,
        Termination.NUMERICAL,
    ):
        return Status.FEASIBLE
    if term is Termination.TIME_LIMIT:
        return Status.TIME_LIMIT
    return Status.ERROR


def _contrib_termination(tc: Any) -> Termination:
    from pyomo.contrib.solver.common.results import TerminationCondition as TC

    return {
        TC.convergenceCriteriaSatisfied: Termination.OPTIMAL,
        TC.maxTimeLimit: Termination.TIME_LIMIT,
        TC.iterationLimit: Termination.ITERATION_LIMIT,
        TC.objectiveLimit: Termination.OBJECTIVE_LIMIT,
        TC.minStepLength: Termination.NUMERICAL,
        TC.unbounded: Termination.UNBOUNDED,
        TC.provenInfeasible: Termination.INFEASIBLE,
        TC.locallyInfeasible: Termination.INFEASIBLE,
        TC.infeasibleOrUnbounded: Termination.INFEASIBLE_OR_UNBOUNDED,
        TC.error: Termination.ERROR,
        TC.interrupted: Termination.INTERRUPTED,
        TC.licensingProblems: Termination.ERROR,
    }.get(tc, Termination.UNKNOWN)


# Pyomo's termination names (both interfaces) in words: "convergenceCriteriaSatisfied"
# says nothing to a user, and for a global NLP solve it is no MIP statement either.
_PLAIN_TERMINATION = {
    "convergenceCriteriaSatisfied": "solved: the solver's optimality tolerances are met",
    "optimal": "solved: the solver's optimality tolerances are met",
    "globallyOptimal": "globally optimal within the solver's tolerances",
    "locallyOptimal": "locally optimal: a local solver's answer; a better point may exist",
    "maxTimeLimit": "the time limit was reached",
    "iterationLimit": "the iteration limit was reached",
    "maxIterations": "the iteration limit was reached",
    "maxEvaluations": "the evaluation limit was reached",
    "objectiveLimit": "the objective limit was reached",
    "minFunctionValue": "the objective limit was reached",
    "minStepLength": "the solver stopped on a minimum step length (numerical trouble)",
    "unbounded": "unbounded",
    "provenInfeasible": "proven infeasible",
    "infeasible": "infeasible",
    "locallyInfeasible": "locally infeasible: a local solver found no feasible point nearby",
    "infeasibleOrUnbounded": "infeasible or unbounded",
    "interrupted": "interrupted",
    "userInterrupt": "interrupted",
    "error": "the solver reported an error",
    "solverFailure": "the solver failed",
    "internalSolverError": "the solver reported an internal error",
}

_LEGACY_TERMINATION = {
    "optimal": Termination.OPTIMAL,
    "globallyOptimal": Termination.OPTIMAL,
    "locallyOptimal": Termination.OPTIMAL,
    "maxTimeLimit": Termination.TIME_LIMIT,
    "maxIterations": Termination.ITERATION_LIMIT,
    "maxEvaluations": Termination.ITERATION_LIMIT,
    "minFunctionValue": Termination.OBJECTIVE_LIMIT,
    "minStepLength": Termination.NUMERICAL,
    "unbounded": Termination.UNBOUNDED,
    "infeasible": Termination.INFEASIBLE,
    "infeasibleOrUnbounded": Termination.INFEASIBLE_OR_UNBOUNDED,
    "userInterrupt": Termination.INTERRUPTED,
    "resourceInterrupt": Termination.INTERRUPTED,
    "error": Termination.ERROR,
    "solverFailure": Termination.ERROR,
    "internalSolverError": Termination.ERROR,
    "licensingProblems": Termination.ERROR,
    "invalidProblem": Termination.INVALID,
}


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _gap(obj: float | None, bound: float | None) -> float | None:
    if obj is None or bound is None:
        return None
    if obj == bound:
        return 0.0
    return abs(obj - bound) / max(abs(obj), 1e-10)


def trivial_outcome(model: CompiledModel) -> tuple[Status, str] | None:
    """Infeasibility that needs no solver: crossed bounds, or a row without variables.

    Why: modeling layers drop such rows or keep columns that no constraint uses
    out of the solver, so they would otherwise go unnoticed.
    """
    bad = np.flatnonzero(model.col_lb > model.col_ub)
    if len(bad):
        j = int(bad[0])
        return (
            Status.INFEASIBLE,
            f"{model.column_label(j)} has lower bound {model.col_lb[j]:g} above its "
            f"upper bound {model.col_ub[j]:g}",
        )
    if model.nrows:
        counts = np.diff(model.matrix.indptr)
        tol = 1e-9
        empty = np.flatnonzero(counts == 0)
        viol = empty[(model.row_lb[empty] > tol) | (model.row_ub[empty] < -tol)]
        if len(viol):
            r = int(viol[0])
            lo, hi = float(model.row_lb[r]), float(model.row_ub[r])
            need = f"0 >= {lo:g}" if lo > tol else f"0 <= {hi:g}"
            return (
                Status.INFEASIBLE,
                f"{model.row_label(r)} has no variables left and requires {need}",
            )
    return None


def _no_terms(model: CompiledModel) -> bool:
    return (
        not np.any(model.A[2])
        and not np.any(model.obj_c)
        and not np.any(model.obj_q[2])
        and model.obj_tree is None
        and not model.nonlinear_blocks
    )


def rest_point(model: CompiledModel) -> np.ndarray:
    """Where a column no constraint or objective uses sits: 0 moved into its bounds."""
    return np.clip(np.zeros(model.ncols), model.col_lb, model.col_ub)


class PyomoBackend:
    """Pyomo with HiGHS (LP, MILP, convex QP, duals), SCIP (everything) or any Pyomo solver."""

    name = "pyomo"

    def __init__(self) -> None:
        self._avail: dict[str, Availability] = {}

    # -- which solver ---------------------------------------------------------
    @staticmethod
    def default_solver(model: CompiledModel) -> str:
        """HiGHS for LP, MILP and convex QP; SCIP for the rest (spec: model classes)."""
        from modeling.compiler import ModelClass

        cls = model.model_class
        if cls in (ModelClass.LP, ModelClass.MILP) or (cls is ModelClass.QP and model.convex):
            return "highs"
        return "scip"

    def supports(self, capability: Capability, solver: str | None = None) -> bool:
        """``capability in capabilities(solver)``: the question callers ask."""
        return capability in self.capabilities(solver)

    def capabilities(self, solver: str | None = None) -> frozenset[Capability]:
        """Everything this backend (with ``solver``, if given) can do."""
        if solver is None:
            return _MODEL_CLASSES | _LIMITS | {Capability.DUALS, Capability.IIS}
        s = solver.lower()
        if s == "highs":
            return _HIGHS_CAPS
        if s == "appsi_highs":
            return _APPSI_HIGHS_CAPS
        if s in _SCIP_NAMES:
            return _SCIP_CAPS
        return _OTHER_CAPS

    def available(self, solver: str | None = None) -> Availability:
        """Truthy when it can run here (with ``solver``); says why not otherwise."""
        key = (solver or "").lower()
        if key not in self._avail:
            self._avail[key] = self._check(solver)
        return self._avail[key]

    def _check(self, solver: str | None) -> Availability:
        try:
            import pyomo.version
        except ImportError as exc:  # pragma: no cover - pyomo is a dependency
            return Availability(False, f"Pyomo is not installed ({exc})")
        if solver is None:
            return Availability(True, version=str(pyomo.version.version))
        s = solver.lower()
        buf = io.StringIO()
        why = ""
        try:
            from pyomo.common.log import LoggingIntercept

            with redirect_stdout(), LoggingIntercept(buf, "pyomo", logging.WARNING):
                if s in _CONTRIB_ALIASES or s in _contrib_names():
                    opt = _contrib_factory(_CONTRIB_ALIASES.get(s, s))
                    avail = opt.available()
                    ok = bool(avail)
                    why = f"{getattr(avail, 'name', avail)}"
                    version = _version_of(s, opt) if ok else ""
                else:
                    opt = _pyo().SolverFactory(s)
                    if type(opt).__name__ == "UnknownSolver":
                        return Availability(
                            False,
                            f"Pyomo knows no solver called {solver!r} and found no program of "
                            f"that name; solvers that work here: {_WORKING_HERE}",
                        )
                    ok = bool(opt.available(exception_flag=False))
                    version = ""
                    if ok:
                        with contextlib.suppress(Exception):
                            version = _version_of(s, opt)
        except Exception as exc:
            return Availability(
                False,
                f"Pyomo solver {solver!r} cannot be created ({exc}); "
                f"solvers that work here: {_WORKING_HERE}",
            )
        if not ok:
            logged = " ".join(buf.getvalue().split())
            why = logged or {"NotFound": "not installed", "": "not found"}.get(why, why)
            return Availability(
                False,
                f"Pyomo solver {solver!r} is not available here ({why}); "
                f"solvers that work here: {_WORKING_HERE}",
            )
        return Availability(True, version=version)

    # -- diagnostics (Capability.IIS, with SCIP) ---------------------------------
    def feasibility_oracle(self, model: CompiledModel, integer: bool) -> ScipFeasibility:
        """SCIP through Pyomo deciding feasibility as bounds change (see IISBackend)."""
        return ScipFeasibility(self, model, integer)

    def iis(self, model: CompiledModel, time_limit: float) -> IISCandidates | None:
        """None: Pyomo exposes no IIS of SCIP's, so the deletion filter starts from everything."""
        return None

    # -- solving ----------------------------------------------------------------
    def solve(self, model: CompiledModel, options: SolverOptions) -> RawSolution:
        """Solve ``model``; ``modeling.solve`` wraps this and never raises."""
        with SOLVE_LOCK:
            return self._solve(model, options)

    def _solve(self, model: CompiledModel, options: SolverOptions) -> RawSolution:
        solver = (options.solver or self.default_solver(model)).lower()
        label = "scip" if solver in _SCIP_NAMES else solver
        t0 = time.perf_counter()
        trivial = trivial_outcome(model)
        if trivial is not None or _no_terms(model):
            status, message = trivial or (Status.OPTIMAL, "no variable is constrained or priced")
            has = status is Status.OPTIMAL
            return RawSolution(
                status,
                Termination.OPTIMAL if has else Termination.INFEASIBLE,
                label,
                objective=model.obj_const if has else None,
                x=rest_point(model) if has else None,
                message=message,
            )
        avail = self.available(solver)
        if not avail:
            raise BackendError(avail.reason)
        built = _build(model)
        t1 = time.perf_counter()
        with redirect_stdout(enabled=not options.verbose):
            out = self._run(built, model, solver, options)
            status = _status_of(out.termination, out.has_solution)
            message = _PLAIN_TERMINATION.get(out.raw, out.raw)
        t2 = time.perf_counter()
        if label == "scip" and status.has_solution and out.x is not None:
            message += _scip_unbounded_warning(model, out.x)
        if out.termination is Termination.UNKNOWN:
            message = f"Pyomo solver {solver!r} stopped with an unknown status: {out.raw}"
        if not status.has_solution:
            out.x = out.row_duals = out.reduced = None
            out.objective = None
        return RawSolution(
            status,
            out.termination,
            label,
            out.version,
            out.objective,
            out.bound,
            _gap(out.objective, out.bound),
            out.x,
            out.row_duals,
            out.reduced,
            message,
            build_s=t1 - t0,
            solve_s=t2 - t1,
        )

    def _run(
        self,
        built: PyomoBuild,
        model: CompiledModel,
        solver: str,
        options: SolverOptions,
        duals: bool = True,
    ) -> _Outcome:
        want_duals = (
            duals
            and not model.integer
            and not len(model.obj_q[2])
            and model.obj_tree is None
            and not model.nonlinear_blocks
        )
        name = _CONTRIB_ALIASES.get(solver, solver)
        if name in _contrib_names():
            return self._run_contrib(built, model, name, options, want_duals)
        return self._run_legacy(built, model, solver, options, want_duals)

    def _run_contrib(
        self,
        built: PyomoBuild,
        model: CompiledModel,
        name: str,
        options: SolverOptions,
        want_duals: bool,
    ) -> _Outcome:
        from pyomo.contrib.solver.common.results import SolutionStatus

        if name.startswith("scip"):
            _teach_scip_abs()
            _teach_scip_powers()
        opt = _contrib_factory(name)
        wanted: dict[str, Any] = {
            "tee": bool(options.verbose),
            "load_solutions": False,
            "raise_exception_on_nonoptimal_result": False,
            "rel_gap": float(options.mip_gap),
            "time_limit": None if options.time_limit is None else float(options.time_limit),
            "threads": int(options.threads) if options.threads else None,
            "solver_options": {**_quiet_options(name, options.verbose), **options.extra},
        }
        # a local NLP solver's config has no gap; pass only what the interface declares
        kwargs = {k: v for k, v in wanted.items() if v is not None and k in opt.config}
        if name == "highs":
            fit_highs_threads(options.threads)
        res = opt.solve(built.model, **kwargs)
        term = _contrib_termination(res.termination_condition)
        has = res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
        out = _Outcome(term, has, str(res.termination_condition.name))
        with contextlib.suppress(Exception):
            out.version = _version_of(name, opt)
        if has:
            res.solution_loader.load_vars()
            out.x = self._values(built, model)
            out.objective = _finite(res.incumbent_objective)
            if out.objective is None:
                out.objective = _finite(_pyo().value(built.objective, exception=False))
            if want_duals:
                with contextlib.suppress(Exception):
                    dual = res.solution_loader.get_duals()
                    rc = res.solution_loader.get_reduced_costs()
                    out.row_duals = np.array(
                        [0.0 if c is None else float(dual.get(c, 0.0)) for c in built.rows]
                    )
                    out.reduced = np.array([float(rc.get(v, 0.0)) for v in built.cols])
        if self._reports_bound(model):
            out.bound = _finite(res.objective_bound)
        return out

    def _run_legacy(
        self,
        built: PyomoBuild,
        model: CompiledModel,
        solver: str,
        options: SolverOptions,
        want_duals: bool,
    ) -> _Outcome:
        pyo = _pyo()
        pm = built.model
        opt = pyo.SolverFactory(solver)
        if model.integer and solver in _GAP_OPTION:
            opt.options[_GAP_OPTION[solver]] = float(options.mip_gap)
        if options.threads and solver in _THREADS_OPTION:
            opt.options[_THREADS_OPTION[solver]] = int(options.threads)
        for key, value in options.extra.items():
            opt.options[key] = value
        suffixes: list[str] = []
        if want_duals:
            for sname in ("dual", "rc"):
                if pm.component(sname) is None:
                    pm.add_component(sname, pyo.Suffix(direction=pyo.Suffix.IMPORT))
                    suffixes.append(sname)
        if solver == "appsi_highs":
            fit_highs_threads(options.threads)
        kwargs: dict[str, Any] = {"tee": bool(options.verbose), "load_solutions": False}
        if options.time_limit is not None:
            kwargs["timelimit"] = float(options.time_limit)
        try:
            res = opt.solve(pm, **kwargs)
            raw = str(res.solver.termination_condition)
            term = _LEGACY_TERMINATION.get(raw, Termination.UNKNOWN)
            has = len(res.solution) > 0 and term not in (
                Termination.INFEASIBLE,
                Termination.UNBOUNDED,
                Termination.INFEASIBLE_OR_UNBOUNDED,
            )
            if term is Termination.UNKNOWN and raw == "feasible" and has:
                term = Termination.SOLUTION_LIMIT
            out = _Outcome(term, has, raw)
            if has:
                from pyomo.common.log import LoggingIntercept

                # we report the status ourselves; Pyomo's warning about it would go to stdout
                with LoggingIntercept(io.StringIO(), "pyomo", logging.WARNING):
                    pm.solutions.load_from(res)
                values = [v.value for v in built.cols]
                has = any(v is not None for v in values) or model.ncols == 0
                out.has_solution = has
            if has:
                out.x = self._values(built, model)
                out.objective = _finite(pyo.value(built.objective, exception=False))
                if "dual" in suffixes and len(pm.dual):
                    out.row_duals = np.array(
                        [0.0 if c is None else float(pm.dual.get(c, 0.0)) for c in built.rows]
                    )
                if "rc" in suffixes and len(pm.rc):
                    out.reduced = np.array([float(pm.rc.get(v, 0.0)) for v in built.cols])
            if self._reports_bound(model):
                lower = _finite(getattr(res.problem, "lower_bound", None))
                upper = _finite(getattr(res.problem, "upper_bound", None))
                out.bound = upper if model.sense == "maximize" else lower
        finally:
            for sname in suffixes:
                pm.del_component(sname)
        return out

    @staticmethod
    def _reports_bound(model: CompiledModel) -> bool:
        from modeling.compiler import ModelClass

        return (
            model.integer
            or model.model_class in (ModelClass.NLP, ModelClass.MINLP)
            or (model.model_class is ModelClass.QP and not model.convex)
        )

    @staticmethod
    def _values(built: PyomoBuild, model: CompiledModel) -> np.ndarray:
        rest = rest_point(model)
        return np.array(
            [rest[j] if v.value is None else float(v.value) for j, v in enumerate(built.cols)],
            dtype=float,
        )


def _quiet_options(name: str, verbose: bool) -> dict[str, Any]:
    """Solver options that keep the solver's log small, or off unless ``verbose``.

    Why: Pyomo's contrib interfaces capture the solver's file descriptors through
    a pipe drained by a Python thread, but ``pyscipopt``'s ``optimize()`` holds
    the GIL; once SCIP has written a pipe's worth of log (64 KiB, a few seconds
    of branching) it blocks for ever. With its log off it cannot; a verbose run
    keeps the log but prints a progress line only every 10,000 nodes.
    """
    if name.startswith("scip"):
        return {"display/freq": 10000} if verbose else {"display/verblevel": 0}
    if name == "highs" and not verbose:
        return {"output_flag": False}
    return {}


def _scip_unbounded_warning(model: CompiledModel, x: np.ndarray) -> str:
    """A warning when SCIP's answer rests on a variable without bounds sitting at 1e5.

    Why: SCIP's spatial branch-and-bound "cannot guarantee finite termination" on
    unbounded variables, and SCIP 10 reports e.g. ``max x + y*y, x - y <= 1``
    (unbounded) as optimal with x = y = 1e5.
    """
    from modeling.compiler import ModelClass

    if model.model_class in (ModelClass.LP, ModelClass.MILP):
        return ""
    free = ~np.isfinite(model.col_lb) | ~np.isfinite(model.col_ub)
    suspicious = np.flatnonzero(free & (np.abs(x) >= 1e5 * (1 - 1e-6)))
    if not len(suspicious):
        return ""
    name = model.column_label(int(suspicious[0]))
    return (
        f"; warning: {name} has no bound and ended at {x[suspicious[0]]:g}: SCIP cannot prove "
        "optimality over unbounded variables, so the problem may be unbounded; give it bounds"
    )


def _version_of(name: str, opt: Any) -> str:
    """The version of the solver itself, as ``10.0.2``; '' when it cannot be told.

    Pyomo's SCIP interfaces answer ``version()`` with PySCIPOpt's version
    (6.3.0 while the SCIP inside is 10.0.2), so for SCIP the library is asked.
    """
    if name.lower() in _SCIP_NAMES:
        found = _scip_version()
        if found:
            return found
    return ".".join(str(p) for p in opt.version() or ())


_SCIP_VERSION: list[str] = []


def _scip_version() -> str:
    """SCIP's own version through PySCIPOpt (one throwaway model, ~0.1 s, once per process)."""
    if not _SCIP_VERSION:
        try:
            import pyscipopt

            m = pyscipopt.Model()
            parts = (m.getMajorVersion(), m.getMinorVersion(), m.getTechVersion())
            _SCIP_VERSION.append(".".join(str(p) for p in parts))
        except Exception:  # no PySCIPOpt, or one without these calls: Pyomo's answer stands
            _SCIP_VERSION.append("")
    return _SCIP_VERSION[0]


def _contrib_names() -> frozenset[str]:
    _pyo()  # importing pyomo.environ registers the pyomo.contrib.solver interfaces
    from pyomo.contrib.solver.common.factory import SolverFactory

    return frozenset(SolverFactory._cls)


def _contrib_factory(name: str) -> Any:
    from pyomo.contrib.solver.common.factory import SolverFactory

    _contrib_names()
    return SolverFactory(name)


def _teach_scip_abs() -> None:
    """Let Pyomo's SCIP interface translate ``abs()``.

    Why: Pyomo 6.10's ``scip_direct`` dispatches on exact expression types and
    knows ``UnaryFunctionExpression`` but not its subclass ``AbsExpression``,
    which is what ``abs(x)`` builds; its by-name handler covers ``abs`` already.
    """
    from pyomo.contrib.solver.solvers.scip import base
    from pyomo.core.expr.numeric_expr import AbsExpression

    base._operator_map.setdefault(AbsExpression, base._handle_unary)


def _teach_scip_powers() -> None:
    """Hand SCIP constant powers as power expressions instead of multiplied-out polynomials.

    Why: Pyomo 6.10's SCIP handler returns ``x ** y`` on pyscipopt's ``Expr``, which for an
    integer exponent multiplies the polynomial out term by term: ``x ** 100000`` never
    finishes building and ``(1 + x) ** 100`` gets coefficients near 1e29. A ``PowExpr``
    built by ``buildGenExprObj`` keeps the power as one node (``x ** 100000`` solves in ms).
    Exponents 0, 1 and 2 keep Pyomo's handling (SCIP recognises quadratics as such).
    """
    from pyomo.contrib.solver.solvers.scip import base
    from pyomo.core.expr.numeric_expr import NPV_PowExpression, PowExpression
    from pyomo.core.expr.numvalue import is_constant
    from pyscipopt.scip import buildGenExprObj

    original = base._handle_pow

    def handle_pow(node: Any, data: Any, opt: Any, visitor: Any) -> Any:
        x, y = data
        if (
            is_constant(node.args[1])
            and isinstance(y, int | float)
            and y not in (0, 1, 2)
            and not isinstance(x, int | float)
        ):
            return buildGenExprObj(x) ** y
        return original(node, data, opt, visitor)

    if getattr(base._operator_map.get(PowExpression), "__name__", "") != "handle_pow":
        base._operator_map[PowExpression] = handle_pow
        base._operator_map[NPV_PowExpression] = handle_pow


# -- diagnostics (Capability.IIS through SCIP) -----------------------------------------


class ScipFeasibility:
    """Feasibility of a model's linear part under changing bounds, each check a SCIP solve.

    Why: the second :class:`~modeling.backends.IISBackend`, for machines without
    highspy and as a cross-check of HiGHS's answers. Each check builds the
    restricted model afresh (Pyomo has no warm bound changes for SCIP), so it
    suits the small models a person reads an IIS of. No Farkas ray comes back:
    the deletion filter then works one chunk at a time.
    """

    def __init__(self, backend: PyomoBackend, model: CompiledModel, integer: bool) -> None:
        from dataclasses import replace

        self.backend = backend
        self.continuous = not (integer and model.integer)
        if self.continuous and model.integer:
            model = replace(model, col_type=np.zeros(model.ncols, dtype=np.int8))
        self.model = model.without_objective()  # classified again: the class picks no solver

    def is_infeasible(
        self,
        row_lb: np.ndarray,
        row_ub: np.ndarray,
        col_lb: np.ndarray,
        col_ub: np.ndarray,
        time_limit: float,
    ) -> bool | None:
        from dataclasses import replace

        m = replace(self.model, row_lb=row_lb, row_ub=row_ub, col_lb=col_lb, col_ub=col_ub)
        out = self.backend.solve(m, SolverOptions(solver="scip", time_limit=time_limit))
        if out.status is Status.INFEASIBLE:
            return True
        if out.status.has_solution:
            return False
        return None

    def dual_ray(self) -> np.ndarray | None:
        return None
