#!/usr/bin/env python3
"""Modeling overhead: the same LP and MILP built and solved through several routes.

Problems (deterministic, seeded numpy instances, as in env_perf.md Appendix A)
  transport LP   n sources x n sinks, dense: n^2 continuous variables, 2n rows, 2n^2 nonzeros
  CFL MILP       capacitated facility location, n facilities x 5n customers, strong
                 formulation (x_ij <= y_i): n binaries + 5n^2 continuous variables

Routes
  optiwise_highs  ``modeling.solve(doc, backend="highs")``: formulation dict -> solved result,
                  including parsing, checking and compiling the document
  optiwise_pyomo  ``modeling.solve(doc, backend="pyomo")``
  optiwise_pulp   ``modeling.solve(doc, backend="pulp")``
  highspy         hand-written, vectorised highspy (numpy CSR -> addCols/addRows): the reference
  pyomo_hand      a plain Pyomo ConcreteModel written by hand, solved with appsi_highs
  pulp_hand       plain PuLP written by hand, solved with pulp.HiGHS (highspy, in-process)

Timing: every route starts from data already in memory (numpy arrays for the hand-written
routes, the formulation dict for ours).  "build" is everything up to the solver-side model
(for ours: compile_s + build_s from ``result.timings``), "solve" the rest up to a result
with an objective (solver run plus reading the result back).  Same settings everywhere:
threads=1, relative MIP gap 1e-6, the same time limit.  Each cell is the median of
``--repeats`` runs in one process, after one warm-up per route on a tiny LP and MILP; the
routes take turns within each repeat, so a burst of load on the machine hits all of them.

Usage: python bench/modeling_overhead.py [--quick] [--repeats 3] [--time-limit 60]
                                         [--json OUT] [--routes highspy,optiwise_highs,...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

MIP_GAP = 1e-6  # relative MIP gap, same on every route
THREADS = 1  # where a route exposes it
TIME_LIMIT = 60.0
LP_TOL = 1e-7  # relative objective agreement, LP
MIP_TOL = 2 * MIP_GAP  # relative objective agreement, MILP

LP_SIZES = (10, 50, 100, 200)
MIP_SIZES = (5, 10, 20)
QUICK_LP_SIZES = (10, 50, 200)  # keeps the 40k-variable verdict
QUICK_MIP_SIZES = (5, 10)

REFERENCE = "highspy"
OURS = ("optiwise_highs", "optiwise_pyomo", "optiwise_pulp")
ALL_ROUTES = (REFERENCE, *OURS, "pyomo_hand", "pulp_hand")
PROBLEM_NAMES = {"lp": "transport LP", "mip": "CFL MILP"}


# ------------------------------------------------------------------------------ instances
@dataclass
class Instance:
    """One benchmark instance: the numpy data, the same model as a formulation dict, sizes."""

    kind: str  # "lp" (transport) or "mip" (capacitated facility location)
    n: int
    data: dict[str, Any]
    doc: dict[str, Any]
    nvars: int
    nnz: int

    @property
    def problem(self) -> str:
        return PROBLEM_NAMES[self.kind]


def transport_data(n: int, seed: int = 1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    src = rng.uniform(0, 100, size=(n, 2))
    dst = rng.uniform(0, 100, size=(n, 2))
    cost = np.round(np.linalg.norm(src[:, None, :] - dst[None, :, :], axis=2), 2)
    supply = rng.integers(50, 101, size=n).astype(float)
    demand = rng.integers(20, 101, size=n).astype(float)
    demand = np.floor(demand * 0.9 * supply.sum() / demand.sum())
    return {"n": n, "cost": cost, "supply": supply, "demand": demand}


def cfl_data(n: int, seed: int = 2) -> dict[str, Any]:
    m = 5 * n
    rng = np.random.default_rng(seed)
    fac = rng.uniform(0, 100, size=(n, 2))
    cus = rng.uniform(0, 100, size=(m, 2))
    dist = np.linalg.norm(fac[:, None, :] - cus[None, :, :], axis=2)
    demand = rng.integers(5, 36, size=m).astype(float)
    cap = rng.integers(10, 161, size=n).astype(float)
    cap = np.round(cap * 3.0 * demand.sum() / cap.sum())
    fixed = np.round(rng.uniform(300, 700, size=n) + 2.0 * cap, 0)
    serve = np.round(dist * demand[None, :] * 0.1, 2)  # serving all of j's demand from i
    return {"n": n, "m": m, "fixed": fixed, "cap": cap, "demand": demand, "serve": serve}


def transport_doc(d: dict[str, Any]) -> dict[str, Any]:
    """The transport LP in the five-element formulation format (spec v1)."""
    n = d["n"]
    return {
        "name": f"transport_{n}",
        "sets": {"S": list(range(n)), "D": list(range(n))},
        "parameters": {
            "supply": {"index": ["S"], "values": d["supply"].tolist()},
            "demand": {"index": ["D"], "values": d["demand"].tolist()},
            "cost": {"index": ["S", "D"], "values": d["cost"].tolist()},
        },
        "variables": {"x": {"index": ["S", "D"]}},
        "objective": {
            "sense": "minimize",
            "expression": "sum(cost[i, j] * x[i, j] for i in S for j in D)",
        },
        "constraints": [
            {
                "name": "supply_cap",
                "forall": "for i in S",
                "expression": "sum(x[i, j] for j in D) <= supply[i]",
            },
            {
                "name": "meet",
                "forall": "for j in D",
                "expression": "sum(x[i, j] for i in S) >= demand[j]",
            },
        ],
    }


def cfl_doc(d: dict[str, Any]) -> dict[str, Any]:
    """The capacitated facility location MILP (strong formulation) in the spec format."""
    n, m = d["n"], d["m"]
    return {
        "name": f"cfl_{n}",
        "sets": {"I": list(range(n)), "J": list(range(m))},
        "parameters": {
            "fixed": {"index": ["I"], "values": d["fixed"].tolist()},
            "cap": {"index": ["I"], "values": d["cap"].tolist()},
            "demand": {"index": ["J"], "values": d["demand"].tolist()},
            "serve": {"index": ["I", "J"], "values": d["serve"].tolist()},
            "total_demand": float(d["demand"].sum()),
        },
        "variables": {
            "y": {"index": ["I"], "type": "binary"},
            "x": {"index": ["I", "J"], "lower": 0, "upper": 1},
        },
        "objective": {
            "sense": "minimize",
            "expression": "sum(fixed[i] * y[i] for i in I)"
            " + sum(serve[i, j] * x[i, j] for i in I for j in J)",
        },
        "constraints": [
            {
                "name": "assign",
                "forall": "for j in J",
                "expression": "sum(x[i, j] for i in I) == 1",
            },
            {
                "name": "capacity",
                "forall": "for i in I",
                "expression": "sum(demand[j] * x[i, j] for j in J) <= cap[i] * y[i]",
            },
            {
                "name": "link",
                "forall": "for i in I for j in J",
                "expression": "x[i, j] <= y[i]",
            },
            {
                "name": "aggregate",
                "expression": "sum(cap[i] * y[i] for i in I) >= total_demand",
            },
        ],
    }


def make_instance(kind: str, n: int) -> Instance:
    if kind == "lp":
        d = transport_data(n)
        return Instance("lp", n, d, transport_doc(d), nvars=n * n, nnz=2 * n * n)
    if kind == "mip":
        d = cfl_data(n)
        m = d["m"]
        # rows: assign (n per customer) + capacity (m+1 each) + link (2 each) + aggregate (n)
        nnz = n * m + n * (m + 1) + 2 * n * m + n
        return Instance("mip", n, d, cfl_doc(d), nvars=n + n * m, nnz=nnz)
    raise ValueError(f"unknown problem kind {kind!r}")


# --------------------------------------------------------------------------------- routes
class RouteRun(NamedTuple):
    """One timed run: (build_s, solve_s, objective, status) plus our timings split."""

    build_s: float
    solve_s: float
    objective: float | None
    status: str
    split: dict[str, float] | None = None  # result.timings (compile/build/solve/total) + other
    solver: str = ""  # the solver our backend reports it ran


Route = Callable[[Instance, float], RouteRun]


def route_highspy(inst: Instance, time_limit: float) -> RouteRun:
    """Hand-written highspy: numpy arrays straight into addCols / addRows (row-wise CSR)."""
    import highspy

    d = inst.data
    # HiGHS sizes one global thread scheduler at its first run; an explicit other count
    # later fails with model status "Not Set" unless the scheduler is reset first.
    highspy.Highs.resetGlobalScheduler(True)
    t0 = time.perf_counter()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", THREADS)
    inf = highspy.kHighsInf
    empty_i, empty_v = np.zeros(0, np.int32), np.zeros(0)
    if inst.kind == "lp":
        n = d["n"]
        nc = n * n  # column k = i*n + j
        h.addCols(
            nc, d["cost"].ravel(), np.zeros(nc), np.full(nc, inf), 0, empty_i, empty_i, empty_v
        )
        starts = np.arange(0, nc, n, dtype=np.int32)
        # supply rows: sum_j x_ij <= s_i (contiguous column indices)
        h.addRows(
            n, np.full(n, -inf), d["supply"], nc, starts, np.arange(nc, dtype=np.int32), np.ones(nc)
        )
        # demand rows: sum_i x_ij >= d_j
        idx = np.arange(nc, dtype=np.int32).reshape(n, n).T.ravel().copy()
        h.addRows(n, d["demand"], np.full(n, inf), nc, starts, idx, np.ones(nc))
    else:
        n, m = d["n"], d["m"]
        nx = n * m  # columns: y_0..y_{n-1}, then x_ij at n + i*m + j
        ncol = n + nx
        cost = np.concatenate([d["fixed"], d["serve"].ravel()])
        h.addCols(ncol, cost, np.zeros(ncol), np.ones(ncol), 0, empty_i, empty_i, empty_v)
        h.changeColsIntegrality(
            n,
            np.arange(n, dtype=np.int32),
            np.full(n, highspy.HighsVarType.kInteger.value, np.uint8),
        )
        xid = (n + np.arange(nx, dtype=np.int32)).reshape(n, m)
        # assignment: sum_i x_ij = 1
        h.addRows(
            m,
            np.ones(m),
            np.ones(m),
            nx,
            np.arange(0, nx, n, dtype=np.int32),
            xid.T.ravel().copy(),
            np.ones(nx),
        )
        # capacity: sum_j d_j x_ij - cap_i y_i <= 0
        idx = np.hstack([np.arange(n, dtype=np.int32)[:, None], xid]).ravel()
        val = np.hstack([-d["cap"][:, None], np.tile(d["demand"], (n, 1))]).ravel()
        h.addRows(
            n,
            np.full(n, -inf),
            np.zeros(n),
            n * (m + 1),
            np.arange(0, n * (m + 1), m + 1, dtype=np.int32),
            idx,
            val,
        )
        # linking: x_ij - y_i <= 0
        idx = np.stack([xid.ravel(), np.repeat(np.arange(n, dtype=np.int32), m)], axis=1).ravel()
        h.addRows(
            nx,
            np.full(nx, -inf),
            np.zeros(nx),
            2 * nx,
            np.arange(0, 2 * nx, 2, dtype=np.int32),
            idx,
            np.tile([1.0, -1.0], nx),
        )
        # aggregate capacity: sum_i cap_i y_i >= sum_j d_j
        h.addRows(
            1,
            np.array([d["demand"].sum()]),
            np.array([inf]),
            n,
            np.array([0], np.int32),
            np.arange(n, dtype=np.int32),
            d["cap"].copy(),
        )
    h.setOptionValue("mip_rel_gap", MIP_GAP)
    h.setOptionValue("time_limit", float(time_limit))
    t1 = time.perf_counter()
    h.run()
    obj = float(h.getInfo().objective_function_value)
    status = h.modelStatusToString(h.getModelStatus())
    t2 = time.perf_counter()
    return RouteRun(t1 - t0, t2 - t1, obj, _norm_status(status))


def _optiwise(backend: str) -> Route:
    def route(inst: Instance, time_limit: float) -> RouteRun:
        from modeling import solve

        t0 = time.perf_counter()
        res = solve(
            inst.doc, backend=backend, time_limit=time_limit, mip_gap=MIP_GAP, threads=THREADS
        )
        wall = time.perf_counter() - t0
        tm = res.timings
        build = tm.compile_s + tm.build_s
        split = {
            "compile_s": tm.compile_s,
            "build_s": tm.build_s,
            "solve_s": tm.solve_s,
            "total_s": tm.total_s,
            # wall time outside the three phases (backend choice, result assembly)
            "other_s": wall - tm.compile_s - tm.build_s - tm.solve_s,
        }
        status = str(res.status.value)
        if not res.status.has_solution and res.message:
            status += f": {res.message.splitlines()[0][:120]}"
        obj = None if res.objective is None else float(res.objective)
        return RouteRun(build, wall - build, obj, status, split, res.solver)

    route.__name__ = f"route_optiwise_{backend}"
    return route


route_optiwise_highs = _optiwise("highs")
route_optiwise_pyomo = _optiwise("pyomo")
route_optiwise_pulp = _optiwise("pulp")


def pyomo_model(inst: Instance) -> Any:
    """The instance as a plain Pyomo ConcreteModel, written the usual way."""
    import pyomo.environ as pyo

    d = inst.data
    md = pyo.ConcreteModel()
    if inst.kind == "lp":
        n = d["n"]
        c, s, dem = d["cost"].tolist(), d["supply"].tolist(), d["demand"].tolist()
        md.I = pyo.RangeSet(0, n - 1)
        md.J = pyo.RangeSet(0, n - 1)
        md.x = pyo.Var(md.I, md.J, within=pyo.NonNegativeReals)
        md.obj = pyo.Objective(expr=pyo.quicksum(c[i][j] * md.x[i, j] for i in md.I for j in md.J))
        md.sup = pyo.Constraint(
            md.I, rule=lambda mm, i: pyo.quicksum(mm.x[i, j] for j in mm.J) <= s[i]
        )
        md.dem = pyo.Constraint(
            md.J, rule=lambda mm, j: pyo.quicksum(mm.x[i, j] for i in mm.I) >= dem[j]
        )
    else:
        n, m = d["n"], d["m"]
        f, cap, dem = d["fixed"].tolist(), d["cap"].tolist(), d["demand"].tolist()
        c, total = d["serve"].tolist(), float(d["demand"].sum())
        md.I = pyo.RangeSet(0, n - 1)
        md.J = pyo.RangeSet(0, m - 1)
        md.y = pyo.Var(md.I, within=pyo.Binary)
        md.x = pyo.Var(md.I, md.J, bounds=(0, 1))
        md.obj = pyo.Objective(
            expr=pyo.quicksum(f[i] * md.y[i] for i in md.I)
            + pyo.quicksum(c[i][j] * md.x[i, j] for i in md.I for j in md.J)
        )
        md.assign = pyo.Constraint(
            md.J, rule=lambda mm, j: pyo.quicksum(mm.x[i, j] for i in mm.I) == 1
        )
        md.capacity = pyo.Constraint(
            md.I,
            rule=lambda mm, i: pyo.quicksum(dem[j] * mm.x[i, j] for j in mm.J) <= cap[i] * mm.y[i],
        )
        md.link = pyo.Constraint(md.I, md.J, rule=lambda mm, i, j: mm.x[i, j] <= mm.y[i])
        md.aggregate = pyo.Constraint(expr=pyo.quicksum(cap[i] * md.y[i] for i in md.I) >= total)
    return md


def route_pyomo_hand(inst: Instance, time_limit: float) -> RouteRun:
    """Plain Pyomo + appsi_highs (build = the ConcreteModel; solve includes translation)."""
    from pyomo.contrib.appsi.solvers import Highs

    t0 = time.perf_counter()
    md = pyomo_model(inst)
    t1 = time.perf_counter()
    opt = Highs()
    opt.config.time_limit = float(time_limit)
    opt.config.mip_gap = MIP_GAP
    opt.config.load_solution = False
    opt.highs_options = {"threads": THREADS}
    res = opt.solve(md)
    res.solution_loader.load_vars()
    obj = res.best_feasible_objective
    t2 = time.perf_counter()
    status = str(res.termination_condition).split(".")[-1]
    return RouteRun(t1 - t0, t2 - t1, None if obj is None else float(obj), _norm_status(status))


def _pulp_var_factory(p: Any) -> Any:
    """``prob.add_variable`` (PuLP >= 3.3; LpVariable(...) is deprecated there), else LpVariable."""
    import pulp

    return getattr(p, "add_variable", None) or pulp.LpVariable


def pulp_model(inst: Instance) -> Any:
    """The instance as a plain PuLP problem (PuLP 3.3 API: ``prob.add_variable``)."""
    import pulp

    d = inst.data
    if inst.kind == "lp":
        n = d["n"]
        c, s, dem = d["cost"].tolist(), d["supply"].tolist(), d["demand"].tolist()
        p = pulp.LpProblem("transport", pulp.LpMinimize)
        var = _pulp_var_factory(p)
        x = [[var(f"x_{i}_{j}", lowBound=0) for j in range(n)] for i in range(n)]
        p += pulp.lpSum(c[i][j] * x[i][j] for i in range(n) for j in range(n))
        for i in range(n):
            p += pulp.lpSum(x[i][j] for j in range(n)) <= s[i], f"sup_{i}"
        for j in range(n):
            p += pulp.lpSum(x[i][j] for i in range(n)) >= dem[j], f"dem_{j}"
        return p
    n, m = d["n"], d["m"]
    f, cap, dem = d["fixed"].tolist(), d["cap"].tolist(), d["demand"].tolist()
    c, total = d["serve"].tolist(), float(d["demand"].sum())
    p = pulp.LpProblem("cfl", pulp.LpMinimize)
    var = _pulp_var_factory(p)
    y = [var(f"y_{i}", cat="Binary") for i in range(n)]
    x = [[var(f"x_{i}_{j}", 0, 1) for j in range(m)] for i in range(n)]
    p += pulp.lpSum(f[i] * y[i] for i in range(n)) + pulp.lpSum(
        c[i][j] * x[i][j] for i in range(n) for j in range(m)
    )
    for j in range(m):
        p += pulp.lpSum(x[i][j] for i in range(n)) == 1, f"assign_{j}"
    for i in range(n):
        p += pulp.lpSum(dem[j] * x[i][j] for j in range(m)) <= cap[i] * y[i], f"cap_{i}"
    for i in range(n):
        for j in range(m):
            p += x[i][j] <= y[i], f"link_{i}_{j}"
    p += pulp.lpSum(cap[i] * y[i] for i in range(n)) >= total, "agg"
    return p


def route_pulp_hand(inst: Instance, time_limit: float) -> RouteRun:
    """Plain PuLP + pulp.HiGHS (highspy in-process)."""
    import pulp

    t0 = time.perf_counter()
    p = pulp_model(inst)
    t1 = time.perf_counter()
    solver = pulp.HiGHS(msg=False, timeLimit=float(time_limit), gapRel=MIP_GAP, threads=THREADS)
    p.solve(solver)
    obj = pulp.value(p.objective)
    t2 = time.perf_counter()
    status = pulp.LpStatus[p.status]
    return RouteRun(t1 - t0, t2 - t1, None if obj is None else float(obj), _norm_status(status))


ROUTES: dict[str, Route] = {
    "highspy": route_highspy,
    "optiwise_highs": route_optiwise_highs,
    "optiwise_pyomo": route_optiwise_pyomo,
    "optiwise_pulp": route_optiwise_pulp,
    "pyomo_hand": route_pyomo_hand,
    "pulp_hand": route_pulp_hand,
}


def _norm_status(s: str) -> str:
    s = s.strip().lower()
    return "optimal" if s in ("optimal", "optimal solution found") else s


def route_availability(name: str) -> str | None:
    """None when the route can run here, else the reason it cannot."""
    try:
        if name == "highspy":
            import highspy  # noqa: F401
        elif name in OURS:
            from modeling.backends import get_backend

            backend = name.removeprefix("optiwise_")
            try:
                be = get_backend(backend)
            except ImportError as exc:
                return f"backend {backend!r} is not importable ({exc})"
            avail = be.available(None)
            if not avail:
                return f"backend {backend!r} unavailable: {avail.reason}"
        elif name == "pyomo_hand":
            from pyomo.contrib.appsi.solvers import Highs

            if not Highs().available():
                return "Pyomo appsi_highs is not available"
        elif name == "pulp_hand":
            import pulp

            if "HiGHS" not in pulp.listSolvers(onlyAvailable=True):
                return "pulp.HiGHS is not available"
        else:
            return f"unknown route {name!r}; choose from {', '.join(ALL_ROUTES)}"
    except ImportError as exc:
        return f"import failed: {exc}"
    return None


def select_routes(names: Sequence[str] | None = None) -> tuple[dict[str, Route], dict[str, str]]:
    """(runnable routes in table order, {route: reason} for those that cannot run here)."""
    wanted = list(names) if names else list(ALL_ROUTES)
    routes: dict[str, Route] = {}
    skipped: dict[str, str] = {}
    for name in wanted:
        reason = route_availability(name)
        if reason is None:
            routes[name] = ROUTES[name]
        else:
            skipped[name] = reason
    return routes, skipped


# ------------------------------------------------------------------------------ measuring
@dataclass
class Record:
    """The medians of one (instance, route) cell, plus every run."""

    kind: str
    problem: str
    n: int
    nvars: int
    nnz: int
    route: str
    build_s: float
    solve_s: float
    total_s: float
    objective: float | None
    status: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    split: dict[str, float] | None = None  # medians of result.timings (our routes)
    solver: str = ""
    ratio: float | None = None  # total / highspy total, same instance, same run
    rel_diff: float | None = None  # worst relative objective difference vs the reference
    agrees: bool = True


def measure(
    inst: Instance, routes: dict[str, Route], repeats: int, time_limit: float
) -> list[Record]:
    """One Record per route. Routes take turns within each repeat (round robin), so a burst
    of load on the machine hits every route alike rather than one route's block of runs."""
    runs: dict[str, list[RouteRun]] = {name: [] for name in routes}
    for _ in range(max(1, repeats)):
        for name, route in routes.items():
            runs[name].append(_run_once(route, inst, time_limit))
    return [summarize(inst, name, rs) for name, rs in runs.items()]


