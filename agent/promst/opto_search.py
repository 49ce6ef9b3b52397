"""OptoPrime, OPRO and GEPA behind PROMST's prompt-optimizer interface, on the same tasks and budget.

:func:`agent.promst.search.search_prompt` runs every method through one loop,
:func:`agent.promst.optimizer.drive`: the optimizer proposes candidate prompts,
the task's evaluator scores each one (episodes of an environment, or the agent on
benchmark problems), the optimizer updates. PROMST, APE and APO are
:class:`agent.promst.search.TreeSearch` with different candidate generators; the
classes here adapt the optimizers of :mod:`agent.opto` to that interface, so all
six spend the same metered task and optimizer models under one
:class:`agent.promst.budget.Budget` and land in the same :class:`SearchResult`.

- :class:`OptoPrimeSearch`: the prompt is a text :class:`~agent.opto.ParameterNode`;
  each step traces one operator ``run_task(prompt)`` whose output is the
  evaluation's summary, propagates the rule feedback of the failed episodes
  (:func:`feedback_text`) and asks OptoPrime (with its memory) for a new value.
- :class:`OPROSearch`: the same step, but OPRO sees only the history of tried
  prompts with their scores and feedback, never the graph.
- :class:`GEPASearch`: ``gepa.optimize`` (through :class:`agent.opto.GEPA`) runs in
  a worker thread; each time GEPA needs a new prompt scored, the request surfaces
  here as a candidate, ``drive`` evaluates it like any other and hands the
  evaluation back. GEPA's items are the task's instances (its Pareto pool and
  minibatches work per instance); every prompt is scored once on all of them and
  cached, so GEPA pays for a candidate what the other methods pay.

The step-wise methods accept a candidate that scores at least the current
prompt (as ``optiwise tune`` does) and stop after ``SearchConfig.steps``
proposals, when the current prompt has no failures left, or after
``SearchConfig.patience`` proposals in a row that change nothing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from agent.llm import ChatModel
from agent.opto import GEPA, OPRO, OptoPrime, ParameterNode, Proposal, apply_op, name_scope
from agent.opto import Evaluation as ItemEvaluation
from agent.promst.budget import BudgetExhausted
from agent.promst.episode import approx_tokens
from agent.promst.evaluate import Evaluation
from agent.promst.optimizer import Candidate

__all__ = [
    "OPTO_METHODS",
    "GEPASearch",
    "OPROSearch",
    "OptoPrimeSearch",
    "feedback_text",
    "make_opto_search",
]

OPTO_METHODS = ("optoprime", "opro", "gepa")
_IDLE_ITERATIONS = 200
"""Methods of :mod:`agent.opto` that :func:`make_opto_search` adapts."""

_DESCRIPTION = (
    "The task prompt (system message) of an LLM agent that acts step by step in an "
    "environment; the agent's competence follows what this prompt tells it."
)
_RUN_DOC = (
    "[run_task] Runs the LLM agent with this prompt on every training instance and "
    "returns its mean score (higher is better) and the outcome of each episode."
)


def feedback_text(evaluation: Evaluation, max_tokens: int = 15_000) -> str:
    """What OptoPrime, OPRO and GEPA read about a prompt: the score and each failure's rule feedback.

    One block per failed episode, ``Category <category> (<label>), instance <i>:``
    then the text the feedback rule rendered (the same text PROMST summarizes),
    cut at ``max_tokens``.
    """
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(evaluation.outcomes.items()))
    lines = [
        f"Score {evaluation.score:.3f} over {len(evaluation.episodes)} instances ({outcomes})."
    ]
    used = approx_tokens(lines[0])
    for item in evaluation.feedback:
        block = f"Category {item.category} ({item.label}), instance {item.instance}:\n{item.text}"
        cost = approx_tokens(block)
        if used + cost > max_tokens and len(lines) > 1:
            lines.append("(more failures not shown)")
            break
        lines.append(block)
        used += cost
    return "\n\n".join(lines)


class _StepSearch:
    """One proposal per round from an :mod:`agent.opto` optimizer over a text parameter."""

    method = "opto"

    def __init__(
        self,
        start_prompt: str,
        llm: ChatModel,
        *,
        steps: int = 24,
        patience: int = 3,
        feedback_tokens: int = 15_000,
    ) -> None:
        self.start_prompt = start_prompt
        self.steps = steps
        self.patience = patience
        self.feedback_tokens = feedback_tokens
        with name_scope():
            self.param = ParameterNode(
                start_prompt,
                name="prompt",
                description=_DESCRIPTION,
                constraint="Plain text; keep every $placeholder of the current prompt.",
            )
        self.optimizer = self._make_optimizer(llm)
        self.nodes: list[Candidate] = []
        self.evaluations: dict[int, Evaluation] = {}
        self.current: int | None = None
        self.stop_reason: str | None = None
        self._proposals: dict[int, Proposal] = {}

    def _make_optimizer(self, llm: ChatModel) -> OptoPrime | OPRO:
        raise NotImplementedError

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    @property
    def best(self) -> Candidate | None:
        scored = [n for n in self.nodes if n.score is not None]
        return max(scored, key=lambda n: (n.score, -n.id)) if scored else None

    def propose(self) -> list[Candidate]:
        if self.done:
            return []
        if not self.nodes:
            root = Candidate(0, self.start_prompt)
            self.nodes.append(root)
            return [root]
        assert self.current is not None
        current = self.nodes[self.current]
        evaluation = self.evaluations[current.id]
        if not evaluation.errors:
            self.stop_reason = "the current prompt has no failures left"
            return []
        unchanged = 0
        while len(self.nodes) <= self.steps:
            self.param.set(current.text)
            proposal = self._ask(evaluation)
            new = proposal.updates.get(self.param.py_name)
            if isinstance(new, str) and new.strip() and new != current.text:
                child = Candidate(
                    len(self.nodes),
                    new,
                    current.id,
                    current.depth + 1,
                    self.method,
                    {"reasoning": proposal.reasoning} if proposal.reasoning else {},
                )
                self.nodes.append(child)
                self._proposals[child.id] = proposal
                return [child]
            self.optimizer.reject(proposal)
            unchanged += 1
            if unchanged >= self.patience:
                self.stop_reason = f"{unchanged} proposals in a row changed nothing"
                return []
        self.stop_reason = f"{self.steps} proposals made (SearchConfig.steps)"
        return []

    def _ask(self, evaluation: Evaluation) -> Proposal:
        raise NotImplementedError

    def update(self, results: Sequence[tuple[Candidate, Evaluation]]) -> None:
        for candidate, evaluation in results:
            candidate.score = evaluation.score
            candidate.status = "evaluated"
            candidate.outcomes = dict(evaluation.outcomes)
            self.evaluations[candidate.id] = evaluation
            self._record(candidate, evaluation)
            if self.current is None:
                self.current = candidate.id
                continue
            proposal = self._proposals.pop(candidate.id, None)
            current_score = self.nodes[self.current].score or 0.0
            if evaluation.score >= current_score:
                self.current = candidate.id
                if proposal is not None:
                    proposal.score = evaluation.score
                    self.optimizer.update(proposal)
            elif proposal is not None:
                proposal.score = evaluation.score
                self.optimizer.reject(proposal)
        if self.current is not None:
            self.param.set(self.nodes[self.current].text)

    def _record(self, candidate: Candidate, evaluation: Evaluation) -> None:
        """Remember an evaluated prompt (OPRO's history); nothing by default."""


class OptoPrimeSearch(_StepSearch):
    """OptoPrime over the prompt (see the module docstring)."""

    method = "optoprime"

    def _make_optimizer(self, llm: ChatModel) -> OptoPrime:
        return OptoPrime([self.param], llm=llm, memory_size=5)

    def _ask(self, evaluation: Evaluation) -> Proposal:
        summary = evaluation.summary()

        def run_task(prompt: str) -> str:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary["outcomes"].items()))
            return f"mean score {summary['score']:.3f}; episodes: {outcomes}"

        output = apply_op("run_task", run_task, [self.param], ["prompt"], _RUN_DOC)
        self.optimizer.zero_feedback()
        self.optimizer.backward(output, feedback_text(evaluation, self.feedback_tokens))
        return self.optimizer.propose()


