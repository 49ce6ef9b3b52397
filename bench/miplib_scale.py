"""Compile time and peak memory of table-backed models at MIPLIB-NL's sizes (issue 15).

MIPLIB-NL separates the problem from its data: a description plus CSV tables.
Its instances have a median of 2,183 variables and go up to 283,648 variables
and 1,050,112 constraints.  This script generates synthetic instances of that
shape — CSV tables in a temporary folder and a spec v1.1 formulation that reads
them — and measures, per size, in a fresh process each:

* ``read``: reading every table the formulation names (``TableReader``: pandas
  parses, cells as text);
* ``check``: :func:`modeling.check` (what ``optiwise check --data DIR`` does:
  read, validate, estimate memory, compile);
* ``compile``: :func:`modeling.compiler.compile_model` plus the CSR matrix every
  backend reads (what a solve builds before the solver);
* ``peak``: the process's peak resident memory (``ru_maxrss``) after all three,
  beside the memory check's estimate (:func:`modeling.limits.estimate_memory`,
  which covers the HiGHS solve too);
* ``ref``: a reference measured in the same process: the same tables read with
  pandas and the same matrix, bounds and objective built directly with numpy
  and scipy (hand-written index arithmetic, no checks) — the floor a compiler
  from tables can aim at; ``ratio`` is ``compile / ref``;
* ``solve`` (``--solve``): HiGHS on the compiled model, time-limited.

The instance: ``x[i, j]`` for items ``i`` (``items.csv``) and periods ``j``
(the header labels of the wide table ``a.csv``): an upper bound row per
``(i, j)`` from a long table (``u.csv``: item, period, u), a weighted row per
item over a wide table (``a.csv``), a capacity row per period, and
rows linking neighbouring periods both ways (``x[i, j] - x[i, j + 1]``), and
windows ``x[i, j] + x[i, j + 1] + x[i, j + 2]`` on part of the horizon (a
table-backed set), chosen so that the largest size has MIPLIB-NL's largest
variable and constraint counts (3.7 rows and 7 nonzeros per variable).

Usage::

    .venv/bin/python bench/miplib_scale.py                 # sizes small (2k) and medium (30k)
    .venv/bin/python bench/miplib_scale.py --sizes large   # 283,648 variables, ~1.05M rows
    .venv/bin/python bench/miplib_scale.py --sizes tiny    # the test's size, seconds

Prints one line per size; ``--json FILE`` also writes the records.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# name: (items, periods, smoothing periods L) -> x has items * periods columns;
# rows = I*J (bounds) + I (weighted) + J (capacity) + 2*I*(J-1) (smooth, ramp) + I*L (windows)
SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (20, 8, 4),  # 160 variables
    "small": (84, 26, 10),  # 2,184 variables (MIPLIB-NL's median 2,183)
    "medium": (300, 100, 40),  # 30,000 variables
    "large": (1108, 256, 181),  # 283,648 variables, 1,050,640 rows (largest: 1,050,112)
}

FORMULATION = """
name: synthetic_miplib_nl
sets:
  I: {table: items.csv, column: item}
  J: {table: a.csv, column_labels: 2}
  W: {table: window.csv, column: period}
parameters:
  u: {index: [I, J], table: u.csv, keys: [item, period], value: u, default: 0}
  a: {index: [I, J], table: a.csv, layout: wide}
  b: {index: [I], table: items.csv, keys: item, value: demand}
  g: {index: [I], table: items.csv, keys: item, value: smooth}
  h: {index: [I], table: items.csv, keys: item, value: window}
  p: {index: [I], table: items.csv, keys: item, value: profit}
  c: {index: [J], table: capacity.csv}
  nJ: %(nJ)d
variables:
  x: {index: [I, J], lower: 0}
objective: {sense: max, expression: "sum(p[i] * x[i, j] for i in I for j in J)"}
constraints:
  - {name: bound, forall: "for i in I for j in J", expression: "x[i, j] <= u[i, j]"}
  - {name: demand, forall: "for i in I", expression: "sum(a[i, j] * x[i, j] for j in J) >= b[i]"}
  - {name: capacity, forall: "for j in J", expression: "sum(x[i, j] for i in I) <= c[j]"}
  - name: smooth
    forall: "for i in I for j in J if j < nJ"
    expression: "x[i, j] - x[i, j + 1] <= g[i]"
  - name: ramp
    forall: "for i in I for j in J if j < nJ"
    expression: "x[i, j + 1] - x[i, j] <= g[i]"
  - name: window
    forall: "for i in I for j in W"
    expression: "x[i, j] + x[i, j + 1] + x[i, j + 2] <= h[i]"
