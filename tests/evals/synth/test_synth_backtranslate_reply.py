"""optiwise synth: a back-translation reply that is not the requested JSON is an error, never a question.

A refusal, chatter or a truncated object used to become a labelled "hard" problem
(QA F17). The LLM is the scripted FakeLLM; solvers are real.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent import OptimizationAgent
from agent.context import AgentConfig
from agent.errors import ParseError
from agent.fake import FakeLLM
from agent.llm import ChatMessage
from evals.synth import Settings, load_seeds
from evals.synth.backtranslate import backtranslate, problem_text
from evals.synth.generators import Instance
from evals.synth.pipeline import import_batch_texts, make_instances, read_progress, run_synthesis

REFUSAL = "(stub server) I only answer formulate, repair, edit, review and explain."


@pytest.fixture(scope="module")
def instances() -> list[Instance]:
    seeds = load_seeds("samples", names=["production_mix"])
    made, skipped = make_instances(seeds, 2, settings=Settings(complexity=1), global_seed=3)
    assert not skipped and len(made) == 2
    return made


@pytest.mark.parametrize(
    "reply",
    [
        REFUSAL,
        '{"problem": "A farm grows wheat',
        '{"text": "A farm grows wheat."}',
        '{"problem": " "}',
    ],
)
def test_a_reply_without_the_json_problem_field_is_refused(reply: str) -> None:
    with pytest.raises(ParseError) as err:
        problem_text(reply)
    assert "back-translation reply" in err.value.reason


def test_the_json_problem_field_is_taken() -> None:
    reply = 'Sure:\n```json\n{"problem": "A farm grows wheat. "}\n```'
    assert problem_text(reply) == "A farm grows wheat."


def test_one_follow_up_is_asked_and_a_good_second_reply_is_used(
    instances: list[Instance],
) -> None:
    replies = iter([REFUSAL, json.dumps({"problem": "A bakery plans its week."})])
    llm = FakeLLM(rules=[("", lambda _m: next(replies))])
    assert asyncio.run(backtranslate(llm, instances[0])) == "A bakery plans its week."
    assert len(llm.calls) == 2 and "not what was asked for" in llm.calls[1].last_user


def test_a_refusing_model_yields_errors_not_hard_problems(
    tmp_path: Path, instances: list[Instance]
) -> None:
    def refuse(_messages: list[ChatMessage]) -> str:
        return REFUSAL

    llm = FakeLLM(rules=[("", refuse)])
    config = AgentConfig(max_repairs=0, time_limit=20, examples=0, solve_in_process=True)
    report = asyncio.run(
        run_synthesis(
            instances,
            tmp_path,
            settings=Settings(complexity=1),
            model="fake-llm",
            llm=llm,
            agent=OptimizationAgent(llm=llm, config=config),
            concurrency=1,
        )
    )
    assert (report.accepted, report.hard, report.dropped, report.errors) == (0, 0, 0, 2)
    assert (tmp_path / "hard.jsonl").read_text() == ""
    errors = [json.loads(x) for x in (tmp_path / "errors.jsonl").read_text().splitlines()]
    assert all("not the JSON object asked for" in e["error"] for e in errors)
    assert {v["kind"] for v in read_progress(tmp_path).values()} == {"error"}  # redone on resume
    # back-translation and its one follow-up per instance; the agent was never asked
    assert len(llm.calls) == 4


def test_a_batch_reply_without_the_json_is_an_import_error(tmp_path: Path) -> None:
    body = {"choices": [{"message": {"content": REFUSAL}, "finish_reason": "stop"}]}
    good = {"choices": [{"message": {"content": '{"problem": "P"}'}, "finish_reason": "stop"}]}
    lines = [
        {"custom_id": "synth:a-0", "response": {"status_code": 200, "body": body}},
        {"custom_id": "synth:a-1", "response": {"status_code": 200, "body": good}},
    ]
    path = tmp_path / "out.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    texts, errors = import_batch_texts(path)
    assert texts == {"a-1": "P"}
    assert list(errors) == ["a-0"] and "not the JSON object" in errors["a-0"]