class OPROSearch(_StepSearch):
    """OPRO over the prompt: the history of tried prompts and scores, no graph."""

    method = "opro"

    def _make_optimizer(self, llm: ChatModel) -> OPRO:
        return OPRO([self.param], llm=llm, max_history=20)

    def _record(self, candidate: Candidate, evaluation: Evaluation) -> None:
        assert isinstance(self.optimizer, OPRO)
        # OPRO shows ~20 past prompts at once: each keeps a short share of the feedback.
        share = max(500, self.feedback_tokens // 8)
        self.optimizer.history.append(
            {
                "variables": {self.param.py_name: candidate.text},
                "score": evaluation.score,
                "feedback": feedback_text(evaluation, share),
            }
        )

    def _ask(self, evaluation: Evaluation) -> Proposal:
        return self.optimizer.propose()


class _Stopped(BaseException):
    """Unwinds GEPA's worker thread when the search is closed (not an Exception: GEPA's
    adapter turns those into a zero score)."""


class GEPASearch:
    """GEPA's search (the ``gepa`` package) with ``drive`` evaluating its candidates."""

    method = "gepa"

    def __init__(
        self,
        start_prompt: str,
        llm: ChatModel,
        *,
        minibatch: int = 3,
        seed: int = 0,
        feedback_tokens: int = 15_000,
        max_candidates: int = 24,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.start_prompt = start_prompt
        self.should_stop = should_stop
        self.llm = llm
        self.minibatch = minibatch
        self.seed = seed
        self.feedback_tokens = feedback_tokens
        self.max_candidates = max_candidates
        with name_scope():
            self.param = ParameterNode(start_prompt, name="prompt", description=_DESCRIPTION)
        self.nodes: list[Candidate] = []
        self.stop_reason: str | None = None
        self._by_text: dict[str, Evaluation] = {}
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._replies: queue.Queue[Evaluation | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._idle = 0
        self._why: str | None = None
        self.gepa: GEPA | None = None

    @property
    def done(self) -> bool:
        return self.stop_reason is not None

    @property
    def best(self) -> Candidate | None:
        scored = [n for n in self.nodes if n.score is not None]
        return max(scored, key=lambda n: (n.score, -n.id)) if scored else None

    # -- GEPA's side (worker thread) ------------------------------------------------

    def _evaluation(self, text: str) -> Evaluation:
        cached = self._by_text.get(text)
        if cached is not None:
            return cached
        if self._closing:
            raise _Stopped
        self._idle = 0
        self._events.put(("evaluate", text))
        reply = self._replies.get()
        if reply is None:
            raise _Stopped
        return reply

    def _item(self, index: int) -> ItemEvaluation:
        evaluation = self._evaluation(str(self.param._data))
        episode = evaluation.episodes[index]
        notes = [f for f in evaluation.feedback if f.instance == episode.instance]
        if notes:
            text = "\n".join(f"Category {f.category} ({f.label}):\n{f.text}" for f in notes)
        else:
            text = f"{episode.outcome} in {episode.steps} steps"
        cut = self.feedback_tokens * 4 // max(1, self.minibatch)
        return ItemEvaluation(episode.score, text[:cut], episode.outcome)

    def _work(self, items: int) -> None:
        try:
            self.gepa = GEPA(
                [self.param],
                self._item,
                trainset=list(range(items)),
                valset=list(range(items)),
                llm=self.llm,
                max_metric_calls=10_000_000,
                reflection_minibatch_size=min(self.minibatch, items),
                seed=self.seed,
                stop_callbacks=[lambda _state: self._stopping()],
                skip_perfect_score=True,
            )
            proposal = self.gepa.propose()
            self._events.put(("done", proposal))
        except _Stopped:
            self._events.put(("done", None))
        except BaseException as exc:  # handed to the driving thread
            self._events.put(("error", exc))

    def _stopping(self) -> bool:
        """GEPA's stop callback, called once per iteration."""
        self._idle += 1
        if self._idle > _IDLE_ITERATIONS:
            self._why = f"GEPA made no new candidate in {_IDLE_ITERATIONS} iterations"
        elif any(not e.errors for e in self._by_text.values()):
            # GEPA skips perfect minibatches without a call: it would spin forever.
            self._why = "a prompt has no failures left"
        elif self._full():
            self._why = f"{self.max_candidates} candidates proposed (SearchConfig.steps)"
        return (
            self._closing or self._why is not None or bool(self.should_stop and self.should_stop())
        )

    def _full(self) -> bool:
        return len(self.nodes) > self.max_candidates

    # -- drive's side -----------------------------------------------------------------

    def propose(self) -> list[Candidate]:
        if self.done:
            return []
        if not self.nodes:
            root = Candidate(0, self.start_prompt)
            self.nodes.append(root)
            return [root]
        if self._thread is None:
            items = len(self._by_text[self.start_prompt].episodes)
            self._thread = threading.Thread(target=self._work, args=(items,), daemon=True)
            self._thread.start()
        kind, value = self._events.get()
        if kind == "evaluate":
            best = self.best
            parent = best.id if best is not None else 0
            child = Candidate(len(self.nodes), value, parent, self.nodes[parent].depth + 1, "gepa")
            self.nodes.append(child)
            return [child]
        self._thread.join(timeout=10)
        if kind == "error":
            if isinstance(value, BudgetExhausted):
                self.stop_reason = str(value)
                raise value
            self.stop_reason = f"GEPA stopped: {type(value).__name__}: {value}"
            return []
        self.stop_reason = self._why or "GEPA finished"
        return []

    def update(self, results: Sequence[tuple[Candidate, Evaluation]]) -> None:
        for candidate, evaluation in results:
            candidate.score = evaluation.score
            candidate.status = "evaluated"
            candidate.outcomes = dict(evaluation.outcomes)
            self._by_text[candidate.text] = evaluation
            if candidate.id > 0:
                self._replies.put(evaluation)

    def close(self) -> None:
        """Unblock and end GEPA's worker thread (after a budget stop or a finished run)."""
        self._closing = True
        if self._thread is not None and self._thread.is_alive():
            self._replies.put(None)
            self._thread.join(timeout=10)
        if self.stop_reason is None:
            self.stop_reason = "closed"


def make_opto_search(
    method: str,
    start_prompt: str,
    llm: ChatModel,
    *,
    steps: int,
    patience: int,
    minibatch: int,
    seed: int,
    feedback_tokens: int,
    should_stop: Callable[[], bool] | None = None,
) -> OptoPrimeSearch | OPROSearch | GEPASearch:
    """The adapter for ``method`` (one of :data:`OPTO_METHODS`)."""
    if method == "optoprime":
        return OptoPrimeSearch(
            start_prompt, llm, steps=steps, patience=patience, feedback_tokens=feedback_tokens
        )
    if method == "opro":
        return OPROSearch(
            start_prompt, llm, steps=steps, patience=patience, feedback_tokens=feedback_tokens
        )
    if method == "gepa":
        return GEPASearch(
            start_prompt,
            llm,
            minibatch=minibatch,
            seed=seed,
            feedback_tokens=feedback_tokens,
            max_candidates=steps,
            should_stop=should_stop,
        )
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(OPTO_METHODS)}")
