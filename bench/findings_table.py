"""The verify-findings table of report.md from a scripted eval run (no LLM, real solvers).

Every packaged sample is one problem of a toy dataset. A scripted chat model
(``agent.fake.FakeLLM``) answers each formulate request with the sample's own
formulation (right by construction) — except for the optimal samples with
integer variables, whose first reply drops the integrality (a wrong model) and
whose repair reply is the right one. The agent runs as in ``optiwise eval``
(check → solve → verify → repair, one repair round at most) through the normal
runner, and the run's ``report.md`` is printed: the failure split and the
findings table (how often each finding fired, at which severity, and how often
the model it fired on was right).

    .venv/bin/python bench/findings_table.py [--keep DIR]

Scored with the ``optimind`` protocol, which counts an unbounded answer as
matching a "no optimum" label (the ``sirl`` default would count the unbounded
samples wrong: SIRL greps for "infeasible"). The same table comes out of any real
run: ``optiwise eval DATASET ...`` writes ``report.md`` in the run folder, and
``evals.report.rescore``/``summarize`` rebuild it from ``results.jsonl``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent import OptimizationAgent
from agent.fake import FakeLLM
from agent.llm import ChatMessage
from evals.agent_solver import AgentSolver
from evals.loaders import Dataset
from evals.problems import Problem, normalize_answer
from evals.report import render_report, summarize
from evals.results import read_results
from evals.runner import run_eval
from modeling.samples import load_samples

PROTOCOL = "optimind"


def relaxed(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The document with every integer variable made continuous, or None if it has none."""
    out = copy.deepcopy(doc)
    changed = False
    for var in (out.get("variables") or {}).values():
        if isinstance(var, dict) and str(var.get("type", "")).lower() in ("integer", "int"):
            var["type"] = "continuous"
            changed = True
    return out if changed else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the run folder here (default: a temp dir)")
    args = parser.parse_args()

    problems: list[Problem] = []
    script: dict[str, tuple[str, str]] = {}  # question -> (formulate reply, repair reply)
    for sample in load_samples():
        doc = dict(sample.formulation)
        status = str(sample.expected_status)
        label = sample.expected_objective if status == "optimal" else status
        problems.append(
            Problem(
                id=sample.id,
                dataset="samples.scripted",
                question=sample.problem.strip(),
                answer=normalize_answer(label),
            )
        )
        wrong = relaxed(doc) if status == "optimal" else None
        first = json.dumps(wrong if wrong is not None else doc)
        script[sample.problem.strip()] = (first, json.dumps(doc))

    def reply(messages: list[ChatMessage]) -> str:
        last: Any = messages[-1]
        text = str(last["content"] if isinstance(last, dict) else last.content)
        node = 1 if "## Current document" in text else 0
        asked = text.split("## Problem\n\n", 1)[-1]
        for question, replies in script.items():
            if asked.startswith(question):
                return replies[node]
        return "no such problem"

    llm = FakeLLM(rules=[(lambda _text: True, reply)])
    agent = OptimizationAgent(llm=llm, max_repairs=1)
    dataset = Dataset(
        name="samples.scripted", family="samples", variant="scripted", problems=tuple(problems)
    )
    out = args.keep or Path(tempfile.mkdtemp(prefix="findings_table_"))
    started = time.perf_counter()
    summary = run_eval(
        dataset, AgentSolver(agent), model_name="scripted", out_dir=out, progress=False
    )
    elapsed = time.perf_counter() - started
    run_dir = Path(summary.run_dir)
    results = read_results(run_dir / "results.jsonl")
    rescored = summarize(
        results, config={"dataset": dataset.name}, run_dir=run_dir, default_protocol=PROTOCOL
    )
    report = render_report(rescored)
    keep = ("## Failures", "## Verify findings")
    sections = [s for s in report.split("\n## ") if any(("## " + s).startswith(k) for k in keep)]
    print(f"# {len(problems)} samples, scripted replies, {PROTOCOL} protocol ({elapsed:.1f} s)")
    print(f"# run folder: {run_dir}")
    for section in sections:
        print("\n## " + section.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
