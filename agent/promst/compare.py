"""One comparison table: PROMST, APE, APO, OptoPrime, OPRO and GEPA on the same tasks and budget.

Every method runs through :func:`agent.promst.search.search_prompt` (the same
``drive`` loop, evaluator, metered models and :class:`~agent.promst.budget.Budget`),
so a row differs from another only in how candidates are proposed. A
:class:`Setup` is one task with fresh models per seed; :func:`compare` runs each
method on each setup and seed and :func:`format_table` prints the means::

    setups = [scripted_grid_setup("gridworld_ordered"), scripted_optiwise_setup()]
    runs = compare(setups, budgets={"gridworld_ordered": Budget(calls=1500),
                                    "optiwise": Budget(calls=120)}, seeds=range(3))
    print(format_table(summarize(runs)))

The scripted setups (:mod:`agent.promst.scripted`) make the figures about the
machinery: calls and tokens spent, prompts evaluated, the best score the
scripted proposer reaches, how many calls it took to get there, and what the
score model saves. They say nothing about which method a real model prefers;
build a :class:`Setup` around real models for that.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.llm import ChatModel
from agent.promst.budget import Budget, Meter, MeteredLLM
from agent.promst.evaluate import Evaluation
from agent.promst.optimizer import Candidate
from agent.promst.search import SEARCH_METHODS, SearchConfig, SearchResult

__all__ = [
    "COMPARE_METHODS",
    "MethodRun",
    "MethodSummary",
    "Setup",
    "compare",
    "format_table",
    "method_config",
    "run_method",
    "scripted_grid_setup",
    "scripted_optiwise_setup",
    "summarize",
]

SCORE_MODEL = "promst+sm"
COMPARE_METHODS: tuple[str, ...] = ("promst", SCORE_MODEL, *SEARCH_METHODS[1:])
"""Rows of the table: PROMST without and with its score model, then APE, APO, OptoPrime, OPRO, GEPA."""

OnRound = Callable[[list[tuple[Candidate, Evaluation]]], None]
SearchFn = Callable[
    [ChatModel, ChatModel, SearchConfig, Budget, OnRound],
    tuple[SearchResult, dict[str, float]],
]


@dataclass(frozen=True)
class Setup:
    """One task of the comparison.

    ``models(seed)`` returns fresh (task, optimizer) models; ``search(task_llm,
    optimizer_llm, config, budget, on_round)`` runs :func:`search_prompt` on the
    task and returns the result with the held-out scores of the start and best
    prompts (``{"start": ..., "best": ...}``, empty if there is no held-out set).
    """

    name: str
    models: Callable[[int], tuple[ChatModel, ChatModel]]
    search: SearchFn
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodRun:
    """One method on one setup and seed."""

    task: str
    method: str
    seed: int
    start_train: float
    best_train: float
    start_test: float | None
    best_test: float | None
    calls: int
    task_calls: int
    optimizer_calls: int
    tokens: int
    usd: float
    calls_to_best: int
    evaluated: int
    skipped: int
    episodes: int
    stopped: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def method_config(method: str, seed: int, **options: Any) -> SearchConfig:
    """The :class:`SearchConfig` of a table row (``promst+sm``: PROMST with its score model)."""
    if method == SCORE_MODEL:
        return SearchConfig(method="promst", use_score_model=True, seed=seed, **options)
    if method not in SEARCH_METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(COMPARE_METHODS)}")
    return SearchConfig(method=method, use_score_model=False, seed=seed, **options)  # type: ignore[arg-type]


def run_method(setup: Setup, method: str, seed: int, budget: Budget) -> MethodRun:
    """Run ``method`` on ``setup`` with ``seed`` under ``budget``; the calls to reach the best
    score are counted on the models, at the round that first reached it."""
    task_llm, opt_llm = setup.models(seed)
    meter = Meter()
    task_counted = MeteredLLM(task_llm, meter, "task")
    opt_counted = MeteredLLM(opt_llm, meter, "optimizer")
    best = -1.0
    calls_to_best = 0

    def on_round(results: list[tuple[Candidate, Evaluation]]) -> None:
        nonlocal best, calls_to_best
        top = max(ev.score for _, ev in results)
        if top > best:
            best, calls_to_best = top, meter.total.calls

    config = method_config(method, seed, **setup.config)
    result, test = setup.search(task_counted, opt_counted, config, budget, on_round)
    usage = result.usage["task"] + result.usage["optimizer"]
    return MethodRun(
        task=setup.name,
        method=method,
        seed=seed,
        start_train=result.start.score or 0.0,
        best_train=result.best.score or 0.0,
        start_test=test.get("start"),
        best_test=test.get("best"),
        calls=usage.calls,
        task_calls=result.usage["task"].calls,
        optimizer_calls=result.usage["optimizer"].calls,
        tokens=usage.total,
        usd=usage.cost_usd,
        calls_to_best=calls_to_best,
        evaluated=result.evaluated,
        skipped=result.skipped,
        episodes=result.episodes,
        stopped=result.stopped,
    )


def compare(
    setups: Sequence[Setup],
    budgets: dict[str, Budget],
    seeds: Iterable[int] = (0,),
    methods: Sequence[str] = COMPARE_METHODS,
    progress: Callable[[MethodRun], None] | None = None,
) -> list[MethodRun]:
    """Every method on every setup and seed, each under its setup's budget."""
    runs = []
    seed_list = list(seeds)
    for setup in setups:
        budget = budgets[setup.name]
        for method in methods:
            for seed in seed_list:
                run = run_method(setup, method, seed, budget)
                runs.append(run)
                if progress is not None:
                    progress(run)
    return runs