"""


def generate(folder: Path, items: int, periods: int, window: int, seed: int = 0) -> str:
    """Write the tables into ``folder``; return the formulation (YAML text)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    item = np.array([f"it{k}" for k in range(1, items + 1)], dtype=object)
    demand = rng.integers(1, 20, items).astype(float)
    pd.DataFrame(
        {
            "item": item,
            "demand": demand,
            "smooth": rng.integers(1, 10, items),
            "window": rng.integers(20, 60, items),
            "profit": rng.integers(1, 30, items),
        }
    ).to_csv(folder / "items.csv", index=False)
    wide = rng.integers(1, 9, (items, periods))
    frame = pd.DataFrame(wide, columns=[str(j) for j in range(1, periods + 1)])
    frame.insert(0, "item", item)
    frame.to_csv(folder / "a.csv", index=False)
    keep = rng.random(items * periods) < 0.9  # sparse: 10 % of the bounds default to 0
    ii, jj = np.divmod(np.arange(items * periods), periods)
    pd.DataFrame(
        {
            "item": item[ii[keep]],
            "period": jj[keep] + 1,
            "u": rng.integers(1, 25, int(keep.sum())),
        }
    ).to_csv(folder / "u.csv", index=False)
    pd.DataFrame(
        {"period": np.arange(1, periods + 1), "cap": rng.integers(items, 5 * items, periods)}
    ).to_csv(folder / "capacity.csv", index=False)
    pd.DataFrame({"period": np.arange(1, window + 1)}).to_csv(folder / "window.csv", index=False)
    return FORMULATION % {"nJ": periods}


def reference(folder: Path, periods: int) -> tuple[float, int, int, int]:
    """The same LP built by hand from the same CSVs: seconds, columns, rows, nonzeros."""
    import pandas as pd
    import scipy.sparse as sp

    t0 = time.perf_counter()
    items = pd.read_csv(folder / "items.csv")
    a = pd.read_csv(folder / "a.csv")
    u = pd.read_csv(folder / "u.csv")
    cap = pd.read_csv(folder / "capacity.csv")
    win = pd.read_csv(folder / "window.csv")
    n_i, n_j = len(items), periods
    pos = pd.Index(items["item"])
    ub = np.zeros((n_i, n_j))
    ub[pos.get_indexer(u["item"]), u["period"].to_numpy() - 1] = u["u"].to_numpy()
    cols = np.arange(n_i * n_j).reshape(n_i, n_j)
    rows, colidx, vals, rhs = [], [], [], []
    r = 0

    def block(cc: np.ndarray, vv: np.ndarray, rr: np.ndarray, n: int) -> None:
        nonlocal r
        rows.append(rr + r)
        colidx.append(cc)
        vals.append(vv)
        r += n

    n = n_i * n_j  # bound rows
    block(cols.reshape(-1), np.ones(n), np.arange(n), n)
    rhs.append(ub.reshape(-1))
    aw = a.iloc[:, 1:].to_numpy(dtype=float)  # weighted rows
    block(cols.reshape(-1), aw.reshape(-1), np.repeat(np.arange(n_i), n_j), n_i)
    rhs.append(items["demand"].to_numpy(dtype=float))
    block(cols.T.reshape(-1), np.ones(n), np.repeat(np.arange(n_j), n_i), n_j)  # capacity
    rhs.append(cap["cap"].to_numpy(dtype=float))
    left, right = cols[:, :-1].reshape(-1), cols[:, 1:].reshape(-1)  # smoothing pairs
    m = len(left)
    block(
        np.concatenate([left, right]), np.r_[np.ones(m), -np.ones(m)], np.tile(np.arange(m), 2), m
    )
    rhs.append(np.repeat(items["smooth"].to_numpy(dtype=float), n_j - 1))
    block(
        np.concatenate([right, left]), np.r_[np.ones(m), -np.ones(m)], np.tile(np.arange(m), 2), m
    )
    rhs.append(np.repeat(items["smooth"].to_numpy(dtype=float), n_j - 1))  # ramp
    w = win["period"].to_numpy() - 1  # windows
    c3 = np.stack([cols[:, w], cols[:, w + 1], cols[:, w + 2]]).reshape(3, -1)
    m = c3.shape[1]
    block(c3.reshape(-1), np.ones(3 * m), np.tile(np.arange(m), 3), m)
    rhs.append(np.repeat(items["window"].to_numpy(dtype=float), len(w)))
    obj = np.repeat(items["profit"].to_numpy(dtype=float), n_j)
    mat = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(colidx))),
        shape=(r, n_i * n_j),
    )
    mat.sum_duplicates()
    _ = (np.concatenate(rhs), obj)
    return time.perf_counter() - t0, n_i * n_j, r, int(mat.nnz)


