"""Fixes from the 2026-12-03 QA pass of ``optiwise eval`` (findings F8–F13, F21).

- An instance whose tables upstream does not ship (MIPLIB-NL's ex1010-pi) is flagged,
  not run (no LLM call, a message saying why), and never aborts a batch export.
- A failed first ``batch-export`` leaves nothing behind: the run id can be started again.
- A problems file's ``data`` field is the problem's data folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agent.api import OptimizationAgent
from agent.fake import FakeLLM
from agent.stub_server import StubServer
from evals import cli
from evals.agent_solver import AgentSolver
from evals.loaders import read_miplib_nl
from evals.problem_file import ProblemFileError, load_problem_file


def optiwise(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def _instance(root: Path, name: str, *, tables: bool) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    if tables:
        (folder / "data").mkdir()
        (folder / "data" / "S1.csv").write_text("a,b\n1,0\n", encoding="utf-8")
    instance = {
        "abstract_problem": "Select the fewest sets that cover every integer.",
        "parameters": {"I": 2},
        "files": {"files_1": {"path": "data/S1.csv", "description": "the sets"}},
        "optimal_value": 233,
    }
    (folder / "instance.json").write_text(json.dumps(instance), encoding="utf-8")


def test_an_instance_whose_tables_upstream_does_not_ship_is_flagged_and_not_run(
    tmp_path: Path,
) -> None:
    _instance(tmp_path, "ex1010-pi", tables=False)
    _instance(tmp_path, "whole", tables=True)
    gone, whole = sorted(read_miplib_nl(tmp_path), key=lambda p: p.id)
    # No data folder from any side (the legacy metadata key no longer points at a ghost).
    assert gone.data is None and gone.data_dir is None and "data_dir" not in gone.metadata
    assert gone.answer.flagged and gone.answer.value == 233.0
    assert "upstream MIPLIB-NL ships no such tables" in gone.answer.reason
    assert "data/S1.csv" in gone.missing_data
    assert not whole.answer.flagged and whole.missing_data == ""
    assert whole.data_dir == str(tmp_path / "whole" / "data")

    fake = FakeLLM([])
    outcome = asyncio.run(AgentSolver(OptimizationAgent(llm=fake, examples=0)).solve(gone))
    assert fake.calls == []  # every answer would be invented: nothing is asked
    assert outcome["status"] == "error" and outcome["error_categories"] == ["missing_data"]
    assert "upstream MIPLIB-NL ships no such tables" in outcome["message"]
    assert "fetch the dataset" not in outcome["message"]


def _line(pid: str, **extra: Any) -> str:
    return json.dumps({"id": pid, "question": f"Problem {pid}: maximise x.", "answer": 1, **extra})


def test_batch_export_skips_an_untabled_problem_and_a_failed_first_export_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reason = "ex1010-pi lists data/S1.csv but upstream ships no such tables"
    path = tmp_path / "set.jsonl"
    lines = [_line("a"), _line("gone", metadata={"missing_data": reason}), _line("b")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "runs"
    run_dir = out / "file" / "set" / "gpt-4o-mini" / "R"
    common = ["eval", "batch-export", "--problems", str(path), "--model", "gpt-4o-mini"]
    common += ["--run-id", "R", "--out", str(out)]

    # A first export that cannot write its file: refused, and no half-made run remains.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    assert optiwise(*common, "--output", str(blocker / "requests.jsonl")) == 1
    assert not run_dir.exists()

    # The same run id then starts normally; the untabled problem is not exported.
    assert optiwise(*common) == 0
    assert "for 2 pending problem(s)" in capsys.readouterr().out
    requests = (run_dir / "batch" / "requests-1.jsonl").read_text(encoding="utf-8")
    ids = [json.loads(x)["custom_id"] for x in requests.splitlines()]
    assert ids == ["file.set:a", "file.set:b"]
    rounds = json.loads((run_dir / "batch_rounds.json").read_text(encoding="utf-8"))
    finished = rounds["problems"]["gone"]["outcome"]
    assert finished["error_categories"] == ["missing_data"] and reason in finished["message"]


def test_a_problems_file_data_field_is_the_problems_data_folder(tmp_path: Path) -> None:
    (tmp_path / "tables" / "beas").mkdir(parents=True)
    path = tmp_path / "probs.jsonl"
    absolute = str(tmp_path / "tables" / "beas")
    path.write_text(
        "\n".join([_line("rel", data="tables/beas"), _line("abs", data=absolute), _line("none")])
        + "\n",
        encoding="utf-8",
    )
    rel, ab, none = load_problem_file(path).problems
    assert rel.data == rel.data_dir == absolute  # relative to the file, not the cwd
    assert ab.data == absolute and none.data is None

    path.write_text(_line("ok") + "\n" + _line("bad", data="tables/nope") + "\n", encoding="utf-8")
    with pytest.raises(ProblemFileError, match=r"probs\.jsonl:2: 'data' 'tables/nope' is not a"):
        load_problem_file(path)


def test_compare_over_a_glob_skips_and_names_folders_without_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from evals.problems import Problem, normalize_answer
    from evals.results import ResultWriter, build_result

    done, pending = tmp_path / "runs" / "done", tmp_path / "runs" / "pending"
    pending.mkdir(parents=True)  # a batch run before its first import: config, no results
    (pending / "config.json").write_text(json.dumps({"model": "stub"}), encoding="utf-8")
    problem = Problem(id="a", dataset="toy.v1", question="q", answer=normalize_answer(100.0))
    with ResultWriter(done / "results.jsonl") as writer:
        outcome = {"status": "optimal", "objective": 100.0}
        writer.write(build_result(problem, outcome, protocols=["sirl"], latency_s=0.1))
    (done / "config.json").write_text(
        json.dumps({"dataset": "toy.v1", "family": "toy", "model": "stub"}), encoding="utf-8"
    )
    table = tmp_path / "cmp.md"
    assert optiwise("eval", "compare", str(done), str(pending), "--out", str(table)) == 0
    assert "100.0% (1/1)" in table.read_text(encoding="utf-8")
    err = capsys.readouterr().err
    assert "skipped 1 folder(s) with no results.jsonl" in err and str(pending) in err
    assert optiwise("eval", "compare", str(pending)) == 1
    assert "none of the 1 folder(s) given is a run with results" in capsys.readouterr().err


SAMPLES = Path(__file__).resolve().parents[2] / "datasets" / "samples"


def _sample(name: str) -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def _output_line(custom_id: str, line_id: str | None, content: str | None) -> str:
    """A Batch output line: a completion, or (content None) an HTTP 500."""
    if content is None:
        response: dict[str, Any] = {"status_code": 500, "body": {"error": {"message": "boom"}}}
    else:
        body = {
            "model": "gpt-4o-mini",
            "choices": [{"message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 100},
        }
        response = {"status_code": 200, "request_id": f"req-{line_id}", "body": body}
    line: dict[str, Any] = {"custom_id": custom_id, "response": response, "error": None}
    if line_id is not None:
        line["id"] = line_id
    return json.dumps(line) + "\n"


def test_batch_import_is_idempotent_per_line_and_an_old_rounds_file_is_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["production_mix", "transport_basic"]
    path = tmp_path / "two.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": n,
                    "question": str(_sample(n)["problem"]).strip(),
                    "answer": _sample(n)["answer"]["objective"],
                }
            )
            + "\n"
            for n in names
        ),
        encoding="utf-8",
    )
    out = tmp_path / "runs"
    common = ["--run-id", "R", "--out", str(out)]
    start = ["eval", "batch-export", "--problems", str(path), "--model", "gpt-4o-mini"]
    assert optiwise(*start, *common, "--max-repairs", "1") == 0
    run_dir = out / "file" / "two" / "gpt-4o-mini" / "R"
    right = json.dumps(_sample("production_mix")["formulation"])
    first = tmp_path / "output-1.jsonl"
    first.write_text(
        _output_line("file.two:production_mix", "batch_req_1", right)
        + _output_line("file.two:transport_basic", "batch_req_2", None),
        encoding="utf-8",
    )
    assert optiwise("eval", "batch-import", *common, str(first)) == 0
    assert "exported again (1 of 3 tries)" in capsys.readouterr().err

    # The same file again (a script's retry): nothing applied, no try burnt, no new round.
    assert optiwise("eval", "batch-import", *common, str(first)) == 0
    err = capsys.readouterr().err
    assert "imported before" in err and "the round stays 2" in err and "tries" not in err
    rounds = json.loads((run_dir / "batch_rounds.json").read_text(encoding="utf-8"))
    assert rounds["imports"] == 1
    assert rounds["problems"]["transport_basic"]["failures"] == {"0:0": ["HTTP 500: boom"]}

    # Round 1's lines in another file (same line ids) and a copy without ids: stale.
    again = tmp_path / "copy.jsonl"
    again.write_text(
        _output_line("file.two:production_mix", "batch_req_1", right)
        + _output_line("file.two:production_mix", None, right),
        encoding="utf-8",
    )
    assert optiwise("eval", "batch-import", *common, str(again)) == 0
    err = capsys.readouterr().err
    assert "round 2: nothing applied" in err and "an older round's output?" in err
    assert json.loads((run_dir / "batch_rounds.json").read_text())["imports"] == 1

    assert optiwise("eval", "batch-export", *common) == 0
    assert "round 2: wrote 1 request(s)" in capsys.readouterr().out
    assert (run_dir / "batch" / "requests-2.jsonl").is_file()


def test_the_findings_table_counts_attempts_not_issues() -> None:
    from evals.problems import Problem, normalize_answer
    from evals.report import findings_table
    from evals.results import build_result

    def issue(column: str) -> dict[str, Any]:
        return {"code": "value", "severity": "error", "message": f"column {column} is text"}

    # One attempt with three located data issues, then a repaired attempt with one.
    attempts = [
        {"round": 0, "status": "invalid", "errors": [issue("a"), issue("b"), issue("c")]},
        {"round": 1, "status": "optimal", "objective": 90.0, "errors": [issue("d")]},
    ]
    problem = Problem(id="p", dataset="toy.v1", question="q", answer=normalize_answer(100.0))
    outcome = {"status": "optimal", "objective": 90.0, "attempts": attempts}
    result = build_result(problem, outcome, protocols=["sirl"], latency_s=0.1)
    assert len(result.finding_records()) == 4
    (row,) = findings_table([result], "sirl")
    assert (row.code, row.problems, row.fired) == ("value", 1, 2)


def test_a_timed_out_problem_keeps_the_tokens_of_the_calls_it_made(
    llm_stub: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.stub_server import Delay

    calls: list[int] = []
    prose = "I would rather explain in prose."  # not a document: a repair follows

    def slow_repair(body: dict[str, Any]) -> str | Delay:
        calls.append(1)
        # The repair call outlives the problem's --timeout (cut short when the stub closes).
        return Delay(30.0, prose) if len(calls) > 1 else prose

    llm_stub.handler = slow_repair
    path = tmp_path / "one.jsonl"
    path.write_text(_line("p") + "\n", encoding="utf-8")
    argv = ["eval", "--problems", str(path), "--model", "gpt-4o-mini"]
    argv += ["--base-url", llm_stub.base_url, "--out", str(tmp_path / "runs"), "--run-id", "T"]
    argv += ["--max-repairs", "1", "--timeout", "4", "--no-progress", "--no-preflight"]
    assert optiwise(*argv) == 0
    capsys.readouterr()
    run_dir = tmp_path / "runs" / "file" / "one" / "gpt-4o-mini" / "T"
    (line,) = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    result = json.loads(line)
    assert result["error_categories"] == ["timeout"], result
    assert len(calls) == 2, result
    assert result["prompt_tokens"] > 0 and result["completion_tokens"] > 0  # the first call's


def test_batch_export_help_lists_only_what_an_export_uses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        optiwise("eval", "batch-export", "--help")
    text = capsys.readouterr().out
    assert "--run-id" in text and "--max-repairs" in text and "--output" in text
    for unused in ("--base-url", "--concurrency", "--no-preflight", "--retry-errors", "--timeout"):
        assert unused not in text.replace("see --timeout", "")  # named once, as not the budget
