"""A full worker pool does not hold a time-limited caller past its own limit (QA W3).

With every worker busy (``OPTIWISE_WORKERS=1`` and one long solve, or an unbounded
``run_isolated`` job), a caller with a hard limit used to wait, unbounded and without a
word, for a worker to come back: a 1 s solve returned after 7 s behind a hanging one, and
behind a job with no limit it waited for ever.  Now the wait for a free worker is bounded
by the job's hard limit and a job that never got one says why; the busy jobs are left alone.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

import modeling.worker as worker_module
from modeling import Status
from modeling.worker import (
    HardLimitExceeded,
    NoFreeWorker,
    WorkerPool,
    solve_isolated,
    warm_up,
)

MARGIN_S = 2.0  # thread start and wake-up on a loaded CI machine
BUSY_S = 3.5  # the job holding the only worker: longer than any wait the tests allow

LP = {
    "variables": {"x": {"upper": 4}},
    "objective": {"sense": "max", "expression": "3 * x"},
}


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    warm_up()  # the forkserver's one-time imports are not what these tests time


@pytest.fixture
def one_worker() -> Iterator[WorkerPool]:
    pool = WorkerPool(max_workers=1)
    pool.warm_up(1)
    yield pool
    pool.close()


def _occupy(pool: WorkerPool, seconds: float, done: list[object]) -> threading.Thread:
    """A job without a limit holding the pool's only worker for ``seconds``."""

    def job() -> None:
        done.append(pool.run(time.sleep, (seconds,), time_limit=None))

    thread = threading.Thread(target=job)
    thread.start()
    deadline = time.monotonic() + 10
    while not pool._busy and time.monotonic() < deadline:  # the job has its worker
        time.sleep(0.01)
    return thread


def test_a_caller_waits_for_a_free_worker_at_most_its_hard_limit(one_worker: WorkerPool) -> None:
    done: list[object] = []
    busy = _occupy(one_worker, BUSY_S, done)
    t0 = time.perf_counter()
    with pytest.raises(NoFreeWorker) as info:
        one_worker.run(len, ("ab",), time_limit=0.5)
    took = time.perf_counter() - t0

    assert took < 0.5 + MARGIN_S  # was: BUSY_S, the other job's whole run
    assert isinstance(info.value, HardLimitExceeded) and info.value.kind == "time"
    message = str(info.value)
    assert "busy" in message and "did not start" in message and "OPTIWISE_WORKERS" in message
    busy.join()
    assert done == [None]  # the job holding the worker was not disturbed
    assert one_worker.run(len, ("ab",), time_limit=5) == 2  # and the pool serves again


def test_a_solve_that_found_no_free_worker_says_so(
    one_worker: WorkerPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "_pool", one_worker)
    monkeypatch.setattr(worker_module, "_pool_pid", os.getpid())
    done: list[object] = []
    busy = _occupy(one_worker, BUSY_S, done)
    t0 = time.perf_counter()
    result = solve_isolated(LP, time_limit=0.25, hard_limit=0.5)
    took = time.perf_counter() - t0
    busy.join()

    assert took < 0.5 + MARGIN_S
    assert result.status is Status.TIME_LIMIT
    assert "busy" in result.message and "did not start" in result.message
    assert "worker process was killed" not in result.message  # nothing was killed
    assert solve_isolated(LP, time_limit=5).objective == pytest.approx(12.0)
