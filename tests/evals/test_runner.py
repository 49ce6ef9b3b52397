"""The eval runner with fake async solvers: scoring, resume, interruption, reports."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import benchmark_mirror

from evals import cli
from evals.formulations import FormulationSolver
from evals.loaders import Dataset
from evals.problems import Problem, normalize_answer
from evals.report import compare, plot_compare, rescore
from evals.results import read_results
from evals.runner import RunConfigMismatch, execute, prepare_run, run_eval

LABELS: list[Any] = [100, "250.5", "No Best Solution", 0, "$1,000", 42, "[7.0]", None]


def toy_dataset(n: int = 8) -> Dataset:
    problems = tuple(
        Problem(
            id=f"p{i}",
            dataset="toy.v1",
            question=f"question {i}",
            answer=normalize_answer(LABELS[i % len(LABELS)]),
            metadata={"difficulty": "Easy" if i % 2 else "Hard", "type": "LP"},
        )
        for i in range(n)
    )
    return Dataset(name="toy.v1", family="toy", variant="v1", problems=problems)


class OracleSolver:
    """Answers correctly, except ids in ``wrong`` (3% off: passes ORLM's 5%, fails SIRL)."""

    def __init__(self, wrong: set[str] | None = None) -> None:
        self.wrong = wrong or set()
        self.calls: list[str] = []

    async def solve(self, problem: Problem) -> Mapping[str, Any]:
        self.calls.append(problem.id)
        await asyncio.sleep(0)
        answer = problem.answer
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.001, "trace_id": "t"}
        if answer.kind == "infeasible":
            return {"status": "infeasible", "objective": None, **usage}
        value = answer.value if answer.value is not None else 1.0
        if problem.id in self.wrong:
            value *= 1.03
        return {
            "status": "optimal",
            "objective": value,
            "first_status": "error",
            "first_objective": None,
            "repair_rounds": 1,
            "error_categories": ["check"],
            **usage,
        }