@dataclass
class MethodSummary:
    """Means over seeds of one method on one task (a row of the table)."""

    task: str
    method: str
    seeds: int
    start_train: float
    best_train: float
    best_test: float | None
    calls: float
    calls_to_best: float
    tokens: float
    usd: float
    evaluated: float
    skipped: float
    episodes: float
    reached_best: int
    """Seeds whose best training score is the task's best over all methods and seeds."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def summarize(runs: Sequence[MethodRun]) -> list[MethodSummary]:
    """One row per (task, method), in the order the runs came."""
    groups: dict[tuple[str, str], list[MethodRun]] = {}
    for run in runs:
        groups.setdefault((run.task, run.method), []).append(run)
    top: dict[str, float] = {}
    for run in runs:
        top[run.task] = max(top.get(run.task, 0.0), run.best_train)
    rows = []
    for (task, method), group in groups.items():
        tests = [r.best_test for r in group if r.best_test is not None]
        rows.append(
            MethodSummary(
                task=task,
                method=method,
                seeds=len(group),
                start_train=statistics.fmean(r.start_train for r in group),
                best_train=statistics.fmean(r.best_train for r in group),
                best_test=statistics.fmean(tests) if tests else None,
                calls=statistics.fmean(r.calls for r in group),
                calls_to_best=statistics.fmean(r.calls_to_best for r in group),
                tokens=statistics.fmean(r.tokens for r in group),
                usd=statistics.fmean(r.usd for r in group),
                evaluated=statistics.fmean(r.evaluated for r in group),
                skipped=statistics.fmean(r.skipped for r in group),
                episodes=statistics.fmean(r.episodes for r in group),
                reached_best=sum(r.best_train >= top[task] - 1e-9 for r in group),
            )
        )
    return rows


_COLUMNS = (
    ("task", 18, "s"),
    ("method", 10, "s"),
    ("start", 6, ".2f"),
    ("best", 6, ".2f"),
    ("test", 6, ".2f"),
    ("top", 5, "s"),
    ("calls", 7, ".0f"),
    ("to best", 8, ".0f"),
    ("ktokens", 8, ".1f"),
    ("USD", 8, ".4f"),
    ("prompts", 8, ".1f"),
    ("skipped", 8, ".1f"),
    ("episodes", 9, ".0f"),
)


def format_table(rows: Sequence[MethodSummary], budgets: dict[str, Budget] | None = None) -> str:
    """The rows as a Markdown table (means over seeds), with one budget line per task.

    Columns: training score of the start and the best prompt, held-out test score
    of the best, seeds that reached the task's top training score, calls used and
    calls used when the best was first evaluated, tokens (thousands), USD,
    prompts evaluated, candidates the score model skipped, episodes run.
    """
    head = "| " + " | ".join(name for name, _, _ in _COLUMNS) + " |"
    rule = "|" + "|".join(("---" if fmt == "s" else "---:") for _, _, fmt in _COLUMNS) + "|"
    lines = [head, rule]
    for r in rows:
        values: list[Any] = [
            r.task,
            r.method,
            r.start_train,
            r.best_train,
            r.best_test,
            f"{r.reached_best}/{r.seeds}",
            r.calls,
            r.calls_to_best,
            r.tokens / 1000,
            r.usd,
            r.evaluated,
            r.skipped,
            r.episodes,
        ]
        cells = []
        for (_, _, fmt), value in zip(_COLUMNS, values, strict=True):
            cells.append("n/a" if value is None else format(value, fmt))
        lines.append("| " + " | ".join(cells) + " |")
    if budgets:
        lines.append("")
        for task, b in budgets.items():
            limits = ", ".join(
                f"{name} {value}"
                for name, value in (("calls", b.calls), ("tokens", b.tokens), ("USD", b.usd))
                if value is not None
            )
            lines.append(f"Budget for {task}: {limits or 'none'} (task and optimizer together).")
    return "\n".join(lines)


# -- scripted setups -------------------------------------------------------------------------


def scripted_grid_setup(
    env: str = "gridworld_ordered",
    *,
    sizes: Sequence[str] = ("small", "medium"),
    per_size: int = 2,
    test_per_size: int = 2,
    fix_rate: float = 0.5,
    task_model: str = "gpt-4o-mini",
    optimizer_model: str = "gpt-4o",
) -> Setup:
    """A grid world with the scripted agent and optimizer, from the weak one-line prompt.

    The fake models carry real model names so tokens (estimated from text) are priced.
    """
    from agent.fake import FakeLLM
    from agent.promst.envs import make_task
    from agent.promst.run import WEAK_START
    from agent.promst.scripted import ScriptedOptimizer, scripted_grid_agent
    from agent.promst.search import run_search

    def models(seed: int) -> tuple[ChatModel, ChatModel]:
        task = FakeLLM(rules=[(lambda _t: True, scripted_grid_agent)], model=task_model)
        opt = FakeLLM(
            rules=[(lambda _t: True, ScriptedOptimizer(fix_rate=fix_rate, seed=seed))],
            model=optimizer_model,
        )
        return task, opt

    def search(
        task_llm: ChatModel,
        opt_llm: ChatModel,
        config: SearchConfig,
        budget: Budget,
        on_round: OnRound,
    ) -> tuple[SearchResult, dict[str, float]]:
        task = make_task(
            env,
            sizes=sizes,
            per_size=per_size,
            test_per_size=test_per_size,
            seed=config.seed,
            prompt=WEAK_START,
        )
        result = run_search(task, task_llm, opt_llm, config, budget=budget, on_round=on_round)
        return result, dict(result.test)

    return Setup(env, models, search)


def scripted_optiwise_setup(
    *,
    fix_rate: float = 0.5,
    task_model: str = "gpt-4o-mini",
    optimizer_model: str = "gpt-4o",
) -> Setup:
    """optiwise's formulate → check → solve → verify → repair pipeline on five packaged
    samples (3 train, 2 validation), with the scripted modeler and optimizer, from the
    shipped formulate prompt (which lets two of three training problems go wrong)."""
    from agent.fake import FakeLLM
    from agent.promst.optiwise_task import OptiwiseTask
    from agent.promst.scripted import (
        OPTIWISE_FIXES,
        ScriptedModeler,
        ScriptedOptimizer,
        scripted_optiwise_problems,
    )

    def models(seed: int) -> tuple[ChatModel, ChatModel]:
        task = FakeLLM(rules=[(lambda _t: True, ScriptedModeler())], model=task_model)
        opt = FakeLLM(
            rules=[
                (
                    lambda _t: True,
                    ScriptedOptimizer(fixes=OPTIWISE_FIXES, fix_rate=fix_rate, seed=seed),
                )
            ],
            model=optimizer_model,
        )
        return task, opt

    def search(
        task_llm: ChatModel,
        opt_llm: ChatModel,
        config: SearchConfig,
        budget: Budget,
        on_round: OnRound,
    ) -> tuple[SearchResult, dict[str, float]]:
        train, validation = scripted_optiwise_problems()
        task = OptiwiseTask(train, validation, agent_options={"time_limit": 10.0})
        tuned = task.tune(task_llm, opt_llm, config, budget=budget, on_round=on_round)
        held_out = {name: v["score"] for name, v in tuned.validation.items()}
        return tuned.search, held_out

    return Setup("optiwise", models, search)
