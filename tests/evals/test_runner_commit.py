"""Result lines: problems that finish together share one fsync, and none counts as done before
its line is on disk (issue 13: a round of 64 problems used to queue 64 fsyncs of 3-6 ms each,
so a run's last line reached the disk ~0.3 s after its problem ended)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import evals.results as results_module
import evals.runner as runner_module
from evals.loaders import Dataset
from evals.problems import Problem, normalize_answer
from evals.results import read_results
from evals.runner import execute, prepare_run


def _dataset(n: int) -> Dataset:
    problems = tuple(
        Problem(id=f"p{i:02d}", dataset="toy.v1", question=f"q{i}", answer=normalize_answer(i))
        for i in range(n)
    )
    return Dataset(name="toy.v1", family="toy", variant="v1", problems=problems)


class Together:
    """Every problem answers at the same moment, right."""

    async def solve(self, problem: Problem) -> Mapping[str, Any]:
        await asyncio.sleep(0.05)
        return {"status": "optimal", "objective": problem.answer.value}


def test_problems_finishing_together_share_fsyncs_and_count_only_once_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs: list[float] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:  # a disk that takes 20 ms per fsync
        real_fsync(fd)
        time.sleep(0.02)
        fsyncs.append(time.perf_counter())

    monkeypatch.setattr(results_module.os, "fsync", slow_fsync)
    plan = prepare_run(_dataset(30), model_name="m", out_dir=tmp_path, run_id="r", concurrency=30)
    on_disk_when_done: list[bool] = []
    update = runner_module._Progress.update

    def checked(self: Any, result: Any) -> None:
        lines = plan.results_path.read_text(encoding="utf-8")
        on_disk_when_done.append(f'"id":"{result.id}"' in lines)
        update(self, result)

    monkeypatch.setattr(runner_module._Progress, "update", checked)

    summary = asyncio.run(execute(plan, Together(), progress=False))

    assert summary.n_done == 30 and summary.accuracy == 1.0
    assert sorted(r.id for r in read_results(plan.results_path)) == [f"p{i:02d}" for i in range(30)]
    assert on_disk_when_done == [True] * 30  # counted as done only once written
    assert len(fsyncs) <= 5, f"{len(fsyncs)} fsyncs for 30 problems that finished together"
