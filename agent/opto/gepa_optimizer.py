"""GEPA (reflective prompt evolution with a Pareto pool) through the ``gepa`` package.

We do not re-implement GEPA: :class:`GEPA` adapts our parameters and an
evaluation function to ``gepa.optimize`` via :class:`OptoGEPAAdapter`
(``gepa.core.adapter.GEPAAdapter``), and routes GEPA's reflection calls
through our LLM layer (so the optimizer model, retries, cache and cost
accounting are ours)::

    def evaluate(item):                 # runs with the parameters' current values
        answer = run_agent(prompt.data, item["question"])
        ok = answer == item["label"]
        return Evaluation(float(ok), "correct" if ok else f"wrong: expected {item['label']}")

    opt = GEPA([prompt], evaluate, trainset=train, valset=val, llm=chat, max_metric_calls=60)
    proposal = opt.propose()          # runs the GEPA search; parameters unchanged
    opt.update(proposal)              # the best candidate on the validation set

The text feedback is GEPA's side information: each reflective record has
the item, the output and the feedback. Non-text parameters travel as their
``repr`` and are parsed back with :func:`agent.opto.parsing.cast_value`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from agent.llm import ChatMessage, ChatModel, user
from agent.opto.nodes import ParameterNode
from agent.opto.optimizer import Optimizer, Proposal
from agent.opto.parsing import cast_value

__all__ = ["GEPA", "Evaluation", "OptoGEPAAdapter"]


class Evaluation(NamedTuple):
    """One item's result: score (higher is better), feedback text, and the output."""

    score: float
    feedback: str = ""
    output: Any = None


EvaluateFn = Callable[[Any], "Evaluation | tuple[float, str] | float"]


def _as_evaluation(value: Any) -> Evaluation:
    if isinstance(value, Evaluation):
        return value
    if isinstance(value, tuple):
        return Evaluation(float(value[0]), *value[1:])
    return Evaluation(float(value))


def _text(param: ParameterNode) -> str:
    data = param._data
    return data if isinstance(data, str) else repr(data)


@contextlib.contextmanager
def _applied(
    parameters: Mapping[str, ParameterNode], candidate: Mapping[str, str]
) -> Iterator[None]:
    old = {name: p._data for name, p in parameters.items()}
    try:
        for name, text in candidate.items():
            param = parameters.get(name)
            if param is not None:
                param.set(text if isinstance(param._data, str) else cast_value(param, text))
        yield
    finally:
        for name, value in old.items():
            parameters[name].set(value)


@dataclass
class _Trajectory:
    item: Any
    output: Any
    feedback: str
    score: float


class OptoGEPAAdapter:
    """``gepa``'s adapter over our parameters: components are parameter py_names."""

    propose_new_texts = None

    def __init__(self, parameters: Sequence[ParameterNode], evaluate: EvaluateFn) -> None:
        self.parameters = {p.py_name: p for p in parameters}
        self.evaluate_item = evaluate
        self.metric_calls = 0

    def evaluate(
        self, batch: list[Any], candidate: dict[str, str], capture_traces: bool = False
    ) -> Any:
        from gepa.core.adapter import EvaluationBatch

        outputs: list[Any] = []
        scores: list[float] = []
        trajectories: list[_Trajectory] = []
        with _applied(self.parameters, candidate):
            for item in batch:
                self.metric_calls += 1
                try:
                    result = _as_evaluation(self.evaluate_item(item))
                except Exception as exc:  # one failing example must not stop the search
                    result = Evaluation(0.0, f"the run raised ({type(exc).__name__}) {exc}")
                outputs.append(result.output)
                scores.append(result.score)
                trajectories.append(_Trajectory(item, result.output, result.feedback, result.score))
        return EvaluationBatch(
            outputs=outputs, scores=scores, trajectories=trajectories if capture_traces else None
        )

    def make_reflective_dataset(
        self, candidate: dict[str, str], eval_batch: Any, components_to_update: list[str]
    ) -> dict[str, list[dict[str, Any]]]:
        records = [
            {
                "Inputs": str(t.item),
                "Generated Outputs": str(t.output),
                "Feedback": t.feedback or f"score {t.score}",
                "Score": t.score,
            }
            for t in (eval_batch.trajectories or [])
        ]
        return {name: records for name in components_to_update}


