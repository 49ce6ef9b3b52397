"""PROMST's tree search over prompts, and :func:`run_search` wiring task, LLMs, budget and log.

The search (the paper's code calls it MCTS; it is a depth-first beam search):
evaluate the starting prompt; expand a prompt into ``n_children`` candidates; if
a score model is on and trained, evaluate only the promising ones; keep the best
``n_selected`` evaluated children and recurse into each, best first. After each
expansion the best child score is appended to a list; once the expansion depth
is at least ``min_depth`` and that list has fallen ``patience`` (3) times in a
row, the search stops. It also stops when no prompt is left to expand (a prompt
without failures has no children), at ``max_depth``, or at the budget.

APE and APO run through the same search with another candidate generator
(``SearchConfig(method="ape" | "apo")``); OptoPrime, OPRO and GEPA
(``method="optoprime" | "opro" | "gepa"``) replace the tree search with the
adapters of :mod:`agent.promst.opto_search`, driven by the same loop, evaluator
and budget, so one :class:`SearchResult` shape compares all six.

Example::

    task = make_task("gridworld", sizes=("small",), per_size=4)
    result = run_search(task, task_llm, optimizer_llm, SearchConfig(n_children=4))
    result.best.text, result.best.score, result.test
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.llm import ChatModel
from agent.promst.budget import Budget, Meter, MeteredLLM
from agent.promst.episode import EpisodeConfig
from agent.promst.evaluate import Evaluation, ScoreFunction, evaluate_prompt, partial_credit
from agent.promst.generate import CandidateGenerator, GeneratorConfig, Method
from agent.promst.optimizer import Candidate, PromptOptimizer, drive
from agent.promst.opto_search import OPTO_METHODS, make_opto_search
from agent.promst.score_model import ScoreModel, ScoreModelConfig
from agent.promst.task import Task
from agent.usage import Usage

__all__ = [
    "SEARCH_METHODS",
    "PromptEvaluator",
    "SearchConfig",
    "SearchMethod",
    "SearchResult",
    "TreeSearch",
    "run_search",
    "search_prompt",
    "top_prompts",
]


SearchMethod = Literal["promst", "ape", "apo", "optoprime", "opro", "gepa"]
SEARCH_METHODS: tuple[SearchMethod, ...] = ("promst", "ape", "apo", "optoprime", "opro", "gepa")
"""Every method :func:`search_prompt` runs: PROMST's tree search and the five baselines."""


@dataclass(frozen=True)
class SearchConfig:
    """Search shape and method; defaults follow PROMST (n_children 8 in the paper, 4 here).

    ``steps`` caps the prompts proposed by OptoPrime and OPRO (one per round) and
    GEPA; ``patience * n_children`` proposals in a row that change nothing end
    OptoPrime and OPRO (as many draws as PROMST makes in ``patience`` expansions);
    ``minibatch`` is GEPA's reflection minibatch (instances). The score model is
    PROMST's and is used only by the tree-search methods.
    """

    n_children: int = 4
    n_selected: int = 2
    min_depth: int = 2
    max_depth: int = 6
    patience: int = 3
    method: SearchMethod = "promst"
    use_score_model: bool = True
    score_model: ScoreModelConfig = field(default_factory=ScoreModelConfig)
    feedback_tokens: int = 15_000
    seed: int = 0
    steps: int = 24
    minibatch: int = 3

    def __post_init__(self) -> None:
        if self.method not in SEARCH_METHODS:
            raise ValueError(
                f"unknown method {self.method!r}; choose from {', '.join(SEARCH_METHODS)}"
            )
        if self.n_children < 1 or self.n_selected < 1:
            raise ValueError("n_children and n_selected must be at least 1")
        if self.min_depth < 1 or self.max_depth < self.min_depth:
            raise ValueError("need 1 <= min_depth <= max_depth")