def summarize(inst: Instance, name: str, runs: list[RouteRun]) -> Record:
    """The medians of one route's runs on one instance."""
    split = None
    if runs[0].split is not None:
        split = {
            k: statistics.median(r.split[k] for r in runs if r.split is not None)
            for k in runs[0].split
        }
    return Record(
        kind=inst.kind,
        problem=inst.problem,
        n=inst.n,
        nvars=inst.nvars,
        nnz=inst.nnz,
        route=name,
        build_s=statistics.median(r.build_s for r in runs),
        solve_s=statistics.median(r.solve_s for r in runs),
        total_s=statistics.median(r.build_s + r.solve_s for r in runs),
        objective=runs[-1].objective,
        status=runs[-1].status,
        runs=[r._asdict() for r in runs],
        split=split,
        solver=runs[-1].solver,
    )


def _run_once(route: Route, inst: Instance, time_limit: float) -> RouteRun:
    """One run; a route that raises is recorded as an error (no objective, so a MISMATCH)."""
    t0 = time.perf_counter()
    try:
        return route(inst, time_limit)
    except Exception as exc:
        return RouteRun(0.0, time.perf_counter() - t0, None, f"error: {exc!r}"[:160])


def warm_up(routes: dict[str, Route], time_limit: float) -> None:
    """One tiny LP and MILP per route: imports, first-call and JIT costs out of the timings."""
    tiny = [make_instance("lp", 3), make_instance("mip", 2)]
    for route in routes.values():
        for inst in tiny:
            _run_once(route, inst, time_limit)


