"""The agent as an eval solver, end to end: loopback stub, real openai client, run directory."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import stub_model

from agent import OptimizationAgent
from agent.stub_server import StubServer
from evals import cli
from evals.agent_solver import AgentSolver
from evals.loaders import Dataset
from evals.problems import Problem, normalize_answer
from evals.runner import execute, prepare_run, run_eval

SAMPLES = Path(__file__).resolve().parents[2] / "datasets" / "samples"
ALL = ("sirl", "optimind", "mamo", "orlm", "optmath")
LOOSE = {"sirl": False, "optimind": False, "mamo": False, "orlm": True, "optmath": True}


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def problem(name: str, pid: str | None = None, dataset: str = "toy.samples") -> Problem:
    data = sample(name)
    answer = data["answer"]
    label = answer["objective"] if answer["status"] == "optimal" else "infeasible"
    return Problem(
        id=pid or name,
        dataset=dataset,
        question=str(data["problem"]).strip(),
        answer=normalize_answer(label),
    )


def toy(names: list[str]) -> Dataset:
    problems = tuple(problem(n) for n in names)
    return Dataset(name="toy.samples", family="toy", variant="samples", problems=problems)


def right(name: str) -> str:
    return json.dumps(sample(name)["formulation"])


def off_by_3_percent(name: str) -> str:
    doc = sample(name)["formulation"]
    doc["objective"]["expression"] = f"1.03 * ({doc['objective']['expression']})"
    return json.dumps(doc)


def broken(name: str) -> str:
    """A document the checker rejects: the objective names a parameter that does not exist."""
    doc = sample(name)["formulation"]
    doc["objective"]["expression"] = "sum(no_such_parameter[p] for p in Products)"
    return json.dumps(doc)


def section(body: dict[str, Any]) -> tuple[str, str]:
    """``(node, text after '## Problem')`` of a request: formulate or repair."""
    text = str(body["messages"][-1]["content"])
    node = "repair" if "## Current document" in text else "formulate"
    return node, text.split("## Problem\n\n", 1)[1]


def handler(problems: list[Problem], script: dict[str, tuple[str, str]]) -> Any:
    """Stub handler: ``script[id] = (formulate reply, repair reply)`` by the request's problem."""

    def answer(body: dict[str, Any]) -> str:
        node, text = section(body)
        for p in problems:
            if text.startswith(p.question):
                first, repair = script[p.id]
                return first if node == "formulate" else repair
        return "no such problem"

    return answer


def lines(run_dir: Path) -> list[dict[str, Any]]:
    text = (run_dir / "results.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_right_wrong_and_broken_answers_are_scored_under_each_protocol(
    llm_stub: StubServer, tmp_path: Path
) -> None:
    names = [
        "production_mix",
        "transport_basic",
        "min_cost_flow",
        "inventory_planning",
        "infeasible_feed_blend",
    ]
    dataset = toy(names)
    prose = "I am sorry, I cannot write that as JSON."
    llm_stub.handler = handler(
        list(dataset.problems),
        {
            "production_mix": (right("production_mix"), "unused"),
            "transport_basic": (off_by_3_percent("transport_basic"), "unused"),
            "min_cost_flow": (prose, prose),
            "inventory_planning": (broken("inventory_planning"), right("inventory_planning")),
            # infeasible on purpose: the repair round keeps the document, so the verdict stands
            "infeasible_feed_blend": (right("infeasible_feed_blend"),) * 2,
        },
    )
    agent = OptimizationAgent(llm=stub_model(llm_stub), max_repairs=1)
    solver = AgentSolver(agent, trace_dir=tmp_path / "traces")
    summary = run_eval(
        dataset, solver, model_name="stub", out_dir=tmp_path, concurrency=3, progress=False
    )
    got = {r["id"]: r for r in lines(Path(summary.run_dir))}

    ok = got["production_mix"]
    assert (ok["status"], ok["objective"], ok["repair_rounds"]) == ("optimal", 8520, 0)
    assert ok["scores"] == ok["first_scores"] == dict.fromkeys(ALL, True)
    assert ok["prompt_tokens"] > 0 and ok["completion_tokens"] > 0 and ok["cost_usd"] > 0
    assert ok["formulation"]["name"] == "production_mix"
    assert (tmp_path / "traces" / f"{ok['trace_id']}.json").is_file()

    wrong = got["transport_basic"]
    assert wrong["status"] == "optimal" and wrong["objective"] == pytest.approx(2528 * 1.03)
    assert wrong["scores"] == LOOSE  # 3% off: only the rounded 5% rules accept it

    prose_line = got["min_cost_flow"]
    assert (prose_line["status"], prose_line["first_status"]) == ("invalid", "invalid")
    assert prose_line["repair_rounds"] == 1 and "parse" in prose_line["error_categories"]
    assert not any(prose_line["scores"].values())

    fixed = got["inventory_planning"]
    assert (fixed["first_status"], fixed["status"], fixed["repair_rounds"]) == (
        "invalid",
        "optimal",
        1,
    )
    assert fixed["scores"] == dict.fromkeys(ALL, True)
    assert fixed["first_scores"] == dict.fromkeys(ALL, False)

    infeasible = got["infeasible_feed_blend"]
    assert infeasible["status"] == "infeasible" and infeasible["scores"] == dict.fromkeys(ALL, True)

    sirl, orlm = summary.protocols["sirl"], summary.protocols["orlm"]
    assert (sirl.correct, sirl.first_correct, sirl.scored) == (3, 2, 5)
    assert (orlm.correct, orlm.first_correct) == (4, 3)
    assert summary.execution_rate == pytest.approx(4 / 5)
    assert summary.first_execution_rate == pytest.approx(3 / 5)
    assert summary.fixed_by_repair == 1
    # one request per problem, plus a repair each for prose, broken and infeasible
    assert len(llm_stub.chat_requests) == 8