class TreeSearch:
    """PROMST's search as a :class:`agent.promst.optimizer.PromptOptimizer` (see module docstring)."""

    def __init__(
        self,
        start_prompt: str,
        generator: CandidateGenerator,
        config: SearchConfig | None = None,
        score_model: ScoreModel | None = None,
    ) -> None:
        self.start_prompt = start_prompt
        self.generator = generator
        self.config = config or SearchConfig()
        self.score_model = score_model
        self.nodes: list[Candidate] = []
        self.evaluations: dict[int, Evaluation] = {}
        self.expansion_best: list[float] = []
        self.stop_reason: str | None = None
        self._stack: list[int] = []
        self._expanding: int | None = None

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    @property
    def best(self) -> Candidate | None:
        scored = [n for n in self.nodes if n.score is not None]
        # Ties go to the earlier (shallower) prompt.
        return max(scored, key=lambda n: (n.score, -n.id)) if scored else None

    def ancestors(self, node: Candidate) -> list[str]:
        """Prompt texts from the root down to ``node``'s parent."""
        chain: list[str] = []
        current = node.parent
        while current is not None:
            chain.append(self.nodes[current].text)
            current = self.nodes[current].parent
        return chain[::-1]

    def propose(self) -> list[Candidate]:
        if self.done:
            return []
        if not self.nodes:
            root = Candidate(0, self.start_prompt)
            self.nodes.append(root)
            return [root]
        cfg = self.config
        while self._stack:
            parent = self.nodes[self._stack.pop()]
            if parent.depth >= cfg.max_depth:
                continue
            proposals = self.generator.children(
                self.evaluations[parent.id], self.ancestors(parent), cfg.n_children
            )
            if not proposals:
                continue
            children = []
            for p in proposals:
                child = Candidate(
                    len(self.nodes), p.text, parent.id, parent.depth + 1, p.method, p.rationale
                )
                self.nodes.append(child)
                children.append(child)
            if self.score_model is not None:
                best = self.best
                keep, predicted = self.score_model.select(
                    [c.text for c in children],
                    best.score if best and best.score is not None else 0.0,
                )
                for i, child in enumerate(children):
                    if predicted is not None:
                        child.predicted = predicted[i]
                    if i not in keep:
                        child.status = "skipped"
            self._expanding = parent.id
            return [c for c in children if c.status == "pending"]
        self.stop_reason = "no prompt left to expand"
        return []

    def update(self, results: Sequence[tuple[Candidate, Evaluation]]) -> None:
        for candidate, evaluation in results:
            candidate.score = evaluation.score
            candidate.status = "evaluated"
            candidate.outcomes = dict(evaluation.outcomes)
            self.evaluations[candidate.id] = evaluation
            if self.score_model is not None:
                self.score_model.add(candidate.text, evaluation.score)
        if not results:
            return
        if self._expanding is None:  # the root
            self._stack.append(results[0][0].id)
            return
        cfg = self.config
        children = sorted((c for c, _ in results), key=lambda c: (-(c.score or 0.0), c.id))
        self.expansion_best.append(children[0].score or 0.0)
        self._stack.extend(c.id for c in reversed(children[: cfg.n_selected]))
        depth = children[0].depth
        if depth >= cfg.min_depth and self._fell(cfg.patience):
            self.stop_reason = (
                f"the best child score fell {cfg.patience} times in a row at depth {depth}"
            )

    def _fell(self, times: int) -> bool:
        seq = self.expansion_best
        if len(seq) <= times:
            return False
        tail = seq[-(times + 1) :]
        return all(b < a for a, b in zip(tail, tail[1:], strict=False))


