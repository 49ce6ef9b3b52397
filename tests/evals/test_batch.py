"""OpenAI Batch API export and import: the agent's own first requests, replies scored as runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import (
    optiwise,
    sample,
    sample_problem,
    sample_records,
    stub_model,
    toy_dataset,
    toy_registry,
)

from agent import OptimizationAgent
from agent.stub_server import StubServer
from agent.usage import Usage
from evals.agent_solver import AgentSolver
from evals.batch import BATCH_DISCOUNT, BatchFormatError, export_requests, read_batch_output
from evals.runner import run_eval

NAMES = ["production_mix", "transport_basic", "min_cost_flow", "inventory_planning"]
ALL = ("sirl", "optimind", "mamo", "orlm", "optmath")


def right(name: str) -> str:
    return json.dumps(sample(name)["formulation"])


def broken(name: str) -> str:
    doc = sample(name)["formulation"]
    doc["objective"]["expression"] = "sum(no_such_parameter[p] for p in Products)"
    return json.dumps(doc)


def off_by_3_percent(name: str) -> str:
    doc = sample(name)["formulation"]
    doc["objective"]["expression"] = f"1.03 * ({doc['objective']['expression']})"
    return json.dumps(doc)


def completion_line(name: str, content: str, tokens: tuple[int, int] = (1000, 200)) -> str:
    body = {
        "id": f"chatcmpl-{name}",
        "object": "chat.completion",
        "created": 1711652795,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
            "total_tokens": sum(tokens),
        },
    }
    line = {
        "id": f"batch_req_{name}",
        "custom_id": f"toy.samples:{name}",
        "response": {"status_code": 200, "request_id": f"req_{name}", "body": body},
        "error": None,
    }
    return json.dumps(line)


def error_line(name: str) -> str:
    error = {"code": "batch_expired", "message": "This request could not be executed in time."}
    line = {"id": f"batch_req_{name}", "custom_id": f"toy.samples:{name}", "response": None}
    return json.dumps({**line, "error": error})


def http_error_line(name: str) -> str:
    body = {"error": {"message": "The server had an error.", "type": "server_error"}}
    response = {"status_code": 500, "request_id": f"req_{name}", "body": body}
    return json.dumps({"custom_id": f"toy.samples:{name}", "response": response, "error": None})


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``toy`` registered (the samples of NAMES), and the folder its data are in."""
    return toy_registry(monkeypatch, tmp_path, sample_records(NAMES), alias=True)


def results(run_dir: Path) -> dict[str, dict[str, Any]]:
    text = (run_dir / "results.jsonl").read_text(encoding="utf-8")
    return {r["id"]: r for r in (json.loads(line) for line in text.splitlines())}


def test_export_writes_the_requests_a_live_run_sends(llm_stub: StubServer, tmp_path: Path) -> None:
    dataset = toy_dataset(NAMES)
    agent = OptimizationAgent(llm=stub_model(llm_stub), max_repairs=0)
    path = tmp_path / "out" / "requests.jsonl"
    export_requests(dataset, path, agent, limit=3)
    exported = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [x["custom_id"] for x in exported] == [f"toy.samples:{n}" for n in NAMES[:3]]
    for line in exported:
        assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
        body = line["body"]
        assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.0
        assert body["response_format"] == {"type": "json_object"}
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
        assert "## Examples" in body["messages"][1]["content"]

    # A live run of the same agent sends exactly these bodies.
    llm_stub.handler = lambda body: right(
        next(n for n in NAMES if sample_problem(n).question in body["messages"][-1]["content"])
    )
    run_eval(dataset, AgentSolver(agent), model_name="m", out_dir=tmp_path, limit=3, progress=False)
    live = sorted((r.body for r in llm_stub.chat_requests), key=json.dumps)
    assert live == sorted((x["body"] for x in exported), key=json.dumps)


