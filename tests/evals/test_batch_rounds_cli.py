"""A whole eval through Batch files: ``batch-export/batch-import --run-id R``, round by round.

The "Batch API" here sends each exported request body to the loopback stub through
the real ``openai`` client, so the replies are what the same stub gives a live run;
the test then compares the finished batch run with that live run, score for score.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import optiwise, sample, sample_records, toy_registry

from agent.stub_server import StubServer

NAMES = ["production_mix", "transport_basic", "min_cost_flow", "inventory_planning"]
COMPARED = (
    "status",
    "objective",
    "first_status",
    "first_objective",
    "repair_rounds",
    "scores",
    "first_scores",
    "prompt_tokens",
    "completion_tokens",
)


def question(name: str) -> str:
    return str(sample(name)["problem"]).strip()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``toy.samples`` registered with the four samples of NAMES; its data folder."""
    return toy_registry(monkeypatch, tmp_path, sample_records(NAMES))


def asked_about(body: dict[str, Any]) -> str:
    text = str(body["messages"][-1]["content"]).split("## Problem\n\n", 1)[1]
    return next(n for n in NAMES if text.startswith(question(n)))


def replies(body: dict[str, Any]) -> str:
    """The stub's model: a repair is always right; first attempts per problem."""
    name = asked_about(body)
    doc = sample(name)["formulation"]
    if "## Current document" in body["messages"][-1]["content"]:
        return json.dumps(doc)
    if name == "production_mix":
        return "Let me think about the products first. The answer is a plan."  # not JSON
    if name == "transport_basic":  # optimal, but 3% off: wrong under strict protocols
        doc["objective"]["expression"] = f"1.03 * ({doc['objective']['expression']})"
    return json.dumps(doc)


def run_batch(stub: StubServer, requests: Path, drop: set[str] = frozenset()) -> Path:  # type: ignore[assignment]
    """What the Batch API does with a requests file: one output line per request (but ``drop``)."""
    import openai

    client = openai.OpenAI(base_url=stub.base_url, api_key="test")
    out = []
    for text in requests.read_text(encoding="utf-8").splitlines():
        line = json.loads(text)
        if line["custom_id"] in drop:
            continue
        reply = client.chat.completions.create(**line["body"])
        response = {"status_code": 200, "request_id": "req", "body": reply.model_dump()}
        out.append(json.dumps({"custom_id": line["custom_id"], "response": response}))
    path = requests.with_name(requests.stem.replace("requests", "output") + ".jsonl")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def results(run_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}  # the last line of an id wins