class _QuietLogger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


class GEPA(Optimizer):
    """GEPA over text parameters (see the module docstring).

    ``max_metric_calls`` is GEPA's budget: one call = one item evaluated.
    Roughly ``2 * reflection_minibatch_size + len(valset)`` are spent per
    accepted proposal, so a budget below about twice that yields at most one
    proposal. ``run_dir`` lets a killed run resume (GEPA's own checkpoint).
    Extra keyword arguments go to ``gepa.optimize``.
    """

    name = "gepa"

    def __init__(
        self,
        parameters: Iterable[ParameterNode],
        evaluate: EvaluateFn,
        *,
        trainset: Sequence[Any],
        valset: Sequence[Any] | None = None,
        llm: ChatModel | None = None,
        model: str | None = None,
        max_metric_calls: int = 100,
        reflection_minibatch_size: int = 3,
        seed: int = 0,
        run_dir: str | None = None,
        **gepa_options: Any,
    ) -> None:
        super().__init__(parameters, llm=llm, model=model)
        self.evaluate = evaluate
        self.trainset = list(trainset)
        self.valset = list(valset) if valset is not None else None
        self.max_metric_calls = max_metric_calls
        self.reflection_minibatch_size = reflection_minibatch_size
        self.seed = seed
        self.run_dir = run_dir
        self.gepa_options = gepa_options
        self.result: Any = None
        self.logger = _QuietLogger()
        self.reflections: list[dict[str, str]] = []

    def reflection_lm(self, prompt: str | list[dict[str, Any]]) -> str:
        """GEPA's reflection model, answered by our optimizer LLM."""
        messages: list[ChatMessage]
        if isinstance(prompt, str):
            messages = [user(prompt)]
        else:
            messages = [
                {"role": str(m.get("role", "user")), "content": _content_text(m.get("content"))}
                for m in prompt
            ]
        reply = self.call_llm(messages, json=False)
        self.reflections.append({"prompt": messages[-1]["content"], "reply": reply.content})
        return reply.content

    def _propose(self) -> Proposal:
        import gepa

        proposal = self.new_proposal()
        adapter = OptoGEPAAdapter(self.parameters, self.evaluate)
        seed = {p.py_name: _text(p) for p in self.parameters}
        result: Any = gepa.optimize(
            seed_candidate=seed,
            trainset=self.trainset,
            valset=self.valset,
            adapter=cast(Any, adapter),
            reflection_lm=self.reflection_lm,
            max_metric_calls=self.max_metric_calls,
            reflection_minibatch_size=self.reflection_minibatch_size,
            seed=self.seed,
            run_dir=self.run_dir,
            logger=self.logger,
            **self.gepa_options,
        )
        self.result = result
        best = result.candidates[result.best_idx]
        proposal.score = float(result.val_aggregate_scores[result.best_idx])
        proposal.info.update(
            {
                "candidates": len(result.candidates),
                "val_scores": list(result.val_aggregate_scores),
                "metric_calls": adapter.metric_calls,
                "seed_score": float(result.val_aggregate_scores[0]),
            }
        )
        proposal.messages = [user(r["prompt"]) for r in self.reflections]
        proposal.reply = "\n\n".join(r["reply"] for r in self.reflections)
        params = self.by_name
        for name, text in best.items():
            if name in params and text != seed[name]:
                try:
                    proposal.updates[name] = cast_value(params[name], text)
                except ValueError as exc:
                    proposal.errors.append(f"{name}: {exc}; value kept")
        return proposal


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)
