"""optiwise tune end to end with scripted task and optimizer LLMs (no endpoint, real solver).

The scripted task model answers a problem right only when the formulate
prompt carries MAGIC, an instruction the scripted optimizer proposes after it
has seen WRONG feedback. So the validation score can only rise if the
feedback reached the optimizer and its proposal reached the agent.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from spec_example import TRANSPORT, TRANSPORT_OPTIMUM

from agent import FakeLLM, OptimizationAgent
from agent.llm import ChatMessage
from agent.prompts import PromptSet
from evals.problems import normalize_answer
from evals.tune import (
    Budget,
    BudgetedChatModel,
    BudgetExceeded,
    TuneConfig,
    Tuner,
    estimate,
    make_splits,
    problem_feedback,
    read_problem_file,
)
from evals.tune import cli as tune_cli

MAGIC = "Read every demand figure twice before writing the constraints."
WRONG = copy.deepcopy(TRANSPORT)
WRONG["parameters"]["demand"]["values"]["new_york"] = 300  # a misread number: feasible, wrong


def task_reply(messages: list[ChatMessage]) -> str:
    right = any(MAGIC in str(m["content"]) for m in messages)
    return json.dumps(TRANSPORT if right else WRONG)


def optimizer_reply(messages: list[ChatMessage]) -> str:
    text = str(messages[-1]["content"])
    if "WRONG" not in text:
        return "TERMINATE"
    new = PromptSet.default()["formulate"].rstrip() + "\n\n" + MAGIC + "\n"
    variables = re.findall(r"\(str\) (formulate\d+)[=:]", text)
    if variables:  # OptoPrime or OPRO
        return json.dumps(
            {"reasoning": "numbers were misread", "answer": "", "suggestion": {variables[0]: new}}
        )
    return f"```\n{new}\n```"  # GEPA's reflection asks for the new text in a fence


def write_problems(path: Path, n: int = 8) -> Path:
    lines = [
        json.dumps(
            {
                "id": f"t{i}",
                "question": f"Transport case {i}: ship from Seattle and San Diego to three "
                "markets at least cost; supplies 350 and 600, demands 325, 300, 275.",
                "answer": TRANSPORT_OPTIMUM,
            }
        )
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def splits(tmp_path: Path) -> Any:
    problems = read_problem_file(write_problems(tmp_path / "problems.jsonl"))
    return make_splits(problems, train=3, val=2, test=1, seed=1)


def tuner(out: Path, splits: Any, optimizer: str = "optoprime", **config: Any) -> Tuner:
    components = ("formulate",) if optimizer == "gepa" else ("formulate", "repair")
    return Tuner(
        TuneConfig(out=out, optimizer=optimizer, components=components, examples=0, **config),  # type: ignore[arg-type]
        splits,
        task_llm=FakeLLM(rules=[(lambda _t: True, task_reply)], model="gpt-4o-mini"),
        optimizer_llm=FakeLLM(rules=[(lambda _t: True, optimizer_reply)], model="gpt-4.1"),
    )


# slow: each optimizer's run solves ~12 problem runs with the real solver (a few seconds each
# run on a loaded 2-core box); this is the end-to-end check for every optimizer.
@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["optoprime", "opro", "gepa"])
def test_tuning_raises_validation_and_the_prompts_load(
    tmp_path: Path, splits: Any, optimizer: str
) -> None:
    out = tmp_path / optimizer
    result = tuner(out, splits, optimizer, steps=2, minibatch=2).run()
    assert result.start_val == 0.0 and result.best_val == 1.0
    assert result.test_start == 0.0 and result.test_best == 1.0  # the split the search never saw
    assert MAGIC in result.best_prompts["formulate"]
    loaded = PromptSet.load(out / "prompts")
    assert MAGIC in loaded["formulate"] and "system" in loaded
    agent = OptimizationAgent(llm=FakeLLM(rules=[(lambda _t: True, task_reply)]), prompts=loaded)
    assert agent.solve(splits.test[0].question).objective == pytest.approx(TRANSPORT_OPTIMUM)
    report = (out / "report.md").read_text()
    assert (out / "scores.png").exists()
    assert "+" + MAGIC in report and "| 0 | 0.000 |" in report
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    accepted = [s for s in steps[1:] if s["accepted"]]
    assert steps[0]["kind"] == "baseline" and accepted
    assert accepted[0]["proposal"]["messages"]  # the optimizer's prompt is logged for replay


def test_optoprime_feedback_carries_the_wrong_answers(tmp_path: Path, splits: Any) -> None:
    t = tuner(tmp_path / "run", splits, steps=1, minibatch=2)
    t.run()
    step = json.loads((tmp_path / "run" / "steps.jsonl").read_text().splitlines()[1])
    prompt = step["proposal"]["messages"][1]["content"]
    assert "#Feedback" in prompt and "WRONG: status optimal" in prompt
    assert "the label is 1707.5" in prompt and "(str) formulate0=" in prompt


@pytest.mark.slow  # two tuning runs, one of them resumed (real solver per problem run)
def test_a_killed_run_resumes_to_the_same_result(tmp_path: Path, splits: Any) -> None:
    full = tuner(tmp_path / "full", splits, steps=3, minibatch=2).run()
    first = tuner(tmp_path / "resumed", splits, steps=1, minibatch=2).run()
    assert first.resumed_from == 0
    again = tuner(tmp_path / "resumed", splits, steps=3, minibatch=2).run()
    assert again.resumed_from == 1
    assert again.best_prompts == full.best_prompts and again.history == full.history


def test_call_budget_stops_with_best_prompts_written(tmp_path: Path, splits: Any) -> None:
    out = tmp_path / "budget"
    # baseline on 2 validation problems + a 2-problem minibatch = 4 calls; the 5th is refused
    result = tuner(out, splits, steps=3, minibatch=2, budget_calls=4).run()
    assert result.stopped.startswith("budget")
    assert sum(result.calls.values()) == 4
    assert PromptSet.load(out / "prompts")["formulate"] == PromptSet.default()["formulate"]
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 0 and state["best_val"] == 0.0


def test_budget_refuses_calls_over_the_limit() -> None:
    budget = Budget(max_calls=1)
    chat = BudgetedChatModel(FakeLLM(["a", "b"]), budget, "task")
    assert chat.complete([{"role": "user", "content": "x"}]).content == "a"
    with pytest.raises(BudgetExceeded, match="1 calls"):
        chat.complete([{"role": "user", "content": "y"}])
    assert budget.exhausted and budget.total_calls == 1


def test_splits_are_disjoint_deduplicated_and_keep_test_sets_out(tmp_path: Path) -> None:
    problems = read_problem_file(write_problems(tmp_path / "p.jsonl", 10))
    duplicate = problems[0].model_copy(update={"id": "dup"})
    from evals.tune.data import text_fingerprint

    leaked = {text_fingerprint(problems[1].question)}
    splits = make_splits([*problems, duplicate], train=4, val=3, seed=0, holdout=leaked)
    assert splits.duplicates == ["dup"] and splits.leaked == [problems[1].id]
    search = {p.id for p in splits.train + splits.val}
    assert problems[1].id not in search and problems[1].id in {p.id for p in splits.test}
    assert not search & {p.id for p in splits.test}
    with pytest.raises(ValueError, match="only 9 are usable"):
        make_splits(problems, train=8, val=3, holdout=leaked)


def test_feedback_names_typed_errors_with_locations() -> None:
    broken = copy.deepcopy(TRANSPORT)
    broken["objective"]["expression"] = (
        "sum(price[p, m] * ship[p, m] for p in Plants for m in Markets)"
    )
    llm = FakeLLM(rules=[(lambda _t: True, lambda _m: json.dumps(broken))])
    result = OptimizationAgent(llm=llm, max_repairs=1).solve("ship goods")
    problem = read_problem_file_from_records(
        [{"id": "x", "question": "ship goods", "answer": 1707.5}]
    )
    fb = problem_feedback(problem, result)
    assert fb.correct is False and "WRONG" in fb.text
    assert "at objective" in fb.text and "price" in fb.text
    assert "1 repair round(s)" in fb.text


def read_problem_file_from_records(records: list[dict[str, Any]]) -> Any:
    from evals.problems import Problem

    r = records[0]
    return Problem(
        id=r["id"], dataset="mine", question=r["question"], answer=normalize_answer(r["answer"])
    )


def test_estimate_projects_calls_and_cost_before_any_call(splits: Any, tmp_path: Path) -> None:
    config = TuneConfig(out=tmp_path, steps=4, minibatch=2, max_repairs=1)
    projection = estimate(config, splits, None, "gpt-4o-mini", "gpt-4.1")
    assert projection["problem_runs"] == 2 + 4 * (2 + 2) + 2 * len(splits.test)
    assert projection["optimizer_calls"] == 4
    low, high = projection["task_usd"]
    assert 0 < low < high and projection["optimizer_usd"] > 0


def test_cli_estimate_needs_no_endpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    tune_cli.register(parser.add_subparsers())
    problems = write_problems(tmp_path / "p.jsonl")
    args = parser.parse_args(
        [
            "tune",
            "--problems",
            str(problems),
            "--train-split",
            "3",
            "--val-split",
            "2",
            "--no-holdout-check",
            "--estimate",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "3 train, 2 validation, 3 test" in out and "problem runs: " in out
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # PROMST's tree search runs several agent episodes per candidate
def test_promst_dispatch_writes_a_loadable_prompt_set(tmp_path: Path, splits: Any) -> None:
    from agent.promst.scripted import ScriptedOptimizer
    from evals.tune.runner import run_promst

    out = tmp_path / "promst"
    config = TuneConfig(
        out=out, optimizer="promst", components=("formulate",), examples=0, budget_calls=30
    )
    report = run_promst(
        config,
        splits,
        task_llm=FakeLLM(rules=[(lambda _t: True, task_reply)]),
        optimizer_llm=FakeLLM(rules=[(lambda _t: True, ScriptedOptimizer())]),
    )
    assert "formulate" in PromptSet.load(out / "prompts")
    assert report["prompt"] == "formulate" and (out / "report.json").exists()


def answer_batch(requests: Path) -> Path:
    """A Batch API output file answering ``requests`` with the scripted task model."""
    lines = []
    for line in requests.read_text().splitlines():
        request = json.loads(line)
        content = task_reply(request["body"]["messages"])
        body = {
            "model": "gpt-4o-mini",
            "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 300},
        }
        lines.append(
            {"custom_id": request["custom_id"], "response": {"status_code": 200, "body": body}}
        )
    output = requests.with_name(requests.name.replace("requests", "output"))
    output.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return output


@pytest.mark.slow  # several resumed runs, each solving the imported replies with the real solver
def test_batch_only_run_goes_through_exported_and_imported_batch_files(
    tmp_path: Path, splits: Any
) -> None:
    out = tmp_path / "batch"
    imports: list[Path] = []
    for _ in range(12):
        t = tuner(out, splits, steps=2, minibatch=2, batch_only=True, max_repairs=0)
        if imports:
            t.import_batch(imports)
        result = t.run()
        if not result.stopped.startswith("batch"):
            break
        pending = Path(re.search(r"written to (\S+\.jsonl)", result.stopped).group(1))  # type: ignore[union-attr]
        assert json.loads(pending.read_text().splitlines()[0])["url"] == "/v1/chat/completions"
        imports.append(answer_batch(pending))
    assert result.stopped == "finished" and len(imports) >= 3
    assert result.best_val == 1.0 and result.test_best == 1.0
    assert result.calls["task"] == 0  # every task request went through a batch file


def test_synthetic_set_is_seeded_and_its_labels_are_the_optima() -> None:
    from evals.tune.synthetic import synthetic_problems

    problems = synthetic_problems(3, seed=4)
    assert [p.question for p in problems] == [p.question for p in synthetic_problems(3, seed=4)]
    for problem in problems:
        doc = problem.metadata["reference_formulation"]
        llm = FakeLLM(rules=[(lambda _t: True, lambda _m, d=doc: json.dumps(d))])
        result = OptimizationAgent(llm=llm, examples=0).solve(problem.question)
        assert problem_feedback(problem, result).correct is True


@pytest.mark.slow  # a tuning run with few-shot retrieval over the packaged samples (~10 s loaded)
def test_the_pool_of_worked_examples_is_trainable(tmp_path: Path, splits: Any) -> None:
    from agent.examples import examples

    pool = [e.id for e in examples() if e.id != "transport_basic"]
    key = next(e for e in examples() if e.id == "transport_basic").problem[:80]

    def task(messages: list[ChatMessage]) -> str:  # right only with the transport example shown
        return json.dumps(TRANSPORT if key in str(messages[-1]["content"]) else WRONG)

    def optimizer(messages: list[ChatMessage]) -> str:
        text = str(messages[-1]["content"])
        if "WRONG" not in text or "(list) examples0=" not in text:
            return "TERMINATE"
        return json.dumps(
            {
                "reasoning": "add a shipping example",
                "answer": "",
                "suggestion": {"examples0": [*pool, "transport_basic"]},
            }
        )

    out = tmp_path / "pool"
    config = TuneConfig(
        out=out,
        components=("examples",),
        examples=1,
        steps=1,
        minibatch=2,
        start_examples=tuple(pool),
    )
    result = Tuner(
        config,
        splits,
        task_llm=FakeLLM(rules=[(lambda _t: True, task)]),
        optimizer_llm=FakeLLM(rules=[(lambda _t: True, optimizer)]),
    ).run()
    assert result.start_val == 0.0 and result.best_val == 1.0
    assert "transport_basic" in json.loads(result.best_prompts["examples"])
    assert (out / "examples" / "transport_basic.yaml").exists()
    tuned = OptimizationAgent(
        llm=FakeLLM(rules=[(lambda _t: True, task)]), examples=1, examples_dir=out / "examples"
    )
    assert tuned.solve(splits.test[0].question).objective == pytest.approx(TRANSPORT_OPTIMUM)
