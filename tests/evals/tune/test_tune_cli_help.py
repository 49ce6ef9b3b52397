"""optiwise tune explains itself: --help documents every option, --estimate prints
readable lines (JSON only with --json), and report.md says why a step was not kept (QA F19)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from spec_example import TRANSPORT, TRANSPORT_OPTIMUM

from agent import FakeLLM
from agent.llm import ChatMessage
from evals.tune import TuneConfig, Tuner, make_splits, read_problem_file
from evals.tune import cli as tune_cli
from evals.tune.runner import step_reason


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="optiwise")
    tune_cli.register(root.add_subparsers())
    return root


def tune_parser() -> argparse.ArgumentParser:
    root = parser()
    sub = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    found = sub.choices["tune"]
    assert isinstance(found, argparse.ArgumentParser)
    return found


def write_problems(path: Path, n: int = 4) -> Path:
    rows = [
        {
            "id": f"t{i}",
            "question": f"Transport case {i}: ship at least cost.",
            "answer": TRANSPORT_OPTIMUM,
        }
        for i in range(n)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_help_describes_the_command_and_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    p = tune_parser()
    assert p.description and "validation" in p.description
    assert ":mod:" not in p.description and "``" not in p.description
    for action in p._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[0] if action.option_strings else action.dest
        assert action.help, f"{name} has no help text"
        if action.default not in (None, False, []) and not isinstance(action.default, bool):
            assert "default" in action.help, f"{name} does not say its default {action.default!r}"
    with pytest.raises(SystemExit):
        parser().parse_args(["tune", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "--budget-calls N" in text


def test_estimate_prints_lines_and_json_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problems = write_problems(tmp_path / "p.jsonl", 8)
    argv = ["tune", "--problems", str(problems), "--train-split", "3", "--val-split", "2"]
    argv += ["--no-holdout-check", "--estimate", "--out", str(tmp_path / "run")]
    argv += ["--model", "gpt-4o-mini", "--budget-calls", "10"]
    args = parser().parse_args(argv)
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "{" not in out
    assert "problem runs: " in out and "task model gpt-4o-mini: " in out
    assert "budget: 10 calls, up to" in out and "may stop the run early" in out
    args = parser().parse_args([*argv, "--json"])
    assert args.handler(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last)["problem_runs"] > 0
    # without --estimate there is nothing for --json to print: refused before any work
    args = parser().parse_args([a for a in argv if a != "--estimate"] + ["--json"])
    assert args.handler(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "add --estimate" in captured.err
    assert "report.json" in captured.err and not (tmp_path / "run").exists()


def test_a_bad_worker_priority_setting_is_said_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTIWISE_EVAL_WORKER_NICE", "-4")
    problems = write_problems(tmp_path / "p.jsonl", 8)
    argv = ["tune", "--problems", str(problems), "--executor", "process"]
    args = parser().parse_args([*argv, "--out", str(tmp_path / "run")])
    assert args.handler(args) == 2
    assert "OPTIWISE_EVAL_WORKER_NICE must be between 0 and 19" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_step_reason_says_what_happened() -> None:
    assert step_reason(True, ["no JSON object found in the reply"], 0.5, 0.5) == (
        "no usable proposal: no JSON object found in the reply"
    )
    assert step_reason(True, [], 0.5, 0.5) == "the proposal changed nothing"
    assert step_reason(False, [], 0.25, 0.5) == "validation 0.250 < 0.500 before"
    assert step_reason(False, [], 0.75, 0.5).startswith("validation 0.750 >= 0.500")


@pytest.mark.slow  # a real (tiny) tuning run: the agent formulates and solves twice
def test_report_says_why_a_step_was_rejected(tmp_path: Path) -> None:
    problems = read_problem_file(write_problems(tmp_path / "p.jsonl", 2))
    splits = make_splits(problems, train=1, val=1, test=0, seed=1)

    def task(_messages: list[ChatMessage]) -> str:
        return json.dumps(TRANSPORT)

    def optimizer(_messages: list[ChatMessage]) -> str:
        return "I would rather not | say."  # not the JSON the optimizer is asked for

    config = TuneConfig(
        out=tmp_path / "run",
        optimizer="opro",
        components=("formulate",),
        examples=0,
        steps=1,
        minibatch=1,
        max_repairs=0,
    )
    result = Tuner(
        config,
        splits,
        task_llm=FakeLLM(rules=[(lambda _t: True, task)]),
        optimizer_llm=FakeLLM(rules=[(lambda _t: True, optimizer)]),
    ).run()
    assert [h["accepted"] for h in result.history] == [True, False]
    report = (tmp_path / "run" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| 1 |"))
    assert "| no | no usable proposal: " in row and "JSON" in row
    steps: list[dict[str, Any]] = [
        json.loads(x) for x in (tmp_path / "run" / "steps.jsonl").read_text().splitlines()
    ]
    assert steps[-1]["why"].startswith("no usable proposal")
