"""optiwise synth: a finished run grown with a larger --n keeps its finished instances (QA F18).

Instances are drawn in a fixed seeded order, so the first n of a larger --n are the
earlier run's; only the new ones are back-translated and checked. The LLM is the
loopback stub through the real openai client; solvers are real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import synth, synth_stub_reply

from evals.tune.data import read_problem_file


@pytest.mark.slow  # two CLI runs that formulate and solve three instances with the real solver
def test_a_larger_n_keeps_the_finished_instances(
    tmp_path: Path, llm_stub: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.handler = synth_stub_reply
    out = tmp_path / "out"

    def argv(n: int) -> list[str]:
        return [
            "--seed-names",
            "production_mix",
            "--n",
            str(n),
            "--out",
            str(out),
            "--model",
            "gpt-4o-mini",
            "--base-url",
            llm_stub.base_url,
            "--no-dedup",
            "--max-repairs",
            "0",
            "--examples",
            "0",
        ]

    assert synth(*argv(1)) == 0
    capsys.readouterr()
    assert len(llm_stub.requests) == 2  # back-translation and forward formulation
    first = read_problem_file(out / "problems.jsonl")

    assert synth(*argv(2)) == 0
    captured = capsys.readouterr()
    assert "--n changed from 1 to 2" in captured.err and "1 instance(s) finished" in captured.err
    assert "1 finished by an earlier run" in captured.out and "2 accepted" in captured.out
    assert len(llm_stub.requests) == 4  # only the new instance was asked for
    grown = read_problem_file(out / "problems.jsonl")
    assert [p.id for p in grown][:1] == [p.id for p in first] and len(grown) == 2
    assert json.loads((out / "run.json").read_text())["n"] == 2
