"""optiwise's own multi-step task for PROMST: formulate → check → solve → verify → repair.

One episode is one :meth:`agent.OptimizationAgent.solve` of a labelled benchmark
problem with the prompt under optimization (by default the prompt set's
``formulate``) put into the agent's :class:`agent.prompts.PromptSet`. Its rounds
are the agent's attempts (the document it wrote; the status, typed modeling
errors and verify findings it got). Its outcome, which selects the feedback rule
in ``agent/promst/rules/optiwise.toml``:

- ``success``: the answer matches the label (scoring protocol ``sirl`` by default);
- ``wrong_answer``: solved, but the objective is not the label's;
- ``infeasible``, ``unbounded``, ``infeasible_or_unbounded``: the solver proved it,
  the label disagrees (the last attempt's findings, e.g. the IIS, are shown);
- ``modeling_error``: the last document still broke the spec (``kind`` is the
  typed error's code: ``undefined``, ``index``, ``relation``, ...);
- ``wrong_format``: the reply was not a JSON document; ``solver_error``: a solver
  failure or time limit; ``llm_error``: the LLM call failed;
- ``broken_prompt``: a candidate dropped a ``$placeholder`` the agent fills in.

Partial credit: 1 correct, 0.5 solved but wrong, 0.25 a proven wrong status,
0 otherwise. ``steps`` are attempts, so :func:`efficiency_weighted` rewards
first-time-right formulations.

::

    task = OptiwiseTask.from_dataset("nl4opt", train=20, validation=20, seed=0)
    result = task.tune(task_llm, optimizer_llm, SearchConfig(n_children=4), budget=Budget(usd=5))
    result.validation, result.save("runs/promst-formulate")   # a prompt-set folder + report
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from agent.api import AgentResult, OptimizationAgent
from agent.llm import ChatModel
from agent.prompts import PromptSet
from agent.promst.budget import Budget, BudgetExhausted, MeteredLLM
from agent.promst.episode import Episode, Round
from agent.promst.evaluate import Evaluation, ScoreFunction, partial_credit
from agent.promst.optimizer import Candidate
from agent.promst.rules import RuleSet
from agent.promst.search import SearchConfig, SearchResult, search_prompt
from agent.promst.task import SUCCESS, WRONG_FORMAT, MoveError
from agent.state import error_lines, has_solution
from agent.usage import Usage
from agent.verify import NOT_REPAIRABLE
from evals.problems import Problem
from evals.scoring import Prediction, get_protocol

__all__ = ["OptiwiseTask", "OptiwiseTuneResult", "split_problems"]

NO_OPTIMUM = ("infeasible", "unbounded", "infeasible_or_unbounded")
_DOC_CHARS = 4000  # a document longer than this is cut in the feedback


def split_problems(
    problems: Sequence[Problem], train: int, validation: int, *, seed: int = 0
) -> tuple[list[Problem], list[Problem]]:
    """Disjoint train and validation sets, deduplicated by question text, shuffled by ``seed``.

    Problems without a usable label (``answer.kind == "unknown"``) are left out.
    """
    seen: set[str] = set()
    pool = []
    for p in problems:
        key = " ".join(p.question.split()).lower()
        if p.answer.kind != "unknown" and key not in seen:
            seen.add(key)
            pool.append(p)
    random.Random(seed).shuffle(pool)
    if train + validation > len(pool):
        raise ValueError(
            f"asked for {train} train + {validation} validation problems, but only {len(pool)} "
            "distinct labelled problems exist"
        )
    return pool[:train], pool[train : train + validation]


def _status(value: object) -> str:
    return str(getattr(value, "value", value))


def _label(problem: Problem) -> str:
    answer = problem.answer
    if answer.kind == "number" and answer.value is not None:
        return f"{answer.value:g}"
    return answer.kind


@dataclass
class OptiwiseTuneResult:
    """A tuning run: the search tree, the tuned prompt set and validation before/after."""

    search: SearchResult
    prompts: PromptSet
    prompt_name: str
    validation: dict[str, dict[str, float]] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """JSON-ready summary: scores, validation accuracy before/after, usage, stop reason."""
        s = self.search
        return {
            "prompt": self.prompt_name,
            "method": s.method,
            "stopped": s.stopped,
            "train": {"start": s.start.score, "best": s.best.score},
            "validation": self.validation,
            "evaluated": s.evaluated,
            "skipped": s.skipped,
            "episodes": s.episodes,
            "usage": {role: u.to_dict() for role, u in s.usage.items()},
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``prompts/`` (a prompt set ``--prompts``/``prompts=`` loads), tree and report."""
        out = Path(directory)
        self.prompts.save(out / "prompts")
        self.search.save(out / "tree.json")
        (out / "report.json").write_text(json.dumps(self.report(), indent=2), encoding="utf-8")
        return out


