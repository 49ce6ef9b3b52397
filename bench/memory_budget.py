"""The largest model that checks and solves within the memory budget (issue 9's README figure).

The memory check (:mod:`modeling.limits`) refuses a document whose estimate
exceeds the budget (half of the available memory by default, or
``OPTIWISE_MEMORY_BUDGET``).  This script finds, for a model family, the
largest size the estimate accepts (a bisection on the estimate alone, which
costs milliseconds), then in a fresh process checks and solves the model at
that size with HiGHS and reports the times and the process's peak resident
memory against the budget; it also confirms that 10 % more is refused.

The family: ``n`` bounded variables and one row over all of them (``sum(x[i])
<= n / 2``), the shape issue 9 measured (a 10^7-element set, 49M variables).

Usage::

    .venv/bin/python bench/memory_budget.py                  # the default budget of this machine
    .venv/bin/python bench/memory_budget.py --budget 1G      # another budget
    .venv/bin/python bench/memory_budget.py --budget 256M --size 100000   # one given size

Prints the budget, the largest accepted size, and check/solve time and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def document(n: int) -> dict[str, Any]:
    """``n`` variables in [0, 1], one row over all of them."""
    return {
        "sets": {"I": {"from": 1, "to": n}},
        "variables": {"x": {"index": ["I"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(x[i] for i in I)"},
        "constraints": [{"name": "half", "expression": f"sum(x[i] for i in I) <= {n // 2}"}],
    }


def largest_accepted(budget: int) -> int:
    """The largest ``n`` whose estimate fits ``budget`` (bisection on the estimate)."""
    from modeling.formulation import load
    from modeling.limits import estimate_memory

    lo, hi = 1, 2
    while estimate_memory(load(document(hi))).bytes <= budget:
        lo, hi = hi, hi * 2
    while hi - lo > max(lo // 1000, 1):
        mid = (lo + hi) // 2
        if estimate_memory(load(document(mid))).bytes <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def child(n: int, budget: int, time_limit: float) -> dict[str, Any]:
    """In a fresh process: check, then solve, the model of size ``n``; times and peak memory."""
    from modeling import check
    from modeling.formulation import load
    from modeling.limits import estimate_memory
    from modeling.solve import solve

    os.environ["OPTIWISE_MEMORY_BUDGET"] = str(budget)
    doc = document(n)
    est = estimate_memory(load(doc)).bytes
    t0 = time.perf_counter()
    issues = check(doc)
    check_s = time.perf_counter() - t0
    peak_check = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    r = solve(doc, time_limit=time_limit)
    solve_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "n": n,
        "estimate": est,
        "issues": [str(i) for i in issues],
        "check_s": check_s,
        "peak_check": peak_check,
        "status": str(r.status),
        "objective": r.objective,
        "solve_s": solve_s,
        "peak": peak,
    }


def main(argv: list[str] | None = None) -> int:
    from modeling.formulation import load
    from modeling.limits import check_memory, human, memory_budget

    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--budget", help="e.g. 1G or 30%%; default: the machine's default budget")
    ap.add_argument("--size", type=int, help="solve this size instead of the largest accepted")
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.time_limit)))
        return 0
    budget = memory_budget(args.budget)
    n = args.size or largest_accepted(budget)
    over = int(n * 1.1)
    refused = bool(check_memory(load(document(over)), {"I": over}, budget))
    print(f"budget {human(budget)} ({'default' if args.budget is None else args.budget})")
    print(f"largest accepted: {n:,} variables; {over:,} refused by the estimate: {refused}")
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(n), str(budget)]
        + ["--time-limit", str(args.time_limit)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"the check/solve process failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return 1
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"n={rec['n']:,}: estimate {human(rec['estimate'])}; check {rec['check_s']:.1f} s "
        f"(peak {human(rec['peak_check'])}, issues {len(rec['issues'])}); solve "
        f"{rec['solve_s']:.1f} s -> {rec['status']} {rec['objective']}; peak {human(rec['peak'])} "
        f"= {rec['peak'] / budget:.0%} of the budget"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
