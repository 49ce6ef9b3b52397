"""``optiwise minimize`` through its register(): JSON output and exit statuses."""

from __future__ import annotations

import argparse
import json

import pytest

from modeling.numeric import cli


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["minimize", *argv])
    return int(args.handler(args))


@pytest.mark.parametrize("method", ["sketched-newton", "slsqp", "trust-constr"])
def test_json_result_of_an_equality_constrained_problem(
    method: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(
        [
            "(x-1)**2 + (y-2)**2",
            "--var",
            "x",
            "--var",
            "y",
            "--eq",
            "x + y - 1",
            "--method",
            method,
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["status"] == "optimal"
    assert out["method"] == method
    assert out["objective"] == pytest.approx(2.0, abs=1e-6)
    assert out["solution"]["x"] == pytest.approx(0.0, abs=1e-5)
    assert out["solution"]["y"] == pytest.approx(1.0, abs=1e-5)
    assert out["multipliers"] == pytest.approx([2.0], abs=1e-4)
    assert "history" not in out


def test_first_order_method_with_starts_and_history(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(
        [
            "(x-3)**2 + exp(y) - y",
            "--var",
            "x=1",
            "--var",
            "y=1",
            "--method",
            "adam",
            "--lr",
            "0.1",
            "--json",
            "--history",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["solution"]["x"] == pytest.approx(3.0, abs=1e-4)
    assert out["history"][0]["objective"] > out["history"][-1]["objective"]


def test_a_bad_expression_is_exit_2_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(["(x-1)**2 + yy", "--var", "x", "--var", "y"])
    err = capsys.readouterr().err
    assert code == 2
    assert "yy" in err and "did you mean" in err.lower()


def test_iteration_limit_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(
        [
            "(1 - x)**2",
            "--var",
            "x=-1.2",
            "--var",
            "y=1",
            "--eq",
            "10*(y - x**2)",
            "--max-iter",
            "2",
        ]
    )
    assert code == 3
    assert "stopped (iteration_limit)" in capsys.readouterr().out
