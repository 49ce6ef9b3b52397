"""The persistent worker pool: workers are reused, replaced when killed or crashed, shared
by threads, limited per job, and gone after close (or with their parent).

Each test that counts workers makes a pool of its own (its workers are forked from the
shared forkserver, started once by the module fixture), so the shared pool's state does
not leak between tests.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modeling import Status
from modeling.worker import (
    HardLimitExceeded,
    WorkerCrashed,
    WorkerPool,
    default_pool,
    run_isolated,
    solve_isolated,
    warm_up,
)

MARGIN_S = 1.5  # kill and reap on a loaded CI machine

LP = {
    "variables": {"x": {"upper": 4}, "y": {"upper": 3}},
    "objective": {"sense": "max", "expression": "3 * x + 2 * y"},
    "constraints": [{"name": "mix", "expression": "x + y <= 5"}],
}


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    warm_up()  # the forkserver's one-time imports are not what these tests time


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    p = WorkerPool(max_workers=2)
    yield p
    p.close()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _gone(pids: list[int], within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.02)
    return not any(_running(p) for p in pids)


def _rlimit_as() -> tuple[int, int]:
    return resource.getrlimit(resource.RLIMIT_AS)


def _budget_env() -> str | None:
    return os.environ.get("OPTIWISE_MEMORY_BUDGET")


def test_a_worker_is_reused_and_is_not_the_caller(pool: WorkerPool) -> None:
    first = pool.run(os.getpid, time_limit=10)
    assert first != os.getpid()
    assert [pool.run(os.getpid, time_limit=10) for _ in range(5)] == [first] * 5
    t0 = time.perf_counter()
    for _ in range(20):
        pool.run(len, ((1, 2),), time_limit=10)
    per_call = (time.perf_counter() - t0) / 20
    assert per_call < 0.1  # a pipe round trip, not a process start (~1 ms idle)


def test_a_job_past_its_limit_gets_its_worker_killed_and_replaced(pool: WorkerPool) -> None:
    before = pool.run(os.getpid, time_limit=10)
    t0 = time.perf_counter()
    with pytest.raises(HardLimitExceeded) as info:
        pool.run(time.sleep, (30,), time_limit=0.5)
    assert info.value.kind == "time" and "worker process was killed" in str(info.value)
    assert time.perf_counter() - t0 < 0.5 + MARGIN_S
    assert _gone([before])
    after = pool.run(os.getpid, time_limit=10)
    assert after != before and _running(after)


def test_a_worker_killed_mid_job_is_reported_and_replaced(pool: WorkerPool) -> None:
    pid = pool.run(os.getpid, time_limit=10)
    killer = threading.Timer(0.3, os.kill, (pid, signal.SIGKILL))
    killer.start()
    with pytest.raises(WorkerCrashed, match=r"died \(signal 9\).*a fresh one replaces it"):
        pool.run(time.sleep, (20,), time_limit=30)
    killer.join()
    assert pool.run(sum, ([1, 2, 3],), time_limit=10) == 6
    assert pid not in pool.pids()


def test_a_worker_that_died_while_idle_is_replaced_without_a_word(pool: WorkerPool) -> None:
    pid = pool.run(os.getpid, time_limit=10)
    os.kill(pid, signal.SIGKILL)
    assert _gone([pid])
    assert pool.run(os.getpid, time_limit=10) not in (pid, os.getpid())


def test_a_crash_in_the_job_is_clear_and_the_next_call_works(pool: WorkerPool) -> None:
    with pytest.raises(WorkerCrashed, match="exit code 3"):
        pool.run(os._exit, (3,), time_limit=10)
    with pytest.raises(RuntimeError, match="ValueError"):
        pool.run(int, ("x",), time_limit=10)
    assert pool.run(int, ("7",), time_limit=10) == 7  # an exception keeps the worker


def test_concurrent_callers_share_a_bounded_pool() -> None:
    pool = WorkerPool(max_workers=3)
    try:
        pool.warm_up(3)
        results: list[tuple[int, float]] = []
        errors: list[BaseException] = []

        def call(i: int) -> None:
            try:
                pid = pool.run(_sleep_pid, (0.4,), time_limit=20)
                results.append((pid, time.perf_counter()))
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(7)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - t0
        assert not errors, errors
        assert len(results) == 7
        assert len({pid for pid, _ in results}) <= 3  # never more workers than the bound
        assert took >= 0.4 * 3 - 0.05  # 7 jobs on 3 workers: three rounds, extra callers wait
        assert took < 0.4 * 3 + 5.0
    finally:
        pool.close()


def _sleep_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_concurrent_solves_through_the_shared_pool_give_the_right_answers() -> None:
    out: list[float | None] = []

    def go(scale: int) -> None:
        doc = {**LP, "objective": {"sense": "max", "expression": f"{scale} * (3 * x + 2 * y)"}}
        r = solve_isolated(doc, time_limit=20, keep_model=False)
        assert r.status == Status.OPTIMAL
        out.append(r.objective / scale if r.objective is not None else None)

    threads = [threading.Thread(target=go, args=(k,)) for k in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [pytest.approx(14.0)] * 8
    assert len(default_pool().pids()) <= default_pool().max_workers


def test_a_slow_job_does_not_hold_up_other_callers(pool: WorkerPool) -> None:
    pool.warm_up(2)
    slow = threading.Thread(target=lambda: pool.run(time.sleep, (1.5,), time_limit=10))
    slow.start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    assert pool.run(len, ("ab",), time_limit=10) == 2
    assert time.perf_counter() - t0 < 1.0
    slow.join()


def test_the_memory_limit_holds_for_its_job_only() -> None:
    pool = WorkerPool(max_workers=1)
    try:
        pid = pool.run(os.getpid, time_limit=10)
        unlimited = pool.run(_rlimit_as, time_limit=10)
        during = pool.run(_rlimit_as, time_limit=10, memory_limit=512 * 2**20)
        assert during[0] != resource.RLIM_INFINITY and during[1] == unlimited[1]
        assert pool.run(_budget_env, time_limit=10, memory_limit=2**30) == str(2**30)
        # put back after the job, in the same worker
        assert pool.run(_rlimit_as, time_limit=10) == unlimited
        assert pool.run(_budget_env, time_limit=10) is None
        assert pool.run(os.getpid, time_limit=10) == pid
        with pytest.raises(HardLimitExceeded) as info:
            pool.run(bytearray, (4 * 2**30,), time_limit=30, memory_limit=300 * 2**20)
        assert info.value.kind == "memory" and "300.0 MB" in str(info.value)
        assert pool.run(len, ([1],), time_limit=10) == 1  # a fresh worker took over
    finally:
        pool.close()


def test_close_leaves_no_process_and_fails_a_waiting_call() -> None:
    pool = WorkerPool(max_workers=2)
    pool.warm_up(2)
    pids = pool.pids()
    assert len(pids) == 2 and all(_running(p) for p in pids)
    caught: list[BaseException] = []

    def busy() -> None:
        try:
            pool.run(time.sleep, (30,), time_limit=60)
        except BaseException as exc:
            caught.append(exc)

    waiter = threading.Thread(target=busy)
    waiter.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    pool.close()
    waiter.join(timeout=5)
    assert time.perf_counter() - t0 < 3.0
    assert _gone(pids)
    assert caught and isinstance(caught[0], WorkerCrashed) and "closed" in str(caught[0])
    with pytest.raises(WorkerCrashed, match="closed"):
        pool.run(len, ("a",), time_limit=5)


def test_a_background_warm_up_makes_the_first_call_fast() -> None:
    pool = WorkerPool(max_workers=2)
    try:
        pool.warm_up(1, wait=False)
        deadline = time.monotonic() + 30
        while not pool.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        pid = pool.pids()[0]
        t0 = time.perf_counter()
        assert pool.run(os.getpid, time_limit=10) == pid
        assert time.perf_counter() - t0 < 0.5
    finally:
        pool.close()


def test_the_shared_pool_serves_run_isolated_from_a_warm_worker() -> None:
    warm_up()
    pids = set(default_pool().pids())
    assert run_isolated(os.getpid, time_limit=10) in pids


@pytest.mark.slow  # a fresh interpreter starts its own forkserver (imports): 5-15 s
def test_workers_die_with_their_parent_and_exit_cleanly(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from modeling.worker import default_pool, run_isolated, warm_up
            warm_up()
            default_pool().warm_up(2)
            print(*default_pool().pids(), flush=True)
            if sys.argv[1] == "hang":
                run_isolated(time.sleep, 60, time_limit=120)
            """
        ),
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    # a normal exit: the workers are stopped, nothing is printed on stderr
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script), "exit"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
    assert _gone([int(p) for p in done.stdout.split()])
    # a parent killed while a job runs: its workers go too
    proc = subprocess.Popen(
        [sys.executable, str(script), "hang"], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert pids and all(_running(p) for p in pids)
    time.sleep(0.3)
    proc.kill()
    proc.wait(timeout=10)
    assert _gone(pids, within=5.0)


@pytest.mark.slow  # a fresh interpreter starts its own forkserver (imports): 5-15 s
def test_core_preload_solves_lp_and_nlp_and_does_not_count_the_import_in_the_limit() -> None:
    script = textwrap.dedent(
        """
        import sys
        from modeling.worker import configure, solve_isolated
        configure("core")
        lp = {"variables": {"x": {"upper": 4}},
              "objective": {"sense": "max", "expression": "3 * x"}}
        nlp = {"variables": {"x": {"lower": 0.1, "upper": 4}},
               "objective": {"sense": "min", "expression": "x * exp(x) + 1 / x"}}
        a = solve_isolated(lp, time_limit=1)
        b = solve_isolated(nlp, time_limit=1)  # imports Pyomo and SCIP inside the job
        print(a.status, a.solver, b.status, b.solver)
        """
    )
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "OPTIWISE_WORKER_PRELOAD"}
    env["PYTHONPATH"] = str(root)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["optimal", "highs", "optimal", "scip"]


