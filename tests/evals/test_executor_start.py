"""A process pool started in the background (``start_soon``, what ``AgentSolver`` does when it
is made) and closed before it is up leaves no worker behind: ``close`` waits for the spawning
and stops what it started, instead of the workers living on until the interpreter exits."""

from __future__ import annotations

import time

import pytest

from agent import OptimizationAgent
from agent.context import AgentConfig
from agent.fake import FakeLLM
from evals.executors import ProcessExecutor


@pytest.mark.slow  # a forkserver that preloads the agent starts: 3-5 s idle, 10-20 s under load
def test_a_pool_closed_while_it_starts_keeps_no_worker() -> None:
    agent = OptimizationAgent(llm=FakeLLM(), config=AgentConfig(solve_in_process=True))
    pool = ProcessExecutor(agent, workers=1)
    thread = pool.start_soon()
    time.sleep(0.05)  # the background start is spawning (the forkserver imports the agent)
    pool.close()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert pool.workers == []  # nothing was added after the close
    with pytest.raises(RuntimeError, match="closed"):
        pool.start()
