"""optiwise synth: a stopped live run resumes without redoing finished instances; --executor.

The LLM is the scripted FakeLLM of ``test_synth`` (in process) or the loopback stub
(through the real openai client, for the command line); solvers are real.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support import synth, synth_stub_reply

from agent import OptimizationAgent
from agent.context import AgentConfig
from agent.fake import FakeLLM
from agent.llm import ChatMessage
from evals.synth import Settings, load_seeds
from evals.synth.generators import Instance
from evals.synth.pipeline import PROGRESS, make_instances, read_progress, run_synthesis
from evals.tune.data import read_problem_file

SEEDS = ["transport_basic", "production_mix"]
TAG = re.compile(r"Case (\S+):")


@pytest.fixture(scope="module")
def instances() -> list[Instance]:
    seeds = load_seeds("samples", names=SEEDS)
    made, skipped = make_instances(seeds, 5, settings=Settings(complexity=1), global_seed=5)
    assert not skipped and len(made) == 5
    return made


def scripted(instances: list[Instance], latency: float = 0.0) -> FakeLLM:
    """Back-translation names the instance; the forward formulation is the instance's own."""
    by_id = {i.id: i for i in instances}

    def write(messages: list[ChatMessage]) -> str:
        name = re.search(r"name: (\S+)_synth_(\d+)", str(messages[-1]["content"]))
        assert name is not None
        instance_id = f"{name.group(1)}-{name.group(2)}"
        return json.dumps({"problem": f"Case {instance_id}: plan it as cheaply as you can."})

    def formulate(messages: list[ChatMessage]) -> str:
        tag = TAG.search(str(messages[-1]["content"]))
        assert tag is not None
        return json.dumps(by_id[tag.group(1)].formulation)

    return FakeLLM(
        rules=[("Write the word problem for this model", write), (TAG, formulate)],
        latency=latency,
    )


def backtranslated_ids(llm: FakeLLM) -> list[str]:
    out = []
    for call in llm.calls:
        found = re.search(r"name: (\S+)_synth_(\d+)", call.last_user)
        if found and "Write the word problem" in call.last_user:
            out.append(f"{found.group(1)}-{found.group(2)}")
    return out


def run(instances: list[Instance], out: Path, llm: FakeLLM, **kwargs: Any) -> Any:
    # solves in process: this file is about the journal, not about solve isolation
    config = AgentConfig(max_repairs=0, time_limit=20, examples=0, solve_in_process=True)
    agent = OptimizationAgent(llm=llm, config=config)
    return run_synthesis(
        instances,
        out,
        settings=Settings(complexity=1),
        model="fake-llm",
        llm=llm,
        agent=agent,
        concurrency=1,
        **kwargs,
    )


def test_a_run_stopped_after_k_instances_resumes_without_redoing_them(
    tmp_path: Path, instances: list[Instance]
) -> None:
    out = tmp_path / "out"
    first = scripted(instances, latency=0.05)

    async def stop_after(k: int) -> None:
        task = asyncio.ensure_future(run(instances, out, first))
        while len(read_progress(out)) < k:
            await asyncio.sleep(0.01)
            assert not task.done(), "the run finished before it could be stopped"
        task.cancel()  # what Ctrl-C does to `optiwise synth`
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(stop_after(2))
    done_before = set(read_progress(out))
    assert 2 <= len(done_before) < len(instances)
    assert not (out / "problems.jsonl").exists()  # the run never got to its end

    second = scripted(instances)
    report = asyncio.run(run(instances, out, second))
    # Only the unfinished instances were asked for again, and the output is whole.
    assert set(backtranslated_ids(second)) == {i.id for i in instances} - done_before
    assert report.resumed == len(done_before)
    assert (report.accepted, report.hard, report.errors) == (len(instances), 0, 0)
    problems = read_problem_file(out / "problems.jsonl")
    assert [p.id for p in problems] == [i.id for i in instances]
    labels = {i.id: i.objective for i in instances}
    assert all(p.answer.value == labels[p.id] for p in problems)

    # A finished run started again asks the LLM nothing; resume=False starts over.
    third = scripted(instances)
    again = asyncio.run(run(instances, out, third))
    assert third.calls == [] and again.accepted == len(instances)
    fresh = scripted(instances)
    asyncio.run(run(instances, out, fresh, resume=False))
    assert sorted(backtranslated_ids(fresh)) == sorted(i.id for i in instances)


def test_errors_are_tried_again_on_resume(tmp_path: Path, instances: list[Instance]) -> None:
    out = tmp_path / "out"
    broken = FakeLLM(rules=[("Write the word problem", lambda _m: "")])  # empty texts
    report = asyncio.run(run(instances[:2], out, broken))
    assert report.errors == 2 and (out / "errors.jsonl").exists()
    assert {v["kind"] for v in read_progress(out).values()} == {"error"}
    good = scripted(instances)
    report = asyncio.run(run(instances[:2], out, good))
    assert (report.accepted, report.errors, report.resumed) == (2, 0, 0)
    assert not (out / "errors.jsonl").exists()


def test_a_torn_last_journal_line_is_ignored(tmp_path: Path) -> None:
    out = tmp_path
    line = {"id": "a-0", "kind": "accepted", "record": {"id": "a-0", "question": "q"}}
    (out / PROGRESS).write_text(json.dumps(line) + '\n{"id": "a-1", "ki', encoding="utf-8")
    assert list(read_progress(out)) == ["a-0"]


@pytest.mark.slow  # starts a pool of worker processes (forkserver with the agent preloaded)
def test_cli_executor_process_then_a_rerun_resumes_and_other_options_are_refused(
    tmp_path: Path, llm_stub: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.handler = synth_stub_reply
    out = tmp_path / "out"
    argv = [
        "--seed-names",
        "transport_basic",
        "--n",
        "2",
        "--out",
        str(out),
        "--model",
        "gpt-4o-mini",
        "--base-url",
        llm_stub.base_url,
        "--no-dedup",
        "--max-repairs",
        "0",
        "--examples",
        "0",
    ]
    assert synth(*argv, "--executor", "process", "--workers", "1") == 0
    assert "2 accepted" in capsys.readouterr().out
    # back-translation and forward formulation per instance, both through this process
    assert len(llm_stub.requests) == 4
    problems = read_problem_file(out / "problems.jsonl")
    assert all(p.metadata["provenance"]["forward"]["accepted"] for p in problems)

    # The same command again: nothing is redone, nothing is sent.
    assert synth(*argv) == 0
    captured = capsys.readouterr()
    assert "resuming" in captured.err and "2 finished by an earlier run" in captured.out
    assert len(llm_stub.requests) == 4

    # Other options would mix two runs in one folder: refused, with the way out.
    assert synth(*argv, "--seed", "7") == 2
    assert "--fresh" in capsys.readouterr().err