@dataclass
class SearchResult:
    """The whole search: tree, best prompt, what was evaluated or skipped, usage, test scores."""

    task: str
    method: str
    nodes: list[Candidate]
    expansion_best: list[float]
    stopped: str
    usage: dict[str, Usage]
    episodes: int
    test: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def start(self) -> Candidate:
        """The starting prompt's node."""
        return self.nodes[0]

    @property
    def best(self) -> Candidate:
        """The best evaluated prompt (the start if nothing beat it)."""
        scored = [n for n in self.nodes if n.score is not None]
        return max(scored, key=lambda n: (n.score, -n.id)) if scored else self.nodes[0]

    @property
    def evaluated(self) -> int:
        """Prompts evaluated (the start included)."""
        return sum(n.status == "evaluated" for n in self.nodes)

    @property
    def skipped(self) -> int:
        """Candidates the score model decided not to evaluate."""
        return sum(n.status == "skipped" for n in self.nodes)

    def top(self, k: int = 3) -> list[Candidate]:
        """The ``k`` best evaluated prompts."""
        scored = [n for n in self.nodes if n.score is not None]
        return sorted(scored, key=lambda n: (-(n.score or 0.0), n.id))[:k]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the tree (every node with parent, score, prediction, status) and totals."""
        return {
            "task": self.task,
            "method": self.method,
            "stopped": self.stopped,
            "best": self.best.id,
            "evaluated": self.evaluated,
            "skipped": self.skipped,
            "episodes": self.episodes,
            "expansion_best": self.expansion_best,
            "usage": {role: u.to_dict() for role, u in self.usage.items()},
            "test": self.test,
            "config": self.config,
            "nodes": [n.to_dict() for n in self.nodes],
        }

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON (parent folders created)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        return out


def top_prompts(results: Sequence[SearchResult], k: int = 3) -> list[tuple[str, float, int]]:
    """The ``k`` best prompts pooled over several trials: (text, mean score, times evaluated).

    Identical texts from different trials (the start prompt, or a rewrite two trials
    agree on) are merged and ranked by their mean score, as PROMST's helper script
    aggregates its runs before the final held-out evaluation.
    """
    pooled: dict[str, list[float]] = {}
    for result in results:
        for node in result.nodes:
            if node.score is not None:
                pooled.setdefault(node.text, []).append(node.score)
    ranked = sorted(pooled.items(), key=lambda kv: (-sum(kv[1]) / len(kv[1]), -len(kv[1])))
    return [(text, sum(s) / len(s), len(s)) for text, s in ranked[:k]]


PromptEvaluator = Callable[[ChatModel, str], Evaluation]
"""Scores a prompt with the given (metered) task model: episodes, a benchmark split, ..."""


def search_prompt(
    name: str,
    start_prompt: str,
    evaluate: PromptEvaluator,
    task_llm: ChatModel,
    optimizer_llm: ChatModel | None = None,
    config: SearchConfig | None = None,
    *,
    budget: Budget | None = None,
    on_round: Callable[[list[tuple[Candidate, Evaluation]]], None] | None = None,
    metadata: dict[str, Any] | None = None,
) -> SearchResult:
    """The search over any task: ``evaluate(task_model, prompt)`` returns an :class:`Evaluation`.

    This is what :func:`run_search` uses for environments and what the optiwise
    pipeline task uses for benchmark problems; both models are metered against
    ``budget``.
    """
    config = config or SearchConfig()
    meter = Meter(budget)
    task_model = MeteredLLM(task_llm, meter, "task")
    opt_model = MeteredLLM(optimizer_llm or task_llm, meter, "optimizer")
    search: PromptOptimizer
    if config.method in OPTO_METHODS:
        search = make_opto_search(
            config.method,
            start_prompt,
            opt_model,
            steps=config.steps,
            patience=config.patience * config.n_children,
            minibatch=config.minibatch,
            seed=config.seed,
            feedback_tokens=config.feedback_tokens,
            should_stop=lambda: meter.budget.exceeded_by(meter.total) is not None,
        )
        use_model = False
    else:
        method: Method = config.method  # type: ignore[assignment]
        generator = CandidateGenerator(
            opt_model,
            GeneratorConfig(method=method, feedback_tokens=config.feedback_tokens),
            seed=config.seed,
        )
        use_model = config.use_score_model
        model = ScoreModel(config.score_model) if use_model else None
        search = TreeSearch(start_prompt, generator, config, model)
    episodes = 0

    def counted(prompt: str) -> Evaluation:
        nonlocal episodes
        ev = evaluate(task_model, prompt)
        episodes += len(ev.episodes)
        return ev

    try:
        outcome = drive(search, counted, on_round=on_round)
    finally:
        close = getattr(search, "close", None)
        if close is not None:
            close()
    nodes: list[Candidate] = getattr(search, "nodes", [])
    stop_reason: str | None = getattr(search, "stop_reason", None)
    budget_stop = outcome.stopped.startswith("stopped at")
    return SearchResult(
        task=name,
        method=config.method,
        nodes=nodes,
        expansion_best=list(getattr(search, "expansion_best", [])),
        stopped=outcome.stopped if budget_stop else (stop_reason or outcome.stopped),
        usage={"task": meter.usage("task"), "optimizer": meter.usage("optimizer")},
        episodes=episodes,
        config={
            "n_children": config.n_children,
            "n_selected": config.n_selected,
            "min_depth": config.min_depth,
            "max_depth": config.max_depth,
            "use_score_model": use_model,
            "steps": config.steps,
            **(metadata or {}),
        },
    )


def run_search(
    task: Task,
    task_llm: ChatModel,
    optimizer_llm: ChatModel | None = None,
    config: SearchConfig | None = None,
    *,
    budget: Budget | None = None,
    episode_config: EpisodeConfig | None = None,
    score_fn: ScoreFunction = partial_credit,
    workers: int = 1,
    evaluate_test: bool = True,
    on_round: Callable[[list[tuple[Candidate, Evaluation]]], None] | None = None,
) -> SearchResult:
    """Optimize ``task.prompt`` on ``task.train``; score the start and the best on ``task.test``.

    ``optimizer_llm`` (default: ``task_llm``) writes summaries and prompts; a
    stronger model is usual. Both share ``budget``; the test evaluation runs after
    the search and is not budgeted (it is reported, never used to choose).
    ``on_round`` is called with each round's (candidate, evaluation) pairs.
    """
    episode_config = episode_config or EpisodeConfig(max_steps=task.max_steps)

    def evaluate(model: ChatModel, prompt: str) -> Evaluation:
        return evaluate_prompt(
            prompt,
            task.train,
            model,
            task.rules,
            config=episode_config,
            score_fn=score_fn,
            workers=workers,
        )

    result = search_prompt(
        task.name,
        task.prompt,
        evaluate,
        task_llm,
        optimizer_llm,
        config,
        budget=budget,
        on_round=on_round,
        metadata={"score_fn": getattr(score_fn, "__name__", "custom"), **task.metadata},
    )
    if evaluate_test and task.test and result.nodes and result.start.score is not None:
        for name, node in (("start", result.start), ("best", result.best)):
            ev = evaluate_prompt(
                node.text,
                task.test,
                task_llm,
                task.rules,
                config=episode_config,
                score_fn=score_fn,
                workers=workers,
            )
            result.test[name] = ev.score
    return result