def test_a_killed_run_restarts_with_every_id_exactly_once(tmp_path: Path) -> None:
    names = ["production_mix", "transport_basic", "min_cost_flow", "evacuation_max_flow"]
    problems = tuple(problem(names[i % 4], pid=f"p{i}") for i in range(10))
    dataset = Dataset(name="toy.samples", family="toy", variant="samples", problems=problems)
    script = {p.id: (right(names[i % 4]), "unused") for i, p in enumerate(problems)}
    run_dir = tmp_path / "toy" / "samples" / "stub" / "r"

    with StubServer(handler=handler(list(problems), script), latency=0.05) as stub:
        solver = AgentSolver(OptimizationAgent(llm=stub_model(stub), max_repairs=0))

        async def killed() -> None:
            plan = prepare_run(
                dataset, model_name="stub", out_dir=tmp_path, run_id="r", concurrency=2
            )
            task = asyncio.create_task(execute(plan, solver, progress=False))
            while not (run_dir / "results.jsonl").exists() or len(lines(run_dir)) < 3:
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(killed())
        first = [r["id"] for r in lines(run_dir)]
        assert 3 <= len(first) < 10
        sent = len(stub.chat_requests)
        summary = run_eval(
            dataset, solver, model_name="stub", out_dir=tmp_path, run_id="r", progress=False
        )
        # only the unfinished problems were asked again
        assert len(stub.chat_requests) - sent == 10 - len(first)
    ids = [r["id"] for r in lines(run_dir)]
    assert sorted(ids) == sorted(p.id for p in problems) and len(ids) == 10
    assert ids[: len(first)] == first
    assert summary.complete and summary.protocols["sirl"].correct == 10


# ------------------------------------------------------------------ command line

TOY_REGISTRY = """
[aliases.toy]
target = "toy.samples"
reason = "the test's dataset"

[[dataset]]
name = "toy.samples"
family = "toy"
variant = "samples"
title = "sample problems"
repo = "optiwise/tests"
commit = "0000000"
path = "toy.jsonl"
local_path = "toy/samples.jsonl"
format = "jsonl"
license = "MIT"
count = {count}
id_field = "id"

[[dataset]]
name = "toy.dev"
family = "toy"
variant = "dev"
title = "the dev split"
split = "dev"
repo = "optiwise/tests"
commit = "0000000"
path = "dev.jsonl"
local_path = "toy/dev.jsonl"
format = "jsonl"
license = "MIT"
count = 1
id_field = "id"
"""


