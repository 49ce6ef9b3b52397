"""OptoPrime: one LLM call per step that sees the traced subgraph and the feedback.

The graph the parameters received is rendered as a small "problem" with
nine sections (any can be masked, e.g. ``mask=("#Code", "#Others")`` for
the paper's "masked" ablation):

``#Instruction``   the optimizer's objective;
``#Code``          one line per operator, ``out = op(arg=node, ...)``, in level order;
``#Documentation`` what each operator does (its description / docstring);
``#Variables``     the trainable values, ``(type) name=value`` (code as ``(code) name:source``);
``#Constraints``   each variable's description and constraint;
``#Inputs``        values the code reads but that may not change;
``#Others``        intermediate values;
``#Outputs``       the output(s) the feedback is about;
``#Feedback``      the feedback.

The reply contract is a JSON object with ``reasoning``, ``answer`` and
``suggestion`` (variable name -> new value), or ``TERMINATE`` when nothing
should change. A FIFO memory of past (variables, feedback) pairs is added
from the second step on (``memory_size``, default 5).

:class:`OptoPrimeMulti` asks for several candidates at different
temperatures and lets a selector pick one, e.g. :class:`MinibatchSelector`,
which scores each candidate on a minibatch of examples.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from agent.llm import ChatMessage, ChatModel, system, user
from agent.opto.nodes import Node, ParameterNode
from agent.opto.optimizer import Optimizer, Proposal
from agent.opto.parsing import parse_reply
from agent.opto.propagators import Propagator, TraceGraph

__all__ = [
    "SECTIONS",
    "FunctionFeedback",
    "MinibatchSelector",
    "OptoPrime",
    "OptoPrimeMulti",
    "summarize",
]

SECTIONS = (
    "#Instruction",
    "#Code",
    "#Documentation",
    "#Variables",
    "#Constraints",
    "#Inputs",
    "#Others",
    "#Outputs",
    "#Feedback",
)

SYSTEM_PROMPT = """You are improving the variables of a program from feedback on its output.

A problem instance has these parts:
- #Instruction: what you must do.
- #Code: the program that ran, one operation per line, in execution order.
- #Documentation: what each function in #Code does; it may be incomplete, so use #Others to infer behaviour.
- #Variables: the values you may change.
- #Constraints: what each variable is for and the rules a new value must satisfy.
- #Inputs: values the program read that you may not change.
- #Others: intermediate values computed while the program ran.
- #Outputs: the result of the program.
- #Feedback: feedback on the result.

Values in #Variables, #Inputs, #Others and #Outputs are written as
(data_type) variable_name=value
and a variable of type (code) is written as (code) variable_name:source, whose value is Python source.

Reply with one JSON object and nothing else:
{
  "reasoning": "<(1) what #Instruction asks; (2) what #Feedback on #Outputs means for each variable, given how #Code uses it and the values in #Documentation, #Inputs and #Others; (3) the change you suggest and what you expect it to do>",
  "answer": "<the answer, if #Instruction asks a question; else an empty string>",
  "suggestion": {"<variable_name>": <new value>, ...}
}
Only names from #Variables may appear in "suggestion"; leave out variables you keep.
For a (code) variable give complete, valid Python that keeps the function's name and signature.
If no change is needed, reply with the single word TERMINATE."""


@dataclass
class FunctionFeedback:
    """The subgraph summarized into the prompt's sections."""

    code_lines: list[str] = field(default_factory=list)
    documentation: dict[str, str] = field(default_factory=dict)
    variables: list[ParameterNode] = field(default_factory=list)
    inputs: list[Node] = field(default_factory=list)
    others: list[Node] = field(default_factory=list)
    outputs: list[Node] = field(default_factory=list)
    feedback: str = ""


def summarize(graph: TraceGraph, parameters: Iterable[ParameterNode]) -> FunctionFeedback:
    """Split a trace graph into variables, inputs, code lines, intermediates and outputs.

    Walking nodes in level order: a node without parents, or with a parent
    outside the subgraph (a "blanket" node), is a root; other nodes are
    operator applications. Roots that are our trainable parameters are
    variables, other roots inputs; operator nodes on the top level are
    outputs, the rest intermediates.
    """
    ours = {id(p) for p in parameters}
    summary = FunctionFeedback(feedback=_text(graph.user_feedback))
    top = max((n.level for n in graph.nodes), default=0)
    visited: set[int] = set()
    for n in graph.nodes:
        is_op = bool(n.parents) and all(id(p) in visited for p in n.parents)
        visited.add(id(n))
        if not is_op:
            if id(n) in ours and isinstance(n, ParameterNode):
                summary.variables.append(n)
            else:
                summary.inputs.append(n)
            continue
        inputs = getattr(n, "inputs", {})
        args = ", ".join(f"{key}={value.py_name}" for key, value in inputs.items())
        summary.code_lines.append(f"{n.py_name} = {n.op_name}({args})")
        summary.documentation.setdefault(n.op_name, n.description)
        (summary.outputs if n.level == top else summary.others).append(n)
    return summary


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=repr)


