"""The tree search (shape, stopping rule, score-model filtering, budgets) and an end-to-end
search that improves a scripted grid-world task from a weak start; APE and APO in the same path."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from agent.fake import FakeLLM
from agent.promst import (
    Budget,
    CandidateGenerator,
    Episode,
    Evaluation,
    Feedback,
    PromptOptimizer,
    ScoreModel,
    ScoreModelConfig,
    SearchConfig,
    TreeSearch,
    drive,
    efficiency_weighted,
    make_task,
    run_search,
    top_prompts,
)
from agent.promst.scripted import FIXES, ScriptedOptimizer, scripted_grid_agent

WEAK_START = "You control a robot on a grid. Collect the goals."


def optimizer_llm(name: Callable[[int], str] = lambda n: f"p{n}") -> FakeLLM:
    counter = itertools.count(1)
    return FakeLLM(
        rules=[
            ("Summarize the reasons", "a summary"),
            ("Output only the new prompt", lambda _m: name(next(counter))),
        ]
    )


def evaluation(
    prompt: str, score: float, categories: tuple[str, ...] = ("collision",)
) -> Evaluation:
    feedback = [Feedback(c, c.title(), f"{c} under {prompt}", "grid", score) for c in categories]
    return Evaluation(prompt, score, [], feedback if score < 1 else [])


def scored_by(table: dict[str, float], categories: tuple[str, ...] = ("collision",)):
    evaluated: list[str] = []

    def evaluate(prompt: str) -> Evaluation:
        evaluated.append(prompt)
        return evaluation(prompt, table[prompt], categories)

    return evaluate, evaluated


def test_tree_keeps_the_best_k_children_and_recurses_best_first() -> None:
    llm = optimizer_llm()
    search = TreeSearch(
        "start",
        CandidateGenerator(llm),
        SearchConfig(n_children=3, n_selected=2, min_depth=1, max_depth=2, use_score_model=False),
    )
    assert isinstance(search, PromptOptimizer)
    table = {"start": 0.1, "p1": 0.2, "p2": 0.5, "p3": 0.4} | {f"p{i}": 0.3 for i in range(4, 10)}
    evaluate, evaluated = scored_by(table, ("collision", "stuck"))
    outcome = drive(search, evaluate)

    shape = {
        n.text: (search.nodes[n.parent].text if n.parent is not None else None, n.depth)
        for n in search.nodes
    }
    assert shape == {
        "start": (None, 0),
        "p1": ("start", 1),
        "p2": ("start", 1),
        "p3": ("start", 1),
        # p2 (best) is expanded first, then p3; p1 is dropped; depth 2 is the max
        "p4": ("p2", 2),
        "p5": ("p2", 2),
        "p6": ("p2", 2),
        "p7": ("p3", 2),
        "p8": ("p3", 2),
        "p9": ("p3", 2),
    }
    assert evaluated == ["start", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]
    assert search.stop_reason == "no prompt left to expand" and outcome.evaluated == 10
    # per child: one summary per error category (2), then one rewrite with the ancestor chain
    assert len(llm.calls) == 9 * 3
    rewrite_of_p4 = llm.calls[3 * 3 + 2].last_user
    assert "Prompt 1:\nstart\n\nPrompt 2:\np2" in rewrite_of_p4
    assert "Error type 1: collision\na summary" in rewrite_of_p4
    assert "Error type 2: stuck" in rewrite_of_p4


def test_a_prompt_without_failures_gets_no_children() -> None:
    search = TreeSearch(
        "start", CandidateGenerator(optimizer_llm()), SearchConfig(use_score_model=False)
    )
    evaluate, evaluated = scored_by({"start": 1.0})
    drive(search, evaluate)
    assert evaluated == ["start"] and len(search.nodes) == 1


@pytest.mark.parametrize(
    ("scores", "min_depth", "expanded"),
    [
        ([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], 2, 4),  # fell 3 times in a row after expansion 4
        ([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], 5, 5),  # ... but not before the minimum depth
        ([0.9, 0.8, 0.85, 0.7, 0.6, 0.5, 0.4], 2, 6),  # a rise restarts the count
        ([0.5, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5], 2, 7),  # never three falls: runs to max depth
    ],
)
def test_stops_once_the_best_child_score_fell_three_times_after_min_depth(
    scores: list[float], min_depth: int, expanded: int
) -> None:
    search = TreeSearch(
        "start",
        CandidateGenerator(optimizer_llm()),
        SearchConfig(
            n_children=1, n_selected=1, min_depth=min_depth, max_depth=7, use_score_model=False
        ),
    )
    table = {"start": 0.1} | {f"p{i}": s for i, s in enumerate(scores, 1)}
    evaluate, evaluated = scored_by(table)
    drive(search, evaluate)
    assert len(evaluated) == 1 + expanded
    assert search.expansion_best == scores[:expanded]
    if expanded < 7:
        assert search.stop_reason.startswith("the best child score fell 3 times in a row")
    else:
        assert search.stop_reason == "no prompt left to expand"


def test_score_model_skips_candidates_predicted_to_be_poor() -> None:
    names = lambda n: f"p{n} " + ("always check the next cell" if n % 2 else "be quick and bold")  # noqa: E731
    model = ScoreModel(ScoreModelConfig(min_pairs=4, margin=0.1))
    search = TreeSearch(
        "start",
        CandidateGenerator(optimizer_llm(names)),
        SearchConfig(n_children=4, n_selected=1, min_depth=1, max_depth=3),
        model,
    )
    evaluated: list[str] = []

    def evaluate(prompt: str) -> Evaluation:
        evaluated.append(prompt)
        return evaluation(prompt, 0.2 if prompt == "start" else (0.7 if "check" in prompt else 0.1))

    drive(search, evaluate)
    first = search.nodes[1:5]
    assert all(n.status == "evaluated" and n.predicted is None for n in first)  # untrained yet
    later = search.nodes[5:]
    assert later and model.trained
    skipped = [n for n in later if n.status == "skipped"]
    kept = [n for n in later if n.status == "evaluated"]
    assert skipped and all("bold" in n.text for n in skipped)
    assert kept and all("check" in n.text for n in kept)
    assert not {n.text for n in skipped} & set(evaluated)
    assert all(n.predicted is not None for n in later)
    assert min(n.predicted for n in kept) > max(n.predicted for n in skipped)


def test_score_model_learns_from_text_and_filters_only_when_trained() -> None:
    model = ScoreModel(ScoreModelConfig(min_pairs=4, margin=0.05))
    candidates = ["Reply with a JSON object. Avoid obstacles.", "Move fast."]
    assert model.select(candidates, best=0.5) == ([0, 1], None)
    for text, score in [
        ("Reply with a JSON object.", 0.6),
        ("Reply with a JSON object and avoid obstacles.", 0.9),
        ("Move quickly.", 0.0),
        ("Go fast, be bold.", 0.1),
    ]:
        model.add(text, score)
    keep, predicted = model.select(candidates, best=0.9)
    assert predicted is not None and predicted[0] > predicted[1]
    assert keep == [0]
    gbr = ScoreModel(ScoreModelConfig(regressor="gbr", min_pairs=2))
    gbr.add("a b c", 0.0)
    gbr.add("json json", 1.0)
    assert gbr.trained and 0.0 <= gbr.predict(["json"])[0] <= 1.0


def grid_llms(fix_rate: float = 1.0) -> tuple[FakeLLM, FakeLLM]:
    return (
        FakeLLM(rules=[(lambda _t: True, scripted_grid_agent)]),
        FakeLLM(rules=[(lambda _t: True, ScriptedOptimizer(fix_rate=fix_rate, seed=1))]),
    )


def grid_task():
    return make_task(
        "gridworld_ordered",
        sizes=("small", "medium"),
        per_size=1,
        test_per_size=1,
        prompt=WEAK_START,
    )


def test_end_to_end_promst_improves_a_weak_prompt_from_its_feedback() -> None:
    task_llm, opt_llm = grid_llms()
    result = run_search(
        grid_task(), task_llm, opt_llm, SearchConfig(n_children=2, n_selected=1, max_depth=3)
    )
    assert result.start.score == 0.0 and result.start.outcomes == {"wrong_format": 2}
    # each level fixes the error the previous prompt revealed: format, then obstacles, then order
    assert result.best.score == 1.0 and result.best.depth == 3
    path = [result.nodes[result.best.parent]]
    while path[-1].parent is not None:
        path.append(result.nodes[path[-1].parent])
    assert [n.outcomes for n in reversed(path)] == [
        {"wrong_format": 2},
        {"success": 1, "collision": 1},
        {"success": 1, "wrong_order": 1},
    ]
    for category in ("wrong_format", "collision", "wrong_order"):
        assert FIXES[category] in result.best.text
    assert result.test == {"start": 0.0, "best": 1.0}
    assert result.stopped == "no prompt left to expand"
    assert result.usage["task"].calls > 0 and result.usage["optimizer"].calls > 0
    summaries = result.best.rationale
    assert set(summaries) <= {"wrong_format", "collision", "wrong_order"} and summaries
    saved = result.to_dict()
    assert saved["nodes"][result.best.id]["parent"] is not None and saved["best"] == result.best.id


def test_ape_in_the_same_path_cannot_fix_what_it_does_not_read_but_apo_can() -> None:
    task_llm, opt_llm = grid_llms()
    ape = run_search(
        grid_task(),
        task_llm,
        opt_llm,
        SearchConfig(method="ape", n_children=2, n_selected=1, max_depth=2, use_score_model=False),
        evaluate_test=False,
    )
    assert ape.method == "ape" and ape.best.score == 0.0 and len(ape.nodes) == 5
    assert all(n.origin in ("start", "ape") for n in ape.nodes)
    task_llm, opt_llm = grid_llms()
    apo = run_search(
        grid_task(),
        task_llm,
        opt_llm,
        SearchConfig(method="apo", n_children=2, n_selected=1, max_depth=3, use_score_model=False),
        evaluate_test=False,
    )
    assert apo.best.score == 1.0 and "gradient" in apo.best.rationale


def test_search_stops_at_the_call_budget_with_the_best_prompt_so_far(tmp_path) -> None:
    task_llm, opt_llm = grid_llms()
    result = run_search(
        grid_task(),
        task_llm,
        opt_llm,
        SearchConfig(n_children=2, n_selected=1),
        budget=Budget(calls=40),
        evaluate_test=False,
    )
    used = result.usage["task"].calls + result.usage["optimizer"].calls
    assert used == 40
    assert "call budget (40 of 40 calls used)" in result.stopped
    assert result.best.score is not None and result.best.score > 0.0
    # the children proposed when the budget ran out were never scored
    assert any(n.status == "pending" and n.score is None for n in result.nodes)
    path = result.save(tmp_path / "tree.json")
    assert '"stopped"' in path.read_text(encoding="utf-8")


def test_top_prompts_pools_identical_texts_across_trials() -> None:
    trials = []
    for seed in (0, 1):
        task_llm, _ = grid_llms()
        opt_llm = FakeLLM(rules=[(lambda _t: True, ScriptedOptimizer(seed=seed))])
        trials.append(
            run_search(
                grid_task(),
                task_llm,
                opt_llm,
                SearchConfig(n_children=2, n_selected=1, max_depth=3, use_score_model=False),
                evaluate_test=False,
            )
        )
    top = top_prompts(trials, k=50)
    scores = [score for _, score, _ in top]
    assert scores == sorted(scores, reverse=True) and scores[0] == 1.0
    start = next(entry for entry in top if entry[0] == WEAK_START)
    assert start[1:] == (0.0, 2)  # the start prompt, evaluated once in each trial
    assert len(top_prompts(trials, k=2)) == 2


def test_efficiency_weighted_score_prefers_fewer_steps() -> None:
    score = efficiency_weighted(0.5)
    fast = Episode("grid", [None] * 5, "success", None, 1.0, 20)  # type: ignore[list-item]
    slow = Episode("grid", [None] * 20, "success", None, 1.0, 20)  # type: ignore[list-item]
    assert score(fast) == pytest.approx(0.875) and score(slow) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="weight must be in"):
        efficiency_weighted(2.0)