def test_cli_export_needs_no_endpoint(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "requests.jsonl"
    argv = ["eval", "batch-export", "--dataset", "toy", "--model", "gpt-4.1-mini"]
    assert optiwise(*argv, "--data-dir", str(data_dir), "--limit", "2", "-o", str(out)) == 0
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [x["body"]["model"] for x in exported] == ["gpt-4.1-mini"] * 2
    assert "wrote 2 requests" in capsys.readouterr().out


def test_import_scores_right_wrong_non_json_and_errored_replies(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "batch_output.jsonl"
    batch.write_text(
        "\n".join(
            [
                completion_line("production_mix", right("production_mix")),
                completion_line("transport_basic", off_by_3_percent("transport_basic")),
                completion_line("min_cost_flow", "Here is my reasoning, but no JSON."),
                error_line("inventory_planning"),
                "{not json at all",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    argv = ["eval", "batch-import", str(batch), "--dataset", "toy", "--model", "gpt-4o-mini"]
    argv += ["--data-dir", str(data_dir), "--out", str(tmp_path / "runs"), "--no-progress"]
    with pytest.warns(UserWarning, match="unreadable batch line"):
        assert optiwise(*argv, "--json") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    got = results(Path(summary["run_dir"]))
    assert set(got) == set(NAMES)

    ok = got["production_mix"]
    assert (ok["status"], ok["objective"], ok["repair_rounds"]) == ("optimal", 8520, 0)
    assert ok["scores"] == ok["first_scores"] == dict.fromkeys(ALL, True)
    assert (ok["prompt_tokens"], ok["completion_tokens"]) == (1000, 200)
    full_price = Usage.for_call("gpt-4o-mini", 1000, 200).cost_usd
    assert ok["cost_usd"] == pytest.approx(full_price * BATCH_DISCOUNT)

    wrong = got["transport_basic"]
    assert wrong["status"] == "optimal"
    assert [k for k, v in wrong["scores"].items() if v] == ["orlm", "optmath"]

    prose = got["min_cost_flow"]
    assert (prose["status"], prose["first_status"], prose["repair_rounds"]) == ("invalid",) * 2 + (
        0,
    )
    assert "parse" in prose["error_categories"] and not any(prose["scores"].values())

    failed = got["inventory_planning"]
    assert failed["status"] == "error" and failed["error_categories"] == ["batch_error"]
    assert "batch_expired" in failed["message"]

    assert summary["accuracy"]["sirl"] == pytest.approx(1 / 4)
    assert summary["accuracy"]["orlm"] == pytest.approx(2 / 4)
    assert summary["execution_rate"] == pytest.approx(2 / 4)
    config = json.loads((Path(summary["run_dir"]) / "config.json").read_text(encoding="utf-8"))
    assert config["batch"]["errored_lines"] == 1 and config["batch"]["unreadable_lines"] == 1
    assert config["agent"]["max_repairs"] == 0 and config["agent"]["base_url"] is None

    # Importing the same file again resumes the same run: nothing is redone or doubled.
    with pytest.warns(UserWarning):
        assert optiwise(*argv, "--json") == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["run_dir"] == summary["run_dir"] and again["n_done"] == 4
    lines = (Path(summary["run_dir"]) / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4


def test_continue_repairs_fixes_broken_first_replies_through_the_endpoint(
    llm_stub: StubServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "batch_output.jsonl"
    batch.write_text(
        "\n".join(
            [
                completion_line("production_mix", right("production_mix")),
                completion_line("transport_basic", broken("transport_basic")),
                completion_line("min_cost_flow", "No JSON here."),
                http_error_line("inventory_planning"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )

    def live(body: dict[str, Any]) -> str:
        text = str(body["messages"][-1]["content"]).split("## Problem\n\n", 1)[1]
        return right(next(n for n in NAMES if text.startswith(sample_problem(n).question)))

    llm_stub.handler = live
    argv = ["eval", "batch-import", str(batch), "--dataset", "toy", "--model", "gpt-4o-mini"]
    argv += ["--data-dir", str(data_dir), "--out", str(tmp_path / "runs"), "--no-progress"]
    assert optiwise(*argv, "--continue-repairs", "--json") == 2  # no endpoint configured
    assert "no LLM endpoint" in capsys.readouterr().err

    argv += ["--continue-repairs", "--base-url", llm_stub.base_url, "--max-repairs", "2"]
    assert optiwise(*argv, "--json") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    got = results(Path(summary["run_dir"]))
    assert summary["run_id"].endswith("-repairs")

    assert got["production_mix"]["repair_rounds"] == 0
    for name in ("transport_basic", "min_cost_flow"):
        fixed = got[name]
        assert (fixed["first_status"], fixed["status"], fixed["repair_rounds"]) == (
            "invalid",
            "optimal",
            1,
        )
        assert fixed["scores"] == dict.fromkeys(ALL, True)
        assert fixed["first_scores"] == dict.fromkeys(ALL, False)
    redone = got["inventory_planning"]
    assert redone["status"] == "optimal" and redone["error_categories"][0] == "batch_error"
    assert summary["accuracy"]["sirl"] == 1.0
    assert summary["first_attempt_accuracy"]["sirl"] == pytest.approx(2 / 4)

    nodes = sorted(
        "repair" if "## Current document" in r.messages[-1]["content"] else "formulate"
        for r in llm_stub.chat_requests
    )
    assert nodes == ["formulate", "repair", "repair"]  # the right reply cost nothing live
    config = json.loads((Path(summary["run_dir"]) / "config.json").read_text(encoding="utf-8"))
    assert config["agent"]["base_url"] == llm_stub.base_url
    assert config["batch"]["continue_repairs"] is True


def test_batch_output_prefers_a_completion_over_an_error_for_the_same_id(tmp_path: Path) -> None:
    output, errors = tmp_path / "output.jsonl", tmp_path / "errors.jsonl"
    output.write_text(completion_line("production_mix", "{}") + "\n", encoding="utf-8")
    errors.write_text(error_line("production_mix") + "\n" + error_line("x") + "\n")
    parsed = read_batch_output([errors, output])
    assert parsed.replies["toy.samples:production_mix"].ok
    assert parsed.replies["toy.samples:x"].error == "batch_expired: " + (
        "This request could not be executed in time."
    )
    assert parsed.n_errors == 1


# ------------------------------------------------------- every round by batch


def _execute_batch(stub: StubServer, lines: list[dict[str, Any]]) -> list[str]:
    """What the Batch API would do: send each request body (here to the stub), keep the reply."""
    import openai

    client = openai.OpenAI(base_url=stub.base_url, api_key="test")
    out = []
    for line in lines:
        body = {k: v for k, v in line["body"].items() if k != "stream"}
        reply = client.chat.completions.create(**body)
        response = {"status_code": 200, "request_id": "r", "body": reply.model_dump()}
        out.append(
            json.dumps({"custom_id": line["custom_id"], "response": response, "error": None})
        )
    return out


def _problem_of(body: dict[str, Any]) -> str:
    text = str(body["messages"][-1]["content"]).split("## Problem\n\n", 1)[1]
    return next(n for n in NAMES if text.startswith(sample_problem(n).question))


def test_every_repair_round_runs_through_batch_files_until_nothing_is_pending(
    llm_stub: StubServer, tmp_path: Path
) -> None:
    from agent.context import AgentConfig
    from evals.batch import BatchRounds, ReplaySolver

    names = ["transport_basic", "production_mix", "min_cost_flow"]
    dataset = toy_dataset(names)
    run_dir = tmp_path / "run"

    def rounds() -> BatchRounds:  # a fresh process each round: all state is in the run dir
        return BatchRounds(
            run_dir,
            dataset=dataset.name,
            problems={p.id: p.question for p in dataset.problems},
            model="gpt-4o-mini",
            config=AgentConfig(max_repairs=2),
        )

    def reply(body: dict[str, Any]) -> str:
        name = _problem_of(body)
        if "## Current document" in body["messages"][-1]["content"]:
            return right(name)  # a repair
        return broken(name) if name == "production_mix" else right(name)

    llm_stub.handler = reply
    llm = stub_model(llm_stub)

    # Round 1: three formulate requests; min_cost_flow's reply goes missing, plus junk.
    lines = rounds().export(tmp_path / "r1.jsonl", llm)
    assert [line["custom_id"] for line in lines] == [f"toy.samples:{n}" for n in names]
    out = [o for o in _execute_batch(llm_stub, lines) if "min_cost_flow" not in o]
    (tmp_path / "o1.jsonl").write_text("\n".join([*out, "{not json"]) + "\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="unreadable batch line"):
        s1 = rounds().import_(tmp_path / "o1.jsonl")
    assert s1.finished == ["transport_basic"] and s1.missing == ["min_cost_flow"]
    assert s1.pending == ["production_mix", "min_cost_flow"]

    # Round 2: production_mix's repair and min_cost_flow's formulate again; the latter errors.
    lines = rounds().export(tmp_path / "r2.jsonl", llm)
    ids = [line["custom_id"] for line in lines]
    assert ids == ["toy.samples:production_mix@r1", "toy.samples:min_cost_flow"]
    repair = lines[0]["body"]["messages"][-1]["content"]
    assert "## Findings" in repair and "no_such_parameter" in repair
    out = _execute_batch(llm_stub, lines[:1]) + [error_line("min_cost_flow")]
    (tmp_path / "o2.jsonl").write_text("\n".join(out) + "\n", encoding="utf-8")
    s2 = rounds().import_(tmp_path / "o2.jsonl")
    assert s2.finished == ["production_mix"] and s2.errored == ["min_cost_flow"]
    assert "exported again (1 of 3 tries)" in s2.messages["min_cost_flow"][0]

    # Round 3: the last request is answered; nothing is left to export.
    lines = rounds().export(tmp_path / "r3.jsonl", llm)
    (tmp_path / "o3.jsonl").write_text("\n".join(_execute_batch(llm_stub, lines)) + "\n")
    s3 = rounds().import_(tmp_path / "o3.jsonl")
    assert s3.finished == ["min_cost_flow"] and s3.pending == []
    assert rounds().export(tmp_path / "r4.jsonl", llm) == []
    # A replay must use the settings its replies were made under.
    with pytest.raises(BatchFormatError, match="max_repairs"):
        BatchRounds(run_dir, dataset=dataset.name, problems={}, model="m", config=AgentConfig())
    stored = BatchRounds(run_dir, dataset=dataset.name, problems={}, model="m")
    assert stored.config.max_repairs == 2

    # The finished run scores through the normal runner, with no endpoint.
    summary = run_eval(
        dataset,
        ReplaySolver(rounds()),
        model_name="gpt-4o-mini",
        out_dir=tmp_path / "runs",
        run_id="rounds",
        progress=False,
    )
    got = results(Path(summary.run_dir))
    assert {n: got[n]["status"] for n in names} == dict.fromkeys(names, "optimal")
    assert got["production_mix"]["first_status"] == "invalid"
    assert got["production_mix"]["repair_rounds"] == 1
    assert all(got[n]["scores"] == dict.fromkeys(ALL, True) for n in names)


def test_a_reply_that_keeps_failing_ends_its_problem_as_an_error(
    llm_stub: StubServer, tmp_path: Path
) -> None:
    from evals.batch import MAX_FAILED_REPLIES, BatchRounds

    dataset = toy_dataset(["transport_basic"])
    rounds = BatchRounds(
        tmp_path / "run",
        dataset=dataset.name,
        problems={p.id: p.question for p in dataset.problems},
        model="gpt-4o-mini",
    )
    for n in range(MAX_FAILED_REPLIES):
        # Each round's batch writes its own output (its own line id): a re-import changes nothing.
        line = {**json.loads(http_error_line("transport_basic")), "id": f"batch_req_{n}"}
        (tmp_path / f"o{n}.jsonl").write_text(json.dumps(line) + "\n")
        assert len(rounds.export(tmp_path / "r.jsonl", stub_model(llm_stub))) == 1
        summary = rounds.import_(tmp_path / f"o{n}.jsonl")
        assert rounds.import_(tmp_path / f"o{n}.jsonl").already_imported
    assert summary.failed == ["transport_basic"] and summary.pending == []
    outcome = rounds.outcome("transport_basic")
    assert outcome is not None and outcome["status"] == "error"
    assert "HTTP 500" in outcome["message"]


def test_the_rounds_of_an_existing_batch_import_run_start_from_its_first_replies(
    llm_stub: StubServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evals.batch import BatchRounds
    from evals.loaders import load

    batch = tmp_path / "batch_output.jsonl"
    lines = [
        completion_line("production_mix", right("production_mix")),
        completion_line("transport_basic", broken("transport_basic")),
    ]
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["eval", "batch-import", str(batch), "--dataset", "toy", "--model", "gpt-4o-mini"]
    argv += ["--data-dir", str(data_dir), "--out", str(tmp_path / "runs"), "--no-progress"]
    assert optiwise(*argv, "--run-id", "R", "--json") == 0
    capsys.readouterr()

    rounds = BatchRounds.for_run(
        load("toy", data_dir=data_dir),
        run_id="R",
        model="gpt-4o-mini",
        out_dir=tmp_path / "runs",
        ids=["production_mix", "transport_basic"],
    )
    assert rounds.pending() == ["transport_basic"]
    (line,) = rounds.export(tmp_path / "next.jsonl", stub_model(llm_stub))
    assert line["custom_id"] == "toy.samples:transport_basic@r1"
    assert "## Current document" in line["body"]["messages"][-1]["content"]