def test_a_diagnosis_in_the_worker_raises_its_own_errors_with_their_messages() -> None:
    from modeling.diagnostics import DiagnosticsError
    from modeling.errors import FormulationError
    from modeling.worker import diagnose_isolated

    bad = {"variables": {"x": {}}, "objective": {"sense": "max", "expression": "x + y"}}
    with pytest.raises(FormulationError) as info:
        diagnose_isolated("infeasible", bad, time_limit=10)
    assert "unknown name 'y'" in str(info.value)
    assert info.value.issues[0].location == "objective.expression"
    with pytest.raises(DiagnosticsError, match="not infeasible|feasible"):
        diagnose_isolated("infeasible", LP, time_limit=10)
    report = diagnose_isolated("sensitivity", LP, time_limit=10)
    assert report.dual("mix") == pytest.approx(2.0)


def test_call_isolated_raises_the_callers_own_errors_and_stops_at_the_limit() -> None:
    from modeling.worker import call_isolated

    with pytest.raises(ValueError, match="invalid literal"):
        call_isolated(int, ("x",), time_limit=10)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):  # not in `raises`
        call_isolated(divmod, (1, 0), time_limit=10)
    with pytest.raises(HardLimitExceeded):
        call_isolated(time.sleep, (30,), time_limit=0.5)
    assert call_isolated(divmod, (7, 2), time_limit=10) == (3, 1)
