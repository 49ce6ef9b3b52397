"""Small things a user of ``optiwise data`` / ``optiwise eval`` notices: problem ids are shown,
a ``--formulations`` folder that matches nothing is an error, and a stored formulation that
hangs the solver is stopped at ``--timeout`` for real."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import optiwise, sample, sample_records, toy_registry

from evals.formulations import FormulationSolver
from evals.problems import Problem, normalize_answer

NAMES = ["production_mix", "transport_basic"]


@pytest.fixture
def toy_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A registry whose ``toy.samples`` holds two sample problems; the data folder."""
    return toy_registry(monkeypatch, tmp_path, sample_records(NAMES))


def test_data_show_names_every_problem_id_and_shows_chosen_ids(
    toy_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert optiwise("data", "show", "toy.samples", "--data-dir", str(toy_data)) == 0
    out = capsys.readouterr().out
    assert "id [production_mix]" in out and "id [transport_basic]" in out
    assert "--ids production_mix,transport_basic" in out  # how to select them

    args = ["data", "show", "toy.samples", "--data-dir", str(toy_data)]
    assert optiwise(*args, "--ids", "transport_basic") == 0
    out = capsys.readouterr().out
    assert "id [transport_basic]" in out and "id [production_mix]" not in out

    assert optiwise(*args, "--ids", "nope") == 1
    assert "no problem id(s) ['nope']" in capsys.readouterr().err


def eval_formulations(data: Path, tmp_path: Path, folder: Path) -> list[str]:
    return [
        "eval",
        "--dataset",
        "toy.samples",
        "--formulations",
        str(folder),
        "--data-dir",
        str(data),
        "--out",
        str(tmp_path / "runs"),
        "--no-progress",
    ]


def test_an_empty_misspelt_or_mismatched_formulations_folder_is_an_error(
    toy_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert optiwise(*eval_formulations(toy_data, tmp_path, empty)) == 2
    assert "holds no .yaml/.yml/.json file" in capsys.readouterr().err

    assert optiwise(*eval_formulations(toy_data, tmp_path, tmp_path / "emtpy")) == 2
    assert "no such directory" in capsys.readouterr().err

    other = tmp_path / "other"
    other.mkdir()
    (other / "0.yaml").write_text(yaml.safe_dump(sample("production_mix")["formulation"]))
    assert optiwise(*eval_formulations(toy_data, tmp_path, other)) == 2
    err = capsys.readouterr().err
    assert "none of the 2 selected problems" in err and "production_mix.yaml" in err
    assert "0.yaml" in err  # what the folder does hold
    assert not list((tmp_path / "runs").rglob("results.jsonl"))


@pytest.mark.slow  # starts the solve worker (~3-12 s on 2 shared cores, preloads the solvers)
def test_some_missing_formulations_warn_and_a_hanging_solve_is_stopped_at_the_timeout(
    toy_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "forms"
    folder.mkdir()
    (folder / "production_mix.yaml").write_text(
        yaml.safe_dump(sample("production_mix")["formulation"])
    )
    args = [*eval_formulations(toy_data, tmp_path, folder), "--json", "--timeout", "20"]
    assert optiwise(*args) == 0
    out, err = capsys.readouterr()
    assert "warning: 1 of 2 selected problems have no formulation" in err
    assert "transport_basic" in err
    summary = json.loads(out.splitlines()[-1])
    assert summary["correct"]["sirl"] == 1 and summary["n"] == 2

    # A MILP that takes seconds: the worker is killed at the time-out, not waited for.
    solver = FormulationSolver(folder, timeout_s=1.0)
    solver.warm_up()
    (folder / "slow.json").write_text(json.dumps(slow_milp()))  # JSON: YAML would load slowly
    problem = Problem(id="slow", dataset="toy", question="", answer=normalize_answer(1))
    started = time.monotonic()
    outcome = asyncio.run(solver.solve(problem))

    assert outcome["error_categories"] == ["timeout"], outcome
    assert "stopped" in outcome["message"]
    assert time.monotonic() - started < 5


def slow_milp(n: int = 250, seed: int = 1) -> dict[str, Any]:
    """A 62,500-binary assignment-like MILP: ~3.5 s to solve here, far more than 1 s anywhere."""
    rnd = random.Random(seed)
    items = [f"i{k}" for k in range(n)]
    value = {i: {j: rnd.randint(1, 100) for j in items} for i in items}
    weight = {i: {j: rnd.randint(1, 30) for j in items} for i in items}
    return {
        "name": "slow",
        "sets": {"I": items},
        "parameters": {
            "v": {"index": ["I", "I"], "values": value},
            "w": {"index": ["I", "I"], "values": weight},
        },
        "variables": {"x": {"index": ["I", "I"], "type": "binary"}},
        "objective": {
            "sense": "maximize",
            "expression": "sum(v[i, j] * x[i, j] for i in I for j in I)",
        },
        "constraints": [
            {
                "name": "row",
                "forall": "for i in I",
                "expression": "sum(w[i, j] * x[i, j] for j in I) <= 47",
            },
            {
                "name": "col",
                "forall": "for j in I",
                "expression": "sum(w[i, j] * x[i, j] for i in I) <= 53",
            },
        ],
    }


def test_the_code_strategy_refuses_the_whole_run_without_isolation(
    toy_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import agent.sandbox as sandbox

    monkeypatch.setattr(sandbox, "isolation_problem", lambda: "bubblewrap (bwrap) is not installed")
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    argv = ["eval", "--dataset", "toy.samples", "--strategy", "code", "--data-dir", str(toy_data)]
    argv += ["--out", str(tmp_path / "runs"), "--no-progress"]

    assert optiwise(*argv) == 2
    err = capsys.readouterr().err
    assert "--strategy code" in err and "bubblewrap" in err and "--unsafe-no-isolation" in err
    assert not (tmp_path / "runs").exists()
