"""Fixtures of the agent tests.

- ``_solve_worker_ready`` (autouse, once per session): the solve worker is started
  before the first agent test, not in the middle of one.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _solve_worker_ready() -> None:
    """Start one solve worker (and so the forkserver) before the first agent test runs.

    Every :class:`~agent.OptimizationAgent` warms a worker up in a background thread;
    the first one in a process starts the forkserver, seconds of imports in another
    process. Landing inside a test with a sub-second LLM timeout, that made the test
    flaky on a loaded machine. A run of the suite starts the forkserver anyway; here it
    is paid once, up front.
    """
    from modeling.worker import warm_up

    warm_up()
