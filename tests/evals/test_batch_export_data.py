"""One-shot ``optiwise eval batch-export`` (no ``--run-id``) carries each problem's data
folder as a live run does: the request describes the tables (never the whole table), the
data stay on disk, and ``batch-import`` reads them from the same folder."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest
from support import items_knapsack, stub_model

from agent.api import OptimizationAgent
from agent.stub_server import StubServer
from evals import cli
from evals.batch import BatchImportSolver, BatchOutput, export_requests
from evals.loaders import Dataset
from evals.problems import Answer, Problem

ROWS = 40  # more rows than a description shows: the last ones must not reach the request
TABLE = "item,value,weight\n" + "".join(f"i{k},{k % 7 + 1},{k % 5 + 2}\n" for k in range(ROWS))
# Knapsack over items.csv with capacity 10: written by us, read from the table.
DOC = items_knapsack(10)
QUESTION = "Pick items of the catalogue (items.csv) to carry at most 10 kg, maximising value."


def optimum() -> float:
    """The knapsack's optimum by brute force over the few light items (the test's own answer)."""
    items = [(k % 7 + 1, k % 5 + 2) for k in range(ROWS)]
    best = [0.0] * 11
    for value, weight in items:
        for cap in range(10, weight - 1, -1):
            best[cap] = max(best[cap], best[cap - weight] + value)
    return best[10]


def optiwise(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    folder = tmp_path / "probs" / "knap" / "data"
    folder.mkdir(parents=True)
    (folder / "items.csv").write_text(TABLE, encoding="utf-8")
    path = tmp_path / "probs" / "problems.jsonl"
    lines = [
        {"id": "knap", "question": QUESTION, "answer": optimum(), "data": "knap/data"},
        {"id": "plain", "question": "Maximise x with x <= 4.", "answer": 4},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    return path


def reply(body: dict[str, Any]) -> str:
    text = body["messages"][-1]["content"]
    if "items.csv" in text:
        return json.dumps(DOC)
    return json.dumps(
        {
            "variables": {"x": {"lower": 0}},
            "objective": {"sense": "max", "expression": "x"},
            "constraints": [{"name": "c", "expression": "x <= 4"}],
        }
    )


# Slow (12-25 s on 2 shared cores): a live eval and a batch import through the CLI, each
# importing the agent stack and solving in the killable worker (its pool starts once).
@pytest.mark.slow
def test_one_shot_export_describes_the_tables_as_a_live_run_and_import_reads_them(
    llm_stub: StubServer,
    problems_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    requests = tmp_path / "requests.jsonl"
    argv = ["eval", "batch-export", "--problems", str(problems_file), "--model", "gpt-4o-mini"]
    assert optiwise(*argv, "-o", str(requests)) == 0
    assert "wrote 2 requests" in capsys.readouterr().out
    exported = {
        x["custom_id"].split(":", 1)[1]: x
        for x in map(json.loads, requests.read_text(encoding="utf-8").splitlines())
    }
    knap = exported["knap"]["body"]["messages"][-1]["content"]
    assert "## Data tables" in knap and "items.csv: 40 rows, 3 columns" in knap
    assert "i0,1,2" in knap  # the first rows are shown ...
    assert "i39," not in knap  # ... never the whole table
    assert "## Data tables" not in exported["plain"]["body"]["messages"][-1]["content"]

    # A live run of the same problems sends exactly these first requests.
    llm_stub.handler = reply
    live = ["eval", "--problems", str(problems_file), "--model", "gpt-4o-mini", "--base-url"]
    live += [llm_stub.base_url, "--out", str(tmp_path / "live"), "--no-progress", "--json"]
    assert optiwise(*live, "--max-repairs", "0") == 0
    capsys.readouterr()
    sent = sorted((r.body for r in llm_stub.chat_requests), key=json.dumps)
    assert sent == sorted((x["body"] for x in exported.values()), key=json.dumps)

    # What the Batch API would return: each request sent (here to the stub), its reply kept.
    client = openai.OpenAI(base_url=llm_stub.base_url, api_key="test")
    out_lines = []
    for line in exported.values():
        completion = client.chat.completions.create(**line["body"])
        response = {"status_code": 200, "request_id": "r", "body": completion.model_dump()}
        out_lines.append(json.dumps({"custom_id": line["custom_id"], "response": response}))
    output = tmp_path / "output.jsonl"
    output.write_text("\n".join(out_lines) + "\n", encoding="utf-8")
    imp = ["eval", "batch-import", str(output), "--problems", str(problems_file)]
    imp += ["--model", "gpt-4o-mini", "--out", str(tmp_path / "runs"), "--no-progress", "--json"]
    assert optiwise(*imp) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    got = {
        r["id"]: r
        for r in map(
            json.loads, (Path(summary["run_dir"]) / "results.jsonl").read_text().splitlines()
        )
    }
    assert got["knap"]["status"] == "optimal"  # the imported document read items.csv
    assert got["knap"]["objective"] == pytest.approx(optimum())
    assert got["plain"]["objective"] == pytest.approx(4)


def test_a_problem_a_live_run_would_not_run_gets_no_request_and_the_live_outcome(
    llm_stub: StubServer, tmp_path: Path
) -> None:
    gone = Problem(
        id="gone",
        dataset="toy.t",
        question="Tables in data/S1.csv.",
        answer=Answer(kind="number", value=1.0, raw=1),
        metadata={"missing_data": "gone lists data/S1.csv but upstream ships none"},
    )
    moved = Problem(
        id="moved",
        dataset="toy.t",
        question="Tables in items.csv.",
        answer=Answer(kind="number", value=1.0, raw=1),
        data=str(tmp_path / "nowhere"),
    )
    dataset = Dataset(name="toy.t", family="toy", variant="t", problems=(gone, moved))
    agent = OptimizationAgent(llm=stub_model(llm_stub), max_repairs=0)
    lines = export_requests(dataset, tmp_path / "r.jsonl", agent)
    assert lines == [] and (tmp_path / "r.jsonl").read_text() == ""
    solver = BatchImportSolver(
        BatchOutput(replies={}, files=[], sha256="0" * 64), dataset="toy.t", model="m"
    )
    first = asyncio.run(solver.solve(gone))
    assert first["error_categories"] == ["missing_data"] and first["message"].startswith("not run")
    second = asyncio.run(solver.solve(moved))
    assert second["error_categories"] == ["data"] and "nowhere" in second["message"]
    assert llm_stub.chat_requests == []