@dataclass
class OptiwiseTask:
    """PROMST over optiwise's agent; see the module docstring.

    ``agent_options`` go to :class:`OptimizationAgent` (``time_limit``, ``backend``,
    ...); ``max_repairs`` and ``examples`` are set here because they shape the episode.
    """

    problems: Sequence[Problem]
    validation: Sequence[Problem] = ()
    prompt_name: str = "formulate"
    prompts: PromptSet = field(default_factory=PromptSet.default)
    max_repairs: int = 1
    examples: int = 0
    protocol: str = "sirl"
    rules: RuleSet = field(default_factory=lambda: RuleSet.load("optiwise"))
    score_fn: ScoreFunction = partial_credit
    workers: int = 1
    agent_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.prompt_name not in self.prompts:
            raise ValueError(
                f"the prompt set has no {self.prompt_name!r}; known: {', '.join(sorted(self.prompts))}"
            )
        get_protocol(self.protocol)  # fail early on a typo
        if not self.problems:
            raise ValueError("OptiwiseTask needs at least one training problem")

    @classmethod
    def from_dataset(
        cls,
        dataset: str,
        *,
        train: int,
        validation: int,
        seed: int = 0,
        data_dir: str | Path | None = None,
        **options: Any,
    ) -> OptiwiseTask:
        """Train and validation problems drawn (disjoint, deduplicated) from a registered dataset."""
        from evals.loaders import load_problems

        tr, va = split_problems(
            load_problems(dataset, data_dir=data_dir), train, validation, seed=seed
        )
        return cls(tr, va, **options)

    @property
    def start_prompt(self) -> str:
        """The current text of the prompt being optimized."""
        return self.prompts[self.prompt_name]

    def required_placeholders(self) -> frozenset[str]:
        """Placeholders a candidate must keep: the start prompt's, except ``$examples``."""
        return self.prompts.variables(self.prompt_name) - {"examples"}

    def _agent(self, llm: ChatModel, prompt: str) -> OptimizationAgent:
        return OptimizationAgent(
            llm=llm,
            prompts=self.prompts.updated({self.prompt_name: prompt}),
            max_repairs=self.max_repairs,
            examples=self.examples,
            **self.agent_options,
        )

    def episode(self, llm: ChatModel, prompt: str, problem: Problem) -> Episode:
        """Solve ``problem`` with ``prompt`` in place; the attempts become the rounds."""
        limit = 1 + self.max_repairs
        used = set()
        for match in Template.pattern.finditer(prompt):
            name = match.group("named") or match.group("braced")
            if name:
                used.add(name)
        missing = sorted(self.required_placeholders() - used)
        if missing:
            detail = "the prompt lost " + ", ".join(f"${m}" for m in missing)
            err = MoveError("broken_prompt", "placeholder", detail, True)
            return Episode(problem.id, [], "broken_prompt", err, 0.0, limit)
        if isinstance(llm, MeteredLLM):
            llm.meter.check()
        result = self._agent(llm, prompt).solve(problem.question)
        if "BudgetExhausted" in result.message:  # the agent reports exceptions as results
            raise BudgetExhausted(result.message)
        return self._episode_of(problem, result, limit)

    def _episode_of(self, problem: Problem, result: AgentResult, limit: int) -> Episode:
        rounds = []
        for i, attempt in enumerate(result.attempts, 1):
            doc = json.dumps(attempt.document, ensure_ascii=False) if attempt.document else ""
            if len(doc) > _DOC_CHARS:
                doc = doc[:_DOC_CHARS] + " ...(cut)"
            status = _status(attempt.status)
            feedback = f"status {status}"
            if attempt.objective is not None:
                feedback += f", objective {attempt.objective:g}"
            if attempt.errors:
                feedback += "\n" + error_lines(attempt.errors)
            errors = tuple(
                MoveError(
                    "finding",
                    str(e.get("code") or "invalid"),
                    f"{e.get('location') or 'document'}: {e.get('message')}",
                )
                for e in attempt.errors
            )
            rounds.append(
                Round(
                    i,
                    f"{attempt.source} attempt {attempt.round}",
                    doc or "(none)",
                    feedback,
                    errors,
                )
            )
        status = _status(result.status)
        prediction = Prediction(status=status, objective=result.objective)
        correct = get_protocol(self.protocol).correct(prediction, problem.answer)
        last_errors = result.attempts[-1].errors if result.attempts else []
        codes = [str(e.get("code") or "invalid") for e in last_errors]
        label = _label(problem)
        outcome: str
        error: MoveError | None
        if correct:
            outcome, error, score = SUCCESS, None, 1.0
        elif has_solution(status):
            obj = f"{result.objective:g}" if result.objective is not None else "none"
            detail = f"the objective is {obj} but the label is {label}"
            outcome, score = "wrong_answer", 0.5
            error = MoveError(outcome, "objective", detail, True)
        elif status in NO_OPTIMUM:
            outcome, score = status, 0.25
            error = MoveError(
                outcome, "status", f"the solver says {status}; the label is {label}", True
            )
        elif "parse" in codes:
            outcome, score = WRONG_FORMAT, 0.0
            error = MoveError(outcome, "parse", error_lines(last_errors), True)
        elif any(c in NOT_REPAIRABLE for c in codes):
            outcome, score = "solver_error", 0.0
            code = next(c for c in codes if c in NOT_REPAIRABLE)
            error = MoveError(outcome, code, error_lines(last_errors), True)
        elif codes:
            outcome, score = "modeling_error", 0.0
            error = MoveError(outcome, codes[0], error_lines(last_errors), True)
        else:
            outcome, score = "llm_error", 0.0
            error = MoveError(outcome, status or "error", result.message or "no answer", True)
        return Episode(problem.id, rounds, outcome, error, score, limit, result.usage)

    def evaluate(
        self, llm: ChatModel, prompt: str, problems: Sequence[Problem] | None = None
    ) -> Evaluation:
        """One episode per problem (``self.problems`` by default), scored and with rule feedback."""
        chosen = list(self.problems if problems is None else problems)
        if self.workers > 1:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                episodes = list(pool.map(lambda p: self.episode(llm, prompt, p), chosen))
        else:
            episodes = [self.episode(llm, prompt, p) for p in chosen]
        scores = [self.score_fn(e) for e in episodes]
        feedback = [f for e in episodes if (f := self.rules.feedback(e, prompt)) is not None]
        return Evaluation(
            prompt,
            sum(scores) / len(scores),
            episodes,
            feedback,
            sum((e.usage for e in episodes), Usage()),
        )

    def tune(
        self,
        task_llm: ChatModel,
        optimizer_llm: ChatModel | None = None,
        config: SearchConfig | None = None,
        *,
        budget: Budget | None = None,
        on_round: Callable[[list[tuple[Candidate, Evaluation]]], None] | None = None,
    ) -> OptiwiseTuneResult:
        """Search on the training problems; score start and best on the validation problems.

        Validation runs after the search, outside the budget, and never chooses the
        prompt: it is the before/after figure a user reads.
        """
        result = search_prompt(
            f"optiwise:{self.prompt_name}",
            self.start_prompt,
            self.evaluate,
            task_llm,
            optimizer_llm,
            config,
            budget=budget,
            on_round=on_round,
            metadata={"prompt": self.prompt_name, "train": [p.id for p in self.problems]},
        )
        best = result.best
        tuned = self.prompts.updated({self.prompt_name: best.text})
        out = OptiwiseTuneResult(result, tuned, self.prompt_name)
        if self.validation and result.start.score is not None:
            for name, node in (("start", result.start), ("best", best)):
                ev = self.evaluate(task_llm, node.text, self.validation)
                out.validation[name] = {
                    "accuracy": sum(e.success for e in ev.episodes) / len(ev.episodes),
                    "score": ev.score,
                }
        return out
