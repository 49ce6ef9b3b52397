"""Helpers shared by the tests (not fixtures: those live in ``conftest.py``).

Imported as ``from support import ...``; ``pyproject.toml`` puts ``tests/`` on
``sys.path`` for pytest.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from agent.llm import OpenAIChatModel
from agent.settings import LLMSettings
from agent.stub_server import StubServer

if TYPE_CHECKING:
    from evals.loaders import Dataset
    from evals.problems import Problem

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "datasets" / "samples"

__all__ = [
    "ROOT",
    "SAMPLES",
    "TOY_ENTRY",
    "benchmark_mirror",
    "hanging_cubic",
    "hard_knapsack",
    "items_knapsack",
    "optiwise",
    "sample",
    "sample_problem",
    "sample_records",
    "stub_model",
    "stub_settings",
    "synth",
    "synth_stub_reply",
    "tool_calls_reply",
    "toy_dataset",
    "toy_registry",
]


def benchmark_mirror() -> Path:
    """The benchmark mirror of a test marked ``@pytest.mark.needs_data``.

    The marker (see ``conftest.py``) has already skipped the test when
    ``$OPTIWISE_DATA_DIR`` is not a folder, so here it is one.
    """
    root = os.environ.get("OPTIWISE_DATA_DIR")
    assert root, "mark the test @pytest.mark.needs_data: it reads the benchmark mirror"
    return Path(root)


def stub_settings(stub: StubServer, **overrides: Any) -> LLMSettings:
    """Settings aimed at ``stub``: a test key, short timeouts, fast retries, no cache.

    They are explicit rather than read from the environment, so a developer's
    ``OPENAI_*`` or ``OPTIWISE_*`` variables cannot send a test to a real server.
    """
    values: dict[str, Any] = {
        "base_url": stub.base_url,
        "api_key": "test-key",
        "model": "gpt-4o-mini",
        "temperature": 0.0,
        "seed": None,
        "max_tokens": None,
        "timeout": 5.0,
        "max_retries": 2,
        "retry_initial_delay": 0.01,
        "retry_max_delay": 0.05,
        "cache_dir": None,
        "json_mode": "auto",
    }
    values.update(overrides)
    return LLMSettings(**values)


def stub_model(stub: StubServer, **overrides: Any) -> OpenAIChatModel:
    """An :class:`OpenAIChatModel` over the real ``openai`` client, talking to ``stub``."""
    return OpenAIChatModel(stub_settings(stub, **overrides))


def hanging_cubic() -> dict[str, Any]:
    """A model whose SCIP build ignores every time limit: for the killable-worker tests.

    It is infeasible through one cubic constraint of 27,000 terms, which the SCIP
    interface multiplies out while it builds the model (an IIS of it runs for over 30 s).
    """
    return {
        "sets": {"I": {"from": 1, "to": 30}},
        "variables": {"x": {"index": "I", "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(x[i] for i in I)"},
        "constraints": [
            {
                "name": "cubic",
                "expression": "sum(x[i] * x[j] * x[k] for i in I for j in I for k in I) >= 100000",
            }
        ],
    }


def hard_knapsack() -> dict[str, Any]:
    """A 60-item binary knapsack (profit = weight + 100) that HiGHS needs about a second for.

    A time limit of 0.05 s stops it early, with an incumbent: the model for time-limit tests.
    """
    n, m = 60, 1000
    w = [(7919 * i * i + 13 * i) % m + 1 for i in range(1, n + 1)]
    return {
        "name": "hard_knapsack",
        "sets": {"I": {"from": 1, "to": n}},
        "parameters": {
            "w": {"index": ["I"], "values": w},
            "p": {"index": ["I"], "values": [x + m // 10 for x in w]},
            "cap": sum(w) // 2,
        },
        "variables": {"take": {"index": ["I"], "type": "binary"}},
        "objective": {"sense": "maximize", "expression": "sum(p[i] * take[i] for i in I)"},
        "constraints": [{"name": "weight", "expression": "sum(w[i] * take[i] for i in I) <= cap"}],
    }


def items_knapsack(capacity: float) -> dict[str, Any]:
    """A binary knapsack read from the table ``items.csv`` (columns item, value, weight).

    The document names the table only: it solves with the data folder that holds it.
    """
    return {
        "sets": {"I": {"table": "items.csv", "column": "item"}},
        "parameters": {
            "v": {"index": ["I"], "table": "items.csv", "keys": "item", "value": "value"},
            "w": {"index": ["I"], "table": "items.csv", "keys": "item", "value": "weight"},
        },
        "variables": {"x": {"index": ["I"], "type": "binary"}},
        "objective": {"sense": "max", "expression": "sum(v[i] * x[i] for i in I)"},
        "constraints": [
            {"name": "cap", "expression": f"sum(w[i] * x[i] for i in I) <= {capacity:g}"}
        ],
    }


def tool_calls_reply(*wanted: tuple[str, Any]) -> dict[str, Any]:
    """A whole chat completion asking for these tool calls, for a stub handler to return.

    Each call is ``(name, arguments)``: a dict, sent as JSON, or text, sent as it is
    (a model's malformed arguments). The calls get the ids ``call_0``, ``call_1``...
    """
    calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            },
        }
        for i, (name, args) in enumerate(wanted)
    ]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    return {
        "id": "chatcmpl-tools",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}],
    }


# ------------------------------------------------------------------ samples as benchmark problems


def sample(name: str) -> dict[str, Any]:
    """``datasets/samples/NAME.yaml`` as read: ``problem``, ``formulation``, ``answer``...

    A fresh dict each call, so a test may change the formulation it gets.
    """
    data: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def sample_problem(name: str, pid: str | None = None, dataset: str = "toy.samples") -> Problem:
    """The sample NAME as a benchmark :class:`Problem`: its text, and its label.

    The label is the sample's optimal objective, or ``infeasible`` for a sample
    without an optimum, as a benchmark file would hold them.
    """
    from evals.problems import Problem, normalize_answer

    data = sample(name)
    answer = data["answer"]
    label = answer["objective"] if answer["status"] == "optimal" else "infeasible"
    return Problem(
        id=pid or name,
        dataset=dataset,
        question=str(data["problem"]).strip(),
        answer=normalize_answer(label),
    )


def toy_dataset(names: Iterable[str]) -> Dataset:
    """The loaded dataset ``toy.samples`` made of the named samples (see :func:`sample_problem`)."""
    from evals.loaders import Dataset

    problems = tuple(sample_problem(n) for n in names)
    return Dataset(name="toy.samples", family="toy", variant="samples", problems=problems)


def sample_records(names: Iterable[str]) -> list[dict[str, Any]]:
    """The named samples as the lines of a benchmark file (``id``, ``en_question``, ``en_answer``)."""
    return [
        {"id": p.id, "en_question": p.question, "en_answer": p.answer.raw}
        for p in (sample_problem(n) for n in names)
    ]


# ------------------------------------------------------------------ a toy registry

#: One ``[[dataset]]`` of a toy registry; ``str.format`` fills ``name``, ``variant``,
#: ``file`` (its path below the data folder), ``count`` and ``extra`` (more TOML lines).
TOY_ENTRY = """
[[dataset]]
name = "toy.{variant}"
family = "toy"
variant = "{variant}"
title = "toy {variant} problems"
repo = "optiwise/tests"
commit = "0000000"
path = "{variant}.jsonl"
local_path = "toy/{variant}.jsonl"
format = "jsonl"
license = "MIT"
count = {count}
id_field = "id"
{extra}"""


def toy_registry(
    monkeypatch: pytest.MonkeyPatch,
    root: Path,
    records: list[dict[str, Any]],
    *,
    dev: bool = False,
    alias: bool = False,
) -> Path:
    """A registry (``$OPTIWISE_REGISTRY``) whose ``toy.samples`` holds ``records``; the data folder.

    ``records`` are the lines of ``DATA/toy/samples.jsonl`` (see :func:`sample_records`).
    ``dev`` adds ``toy.dev`` (split ``dev``) holding the first record; ``alias`` adds
    the alias ``toy`` for ``toy.samples``. The registry file is ``root/registry.toml``,
    the data folder ``root/data``.
    """
    data = root / "data"
    (data / "toy").mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) + "\n" for r in records]
    (data / "toy" / "samples.jsonl").write_text("".join(lines), encoding="utf-8")
    text = TOY_ENTRY.format(variant="samples", count=len(records), extra="")
    if dev:
        (data / "toy" / "dev.jsonl").write_text(lines[0], encoding="utf-8")
        text += TOY_ENTRY.format(variant="dev", count=1, extra='split = "dev"\n')
    if alias:
        text = '[aliases.toy]\ntarget = "toy.samples"\nreason = "the test\'s dataset"\n' + text
    registry = root / "registry.toml"
    registry.write_text(text, encoding="utf-8")
    monkeypatch.setenv("OPTIWISE_REGISTRY", str(registry))
    return data


# ------------------------------------------------------------------ the command line, in process


def _run(register: Callable[[Any], None], argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="optiwise")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def optiwise(*argv: str) -> int:
    """``optiwise ARGV...`` of the evaluation commands (``eval``, ``data``...), in process; its exit status."""
    from evals import cli

    return _run(cli.register, list(argv))


def synth(*argv: str) -> int:
    """``optiwise synth ARGV...``, in process; its exit status."""
    from evals.synth import cli as synth_cli

    return _run(synth_cli.register, ["synth", *argv])


#: What :func:`synth_stub_reply` writes into a back-translated text, before the model's data.
SYNTH_MARKER = "the model data are "


def synth_stub_reply(body: dict[str, Any]) -> str:
    """A stub model for ``optiwise synth`` that back-translates and formulates every model right.

    The "word problem" it writes is the instance's document as JSON after
    :data:`SYNTH_MARKER`; asked to formulate that text, it returns the document.
    """
    last = str(body["messages"][-1]["content"])
    if "Write the word problem for this model" in last:
        doc = yaml.safe_load(last.split("```yaml\n", 1)[1].split("```", 1)[0])
        return json.dumps({"problem": f"Case {doc['name']}: {SYNTH_MARKER}{json.dumps(doc)}"})
    start = last.index(SYNTH_MARKER) + len(SYNTH_MARKER)
    doc, _ = json.JSONDecoder().raw_decode(last[start:])
    return json.dumps(doc)