def lines(run_dir: Path) -> list[dict[str, Any]]:
    text = (run_dir / "results.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_run_scores_results_and_writes_the_run_directory(tmp_path: Path) -> None:
    solver = OracleSolver(wrong={"p1"})
    summary = run_eval(
        toy_dataset(),
        solver,
        model_name="org/model:7b",
        out_dir=tmp_path,
        run_id="r1",
        concurrency=3,
        progress=False,
    )
    run_dir = tmp_path / "toy" / "v1" / "org_model_7b" / "r1"
    assert Path(summary.run_dir) == run_dir
    for name in ("config.json", "results.jsonl", "summary.json", "report.md"):
        assert (run_dir / name).exists(), name
    assert sorted(r["id"] for r in lines(run_dir)) == [f"p{i}" for i in range(8)]
    # p7 has no label (unknown): excluded; p1 is 3% off.
    sirl = summary.protocols["sirl"]
    assert (sirl.correct, sirl.scored) == (6, 7)
    assert summary.protocols["orlm"].correct == 7
    assert sirl.first_correct == 1  # only the infeasible item was right before repair
    assert summary.n_unknown_answer == 1
    assert summary.execution_rate == 1.0
    assert summary.first_execution_rate == pytest.approx(1 / 8)
    assert summary.fixed_by_repair == 5
    assert summary.prompt_tokens == 80 and summary.cost_usd == pytest.approx(0.008)
    assert summary.breakdown["difficulty"]["Hard"].n == 4
    assert summary.error_categories == {"check": 7}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == "org/model:7b" and config["default_protocol"] == "sirl"
    report = (run_dir / "report.md").read_text()
    assert "Accuracy by protocol" in report and "| orlm |" in report
    assert "By difficulty" in report and "first attempt" in report


class HangingSolver(OracleSolver):
    """Answers the first ``k`` problems, then never returns."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    async def solve(self, problem: Problem) -> Mapping[str, Any]:
        if len(self.calls) >= self.k:
            self.calls.append(problem.id)
            await asyncio.Event().wait()
        return await super().solve(problem)


def test_interrupted_run_resumes_with_every_id_exactly_once(tmp_path: Path) -> None:
    dataset = toy_dataset(12)
    run_dir = tmp_path / "toy" / "v1" / "m" / "r"

    async def interrupted() -> None:
        plan = prepare_run(dataset, model_name="m", out_dir=tmp_path, run_id="r", concurrency=2)
        task = asyncio.create_task(execute(plan, HangingSolver(k=5), progress=False))
        while not (run_dir / "results.jsonl").exists() or len(lines(run_dir)) < 5:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    assert len(lines(run_dir)) == 5
    partial = json.loads((run_dir / "summary.json").read_text())
    assert partial["interrupted"] is True and partial["complete"] is False

    second = OracleSolver()
    summary = run_eval(
        dataset, second, model_name="m", out_dir=tmp_path, run_id="r", progress=False
    )
    ids = [r["id"] for r in lines(run_dir)]
    assert sorted(ids) == sorted(p.id for p in dataset.problems)
    assert len(second.calls) == 7
    assert summary.complete and not summary.interrupted


def test_truncated_last_line_is_redone(tmp_path: Path) -> None:
    dataset = toy_dataset(6)
    run_eval(dataset, OracleSolver(), model_name="m", out_dir=tmp_path, run_id="r", progress=False)
    path = tmp_path / "toy" / "v1" / "m" / "r" / "results.jsonl"
    kept = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lost = json.loads(kept[-1])["id"]
    path.write_text("".join(kept[:-1]) + kept[-1][: len(kept[-1]) // 2], encoding="utf-8")
    assert lost not in {r.id for r in read_results(path)}

    again = OracleSolver()
    run_eval(dataset, again, model_name="m", out_dir=tmp_path, run_id="r", progress=False)
    assert again.calls == [lost]
    ids = [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(ids) == sorted(p.id for p in dataset.problems)


class ExplodingSolver:
    async def solve(self, problem: Problem) -> Mapping[str, Any]:
        raise AssertionError("a finished run must not call the solver")


def test_resuming_a_finished_run_is_fast_and_calls_nothing(tmp_path: Path) -> None:
    dataset = toy_dataset(8)
    first = run_eval(
        dataset, OracleSolver(), model_name="m", out_dir=tmp_path, run_id="r", progress=False
    )
    started = time.perf_counter()
    again = run_eval(
        dataset, ExplodingSolver(), model_name="m", out_dir=tmp_path, run_id="r", progress=False
    )
    assert time.perf_counter() - started < 1.0
    assert again.protocols == first.protocols


def test_resuming_with_another_model_is_refused(tmp_path: Path) -> None:
    dataset = toy_dataset(2)
    run_eval(dataset, OracleSolver(), model_name="m", out_dir=tmp_path, run_id="r", progress=False)
    (tmp_path / "toy" / "v1" / "m" / "r" / "config.json").write_text(
        json.dumps({"dataset": "toy.v1", "model": "other"})
    )
    with pytest.raises(RunConfigMismatch):
        run_eval(dataset, OracleSolver(), model_name="m", out_dir=tmp_path, run_id="r")


@dataclass
class AgentResult:
    status: str
    objective: float | None


class SlowAndBrokenSolver:
    async def solve(self, problem: Problem) -> Any:
        if problem.id == "p0":
            await asyncio.sleep(5)
        if problem.id == "p1":
            raise RuntimeError("boom")
        if problem.id == "p2":
            return {"status": "optimal", "objective": "not a number"}
        if problem.id == "p4":
            return {"status": "optimal", "objective": 1000.0, "formulation": {"raw": object()}}
        if problem.id == "p5":
            return 42
        if problem.id == "p6":
            return AgentResult(status="optimal", objective=0.0)
        return {"status": "mystery"}


def test_timeouts_and_crashes_become_error_results(tmp_path: Path) -> None:
    summary = run_eval(
        toy_dataset(7),
        SlowAndBrokenSolver(),
        model_name="m",
        out_dir=tmp_path,
        timeout_s=0.05,
        progress=False,
    )
    by_id = {r["id"]: r for r in lines(Path(summary.run_dir))}
    assert by_id["p0"]["status"] == "error" and by_id["p0"]["error_categories"] == ["timeout"]
    assert by_id["p1"]["error_categories"] == ["exception:RuntimeError"]
    assert "boom" in by_id["p1"]["message"]
    assert "bad_objective" in by_id["p2"]["error_categories"]
    assert by_id["p3"]["status"] == "error"
    assert by_id["p4"]["scores"]["sirl"] is True
    assert by_id["p4"]["formulation"]["raw"].startswith("<object")
    assert by_id["p5"]["error_categories"] == ["bad_outcome"]
    assert by_id["p6"]["scores"]["sirl"] is False  # a dataclass outcome is read by its fields
    assert by_id["p6"]["status"] == "optimal"
    assert summary.n_done == 7 and summary.execution_rate == pytest.approx(2 / 7)
    assert summary.error_categories["timeout"] == 1


def test_progress_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_eval(toy_dataset(3), OracleSolver(), model_name="m", out_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "\r" in err and "3/3" in err and "acc[sirl]" in err and "tokens" in err


def test_ids_and_limit_select_problems(tmp_path: Path) -> None:
    solver = OracleSolver()
    summary = run_eval(
        toy_dataset(), solver, model_name="m", out_dir=tmp_path, ids=["p3", "p1"], progress=False
    )
    assert sorted(solver.calls) == ["p1", "p3"] and summary.n_done == 2
    limited = OracleSolver()
    run_eval(toy_dataset(), limited, model_name="m", out_dir=tmp_path, limit=3, progress=False)
    assert sorted(limited.calls) == ["p0", "p1", "p2"]
    with pytest.raises(KeyError, match="p99"):
        run_eval(toy_dataset(), solver, model_name="m", out_dir=tmp_path, ids=["p99"])


def test_rescore_and_compare_need_no_solver(tmp_path: Path) -> None:
    dataset = toy_dataset()
    good = run_eval(
        dataset, OracleSolver(), model_name="good", out_dir=tmp_path, run_id="a", progress=False
    )
    off = run_eval(
        dataset,
        OracleSolver(wrong={"p0", "p1", "p5"}),
        model_name="off",
        out_dir=tmp_path,
        run_id="b",
        progress=False,
    )
    assert rescore(off.run_dir, "sirl").correct == 4
    assert rescore(off.run_dir, "orlm").correct == 7
    table = compare([good.run_dir, off.run_dir])
    assert "| good | 100.0% (7/7) |" in table
    assert "| off | 57.1% (4/7) |" in table
    again = compare([good.run_dir, good.run_dir])
    assert "| good / a |" in again
    png = plot_compare([good.run_dir, off.run_dir], tmp_path / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_shows_published_figures_for_the_same_families(tmp_path: Path) -> None:
    problems = tuple(
        Problem(id="0", dataset="mamo_easy.x", question="q", answer=normalize_answer(1))
        for _ in range(1)
    )
    dataset = Dataset(name="mamo_easy.x", family="mamo_easy", variant="x", problems=problems)
    run = run_eval(dataset, OracleSolver(), model_name="m", out_dir=tmp_path, progress=False)
    table = compare([run.run_dir])
    assert "Published figures" in table and "SIRL-Qwen2.5-32B-Gurobi" in table
    assert "Published figures" not in compare([run.run_dir], published="none")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_rescore_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_eval(
        toy_dataset(),
        OracleSolver(wrong={"p0"}),
        model_name="m",
        out_dir=tmp_path,
        run_id="r",
        progress=False,
    )
    args = _parser().parse_args(["eval", "rescore", run.run_dir, "--protocol", "orlm"])
    assert args.handler(args) == 0
    assert "orlm: 100.0% (7/7)" in capsys.readouterr().out
    out_md, out_png = tmp_path / "cmp.md", tmp_path / "cmp.png"
    args = _parser().parse_args(
        ["eval", "compare", run.run_dir, "--out", str(out_md), "--plot", str(out_png)]
    )
    assert args.handler(args) == 0
    assert "| m |" in out_md.read_text() and out_png.exists()
    args = _parser().parse_args(["eval", "rescore", str(tmp_path / "nothing")])
    assert args.handler(args) == 1


class FakeSolved:
    def __init__(self, status: str, objective: float | None) -> None:
        self.status = status
        self.objective = objective


def fake_solve(document: dict[str, Any]) -> FakeSolved:
    if "objective" not in document:
        return FakeSolved("invalid", None)
    return FakeSolved("optimal", float(document["objective"]["value"]))


def test_formulations_are_scored_and_missing_files_fail(tmp_path: Path) -> None:
    folder = tmp_path / "forms"
    folder.mkdir()
    (folder / "p0.yaml").write_text("objective:\n  value: 100\n")
    (folder / "p1.json").write_text(json.dumps({"objective": {"value": 250.5}}))
    (folder / "p3.yaml").write_text("name: [unclosed\n")
    (folder / "p4.yaml").write_text("name: no objective\n")
    solver = FormulationSolver(folder, solve_fn=fake_solve)
    summary = run_eval(
        toy_dataset(6), solver, model_name="forms", out_dir=tmp_path / "runs", progress=False
    )
    by_id = {r["id"]: r for r in lines(Path(summary.run_dir))}
    assert by_id["p0"]["scores"]["sirl"] is True and by_id["p1"]["scores"]["sirl"] is True
    assert by_id["p2"]["error_categories"] == ["missing_formulation"]
    assert by_id["p3"]["status"] == "invalid"
    assert by_id["p4"]["status"] == "invalid"
    assert by_id["p5"]["error_categories"] == ["missing_formulation"]
    assert summary.protocols["sirl"].correct == 2


@pytest.mark.needs_data("complexor.llmopt")
def test_cli_eval_with_formulations_runs_a_registered_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = benchmark_mirror()
    monkeypatch.setattr(
        "evals.formulations._solve_in_worker", lambda doc, timeout_s: fake_solve(doc)
    )
    monkeypatch.setattr("evals.formulations.FormulationSolver.warm_up", lambda self: None)
    folder = tmp_path / "forms"
    folder.mkdir()
    (folder / "1.yaml").write_text("objective:\n  value: 0\n")
    argv = [
        "eval",
        "--dataset",
        "complexor.llmopt",
        "--formulations",
        str(folder),
        "--limit",
        "3",
        "--out-dir",
        str(tmp_path / "runs"),
        "--data-dir",
        str(root),
        "--no-progress",
    ]
    args = _parser().parse_args(argv)
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "run: " in out and "sirl" in out
    run_dirs = list((tmp_path / "runs" / "complexor" / "llmopt").glob("formulations-forms/*"))
    assert len(run_dirs) == 1 and len(lines(run_dirs[0])) == 3


def test_cli_eval_without_agent_or_dataset_explains(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["eval", "--dataset", "nl4opt"])
    assert args.handler(args) == 2
    assert "--formulations" in capsys.readouterr().err
    args = _parser().parse_args(["eval"])
    assert args.handler(args) == 2
