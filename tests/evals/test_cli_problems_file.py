"""``optiwise eval --problems FILE.jsonl``: a user's problems (what ``optiwise synth`` writes),
evaluated without a registry entry, resumable like any run; the solver's own time budget
(``--solver-time-limit``) reaches the agent, and ``--timeout`` stops a problem for good."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import optiwise, sample

from agent.stub_server import StubServer
from evals.problems import normalize_answer

NAMES = ["production_mix", "transport_basic", "inventory_planning"]


def question(name: str) -> str:
    return str(sample(name)["problem"]).strip()


def record(name: str) -> dict[str, Any]:
    """A line in the shape ``optiwise synth`` writes (an Answer object, metadata)."""
    answer = normalize_answer(sample(name)["answer"]["objective"])
    return {
        "id": f"syn-{name}",
        "dataset": "synth.samples",
        "question": question(name),
        "answer": answer.model_dump(mode="json"),
        "metadata": {"source": "optiwise-synth", "provenance": {"seed": name}},
    }


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def answer_right(body: dict[str, Any]) -> str:
    text = str(body["messages"][-1]["content"]).split("## Problem\n\n", 1)[1]
    name = next(n for n in NAMES if text.startswith(question(n)))
    return json.dumps(sample(name)["formulation"])


def last_json(out: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return data


def eval_argv(stub: StubServer, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "eval",
        "--model",
        "gpt-4o-mini",
        "--base-url",
        stub.base_url,
        "--out",
        str(tmp_path / "runs"),
        "--run-id",
        "P",
        "--max-repairs",
        "0",
        "--no-progress",
        "--json",
        *extra,
    ]


def test_a_problems_file_is_evaluated_and_resumed_without_a_registry_entry(
    llm_stub: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.handler = answer_right
    plain = {"id": "raw-label", "question": question("inventory_planning")}
    plain["answer"] = sample("inventory_planning")["answer"]["objective"]  # a raw label
    path = write(tmp_path / "my set.jsonl", [record(NAMES[0]), record(NAMES[1]), plain])

    assert optiwise(*eval_argv(llm_stub, tmp_path, "--problems", str(path))) == 0
    summary = last_json(capsys.readouterr().out)
    run_dir = Path(summary["run_dir"])
    assert run_dir == tmp_path / "runs" / "file" / "my_set" / "gpt-4o-mini" / "P"
    assert summary["dataset"] == "file.my_set" and summary["n"] == 3
    assert summary["accuracy"]["sirl"] == 1.0
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert config["problems_file"]["path"] == str(path.resolve())
    lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(x)["id"] for x in lines) == [
        "raw-label",
        "syn-production_mix",
        "syn-transport_basic",
    ]

    # Resume after a kill that lost one line: only that problem is asked again.
    (run_dir / "results.jsonl").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    before = len(llm_stub.chat_requests)
    assert optiwise(*eval_argv(llm_stub, tmp_path, "--problems", str(path))) == 0
    out, err = capsys.readouterr()
    again = last_json(out)
    assert "resuming run P: 2 of 3 problem(s) done and kept, 1 to run" in err
    assert again["complete"] and again["n_done"] == 3 and again["accuracy"]["sirl"] == 1.0
    assert len(llm_stub.chat_requests) == before + 1

    # The file changed under a run that still has work to do: refused, nothing sent.
    write(path, [record(NAMES[0]), record(NAMES[1]), plain, {**plain, "id": "new"}])
    before = len(llm_stub.requests)
    assert optiwise(*eval_argv(llm_stub, tmp_path, "--problems", str(path))) == 1
    err = capsys.readouterr().err
    assert f"the problems file {path.resolve()} changed since run P started" in err
    assert "sha256" not in err
    assert len(llm_stub.requests) == before  # not even the preflight request


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "a", "question": "x"}', '{"id": "a", "question": "y"}'], ":2: id 'a' repeats"),
        (['{"id": "a"}'], ":1: a problem needs a non-empty 'question'"),
        (["{not json"], ":1: not JSON"),
        ([], "holds no problem"),
    ],
)
def test_a_bad_problems_file_is_a_located_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["eval", "--problems", str(path), "--base-url", "http://127.0.0.1:9/v1"]
    assert optiwise(*argv, "--out", str(tmp_path / "runs")) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err
    assert not (tmp_path / "runs").exists()


def test_the_solver_time_limit_reaches_the_agent_and_defaults_from_the_environment(
    llm_stub: StubServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    llm_stub.handler = answer_right
    path = write(tmp_path / "one.jsonl", [record("production_mix")])
    argv = eval_argv(llm_stub, tmp_path, "--problems", str(path))

    assert optiwise(*argv, "--solver-time-limit", "7.5") == 0
    run_dir = Path(last_json(capsys.readouterr().out)["run_dir"])
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert config["agent"]["time_limit"] == 7.5 and config["timeout_s"] is None

    monkeypatch.setenv("OPTIWISE_TIME_LIMIT", "11")
    argv[argv.index("P")] = "Q"
    assert optiwise(*argv) == 0
    run_dir = Path(last_json(capsys.readouterr().out)["run_dir"])
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert config["agent"]["time_limit"] == 11.0

    assert optiwise(*argv, "--solver-time-limit", "0") == 2
    assert "--solver-time-limit must be > 0" in capsys.readouterr().err


def test_a_problem_over_the_timeout_is_a_time_out_retried_once_then_final(
    llm_stub: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.handler = answer_right
    llm_stub.latency = 3.0  # every chat reply takes longer than the problem's wall clock
    path = write(tmp_path / "one.jsonl", [record("production_mix")])
    argv = eval_argv(llm_stub, tmp_path, "--problems", str(path), "--timeout", "1")

    assert optiwise(*argv) == 0
    first = last_json(capsys.readouterr().out)
    assert first["status_counts"] == {"error": 1} and first["error_categories"] == {"timeout": 1}
    sent = len(llm_stub.chat_requests)

    assert optiwise(*argv) == 0  # the first resume tries it once more
    out, err = capsys.readouterr()
    assert "retrying 1 problem(s) that ended on transient errors (1 timeout)" in err
    assert last_json(out)["error_categories"] == {"timeout": 1}
    sent_again = len(llm_stub.chat_requests)  # (on a loaded machine it may time out unsent)
    assert sent_again >= sent

    assert optiwise(*argv) == 0  # then it is final: nothing is sent, the time-out stands
    out, err = capsys.readouterr()
    assert "retrying" not in err and last_json(out)["error_categories"] == {"timeout": 1}
    assert len(llm_stub.chat_requests) == sent_again
    run_dir = Path(last_json(out)["run_dir"])
    lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert [(json.loads(x)["tries"], json.loads(x)["timeouts"]) for x in lines] == [(1, 1), (2, 2)]


def test_a_problems_file_runs_through_batch_rounds_and_is_found_again_by_run_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "mine.jsonl", [record(NAMES[0]), record(NAMES[1])])
    common = ["--run-id", "BR", "--out", str(tmp_path / "runs")]
    argv = ["eval", "batch-export", "--problems", str(path), "--model", "gpt-4o-mini", *common]
    assert optiwise(*argv) == 0
    capsys.readouterr()
    run_dir = tmp_path / "runs" / "file" / "mine" / "gpt-4o-mini" / "BR"
    lines = (run_dir / "batch" / "requests-1.jsonl").read_text(encoding="utf-8").splitlines()
    ids = [json.loads(x)["custom_id"] for x in lines]
    assert ids == ["file.mine:syn-production_mix", "file.mine:syn-transport_basic"]

    # A later round finds the run (and its problems file) by the run id alone ...
    assert optiwise("eval", "batch-export", *common) == 0
    assert "round 1: wrote 2 request(s)" in capsys.readouterr().out
    # ... and refuses to go on once the file changed under it.
    write(path, [record(NAMES[0])])
    assert optiwise("eval", "batch-export", *common) == 1
    assert "changed since the run started" in capsys.readouterr().err
