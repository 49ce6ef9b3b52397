"""optiwise eval --executor process ends without a multiprocessing warning on stderr (QA F14).

A pool worker is a forkserver child: the Lock Pyomo makes at its first import there
is a named semaphore, and the worker's ``os._exit`` skipped its cleanup, so the
resource tracker reported "1 leaked semaphore objects" at the parent's exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    import yaml
    from agent import FakeLLM, OptimizationAgent
    from agent.context import AgentConfig
    from evals.executors import ProcessExecutor

    doc = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
    llm = FakeLLM(rules=[(lambda _t: True, lambda _m: json.dumps(doc["formulation"]))])
    config = AgentConfig(backend="pyomo", max_repairs=0, examples=0)  # imports Pyomo in the worker
    pool = ProcessExecutor(OptimizationAgent(llm=llm, config=config), workers=1)
    result = asyncio.run(pool.solve(doc["problem"]))
    print(result.status, result.objective)
    pool.close()  # what optiwise eval does at its end
    """
)


@pytest.mark.slow  # a worker process that imports Pyomo, in a fresh interpreter (~15-30 s)
def test_a_process_pool_leaves_no_leaked_semaphore_warning() -> None:
    sample = ROOT / "datasets" / "samples" / "transport_basic.yaml"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(sample)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["optimal", "2528.0"]
    assert "leaked semaphore" not in done.stderr and "resource_tracker" not in done.stderr