@dataclass
class Record:
    """One size's figures (seconds, bytes)."""

    size: str
    variables: int
    constraints: int
    nonzeros: int
    table_mb: float
    read_s: float
    check_s: float
    compile_s: float
    peak_rss: int
    ref_s: float
    ref_rows: int
    ref_nnz: int
    ratio: float
    estimate: int = 0
    solve_s: float | None = None
    status: str | None = None
    peak_solve: int | None = None
    issues: int = 0


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_size(name: str, solve: bool = False, time_limit: float = 600.0) -> Record:
    """Generate, read, check and compile one size in this process; the reference too."""
    import pandas  # noqa: F401  (imports are not part of any timing)
    import scipy.sparse  # noqa: F401

    from modeling import check
    from modeling.compiler import compile_model
    from modeling.formulation import load
    from modeling.limits import estimate_memory
    from modeling.tables import TableReader

    items, periods, window = SIZES[name]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        text = generate(folder, items, periods, window)
        f = load(text, data=folder)
        estimate = estimate_memory(f).bytes
        table_mb = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        t0 = time.perf_counter()
        reader = TableReader(folder)
        for fname in ("items.csv", "a.csv", "u.csv", "capacity.csv", "window.csv"):
            reader.table({"table": fname}, "bench")
        read_s = time.perf_counter() - t0
        del reader
        t0 = time.perf_counter()
        issues = check(f)
        check_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = compile_model(f)
        nnz = int(model.matrix.nnz)
        compile_s = time.perf_counter() - t0
        peak = _rss()
        ref_s, _, ref_rows, ref_nnz = reference(folder, periods)
        rec = Record(
            size=name,
            variables=model.ncols,
            constraints=model.nrows,
            nonzeros=nnz,
            table_mb=round(table_mb, 2),
            read_s=read_s,
            check_s=check_s,
            compile_s=compile_s,
            peak_rss=peak,
            ref_s=ref_s,
            ref_rows=ref_rows,
            ref_nnz=ref_nnz,
            ratio=compile_s / ref_s,
            issues=len(issues),
            estimate=estimate,
        )
        if solve:
            from modeling.solve import solve as solve_model

            t0 = time.perf_counter()
            r = solve_model(model, backend="highs", time_limit=time_limit)
            rec.solve_s = time.perf_counter() - t0
            rec.status = str(r.status)
            rec.peak_solve = _rss()
        return rec


def line(r: Record) -> str:
    """One size as a line of the report."""
    solved = ""
    if r.solve_s is not None:
        peak = (r.peak_solve or 0) / 2**20
        solved = f" solve {r.solve_s:7.2f} s ({r.status}, peak {peak:.0f} MB)"
    if (r.ref_rows, r.ref_nnz) != (r.constraints, r.nonzeros):
        solved += f" MISMATCH: the reference has {r.ref_rows:,} rows, {r.ref_nnz:,} nonzeros"
    return (
        f"{r.size:7} {r.variables:>9,} vars {r.constraints:>10,} rows {r.nonzeros:>10,} nnz "
        f"tables {r.table_mb:6.1f} MB | read {r.read_s:6.2f} s  check {r.check_s:7.2f} s  "
        f"compile {r.compile_s:7.2f} s  peak {r.peak_rss / 2**20:7.0f} MB "
        f"(estimate {r.estimate / 2**20:.0f} MB) | "
        f"ref {r.ref_s:6.2f} s  ratio {r.ratio:5.1f}x{solved}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["small", "medium"], choices=list(SIZES))
    ap.add_argument("--solve", action="store_true", help="also solve with HiGHS")
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--json", type=Path, help="write the records to this file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:  # one size in a fresh process, so that its peak memory is its own
        print(json.dumps(asdict(run_size(args.child, args.solve, args.time_limit))))
        return 0
    records = []
    for name in args.sizes:
        cmd = [sys.executable, __file__, "--child", name, "--time-limit", str(args.time_limit)]
        if args.solve:
            cmd.append("--solve")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=os.environ)
        if proc.returncode != 0:
            print(f"{name}: failed ({proc.returncode})\n{proc.stderr[-3000:]}", file=sys.stderr)
            return 1
        rec = Record(**json.loads(proc.stdout.strip().splitlines()[-1]))
        records.append(rec)
        print(line(rec), flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in records], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
