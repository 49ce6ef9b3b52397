"""optiwise's pipeline (formulate → check → solve → verify → repair) as a PROMST task: typed
errors and statuses become categories, and a scripted search fixes a weak formulate prompt."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from support import sample

from agent.fake import FakeLLM
from agent.llm import ChatMessage
from agent.prompts import PromptSet
from agent.promst import Budget, SearchConfig
from agent.promst.optiwise_task import OptiwiseTask, split_problems
from agent.promst.scripted import ScriptedOptimizer
from evals.problems import Problem, number

DECLARE = "Declare every name you use in an expression."
SENSE = "State the objective's sense exactly as the problem asks."
FIXES = {"modeling_error": DECLARE, "wrong_answer": SENSE}


def undefined_name(doc: dict[str, Any]) -> dict[str, Any]:
    doc["objective"]["expression"] += " + bogus_rate"
    return doc


def flipped_sense(doc: dict[str, Any]) -> dict[str, Any]:
    sense = doc["objective"]["sense"]
    doc["objective"]["sense"] = "minimize" if sense == "maximize" else "maximize"
    return doc


# sample -> (flaw the weak prompt causes, instruction that prevents it)
CASES = {
    "diet_planning": (undefined_name, DECLARE),
    "production_mix": (flipped_sense, SENSE),
    "transport_basic": (None, None),
    "crop_planning": (undefined_name, DECLARE),
    "alloy_blending": (None, None),
}


def problem(name: str) -> Problem:
    data = sample(name)
    return Problem(
        id=name,
        dataset="samples",
        question=data["problem"],
        answer=number(float(data["answer"]["objective"])),
    )


class ScriptedModeler:
    """Writes each sample's reference document, flawed unless the prompt prevents the flaw."""

    def __init__(self) -> None:
        self.docs = {name: (sample(name), flaw, fix) for name, (flaw, fix) in CASES.items()}

    def __call__(self, messages: list[ChatMessage]) -> str:
        text = "\n".join(str(m["content"]) for m in messages)
        for data, flaw, fix in self.docs.values():
            if data["problem"].strip() in text:
                doc = copy.deepcopy(data["formulation"])
                # only the formulate prompt (the one being tuned) can carry the fix
                prevented = fix is not None and fix in text and "Formulate the" in text
                if flaw is not None and not prevented:
                    doc = flaw(doc)
                return json.dumps(doc)
        raise AssertionError("unknown problem")


def task(**options: Any) -> OptiwiseTask:
    return OptiwiseTask(
        [problem("diet_planning"), problem("production_mix"), problem("transport_basic")],
        [problem("crop_planning"), problem("alloy_blending")],
        **options,
    )


def test_episodes_type_outcomes_from_errors_statuses_and_labels() -> None:
    t = task()
    llm = FakeLLM(rules=[(lambda _t: True, ScriptedModeler())])
    ev = t.evaluate(llm, t.start_prompt)
    by_id = {e.instance: e for e in ev.episodes}
    diet, mix, transport = by_id["diet_planning"], by_id["production_mix"], by_id["transport_basic"]
    assert transport.outcome == "success" and transport.score == 1.0 and transport.steps == 1
    assert diet.outcome == "modeling_error" and diet.error.kind == "undefined"
    assert "unknown name 'bogus_rate'" in diet.error.detail
    assert diet.rounds[0].errors[0].kind == "undefined" and diet.score == 0.0
    assert mix.outcome == "wrong_answer" and mix.score == 0.5
    assert mix.error.detail == "the objective is 700 but the label is 8520"
    assert ev.score == pytest.approx((0.0 + 0.5 + 1.0) / 3)

    feedback = {f.category: f for f in ev.feedback}
    modeling = feedback["modeling_error"]
    assert modeling.label == "Invalid formulation document"
    assert "Last 1 round(s):" in modeling.text and "bogus_rate" in modeling.text
    assert "objective.expression: unknown name 'bogus_rate'" in modeling.text
    assert "Wrong optimal value" in feedback["wrong_answer"].text
    assert "sense" in feedback["wrong_answer"].text  # the rule's corrective message


def test_a_candidate_that_drops_the_problem_placeholder_is_scored_zero_without_llm_calls() -> None:
    t = task()
    llm = FakeLLM()
    ev = t.evaluate(llm, "Formulate the problem as JSON.")
    assert ev.score == 0.0 and not llm.calls
    assert {e.outcome for e in ev.episodes} == {"broken_prompt"}
    assert "the prompt lost $problem" in ev.feedback[0].text


def test_tuning_fixes_the_weak_formulate_prompt_and_writes_a_loadable_prompt_set(
    tmp_path: Path,
) -> None:
    t = task()
    task_llm = FakeLLM(rules=[(lambda _t: True, ScriptedModeler())])
    opt_llm = FakeLLM(rules=[(lambda _t: True, ScriptedOptimizer(fixes=FIXES, seed=0))])
    result = t.tune(
        task_llm,
        opt_llm,
        SearchConfig(n_children=2, n_selected=1, max_depth=3),
        budget=Budget(calls=200),
    )
    assert result.search.start.score < 1.0 and result.search.best.score == 1.0
    assert DECLARE in result.prompts["formulate"] and SENSE in result.prompts["formulate"]
    assert "$problem" in result.prompts["formulate"]
    assert result.validation["start"]["accuracy"] == 0.5  # crop_planning fails, alloy passes
    assert result.validation["best"]["accuracy"] == 1.0
    out = result.save(tmp_path / "run")
    loaded = PromptSet.load(out / "prompts")
    assert loaded["formulate"] == result.prompts["formulate"] and loaded["system"]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["validation"]["best"]["accuracy"] == 1.0 and report["prompt"] == "formulate"


def test_split_is_disjoint_deduplicated_and_reproducible() -> None:
    probs = [problem(n) for n in CASES] + [problem("diet_planning")]
    train, val = split_problems(probs, 2, 3, seed=1)
    assert not {p.question for p in train} & {p.question for p in val}
    assert [p.id for p in train] == [p.id for p in split_problems(probs, 2, 3, seed=1)[0]]
    with pytest.raises(ValueError, match="only 5 distinct labelled problems"):
        split_problems(probs, 4, 3)