def _type_name(n: Node) -> str:
    if isinstance(n, ParameterNode) and n.is_code:
        return "code"
    return type(n._data).__name__


def _value(n: Node, limit: int | None) -> str:
    data = n._data
    text = data if isinstance(data, str) else repr(data)
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"... ({len(text) - limit} more characters)"
    return text


def render_value(n: Node, limit: int | None = None) -> str:
    """``(type) name=value``, or ``(code) name:source`` for code."""
    if isinstance(n, ParameterNode) and n.is_code:
        return f"(code) {n.py_name}:{n._data}"
    return f"({_type_name(n)}) {n.py_name}={_value(n, limit)}"


class OptoPrime(Optimizer):
    """The OptoPrime optimizer (see the module docstring)."""

    name = "optoprime"
    default_objective = (
        "You need to change the values of the variables in #Variables to improve the output "
        "in accordance with #Feedback."
    )

    def __init__(
        self,
        parameters: Iterable[ParameterNode],
        *,
        llm: ChatModel | None = None,
        model: str | None = None,
        propagator: Propagator | None = None,
        objective: str | None = None,
        memory_size: int = 5,
        mask: Sequence[str] = (),
        max_value_chars: int | None = 4000,
        max_tokens: int | None = None,
    ) -> None:
        super().__init__(
            parameters, llm=llm, model=model, propagator=propagator, objective=objective
        )
        unknown = [m for m in mask if m not in SECTIONS]
        if unknown:
            raise ValueError(f"unknown section(s) to mask {unknown}; sections: {SECTIONS}")
        self.mask = tuple(mask)
        self.memory: deque[dict[str, Any]] = deque(maxlen=memory_size)
        self.max_value_chars = max_value_chars
        self.max_tokens = max_tokens

    # -- prompt --------------------------------------------------------------

    def sections(self, summary: FunctionFeedback) -> dict[str, str]:
        """Section title -> body (masked sections are empty)."""
        limit = self.max_value_chars
        constraints = []
        for p in summary.variables:
            desc = p.description.split("]", 1)[-1].strip()
            line = f"({_type_name(p)}) {p.py_name}: {desc}"
            if p.constraint:
                line += f"\n  constraint: {p.constraint}"
            constraints.append(line)
        bodies = {
            "#Instruction": self.objective,
            "#Code": "\n".join(summary.code_lines),
            "#Documentation": "\n".join(summary.documentation.values()),
            "#Variables": "\n".join(render_value(p) for p in summary.variables),
            "#Constraints": "\n".join(constraints),
            "#Inputs": "\n".join(render_value(n, limit) for n in summary.inputs),
            "#Others": "\n".join(render_value(n, limit) for n in summary.others),
            "#Outputs": "\n".join(render_value(n, limit) for n in summary.outputs),
            "#Feedback": summary.feedback,
        }
        for title in self.mask:
            bodies[title] = ""
        return bodies

    def build_messages(self, summary: FunctionFeedback) -> list[ChatMessage]:
        """The system and user messages for one step (memory included when non-empty)."""
        bodies = self.sections(summary)
        problem = "\n\n".join(f"{title}\n{body}" for title, body in bodies.items())
        parts = ["Now you see this problem instance:", "=" * 40, problem, "=" * 40]
        if self.memory:
            parts.append("Below are variables and the feedback you received for them in the past:")
            parts.extend(json.dumps(m, indent=2, default=repr) for m in self.memory)
        parts.append("Your response (JSON):")
        return [system(SYSTEM_PROMPT), user("\n\n".join(parts))]

    def _summary(self) -> FunctionFeedback:
        summary = summarize(self.trace_graph, self.parameters)
        if not summary.variables:  # feedback reached no parameter, e.g. given to a root
            summary.variables = [p for p in self.parameters if p.feedback]
            for p in summary.variables:
                for items in p.feedback.values():
                    for item in items:
                        if isinstance(item, TraceGraph):
                            summary.feedback = summary.feedback or _text(item.user_feedback)
                        elif not summary.feedback:
                            summary.feedback = _text(item)
        return summary

    # -- step --------------------------------------------------------------------

    def _propose(self) -> Proposal:
        proposal = self.new_proposal()
        summary = self._summary()
        if not summary.variables:
            proposal.errors.append(
                "no parameter has feedback; call backward(output, feedback) before propose()"
            )
            return proposal
        messages = self.build_messages(summary)
        proposal.messages = messages
        self._ask(proposal, messages)
        self.memory.append(
            {
                "variables": {p.py_name: p._data for p in summary.variables},
                "feedback": summary.feedback,
            }
        )
        return proposal

    def _ask(self, proposal: Proposal, messages: list[ChatMessage], **options: Any) -> None:
        if self.max_tokens is not None:
            options.setdefault("max_tokens", self.max_tokens)
        reply = self.call_llm(messages, **options)
        parsed = parse_reply(reply.content, self.by_name)
        self.fill(proposal, parsed, reply)


