"""Synthetic numeric programs: tune an input until the output hits a hidden target.

Each seeded program is a random chain of ``+ - * /`` with constants (and
sometimes the input again), so it is linear in ``x`` with a non-zero slope.
A hidden goal input gives the target output; the optimizer only hears
"The output should be larger." / "... smaller." / "Success." — the
directional feedback of the Trace paper's numeric experiment — and sees the
traced program in its prompt. Adam with the *true* gradient of
``(output - target)**2`` runs on the same programs for comparison.

::

    python -m agent.opto.tasks.numeric --programs 10 --steps 20

Without an endpoint the optimizer LLM is scripted: :class:`ScriptedBisection`
reads OptoPrime's prompt (#Variables, #Outputs, #Feedback), infers the
program's direction from two points and bisects once it has a bracket. It
stands in for an LLM so the whole loop runs offline; it is not a model's
quality figure.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from agent.llm import ChatMessage, ChatModel
from agent.opto.nodes import Node, ParameterNode
from agent.opto.optoprime import OptoPrime
from agent.opto.tasks.common import add_llm_arguments, choose_llm

__all__ = [
    "NumericReport",
    "Program",
    "ScriptedBisection",
    "make_program",
    "numeric_feedback",
    "run_adam",
    "run_numeric",
    "run_optoprime",
]

_OPS = ("add", "subtract", "multiply", "divide", "add_x", "subtract_x")
MASKED = ("#Code", "#Documentation", "#Others")


class _Dual:
    """Forward-mode derivative: value and d(value)/dx."""

    def __init__(self, value: float, grad: float) -> None:
        self.value, self.grad = value, grad


@dataclass(frozen=True)
class Program:
    """A chain of operations applied to ``x``; see the module docstring."""

    seed: int
    ops: tuple[tuple[str, float], ...]
    goal: float
    start: float

    def run(self, x: Any) -> Any:
        """Apply the chain to ``x`` (a float or a node; with a node the run is traced)."""
        value = x
        for op, c in self.ops:
            if op == "add":
                value = value + c
            elif op == "subtract":
                value = value - c
            elif op == "multiply":
                value = value * c
            elif op == "divide":
                value = value / c
            elif op == "add_x":
                value = value + x * c
            else:
                value = value - x * c
        return value

    def derivative(self, x: float) -> tuple[float, float]:
        """(output, d output / dx) at ``x``, by forward-mode differentiation."""
        value = _Dual(x, 1.0)
        for op, c in self.ops:
            if op == "add":
                value = _Dual(value.value + c, value.grad)
            elif op == "subtract":
                value = _Dual(value.value - c, value.grad)
            elif op == "multiply":
                value = _Dual(value.value * c, value.grad * c)
            elif op == "divide":
                value = _Dual(value.value / c, value.grad / c)
            elif op == "add_x":
                value = _Dual(value.value + x * c, value.grad + c)
            else:
                value = _Dual(value.value - x * c, value.grad - c)
        return value.value, value.grad

    @property
    def target(self) -> float:
        """The output at the hidden goal input."""
        return float(self.run(self.goal))

    def tolerance(self) -> float:
        """How close counts as success (relative to the target's size)."""
        return 0.01 * max(1.0, abs(self.target))


def make_program(seed: int) -> Program:
    """A seeded random program with a non-negligible slope."""
    rng = random.Random(seed)
    while True:
        ops = []
        for _ in range(rng.randint(3, 6)):
            op = rng.choice(_OPS)
            c = round(rng.uniform(0.5, 5.0) * rng.choice((-1, 1)), 2)
            ops.append((op, c))
        program = Program(seed, tuple(ops), round(rng.uniform(-10, 10), 3), 0.0)
        _, slope = program.derivative(0.0)
        if abs(slope) >= 0.2:
            start = round(rng.uniform(-10, 10), 3)
            return Program(seed, tuple(ops), program.goal, start)


def numeric_feedback(output: float, program: Program) -> str:
    """Trace's directional feedback."""
    if abs(output - program.target) <= program.tolerance():
        return "Success."
    if output < program.target:
        return "The output should be larger."
    return "The output should be smaller."


@dataclass
class RunTrace:
    """Absolute error per step (index 0: the start) and whether it succeeded."""

    errors: list[float] = field(default_factory=list)
    success_step: int | None = None


def run_optoprime(
    program: Program,
    llm: ChatModel,
    steps: int,
    *,
    model: str | None = None,
    mask: Sequence[str] = (),
) -> RunTrace:
    """Optimize ``x`` of ``program`` with OptoPrime for at most ``steps`` steps."""
    x = ParameterNode(program.start, name="x", description="The input of the program.")
    opt = OptoPrime([x], llm=llm, model=model, mask=mask, memory_size=5)
    trace = RunTrace()
    for step in range(steps + 1):
        out: Node = program.run(x)
        error = abs(float(out.data) - program.target)
        trace.errors.append(error)
        feedback = numeric_feedback(float(out.data), program)
        if feedback == "Success.":
            trace.success_step = step
            break
        if step == steps:
            break
        opt.zero_feedback()
        opt.backward(out, feedback)
        opt.step()
    return trace


def run_adam(program: Program, steps: int, *, lr: float = 0.5) -> RunTrace:
    """Adam on the true gradient of ``(output - target)**2``."""
    x = program.start
    m = v = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    trace = RunTrace()
    for step in range(steps + 1):
        out, slope = program.derivative(x)
        error = abs(out - program.target)
        trace.errors.append(error)
        if error <= program.tolerance() and trace.success_step is None:
            trace.success_step = step
            break
        if step == steps:
            break
        grad = 2 * (out - program.target) * slope
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        m_hat = m / (1 - beta1 ** (step + 1))
        v_hat = v / (1 - beta2 ** (step + 1))
        x -= lr * m_hat / (math.sqrt(v_hat) + eps)
    return trace


_VARIABLE = re.compile(r"^\((\w+)\) (\w+)=(.+)$", re.MULTILINE)


def _section(prompt: str, title: str) -> str:
    match = re.search(rf"^{title}\n(.*?)(?=^#\w+\n|^=====)", prompt, re.MULTILINE | re.DOTALL)
    return match.group(1).strip() if match else ""


class ScriptedBisection:
    """A stand-in optimizer LLM for numeric programs (see the module docstring).

    It keeps what it saw in earlier prompts, so use one instance per program.
    """

    def __init__(self, first_step: float = 1.0) -> None:
        self.first_step = first_step
        self.seen: list[tuple[float, float, int]] = []  # (x, output, +1 larger / -1 smaller)

    def __call__(self, messages: list[ChatMessage]) -> str:
        prompt = str(messages[-1]["content"])
        variables = _VARIABLE.findall(_section(prompt, "#Variables"))
        outputs = _VARIABLE.findall(_section(prompt, "#Outputs"))
        feedback = _section(prompt, "#Feedback")
        if not variables or not outputs or "Success" in feedback:
            return "TERMINATE"
        _, name, raw_x = variables[0]
        x, out = float(raw_x), float(outputs[-1][2])
        direction = 1 if "larger" in feedback else -1
        self.seen.append((x, out, direction))
        new_x = self._next(x, direction)
        return json.dumps(
            {
                "reasoning": f"The output must get {'larger' if direction > 0 else 'smaller'}.",
                "answer": "",
                "suggestion": {name: new_x},
            }
        )

    def _next(self, x: float, direction: int) -> float:
        distinct = {(px, po) for px, po, _ in self.seen}
        if len(distinct) < 2:
            return x + self.first_step
        (x1, o1, _), (x2, o2, _) = self.seen[-2], self.seen[-1]
        if x1 == x2:
            return x + self.first_step
        slope_sign = 1 if (o2 - o1) / (x2 - x1) > 0 else -1
        lower, upper = -math.inf, math.inf
        for px, _, d in self.seen:
            if d * slope_sign > 0:  # x must grow
                lower = max(lower, px)
            else:
                upper = min(upper, px)
        if math.isfinite(lower) and math.isfinite(upper):
            return (lower + upper) / 2
        span = max(abs(x2 - x1), self.first_step) * 2
        return x + direction * slope_sign * span


@dataclass
class NumericReport:
    """Per program: OptoPrime's and Adam's traces."""

    optimizer_label: str
    programs: list[Program]
    optoprime: list[RunTrace]
    adam: list[RunTrace]

    def summary(self) -> dict[str, float]:
        """Mean final error and success rate of both methods."""
        n = len(self.programs)
        return {
            "optoprime_final_error": fmean(t.errors[-1] for t in self.optoprime),
            "adam_final_error": fmean(t.errors[-1] for t in self.adam),
            "optoprime_success": sum(t.success_step is not None for t in self.optoprime) / n,
            "adam_success": sum(t.success_step is not None for t in self.adam) / n,
        }

    def table(self) -> str:
        """A plain-text table, one row per program, and the means."""
        rows = ["seed  ops  start-error  optoprime(err, step)  adam(err, step)"]
        for program, o, a in zip(self.programs, self.optoprime, self.adam, strict=True):
            rows.append(
                f"{program.seed:>4}  {len(program.ops):>3}  {o.errors[0]:>11.3f}  "
                f"{o.errors[-1]:>9.4f}, {_step(o):>4}       {a.errors[-1]:>9.4f}, {_step(a):>4}"
            )
        s = self.summary()
        rows.append(
            f"mean final |error|: optoprime ({self.optimizer_label}) "
            f"{s['optoprime_final_error']:.4f}, adam {s['adam_final_error']:.4f}; "
            f"success: optoprime {s['optoprime_success']:.0%}, adam {s['adam_success']:.0%}"
        )
        return "\n".join(rows)


def _step(trace: RunTrace) -> str:
    return str(trace.success_step) if trace.success_step is not None else "-"


def run_numeric(
    programs: int = 10,
    steps: int = 20,
    *,
    seed: int = 0,
    llm: ChatModel | None = None,
    model: str | None = None,
    label: str | None = None,
    adam_lr: float = 0.5,
    mask: Sequence[str] = (),
) -> NumericReport:
    """Run OptoPrime and Adam on ``programs`` seeded programs.

    ``llm=None`` uses a fresh :class:`ScriptedBisection` per program.
    """
    made = [make_program(seed + i) for i in range(programs)]
    traces = []
    for program in made:
        chat = llm
        if chat is None:
            chat, _ = choose_llm(ScriptedBisection(), force_scripted=True)
        traces.append(run_optoprime(program, chat, steps, model=model, mask=mask))
    adam = [run_adam(p, steps, lr=adam_lr) for p in made]
    return NumericReport(label or ("scripted" if llm is None else "llm"), made, traces, adam)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agent.opto.tasks.numeric``."""
    parser = argparse.ArgumentParser(prog="python -m agent.opto.tasks.numeric", description=__doc__)
    parser.add_argument("--programs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--adam-lr", type=float, default=0.5)
    parser.add_argument(
        "--masked",
        action="store_true",
        help="hide #Code, #Documentation and #Others (the paper's 'Trace Masked' ablation)",
    )
    add_llm_arguments(parser)
    args = parser.parse_args(argv)
    chat, label = choose_llm(ScriptedBisection(), force_scripted=args.scripted)
    llm = None if label == "scripted" else chat
    report = run_numeric(
        args.programs,
        args.steps,
        seed=args.seed,
        llm=llm,
        model=args.model,
        label=label if args.model is None else args.model,
        adam_lr=args.adam_lr,
        mask=MASKED if args.masked else (),
    )
    print(report.table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
