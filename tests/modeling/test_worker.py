"""The killable worker: a hard wall-clock limit that really stops the work.

Cooperative limits (a solver's time limit) are not enough: C code that holds
the GIL, or a model build that never reaches the solver, ignores them.  These
tests run such work in :mod:`modeling.worker` and check that it is stopped
within the limit plus a small margin, while the calling process keeps running.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from modeling import Status, Termination, solve
from modeling.worker import (
    HardLimitExceeded,
    WorkerCrashed,
    grace,
    run_isolated,
    solve_isolated,
    warm_up,
)

MARGIN_S = 1.5  # fork, kill and reap under a loaded CI machine

SMALL = {
    "variables": {"x": {"upper": 4}, "y": {"type": "integer", "upper": 3}},
    "objective": {"sense": "max", "expression": "3 * x + 2 * y"},
    "constraints": [{"name": "c", "expression": "x + y <= 5"}],
}


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    warm_up()  # start the forkserver once (imports), so timings below are the work's


def market_split(m: int = 5, n: int = 40, seed: int = 7) -> dict[str, Any]:
    """A market-split MILP: tiny, and hard for branch and bound (minutes, not seconds)."""
    rng = random.Random(seed)
    a = [[rng.randint(0, 99) for _ in range(n)] for _ in range(m)]
    return {
        "sets": {"I": {"from": 1, "to": m}, "J": {"from": 1, "to": n}},
        "parameters": {
            "a": {"index": ["I", "J"], "values": a},
            "b": {"index": ["I"], "values": [sum(r) // 2 for r in a]},
        },
        "variables": {
            "x": {"index": "J", "type": "binary"},
            "s": {"index": "I", "lower": None},
            "t": {"index": "I"},
        },
        "objective": {"sense": "min", "expression": "sum(t[i] for i in I)"},
        "constraints": [
            {
                "name": "split",
                "forall": "i in I",
                "expression": "sum(a[i, j] * x[j] for j in J) + s[i] == b[i]",
            },
            {"name": "pos", "forall": "i in I", "expression": "t[i] >= s[i]"},
            {"name": "neg", "forall": "i in I", "expression": "t[i] >= -s[i]"},
        ],
    }


def test_isolated_solve_gives_the_same_result() -> None:
    direct = solve(SMALL)
    isolated = solve_isolated(SMALL, time_limit=30)
    assert isolated.status == direct.status == Status.OPTIMAL
    assert isolated.objective == pytest.approx(direct.objective)
    assert isolated.values["y"] == direct.values["y"]
    assert isolated.model is not None  # the compiled model comes back too


def test_invalid_input_comes_back_as_invalid() -> None:
    bad = {"variables": {"x": {}}, "objective": {"sense": "max", "expression": "x ** 100000"}}
    r = solve_isolated(bad, time_limit=10)
    assert r.status == Status.INVALID and r.errors[0].code == "exponent"


def test_slow_solve_is_killed_at_the_hard_limit() -> None:
    t0 = time.perf_counter()
    r = solve_isolated(market_split(), time_limit=600, hard_limit=1.0)
    took = time.perf_counter() - t0
    assert r.status == Status.TIME_LIMIT and r.termination == Termination.TIME_LIMIT
    assert "hard time limit of 1 s" in r.message and "killed" in r.message
    assert took < 1.0 + MARGIN_S


def test_pathological_power_is_bounded_by_the_default_hard_limit() -> None:
    # (x + y) ** 60 passes check (coefficients 1.2e17 < 1e20) but the SCIP interface
    # multiplies it out and then struggles for minutes: bounded by time_limit + grace
    doc = {
        "variables": {"x": {"upper": 1}, "y": {"upper": 1}},
        "objective": {"sense": "max", "expression": "(x + y) ** 60"},
    }
    t0 = time.perf_counter()
    r = solve_isolated(doc, time_limit=1.0)
    took = time.perf_counter() - t0
    assert took < 1.0 + grace(1.0) + MARGIN_S
    if r.status != Status.OPTIMAL:  # once the backend stops expanding powers, it solves
        assert r.status == Status.TIME_LIMIT and "killed" in r.message


def test_code_holding_the_gil_is_killed_and_the_caller_stays_responsive() -> None:
    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.05)

    thread = threading.Thread(target=tick)
    thread.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(HardLimitExceeded) as info:
            run_isolated(sum, range(10**13), time_limit=1.0)  # one C call, never yields
    finally:
        stop.set()
        thread.join()
    took = time.perf_counter() - t0
    assert info.value.kind == "time"
    assert took < 1.0 + MARGIN_S
    assert len(ticks) >= 10  # the parent kept running while it waited


def test_memory_limit_stops_a_greedy_child() -> None:
    with pytest.raises(HardLimitExceeded) as info:
        run_isolated(bytearray, 4 * 2**30, time_limit=30, memory_limit="300M")
    assert info.value.kind == "memory" and "300.0 MB" in str(info.value)


def test_memory_limit_is_the_workers_memory_budget() -> None:
    big = {
        "sets": {"I": {"from": 1, "to": 10**6}},
        "variables": {"x": {"index": "I", "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(x[i] for i in I)"},
    }
    r = solve_isolated(big, time_limit=30, memory_limit="200M")
    assert r.status == Status.INVALID and r.errors[0].code == "size"
    assert "memory budget of 200.0 MB" in r.message


def test_an_exception_in_the_child_is_reported() -> None:
    with pytest.raises(RuntimeError, match="ValueError"):
        run_isolated(int, "not a number", time_limit=30)


def test_a_crashed_child_is_reported() -> None:
    with pytest.raises(WorkerCrashed, match="exit code 3"):
        run_isolated(os._exit, 3, time_limit=30)


def test_grandchildren_die_with_the_worker(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"echo $$ > {pid_file}; exec sleep 60"
    with pytest.raises(HardLimitExceeded):
        run_isolated(subprocess.call, ["sh", "-c", script], time_limit=1.0)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    assert not _running(pid), "the solver's sub-process outlived the killed worker"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.slow  # a fresh interpreter starts its own forkserver (imports): 5-15 s
def test_a_script_without_a_main_guard_is_not_rerun(tmp_path: Path) -> None:
    script = tmp_path / "user_script.py"
    script.write_text(
        textwrap.dedent(
            """
            from modeling.worker import solve_isolated
            print("started", flush=True)
            doc = {"variables": {"x": {"upper": 2}},
                   "objective": {"sense": "max", "expression": "x"}}
            print(solve_isolated(doc, time_limit=30).objective, flush=True)
            """
        ),
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["started", "2.0"]


def test_a_malformed_memory_limit_is_an_error_result_not_a_raise() -> None:
    r = solve_isolated(SMALL, time_limit=10, memory_limit="lots")
    assert r.status == Status.ERROR and "not a size" in r.message