Selector = Callable[[list[Proposal]], Proposal]


class MinibatchSelector:
    """Scores each candidate on a minibatch and picks the best.

    ``evaluate(item)`` runs the user's workflow with the parameters' *current*
    values and returns a score (higher is better); the selector applies each
    candidate in turn, averages over ``minibatch`` and restores the values.
    The current values are scored too (``info["baseline_score"]``); with
    ``require_improvement`` a candidate must beat them, otherwise an empty
    proposal is returned.
    """

    def __init__(
        self,
        evaluate: Callable[[Any], float],
        minibatch: Sequence[Any],
        *,
        require_improvement: bool = False,
    ) -> None:
        if not minibatch:
            raise ValueError("MinibatchSelector needs a non-empty minibatch")
        self.evaluate = evaluate
        self.minibatch = list(minibatch)
        self.require_improvement = require_improvement

    def score(self) -> float:
        """Mean score of the current values on the minibatch."""
        return fmean(float(self.evaluate(item)) for item in self.minibatch)

    def __call__(self, candidates: list[Proposal]) -> Proposal:
        baseline = self.score()
        best: Proposal | None = None
        for candidate in candidates:
            if candidate.terminated or not candidate.updates:
                candidate.score = baseline
            else:
                candidate.apply()
                try:
                    candidate.score = self.score()
                finally:
                    candidate.revert()
            candidate.info["baseline_score"] = baseline
            if best is None or (candidate.score or 0.0) > (best.score or 0.0):
                best = candidate
        assert best is not None
        if self.require_improvement and (best.score or 0.0) <= baseline:
            best.updates = {}
            best.errors.append(f"no candidate beat the current values ({baseline:.4g})")
        return best


def last_candidate(candidates: list[Proposal]) -> Proposal:
    """The default selector: the lowest-temperature candidate."""
    return candidates[-1]


class OptoPrimeMulti(OptoPrime):
    """OptoPrime drawing ``num_candidates`` proposals (temperatures high to low) and selecting one."""

    name = "optoprime-multi"

    def __init__(
        self,
        parameters: Iterable[ParameterNode],
        *,
        num_candidates: int = 3,
        temperatures: Sequence[float] | None = None,
        selector: Selector | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(parameters, **kwargs)
        if num_candidates < 1:
            raise ValueError("num_candidates must be at least 1")
        if temperatures is None:
            high, low = 1.0, 0.0
            step = (high - low) / max(num_candidates - 1, 1)
            temperatures = [round(high - i * step, 3) for i in range(num_candidates)]
        if len(temperatures) != num_candidates:
            raise ValueError("give one temperature per candidate")
        self.temperatures = list(temperatures)
        self.selector: Selector = selector or last_candidate
        self.candidates: list[Proposal] = []

    def _propose(self) -> Proposal:
        summary = self._summary()
        if not summary.variables:
            empty = self.new_proposal()
            empty.errors.append(
                "no parameter has feedback; call backward(output, feedback) before propose()"
            )
            return empty
        messages = self.build_messages(summary)
        candidates = []
        for i, temperature in enumerate(self.temperatures):
            candidate = self.new_proposal()
            candidate.messages = messages
            candidate.info["temperature"] = temperature
            self._ask(candidate, messages, temperature=temperature, cache_tag=f"candidate-{i}")
            candidates.append(candidate)
        self.candidates = candidates
        chosen = self.selector(candidates)
        chosen.info["candidates"] = [
            {"temperature": c.info["temperature"], "updates": c.updates, "score": c.score}
            for c in candidates
        ]
        self.memory.append(
            {
                "variables": {p.py_name: p._data for p in summary.variables},
                "feedback": summary.feedback,
            }
        )
        return chosen
