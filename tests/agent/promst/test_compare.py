"""PROMST, APE, APO, OptoPrime, OPRO and GEPA in one code path: same task, same budget, one table."""

from __future__ import annotations

import threading

import pytest

from agent.fake import FakeLLM
from agent.llm import ChatMessage
from agent.promst import Budget, SearchConfig, make_task, run_search
from agent.promst.compare import (
    COMPARE_METHODS,
    MethodRun,
    compare,
    format_table,
    scripted_grid_setup,
    scripted_optiwise_setup,
    summarize,
)
from agent.promst.run import WEAK_START
from agent.promst.scripted import ScriptedOptimizer, scripted_grid_agent

BUDGET = 300
# PROMST with its score model is PROMST's own search (tests/agent/promst/test_search.py);
# left out here because importing scikit-learn alone takes seconds on a loaded machine.
METHODS = [m for m in COMPARE_METHODS if m != "promst+sm"]


@pytest.fixture(scope="module")
def grid_runs() -> list[MethodRun]:
    setup = scripted_grid_setup("gridworld_ordered", sizes=("small",), per_size=2, test_per_size=1)
    return compare([setup], {"gridworld_ordered": Budget(calls=BUDGET)}, [0], METHODS)


def test_every_method_runs_on_the_same_task_within_the_budget(grid_runs: list[MethodRun]) -> None:
    assert [r.method for r in grid_runs] == METHODS
    shapes = {tuple(r.to_dict()) for r in grid_runs}
    assert len(shapes) == 1  # one record shape for every optimizer
    for run in grid_runs:
        assert run.task == "gridworld_ordered"
        assert 0 < run.calls <= BUDGET, run.method
        assert run.task_calls + run.optimizer_calls == run.calls
        assert run.optimizer_calls > 0 and run.evaluated >= 2, run.method
        assert run.start_train == 0.0  # the same weak start for everyone
        assert run.tokens > 0 and run.usd > 0  # fake models carry priced names
        assert run.calls_to_best <= run.calls


def test_methods_that_read_the_feedback_repair_the_weak_prompt_and_ape_cannot(
    grid_runs: list[MethodRun],
) -> None:
    by_method = {r.method: r for r in grid_runs}
    for method in ("promst", "apo", "optoprime", "opro", "gepa"):
        assert by_method[method].best_train > 0.5, method
        assert by_method[method].best_test is not None
    # APE's variations only add filler sentences: the reply format is never fixed
    assert by_method["ape"].best_train == 0.0


def test_one_table_with_a_row_per_method(grid_runs: list[MethodRun]) -> None:
    table = format_table(summarize(grid_runs), {"gridworld_ordered": Budget(calls=BUDGET)})
    lines = table.splitlines()
    rows = [line for line in lines[2:] if line.startswith("| gridworld")]
    assert [row.split("|")[2].strip() for row in rows] == METHODS
    assert len({line.count("|") for line in [lines[0], *rows]}) == 1
    assert "Budget for gridworld_ordered: calls 300" in table


def test_optoprime_is_shown_the_rule_feedback_of_the_failed_episodes() -> None:
    seen: list[str] = []
    script = ScriptedOptimizer(seed=0)

    def optimizer(messages: list[ChatMessage]) -> str:
        seen.append(str(messages[-1]["content"]))
        return script(messages)

    task = make_task("gridworld", sizes=("small",), per_size=1, test_per_size=0, prompt=WEAK_START)
    result = run_search(
        task,
        FakeLLM(rules=[(lambda _t: True, scripted_grid_agent)]),
        FakeLLM(rules=[(lambda _t: True, optimizer)]),
        SearchConfig(method="optoprime"),
    )
    first = seen[0]
    assert "#Variables\n(str) prompt0=" + WEAK_START in first
    feedback = first.split("#Feedback", 1)[1]
    assert "Category wrong_format" in feedback and "Offending reply:" in feedback
    assert result.method == "optoprime" and result.best.score == 1.0
    assert result.stopped == "the current prompt has no failures left"


def test_gepa_stopped_by_the_budget_leaves_no_thread_behind() -> None:
    before = threading.active_count()
    task = make_task("gridworld_ordered", sizes=("small",), per_size=2, prompt=WEAK_START)
    result = run_search(
        task,
        FakeLLM(rules=[(lambda _t: True, scripted_grid_agent)]),
        FakeLLM(rules=[(lambda _t: True, ScriptedOptimizer(fix_rate=0.5, seed=1))]),
        SearchConfig(method="gepa"),
        budget=Budget(calls=25),
        evaluate_test=False,
    )
    assert result.stopped.startswith("stopped at the call budget (25 of 25")
    assert result.usage["task"].calls + result.usage["optimizer"].calls == 25
    assert threading.active_count() == before


@pytest.mark.slow  # six searches through the real agent and solver: ~15-25 s on 2 loaded cores
def test_every_method_runs_on_optiwise_own_pipeline_within_the_budget() -> None:
    budgets = {"optiwise": Budget(calls=20)}
    runs = compare([scripted_optiwise_setup()], budgets, [0], METHODS)
    assert [r.method for r in runs] == METHODS
    for run in runs:
        assert 0 < run.calls <= 20 and run.start_train == 0.5, run.method
    assert {r.method for r in runs if r.best_train == 1.0} >= {"optoprime", "opro", "gepa"}


def test_a_usd_budget_stops_every_method_at_the_same_spend() -> None:
    setup = scripted_grid_setup("gridworld_ordered", sizes=("small",), per_size=2, test_per_size=0)
    runs = compare([setup], {"gridworld_ordered": Budget(usd=0.004)}, [0], METHODS)
    for run in runs:
        # a call starts only while the spend is under the budget, so at most one call's
        # cost (a few thousand gpt-4o tokens, < $0.015) goes over it
        assert "the USD budget" in run.stopped, (run.method, run.stopped)
        assert 0.004 <= run.usd < 0.019, (run.method, run.usd)