def compare(records: list[Record]) -> bool:
    """Fill ratio / rel_diff / agrees per record; True when every objective agrees."""
    ok = True
    cells: dict[tuple[str, int], list[Record]] = {}
    for r in records:
        cells.setdefault((r.kind, r.n), []).append(r)
    for (kind, _n), rows in cells.items():
        ref = next((r for r in rows if r.route == REFERENCE), None)
        ref_obj_rec = ref if ref is not None and ref.objective is not None else None
        if ref_obj_rec is None:
            ref_obj_rec = next((r for r in rows if r.objective is not None), None)
        tol = LP_TOL if kind == "lp" else MIP_TOL
        for r in rows:
            r.ratio = r.total_s / ref.total_s if ref is not None and ref.total_s > 0 else None
            objs = [run["objective"] for run in r.runs] or [r.objective]
            if ref_obj_rec is None or ref_obj_rec.objective is None or None in objs:
                r.rel_diff, r.agrees = None, False
            else:
                base = ref_obj_rec.objective
                r.rel_diff = max(abs(o - base) / max(1.0, abs(base)) for o in objs)
                r.agrees = r.rel_diff <= tol
            ok &= r.agrees
    return ok


def run_benchmark(
    lp_sizes: Sequence[int] = LP_SIZES,
    mip_sizes: Sequence[int] = MIP_SIZES,
    repeats: int = 3,
    time_limit: float = TIME_LIMIT,
    routes: dict[str, Route] | None = None,
    warmup: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[list[Record], bool]:
    """Measure every route on every instance; (records, all objectives agree)."""
    if routes is None:
        routes, _ = select_routes()
    if warmup:
        warm_up(routes, time_limit)
    records: list[Record] = []
    for kind, sizes in (("lp", lp_sizes), ("mip", mip_sizes)):
        for n in sizes:
            inst = make_instance(kind, n)
            for rec in measure(inst, routes, repeats, time_limit):
                records.append(rec)
                if log is not None:
                    log(_progress_line(rec))
    ok = compare(records)
    return records, ok


# ------------------------------------------------------------------------------ reporting
def _fmt_obj(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def _progress_line(r: Record) -> str:
    line = (
        f"{r.kind:3s} n={r.n:<3d} {r.route:14s} build {r.build_s:8.4f}s "
        f"solve {r.solve_s:8.4f}s total {r.total_s:8.4f}s obj {_fmt_obj(r.objective)} "
        f"[{r.status}]"
    )
    if r.split:
        line += f"  ({r.solver or '?'}: " + _split_text(r.split) + ")"
    return line


def _split_text(split: dict[str, float]) -> str:
    return ", ".join(f"{k.removesuffix('_s')} {v:.4f}s" for k, v in split.items())


def markdown_table(records: list[Record]) -> str:
    out = [
        "| problem | n | vars | nnz | route | build s | solve s | total s | total / highspy "
        "| objective |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in records:
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}×"
        obj = _fmt_obj(r.objective)
        if not r.agrees:
            diff = "no objective" if r.rel_diff is None else f"rel diff {r.rel_diff:.1e}"
            obj += f" **MISMATCH** ({diff})"
        if r.status != "optimal":
            obj += f" [{r.status}]"
        out.append(
            f"| {r.problem} | {r.n} | {r.nvars} | {r.nnz} | {r.route} | {r.build_s:.4f} "
            f"| {r.solve_s:.4f} | {r.total_s:.4f} | {ratio} | {obj} |"
        )
    return "\n".join(out)


def split_table(records: list[Record]) -> str:
    """compile / build / solve split of our routes (medians of result.timings)."""
    rows = [r for r in records if r.split]
    if not rows:
        return ""
    out = [
        "| problem | n | route | compile s | build s | solve s | other s | total s |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        s = r.split or {}
        out.append(
            f"| {r.problem} | {r.n} | {r.route} | {s['compile_s']:.4f} | {s['build_s']:.4f} "
            f"| {s['solve_s']:.4f} | {s['other_s']:.4f} | {r.total_s:.4f} |"
        )
    return "\n".join(out)


def compile_per_nnz_line(records: list[Record]) -> str:
    rows = [r for r in records if r.route == "optiwise_highs" and r.kind == "lp" and r.split]
    if not rows:
        return "compile time per nonzero: optiwise_highs not run on the transport LP"
    parts = []
    for r in rows:
        c = (r.split or {})["compile_s"]
        parts.append(f"n={r.n}: {c * 1e3:.2f} ms / {r.nnz} nz = {c / r.nnz * 1e9:.0f} ns/nz")
    line = "compile time per nonzero (optiwise_highs, transport LP): " + " | ".join(parts)
    if len(rows) >= 2:
        steps = []
        for a, b in zip(rows, rows[1:], strict=False):
            ca, cb = (a.split or {})["compile_s"], (b.split or {})["compile_s"]
            steps.append(f"{(cb - ca) / (b.nnz - a.nnz) * 1e9:.0f}")
        line += f"; marginal between sizes: {' / '.join(steps)} ns/nz"
    return line


def verdict_line(records: list[Record]) -> str:
    lp = [
        r for r in records if r.kind == "lp" and r.route == "optiwise_highs" and r.ratio is not None
    ]
    if not lp:
        return "optiwise_highs vs highspy: not measured (both routes must run on the transport LP)"
    r = max(lp, key=lambda rec: rec.n)
    size = f"{r.nvars / 1000:g}k" if r.nvars >= 1000 else str(r.nvars)
    line = f"optiwise_highs at {size} vars: {r.ratio:.2f}× highspy (target ≤ 2×)"
    line += " — met" if (r.ratio or 0.0) <= 2.0 else " — MISSED"
    if r.nvars != 40_000:
        line += " [largest LP in this run; the target is stated for 40k vars]"
    return line


def environment() -> dict[str, Any]:
    import os
    from importlib import metadata

    versions = {}
    for pkg in ("highspy", "pyomo", "pulp", "numpy", "optiwise"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": platform.python_version(),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions,
    }


# ----------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller instances (~20 s)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per cell; the median is kept")
    ap.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="seconds per solve")
    ap.add_argument("--json", metavar="OUT", default=None, help="write all records to OUT")
    ap.add_argument("--routes", default=None, help=f"comma list of: {','.join(ALL_ROUTES)}")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    lp_sizes = QUICK_LP_SIZES if a.quick else LP_SIZES
    mip_sizes = QUICK_MIP_SIZES if a.quick else MIP_SIZES
    names = [s.strip() for s in a.routes.split(",") if s.strip()] if a.routes else None
    t_start = time.perf_counter()
    routes, skipped = select_routes(names)
    t_sel = time.perf_counter() - t_start
    env = environment()
    print(
        f"python {env['python']}  {env['versions']}  cpus {env['cpus']}\n"
        f"routes: {', '.join(routes)}  (imports + availability {t_sel:.2f} s)  "
        f"repeats {a.repeats}  time limit {a.time_limit:g} s  mip gap {MIP_GAP:g}  "
        f"threads {THREADS}",
        flush=True,
    )
    for name, reason in skipped.items():
        print(f"SKIPPED {name}: {reason}", flush=True)
    if not routes:
        print("no route can run", file=sys.stderr)
        return 2

    records, ok = run_benchmark(
        lp_sizes,
        mip_sizes,
        repeats=a.repeats,
        time_limit=a.time_limit,
        routes=routes,
        log=lambda line: print(line, flush=True),
    )
    wall = time.perf_counter() - t_start

    print()
    print(markdown_table(records))
    split = split_table(records)
    if split:
        print("\noptiwise routes, medians of result.timings:\n")
        print(split)
    print()
    print(compile_per_nnz_line(records))
    worst = max((r.rel_diff for r in records if r.rel_diff is not None), default=0.0)
    if ok:
        print(f"all objectives agree: True (max rel diff {worst:.1e})")
    else:
        bad = [f"{r.problem} n={r.n} {r.route}" for r in records if not r.agrees]
        print(f"MISMATCH: objectives disagree for {', '.join(bad)}")
    verdict = verdict_line(records)
    print(verdict)
    print(f"wall time {wall:.1f} s")

    if a.json:
        payload = {
            **env,
            "repeats": a.repeats,
            "time_limit": a.time_limit,
            "mip_gap": MIP_GAP,
            "threads": THREADS,
            "routes": list(routes),
            "skipped": skipped,
            "all_objectives_agree": ok,
            "verdict": verdict,
            "wall_s": wall,
            "records": [asdict(r) for r in records],
        }
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=1)
        print(f"wrote {a.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
