"""``optiwise explain`` runs its solve and diagnosis in a killable worker (issue 9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from modeling import worker

INFEASIBLE = """
variables:
  x: {lower: 0, upper: 10}
objective: {sense: max, expression: "x"}
constraints:
  - {name: floor, expression: "x >= 12"}
"""


def test_explain_answers_from_the_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(INFEASIBLE)
    assert main(["explain", str(path), "--time-limit", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "infeasible"
    assert "floor" in json.dumps(report)  # the IIS names the constraint


def test_a_killed_worker_is_an_error_exit_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(INFEASIBLE)

    def killed(*args: object, **kwargs: object) -> None:
        raise worker.HardLimitExceeded(
            "time", 3.0, 3.1, "stopped after 3.1 s: the hard time limit of 3 s was reached"
        )

    monkeypatch.setattr(worker, "diagnose_isolated", killed)
    assert main(["explain", str(path), "--time-limit", "1"]) == 1
    assert "the hard time limit of 3 s was reached" in capsys.readouterr().err
