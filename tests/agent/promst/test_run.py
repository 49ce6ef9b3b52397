"""``python -m agent.promst.run``: offline with scripted LLMs, and against an OpenAI-compatible
endpoint (the loopback stub through the real ``openai`` client) when one is configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.promst.run import main
from agent.promst.scripted import ScriptedOptimizer, scripted_grid_agent
from agent.stub_server import StubServer

SMALL = [
    "--sizes",
    "small",
    "--per-size",
    "1",
    "--test-per-size",
    "1",
    "--n-children",
    "2",
    "--n-selected",
    "1",
]


def test_scripted_run_writes_tree_best_prompt_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--env",
            "gridworld_ordered",
            "--scripted",
            "--start",
            "weak",
            *SMALL,
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["start_train"] == 0.0 and summary["best_train"] == 1.0
    assert summary["test"]["best"] >= summary["test"]["start"]
    tree = json.loads((tmp_path / "tree.json").read_text(encoding="utf-8"))
    best = tree["nodes"][tree["best"]]
    assert (tmp_path / "best_prompt.md").read_text(encoding="utf-8") == best["text"]
    assert "JSON object" in best["text"]
    err = capsys.readouterr().err
    assert "#0 depth 0 score 0.000 (wrong_format 1)" in err


def test_without_an_endpoint_it_says_how_to_configure_one() -> None:
    with pytest.raises(SystemExit, match="no LLM is configured: set OPENAI_API_KEY"):
        main(["--env", "boxnet"])
    with pytest.raises(SystemExit, match="grid worlds only"):
        main(["--env", "boxnet", "--scripted"])


def test_configured_endpoint_is_used_for_task_and_optimizer_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    optimizer = ScriptedOptimizer(seed=0)

    def handler(body: dict[str, Any]) -> str:
        messages = body["messages"]
        if messages[0]["role"] == "system":  # an episode step of the task model
            return scripted_grid_agent(messages)
        return optimizer(messages)

    with StubServer(handler=handler) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        code = main(
            [
                "--env",
                "gridworld_ordered",
                "--start",
                "weak",
                *SMALL,
                "--model",
                "gpt-4o-mini",
                "--optimizer-model",
                "gpt-4o",
                "--budget-usd",
                "0.5",
                "--out",
                str(tmp_path),
            ]
        )
        models = {r.body["model"] for r in stub.chat_requests}
    assert code == 0 and models == {"gpt-4o-mini", "gpt-4o"}
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["best_train"] == 1.0
    assert summary["usage"]["task"]["cost_usd"] > 0 and summary["usage"]["optimizer"]["cost_known"]
    assert '"best_train": 1.0' in capsys.readouterr().out


def test_optiwise_mode_needs_a_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "optiwise"]) == 2
    assert "--env optiwise needs --dataset NAME" in capsys.readouterr().err


@pytest.mark.needs_data("nl4opt")
def test_optiwise_mode_tunes_on_a_benchmark_split_and_writes_a_prompt_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support import benchmark_mirror

    from agent.prompts import PromptSet

    optimizer = ScriptedOptimizer(seed=0)

    def handler(body: dict[str, Any]) -> str:
        messages = body["messages"]
        if "prompt optimizer" in messages[-1]["content"] or "For each wrong example" in str(
            messages[-1]["content"]
        ):
            return optimizer(messages)
        return '{"variables": {"x": {}}, "objective": {"sense": "maximize", "expression": "y"}}'

    with StubServer(handler=handler) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        code = main(
            [
                "--env",
                "optiwise",
                "--dataset",
                "nl4opt",
                "--data-dir",
                str(benchmark_mirror()),
                "--train",
                "2",
                "--validation",
                "1",
                "--n-children",
                "1",
                "--n-selected",
                "1",
                "--max-depth",
                "1",
                "--min-depth",
                "1",
                "--budget-calls",
                "40",
                "--out",
                str(tmp_path),
            ]
        )
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["prompt"] == "formulate" and report["train"]["start"] == 0.0
    assert set(report["validation"]) == {"start", "best"}
    prompts = PromptSet.load(tmp_path / "prompts")
    assert "$problem" in prompts["formulate"]
