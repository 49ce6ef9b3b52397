"""optiwise tune with the code hook as a parameter: the optimizer rewrites ``repair_feedback``
(the function writing the repair message's error list), the agent runs the tuned function
sandboxed, and the repair message the task LLM reads changes.

The scripted task model always writes a formulation with an undeclared name first, and
repairs it only when the repair message tags each finding with its code (``[undefined]``),
which the default formatting does not do. So the validation score can only rise if the
optimizer's code reached the agent's repair node.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from spec_example import TRANSPORT, TRANSPORT_OPTIMUM

from agent import FakeLLM
from agent.feedback import DEFAULT_SOURCE
from agent.llm import ChatMessage
from evals.tune import TuneConfig, Tuner, make_splits, read_problem_file

BROKEN = copy.deepcopy(TRANSPORT)
BROKEN["objective"]["expression"] += " + bogus_rate"

TUNED = '''def repair_feedback(findings):
    """Tag each finding with its code so the model can look the error kind up."""
    return "\\n".join(
        f"[{f.get('code')}] {f.get('location')}: {f.get('message')}" for f in findings
    )
'''
RAISING = "def repair_feedback(findings):\n    return findings[99]\n"


def task_reply(messages: list[ChatMessage]) -> str:
    text = str(messages[-1]["content"])
    if "## Findings" in text and "[undefined]" in text:
        return json.dumps(TRANSPORT)
    return json.dumps(BROKEN)


def optimizer_for(source: str) -> Any:
    def reply(messages: list[ChatMessage]) -> str:
        text = str(messages[-1]["content"])
        names = re.findall(r"\(code\) (repair_feedback\d+):", text)
        if "WRONG" not in text or not names:
            return "TERMINATE"
        return json.dumps({"reasoning": "tag the codes", "suggestion": {names[0]: source}})

    return reply


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("splits") / "problems.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": f"t{i}",
                    "question": f"Transport case {i}: ship from Seattle and San Diego to three "
                    "markets at least cost; supplies 350 and 600, demands 325, 300, 275.",
                    "answer": TRANSPORT_OPTIMUM,
                }
            )
            for i in range(6)
        )
        + "\n"
    )
    return make_splits(read_problem_file(path), train=2, val=2, test=1, seed=1)


def run(out: Path, splits: Any, source: str, **options: Any) -> tuple[Any, FakeLLM]:
    task = FakeLLM(rules=[(lambda _t: True, task_reply)], model="gpt-4o-mini")
    tuner = Tuner(
        TuneConfig(
            out=out,
            optimizer="optoprime",
            components=("repair_feedback",),
            steps=1,
            minibatch=2,
            examples=0,
            max_repairs=1,
            **options,
        ),
        splits,
        task_llm=task,
        optimizer_llm=FakeLLM(rules=[(lambda _t: True, optimizer_for(source))], model="gpt-4.1"),
    )
    return tuner.run(), task


def repair_messages(llm: FakeLLM) -> list[str]:
    return [
        str(c.messages[-1]["content"])
        for c in llm.calls
        if "## Findings" in str(c.messages[-1]["content"])
    ]


@pytest.fixture(scope="module")
def tuned_locally(tmp_path_factory: pytest.TempPathFactory, splits: Any) -> Any:
    """The local run with the TUNED hook, its task model and its folder: read by two tests."""
    out = tmp_path_factory.mktemp("tuned") / "run"
    result, task = run(out, splits, TUNED)
    return result, task, out


# slow: ~3 s of tuning (10 agent runs with the real solver), after the solver worker's start,
# which takes up to 20 s on a loaded 2-core box when this test runs first.
@pytest.mark.slow
def test_a_tuned_hook_changes_the_repair_message_and_fixes_the_answers(tuned_locally: Any) -> None:
    result, task, out = tuned_locally
    assert result.start_val == 0.0 and result.best_val == 1.0
    assert result.test_start == 0.0 and result.test_best == 1.0
    assert result.best_prompts["repair_feedback"] == TUNED
    messages = repair_messages(task)
    # the baseline's repair messages have the built-in format, the tuned ones the new one
    assert "objective.expression: unknown name 'bogus_rate'" in messages[0]
    assert "[undefined]" not in messages[0]
    assert any("[undefined] objective.expression: unknown name 'bogus_rate'" in m for m in messages)
    assert (out / "prompts" / "repair_feedback.py").read_text() == TUNED
    step = json.loads((out / "steps.jsonl").read_text().splitlines()[1])
    prompt = step["proposal"]["messages"][1]["content"]
    assert "(code) repair_feedback0:" + DEFAULT_SOURCE.split("\n")[0] in prompt
    report = (out / "report.md").read_text()
    assert "repair_feedback.py (tuned)" in report and "+        f\"[{f.get('code')}]" in report


def test_a_proposed_hook_that_fails_in_the_sandbox_is_not_used(tmp_path: Path, splits: Any) -> None:
    out = tmp_path / "bad"
    result, _task = run(out, splits, RAISING)
    assert result.best_prompts["repair_feedback"] == DEFAULT_SOURCE
    step = json.loads((out / "steps.jsonl").read_text().splitlines()[1])
    assert not step["accepted"]
    assert any("IndexError" in e and "not used" in e for e in step["proposal"]["errors"])


# slow: starts a pool of two worker processes (forkserver, agent preloaded): ~10-20 s on a
# loaded 2-core box, then the same ~3 s of tuning as the local run (shared with the test above).
@pytest.mark.slow
def test_the_process_executor_gives_the_local_result_with_the_hook_run_in_workers(
    tmp_path: Path, splits: Any, tuned_locally: Any
) -> None:
    local = tuned_locally[0]
    pooled, task = run(tmp_path / "process", splits, TUNED, executor="process", workers=2)
    assert (pooled.start_val, pooled.best_val) == (local.start_val, local.best_val) == (0.0, 1.0)
    assert pooled.history == local.history
    assert (pooled.test_start, pooled.test_best) == (0.0, 1.0)
    # the workers' LLM calls came back to the parent's model, with the tuned hook's message
    assert any("[undefined] objective.expression" in m for m in repair_messages(task))