def toy_registry(monkeypatch: pytest.MonkeyPatch, root: Path, names: list[str]) -> Path:
    """A registry with ``toy.samples`` (the named samples) and ``toy.dev``; the data dir."""
    data = root / "data"
    (data / "toy").mkdir(parents=True)
    records = [
        {"id": p.id, "en_question": p.question, "en_answer": p.answer.raw}
        for p in (problem(n) for n in names)
    ]
    text = "".join(json.dumps(r) + "\n" for r in records)
    (data / "toy" / "samples.jsonl").write_text(text, encoding="utf-8")
    (data / "toy" / "dev.jsonl").write_text(text.splitlines()[0] + "\n", encoding="utf-8")
    registry = root / "registry.toml"
    registry.write_text(TOY_REGISTRY.format(count=len(names)), encoding="utf-8")
    monkeypatch.setenv("OPTIWISE_REGISTRY", str(registry))
    return data


def optiwise(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def test_cli_json_summary_config_and_response_cache(
    llm_stub: StubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = ["production_mix", "transport_basic", "min_cost_flow"]
    data = toy_registry(monkeypatch, tmp_path, names)
    script = {
        "production_mix": (right("production_mix"), "unused"),
        "transport_basic": (off_by_3_percent("transport_basic"), "unused"),
        "min_cost_flow": (right("min_cost_flow"), "unused"),
    }
    llm_stub.handler = handler([problem(n) for n in names], script)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-do-not-store")
    common = ["eval", "--dataset", "toy", "--model", "gpt-4o-mini", "--base-url"]
    common += [llm_stub.base_url, "--data-dir", str(data), "--out", str(tmp_path / "runs")]
    common += ["--cache-dir", str(tmp_path / "cache"), "--max-repairs", "1", "--no-progress"]

    assert optiwise(*common, "--run-id", "first", "--json") == 0
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert summary["n"] == summary["n_done"] == 3 and summary["complete"]
    assert summary["accuracy"]["sirl"] == pytest.approx(2 / 3)
    assert summary["accuracy"]["orlm"] == 1.0
    assert summary["first_attempt_accuracy"]["sirl"] == pytest.approx(2 / 3)
    assert summary["execution_rate"] == 1.0 and summary["tokens"] > 0
    assert summary["cost_usd"] > 0
    run_dir = Path(summary["run_dir"])
    assert run_dir == tmp_path / "runs" / "toy" / "samples" / "gpt-4o-mini" / "first"
    config_text = (run_dir / "config.json").read_text(encoding="utf-8")
    assert "sk-secret" not in config_text
    agent_config = json.loads(config_text)["agent"]
    assert agent_config["model"] == "gpt-4o-mini"
    assert agent_config["base_url"] == llm_stub.base_url
    assert (agent_config["strategy"], agent_config["samples"]) == ("formulation", 1)
    assert agent_config["max_repairs"] == 1 and len(agent_config["prompts_digest"]) == 64
    assert agent_config["cache_dir"] == str(tmp_path / "cache")
    assert len(list((run_dir / "traces").glob("*.json"))) == 3

    # The same requests again, in a new run: every reply comes from the cache.
    sent = len(llm_stub.chat_requests)
    assert optiwise(*common, "--run-id", "second", "--json") == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(llm_stub.chat_requests) == sent
    assert again["accuracy"] == summary["accuracy"] and again["tokens"] == 0

    # Resuming the finished run skips everything (and checks the recorded configuration).
    assert optiwise(*common, "--run-id", "first", "--json") == 0
    resumed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert resumed["accuracy"] == summary["accuracy"] and len(llm_stub.chat_requests) == sent

    # Resuming with another repair budget would mix two configurations in one run.
    assert optiwise(*common[:-3], "--max-repairs", "2", "--run-id", "first") == 1
    assert "max_repairs" in capsys.readouterr().err


def test_cli_without_an_endpoint_exits_2_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = toy_registry(monkeypatch, tmp_path, ["production_mix"])
    code = optiwise("eval", "--dataset", "toy", "--model", "m", "--data-dir", str(data))
    assert code == 2
    err = capsys.readouterr().err
    assert "no LLM endpoint" in err and "OPENAI_API_KEY" in err and "--base-url" in err
    assert not (Path.cwd() / "runs" / "toy").exists()


def test_split_picks_the_familys_variant_of_that_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = toy_registry(monkeypatch, tmp_path, ["production_mix", "transport_basic"])
    out = tmp_path / "requests.jsonl"
    argv = ["eval", "batch-export", "--dataset", "toy", "--data-dir", str(data)]
    assert optiwise(*argv, "--split", "dev", "--model", "m", "-o", str(out)) == 0
    assert [json.loads(x)["custom_id"] for x in out.read_text().splitlines()] == [
        "toy.dev:production_mix"
    ]
    assert optiwise(*argv, "--split", "validation", "--model", "m", "-o", str(out)) == 2
    assert "no validation split" in capsys.readouterr().err


def test_first_attempt_of_a_vote_is_the_vote_of_the_first_attempts() -> None:
    from agent import FakeLLM
    from evals.agent_solver import outcome_from_result

    # Two samples are broken and repaired to the right value; one is 3% off from the start.
    fake = FakeLLM(
        [broken("production_mix"), broken("production_mix"), off_by_3_percent("production_mix")],
        rules=[("## Current document", right("production_mix"))],
    )
    agent = OptimizationAgent(llm=fake, samples=3, max_repairs=1)
    result = agent.solve(problem("production_mix").question)
    outcome = outcome_from_result(result)
    assert (outcome["status"], outcome["objective"]) == ("optimal", 8520)
    assert outcome["repair_rounds"] == 1
    # Without repair rounds only the 3%-off sample had an answer, so the vote was that one.
    assert outcome["first_status"] == "optimal"
    assert outcome["first_objective"] == pytest.approx(8520 * 1.03)


def test_cli_eval_sends_a_tuned_prompt_set_and_leaves_the_hints_out(
    llm_stub: StubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = ["transport_basic"]
    data = toy_registry(monkeypatch, tmp_path, names)
    llm_stub.handler = handler(
        [problem(n) for n in names], {"transport_basic": (right("transport_basic"), "unused")}
    )
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "formulate.md").write_text(
        "TUNED: state units.\n\n$examples\n\n## Problem\n\n$problem\n", encoding="utf-8"
    )
    argv = ["eval", "--dataset", "toy", "--model", "gpt-4o-mini", "--base-url", llm_stub.base_url]
    argv += ["--data-dir", str(data), "--out", str(tmp_path / "runs"), "--no-progress"]
    argv += ["--prompts", str(prompts), "--no-hints", "--json"]

    assert optiwise(*argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["accuracy"]["sirl"] == 1.0
    sent = llm_stub.chat_requests[0].body["messages"][-1]["content"]
    assert sent.startswith("TUNED: state units.")
    assert "Modeling hints" not in sent
    # ... which the default would have sent for this problem:
    from agent.hints import pick_class, render_hints

    assert "Modeling hints" in render_hints(pick_class(problem("transport_basic").question))


def test_cli_eval_uses_a_tuned_repair_hook_and_resumes_with_the_same_prompt_folder(
    llm_stub: StubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = ["transport_basic"]
    data = toy_registry(monkeypatch, tmp_path, names)
    llm_stub.handler = handler(
        [problem(n) for n in names],
        {"transport_basic": (broken("transport_basic"), right("transport_basic"))},
    )
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "formulate.md").write_text(
        "TUNED.\n\n$examples\n\n## Problem\n\n$problem\n", encoding="utf-8"
    )
    (prompts / "repair_feedback.py").write_text(
        "def repair_feedback(findings):\n"
        "    return 'TUNED HOOK: ' + ' | '.join(f['location'] for f in findings)\n",
        encoding="utf-8",
    )
    argv = ["eval", "--dataset", "toy", "--model", "gpt-4o-mini", "--base-url", llm_stub.base_url]
    argv += ["--data-dir", str(data), "--out", str(tmp_path / "runs"), "--no-progress"]
    argv += ["--prompts", str(prompts), "--run-id", "r1", "--json"]

    assert optiwise(*argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["accuracy"]["sirl"] == 1.0
    repair = str(llm_stub.chat_requests[1].body["messages"][-1]["content"])
    assert "TUNED HOOK: objective.expression" in repair
    # the run's identity is the tuned prompt set's: the same command resumes (nothing to do)
    sent = len(llm_stub.chat_requests)
    assert optiwise(*argv) == 0
    assert len(llm_stub.chat_requests) == sent
