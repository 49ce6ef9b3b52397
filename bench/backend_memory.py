"""Bytes per column and per nonzero each backend adds on top of the compiled model.

The memory check in :mod:`modeling.limits` refuses a model before it is built
when the estimate exceeds the budget.  The compiled model is the same for every
backend, but what a backend builds from it is not: HiGHS copies arrays into
its C++ model, Pyomo makes several Python objects per variable and per term
and then writes them into SCIP, PuLP builds Python objects and writes an
MPS/LP file for its solver.  This script measures that per backend.

Method: a transport-like LP (``x[i, k]``, ``k`` in 1..5; a capacity row per
``i`` and a demand row per ``k``: 2 nonzeros per column) is compiled and
pickled once per size.  For each backend and size a fresh process loads the
pickle, records its resident memory (``/proc/self/statm``), solves, and
records its peak (``ru_maxrss``, children included for PuLP's solver
process); the growth is what the backend needs.  The slope between two sizes
and two densities (1 or 5 capacity rows per ``i``: 2 or 6 nonzeros per
column) separates a fixed part, bytes per column and bytes per nonzero.

Usage::

    .venv/bin/python bench/backend_memory.py        # i = 10000, 30000; 1 or 5 rows per i
    .venv/bin/python bench/backend_memory.py --sizes 2000 6000 --routes highs pyomo:scip

Prints one line per route, size and density, then per route the least-squares
fit growth = fixed + bytes/column * columns + bytes/nonzero * nonzeros.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

K = 5  # columns per i; nonzeros per column: 2


def document(n: int, rows_per_i: int = 1) -> dict[str, Any]:
    """The transport-like LP: ``K n`` columns, ``r n + K`` rows, ``(r + 1) K n`` nonzeros.

    ``r = rows_per_i`` capacity rows per ``i`` (each with its own right-hand side),
    so that two values of ``r`` separate bytes per column from bytes per nonzero.
    """
    caps = [
        {
            "name": f"cap{d}",
            "forall": "i in I",
            "expression": f"sum({d + 1} * x[i, k] for k in K) <= {12 + d}",
        }
        for d in range(rows_per_i)
    ]
    return {
        "sets": {"I": {"from": 1, "to": n}, "K": {"from": 1, "to": K}},
        "variables": {"x": {"index": ["I", "K"], "lower": 0, "upper": 10}},
        "objective": {"sense": "max", "expression": "sum(k * x[i, k] for i in I for k in K)"},
        "constraints": [
            *caps,
            {
                "name": "dem",
                "forall": "k in K",
                "expression": f"sum(x[i, k] for i in I) <= {3 * n}",
            },
        ],
    }


def _rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(path: str, route: str) -> dict[str, Any]:
    """In a fresh process: load the compiled model, solve on ``route``, report memory.

    ``route`` is a backend name, or ``backend:solver`` (``pyomo:scip``).
    """
    import modeling.backends  # noqa: F401  (imports before the baseline)
    from modeling.solve import solve

    backend, _, solver = route.partition(":")
    if backend == "pyomo":
        import pyomo.environ  # noqa: F401
    if backend == "pulp":
        import pulp  # noqa: F401
    with open(path, "rb") as fh:
        model = pickle.load(fh)
    before = _rss()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    r = solve(model, backend=backend, solver=solver or None, time_limit=600)
    took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        "route": route,
        "solver": r.solver,
        "status": str(r.status),
        "objective": r.objective,
        "solve_s": took,
        "grew": max(peak, peak_before) - before,
        "child_peak": peak_children,
        "ncols": model.ncols,
        "nrows": model.nrows,
        "nnz": int(model.matrix.nnz),
    }


def measure(sizes: list[int], densities: list[int], routes: list[str]) -> list[dict[str, Any]]:
    """One record per (size, density, route), each from a fresh process."""
    from modeling.compiler import compile_model

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for d in densities:
                model = compile_model(document(n, d))
                _ = model.matrix
                path = os.path.join(tmp, f"m{n}_{d}.pkl")
                with open(path, "wb") as fh:
                    pickle.dump(model, fh)
                for route in routes:
                    proc = subprocess.run(
                        [sys.executable, __file__, "--child", path, route],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    if proc.returncode != 0:
                        print(f"{route} n={n}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                        continue
                    rec = json.loads(proc.stdout.strip().splitlines()[-1])
                    out.append(rec)
                    print(
                        f"{route:10} {rec['solver']:6} cols={rec['ncols']:>8,} "
                        f"rows={rec['nrows']:>8,} nnz={rec['nnz']:>9,} {rec['status']:<8} "
                        f"solve={rec['solve_s']:6.2f}s grew={rec['grew'] / 2**20:7.1f} MB "
                        f"solver-process={rec['child_peak'] / 2**20:6.1f} MB",
                        flush=True,
                    )
    return out


def fit(records: list[dict[str, Any]]) -> dict[str, tuple[float, float, float]]:
    """Per route, least squares of growth = a + b*columns + c*nonzeros: (a, b, c)."""
    import numpy as np

    out: dict[str, tuple[float, float, float]] = {}
    for route in sorted({r["route"] for r in records}):
        rs = [r for r in records if r["route"] == route]
        if len(rs) < 3:
            continue
        x = np.array([[1.0, r["ncols"], r["nnz"]] for r in rs])
        y = np.array([r["grew"] + r["child_peak"] for r in rs], dtype=float)
        coef = np.linalg.lstsq(x, y, rcond=None)[0]
        out[route] = (float(coef[0]), float(coef[1]), float(coef[2]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000])
    ap.add_argument("--densities", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--routes", nargs="+", default=["highs", "pyomo:scip", "pyomo", "pulp"])
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1])))
        return 0
    records = measure(args.sizes, args.densities, args.routes)
    for route, (a, b, c) in fit(records).items():
        print(f"fit {route:10}: {a / 2**20:6.1f} MB + {b:6.0f} B/column + {c:6.0f} B/nonzero")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