def last_json(out: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return data


def live_run(stub: StubServer, data: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    argv = ["eval", "--dataset", "toy.samples", "--model", "gpt-4o-mini", "--base-url"]
    argv += [stub.base_url, "--data-dir", str(data), "--out", str(tmp_path / "live")]
    assert optiwise(*argv, "--run-id", "live", "--no-progress", "--json", *extra) == 0
    return results(Path(data.parent / "live" / "toy" / "samples" / "gpt-4o-mini" / "live"))


# ~5 s each: the same eval run twice (three batch rounds, then live), with real solves.
@pytest.mark.slow
def test_a_run_with_repairs_finishes_through_batch_files_with_the_live_scores(
    llm_stub: StubServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.handler = replies
    runs = tmp_path / "runs"
    common = ["--run-id", "B", "--out", str(runs)]

    # Round 1: a new run; every problem's first formulate request. No endpoint is configured.
    start = ["--dataset", "toy.samples", "--model", "gpt-4o-mini", "--data-dir", str(data_dir)]
    assert optiwise("eval", "batch-export", *start, *common, "--max-repairs", "2") == 0
    out, err = capsys.readouterr()
    run_dir = runs / "toy" / "samples" / "gpt-4o-mini" / "B"
    requests = run_dir / "batch" / "requests-1.jsonl"
    assert "round 1: wrote 4 request(s) for 4 pending problem(s)" in out and str(requests) in out
    assert "batch-import --run-id B" in err
    ids = [json.loads(x)["custom_id"] for x in requests.read_text().splitlines()]
    assert ids == [f"toy.samples:{n}" for n in NAMES]

    # The batch comes back with min_cost_flow's reply missing; production_mix's is not JSON.
    output = run_batch(llm_stub, requests, drop={"toy.samples:min_cost_flow"})
    assert optiwise("eval", "batch-import", str(output), *common, "--json") == 0
    out, err = capsys.readouterr()
    first = last_json(out)
    assert first["batch_rounds"]["pending"] == ["production_mix", "min_cost_flow"]
    assert first["batch_rounds"]["missing"] == ["min_cost_flow"]
    assert first["batch_rounds"]["malformed"] == ["production_mix"]
    assert "toy.samples:min_cost_flow: no reply in the batch output; exported again" in err
    assert "toy.samples:production_mix: the reply is not a JSON document" in err
    assert "2 problem(s) still pending; next round: optiwise eval batch-export --run-id B" in err
    assert not first["complete"] and first["n_done"] == 2  # the finished ones are scored now
    assert set(results(run_dir)) == {"transport_basic", "inventory_planning"}

    # Round 2: production_mix's repair and min_cost_flow's formulate, found by the run id alone.
    assert optiwise("eval", "batch-export", *common) == 0
    out, _ = capsys.readouterr()
    assert "round 2: wrote 2 request(s) for 2 pending problem(s)" in out
    assert "1 first formulate, 1 repair/review" in out
    requests = run_dir / "batch" / "requests-2.jsonl"
    lines = [json.loads(x) for x in requests.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == [
        "toy.samples:production_mix@r1",
        "toy.samples:min_cost_flow",
    ]
    repair = lines[0]["body"]["messages"][-1]["content"]
    assert "## Findings" in repair and "JSON" in repair
    # An agent setting other than the run's is refused (the replies were made under it).
    assert optiwise("eval", "batch-export", *common, "--max-repairs", "1") == 2
    assert "--max-repairs (the run has 2)" in capsys.readouterr().err

    output = run_batch(llm_stub, requests)
    assert optiwise("eval", "batch-import", str(output), *common, "--json") == 0
    out, err = capsys.readouterr()
    final = last_json(out)
    assert final["complete"] and final["batch_rounds"]["pending"] == []
    assert "run B is complete" in err
    assert (run_dir / "report.md").exists() and (run_dir / "summary.json").exists()
    assert optiwise("eval", "batch-export", *common) == 0  # nothing left to send
    assert "nothing pending" in capsys.readouterr().out
    batch_requests = len(llm_stub.chat_requests)

    # The same run done live through the stub scores the same, problem by problem.
    live = live_run(llm_stub, data_dir, tmp_path, "--max-repairs", "2")
    capsys.readouterr()
    assert len(llm_stub.chat_requests) - batch_requests == 5  # 4 formulates + 1 repair
    batch = results(run_dir)
    assert set(batch) == set(live) == set(NAMES)
    for name in NAMES:
        assert {k: batch[name][k] for k in COMPARED} == {k: live[name][k] for k in COMPARED}
        assert batch[name]["cost_usd"] == pytest.approx(live[name]["cost_usd"] / 2)
    assert (batch["production_mix"]["first_status"], batch["production_mix"]["status"]) == (
        "invalid",
        "optimal",
    )
    assert batch["transport_basic"]["scores"]["sirl"] is False
    live_summary = json.loads(
        (tmp_path / "live/toy/samples/gpt-4o-mini/live/summary.json").read_text()
    )
    batch_summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("n_done", "complete", "execution_rate", "first_execution_rate"):
        assert batch_summary[key] == live_summary[key]
    assert final["accuracy"] == {
        name: score["accuracy"] for name, score in live_summary["protocols"].items()
    }


@pytest.mark.slow
def test_voting_samples_go_through_the_same_file(
    llm_stub: StubServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.handler = replies
    runs = tmp_path / "runs"
    common = ["--run-id", "V", "--out", str(runs)]
    start = ["--dataset", "toy.samples", "--model", "gpt-4o-mini", "--data-dir", str(data_dir)]
    select = ["--ids", "production_mix,inventory_planning", "--samples", "2", "--max-repairs", "1"]
    assert optiwise("eval", "batch-export", *start, *common, *select) == 0
    capsys.readouterr()
    run_dir = runs / "toy" / "samples" / "gpt-4o-mini" / "V"
    requests = run_dir / "batch" / "requests-1.jsonl"
    lines = [json.loads(x) for x in requests.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == [
        "toy.samples:production_mix@s0r0",
        "toy.samples:production_mix@s1r0",
        "toy.samples:inventory_planning@s0r0",
        "toy.samples:inventory_planning@s1r0",
    ]
    assert {x["body"]["temperature"] for x in lines} == {0.7}  # the samples' temperature

    # Sample 1 of inventory_planning goes missing: only that sample waits for round 2.
    output = run_batch(llm_stub, requests, drop={"toy.samples:inventory_planning@s1r0"})
    assert optiwise("eval", "batch-import", str(output), *common, "--json") == 0
    assert last_json(capsys.readouterr().out)["batch_rounds"]["pending"] == [
        "production_mix",
        "inventory_planning",
    ]
    assert optiwise("eval", "batch-export", *common) == 0
    capsys.readouterr()
    requests = run_dir / "batch" / "requests-2.jsonl"
    ids = [json.loads(x)["custom_id"] for x in requests.read_text().splitlines()]
    assert ids == [
        "toy.samples:production_mix@s0r1",
        "toy.samples:production_mix@s1r1",
        "toy.samples:inventory_planning@s1r0",
    ]
    output = run_batch(llm_stub, requests)
    assert optiwise("eval", "batch-import", str(output), *common, "--json") == 0
    assert last_json(capsys.readouterr().out)["complete"]

    live = live_run(
        llm_stub, data_dir, tmp_path, *select[:2], "--samples", "2", "--max-repairs", "1"
    )
    batch = results(run_dir)
    for name in ("production_mix", "inventory_planning"):
        assert {k: batch[name][k] for k in COMPARED} == {k: live[name][k] for k in COMPARED}
    assert batch["production_mix"]["status"] == "optimal"


def completion(custom_id: str, content: str) -> str:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1711652795,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 100, "total_tokens": 1000},
    }
    response = {"status_code": 200, "request_id": "req", "body": body}
    return json.dumps({"custom_id": custom_id, "response": response, "error": None})


def test_a_first_attempt_import_goes_on_with_its_repairs_and_errored_lines_are_sent_again(
    llm_stub: StubServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.handler = replies
    runs = tmp_path / "runs"
    first = tmp_path / "first-output.jsonl"
    right = json.dumps(sample("production_mix")["formulation"])
    first.write_text(
        completion("toy.samples:production_mix", right)
        + "\n"
        + completion("toy.samples:transport_basic", "I would rather explain in prose.")
        + "\n",
        encoding="utf-8",
    )
    start = ["--dataset", "toy.samples", "--model", "gpt-4o-mini", "--data-dir", str(data_dir)]
    common = ["--run-id", "T", "--out", str(runs)]
    assert optiwise("eval", "batch-import", str(first), *start, *common, "--json") == 0
    one_shot = last_json(capsys.readouterr().out)
    assert one_shot["accuracy"]["sirl"] == 0.5  # transport_basic's first attempt is invalid

    # The same run goes on through batch rounds: its next file holds the repair.
    assert optiwise("eval", "batch-export", *common, "--max-repairs", "1") == 0
    capsys.readouterr()
    run_dir = runs / "toy" / "samples" / "gpt-4o-mini" / "T"
    requests = run_dir / "batch" / "requests-1.jsonl"
    (line,) = [json.loads(x) for x in requests.read_text().splitlines()]
    assert line["custom_id"] == "toy.samples:transport_basic@r1"

    # The batch fails that line (HTTP 500): it is sent again in the next round.
    failed = {"status_code": 500, "request_id": "r", "body": {"error": {"message": "boom"}}}
    errors = tmp_path / "errors-1.jsonl"
    errors.write_text(json.dumps({"custom_id": line["custom_id"], "response": failed}) + "\n")
    assert optiwise("eval", "batch-import", str(errors), *common, "--json") == 0
    out, err = capsys.readouterr()
    assert last_json(out)["batch_rounds"]["errored"] == ["transport_basic"]
    assert "toy.samples:transport_basic@r1: the request failed (HTTP 500: boom)" in err
    assert "exported again (1 of 3 tries)" in err

    assert optiwise("eval", "batch-export", *common) == 0
    capsys.readouterr()
    requests = run_dir / "batch" / "requests-2.jsonl"
    ids = [json.loads(x)["custom_id"] for x in requests.read_text().splitlines()]
    assert ids == ["toy.samples:transport_basic@r1"]
    assert optiwise("eval", "batch-import", str(run_batch(llm_stub, requests)), *common) == 0
    out, err = capsys.readouterr()
    assert "run T is complete" in err and "100.0%" in out
    got = results(run_dir)
    fixed = got["transport_basic"]
    assert (fixed["first_status"], fixed["status"], fixed["repair_rounds"]) == (
        "invalid",
        "optimal",
        1,
    )
    assert fixed["scores"]["sirl"] is True and got["production_mix"]["scores"]["sirl"] is True
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert config["agent"]["max_repairs"] == 1 and config["agent"]["batch_rounds"] is True


def reviewed(body: dict[str, Any]) -> str:
    """``replies``, plus a reviewer that catches the 3% slip (and passes everything else)."""
    text = "\n".join(str(m["content"]) for m in body["messages"])
    if "faithfully models a problem" not in text:
        return replies(body)
    document = text.split("## Document", 1)[1]
    if "1.03 *" in document:
        issue = {"location": "objective.expression", "message": "the costs are scaled by 1.03"}
        return json.dumps({"verdict": "mismatch", "issues": [issue]})
    return json.dumps({"verdict": "ok", "issues": []})


@pytest.mark.slow  # ~5 s: four batch rounds, then the same run live
def test_reviews_and_the_repairs_they_ask_for_go_through_batch_rounds(
    llm_stub: StubServer, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.handler = reviewed
    runs = tmp_path / "runs"
    common = ["--run-id", "W", "--out", str(runs)]
    start = ["--dataset", "toy.samples", "--model", "gpt-4o-mini", "--data-dir", str(data_dir)]
    select = ["--ids", "transport_basic,inventory_planning", "--review", "--max-repairs", "1"]
    run_dir = runs / "toy" / "samples" / "gpt-4o-mini" / "W"
    sent: list[list[str]] = []
    for number in range(1, 10):
        first = start + select if number == 1 else []
        assert optiwise("eval", "batch-export", *first, *common) == 0
        out = capsys.readouterr().out
        if "nothing pending" in out:
            break
        requests = run_dir / "batch" / f"requests-{number}.jsonl"
        sent.append([json.loads(x)["custom_id"] for x in requests.read_text().splitlines()])
        assert optiwise("eval", "batch-import", str(run_batch(llm_stub, requests)), *common) == 0
        capsys.readouterr()
    assert sent == [
        ["toy.samples:transport_basic", "toy.samples:inventory_planning"],
        ["toy.samples:transport_basic@r1", "toy.samples:inventory_planning@r1"],  # reviews
        ["toy.samples:transport_basic@r2"],  # the repair the review asked for
        ["toy.samples:transport_basic@r3"],  # the repaired model's review
    ]
    live = live_run(llm_stub, data_dir, tmp_path, *select)
    batch = results(run_dir)
    for name in ("transport_basic", "inventory_planning"):
        assert {k: batch[name][k] for k in COMPARED} == {k: live[name][k] for k in COMPARED}
    assert batch["transport_basic"]["scores"]["sirl"] is True
    assert batch["transport_basic"]["first_scores"]["sirl"] is False
