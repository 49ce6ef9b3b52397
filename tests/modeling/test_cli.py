"""``optiwise solve | check | export | explain``: output, exit codes, and a clean stdout."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.cli import main

SPEC_KEYS = {"status", "objective", "model_class", "solver", "variables", "message"}

# The example of the spec (``formulation.md``): optimum 1707.5.
TRANSPORT = """\
name: transport
sets:
  Plants: [seattle, san_diego]
  Markets: [new_york, chicago, topeka]
parameters:
  supply: {index: [Plants], values: [350, 600]}
  demand: {index: [Markets], values: {new_york: 325, chicago: 300, topeka: 275}}
  cost:
    index: [Plants, Markets]
    values: [[2.5, 1.7, 1.8], [2.5, 1.8, 1.4]]
variables:
  ship: {index: [Plants, Markets], type: continuous}
objective:
  sense: minimize
  expression: "sum(cost[p, m] * ship[p, m] for p in Plants for m in Markets)"
constraints:
  - name: capacity
    forall: "for p in Plants"
    expression: "sum(ship[p, m] for m in Markets) <= supply[p]"
  - name: meet_demand
    forall: "for m in Markets"
    expression: "sum(ship[p, m] for p in Plants) >= demand[m]"
"""

INFEASIBLE = """\
variables:
  x: {upper: 3}
objective: {sense: max, expression: "x"}
constraints:
  - {name: too_much, expression: "x >= 5"}
"""

UNBOUNDED = """\
variables:
  x: {}
objective: {sense: max, expression: "2 * x"}
"""

INVALID = """\
sets:
  R: [north, south]
variables:
  x: {index: [R]}
objective: {sense: min, expression: "sum(cots[r] * x[r] for r in R)"}
constraints:
  - {name: c, expression: "x['north'] < 3"}
"""

QP = """\
variables:
  x: {upper: 10}
  y: {upper: 10}
objective: {sense: min, expression: "(x - 3) ** 2 + (y - 2) ** 2"}
"""


def write(tmp_path: Path, text: str, name: str = "model.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


# ------------------------------------------------------------------ solve --json


def test_solve_json_optimal_is_the_spec_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = run_json(capsys, ["solve", write(tmp_path, TRANSPORT), "--json"])
    assert code == 0
    assert SPEC_KEYS <= data.keys()
    assert data["status"] == "optimal"
    assert data["objective"] == pytest.approx(1707.5)
    assert data["model_class"] == "LP"
    assert data["solver"] == "highs"
    ship = data["variables"]["ship"]
    assert set(ship) == {
        f"{p},{m}" for p in ("seattle", "san_diego") for m in ("new_york", "chicago", "topeka")
    }
    assert sum(ship.values()) == pytest.approx(900.0)
    assert "errors" not in data


def test_solve_json_infeasible_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, ["solve", write(tmp_path, INFEASIBLE), "--json"])
    assert code == 0
    assert data["status"] == "infeasible"
    assert data["objective"] is None


def test_solve_json_unbounded_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, ["solve", write(tmp_path, UNBOUNDED), "--json"])
    assert code == 0
    assert data["status"] == "unbounded"


def test_solve_json_invalid_lists_every_located_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = run_json(capsys, ["solve", write(tmp_path, INVALID), "--json"])
    assert code == 2
    assert data["status"] == "invalid"
    assert data["objective"] is None
    by_location = {e["location"]: e for e in data["errors"]}
    assert set(by_location) == {"objective.expression", "constraints[0].expression"}
    assert "cots" in by_location["objective.expression"]["message"]
    assert "<=" in by_location["constraints[0].expression"]["hint"]


def test_solve_missing_file_is_invalid_at_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.yaml")
    code, data = run_json(capsys, ["solve", missing, "--json"])
    assert code == 2
    assert data["status"] == "invalid"
    assert data["errors"][0]["location"] == missing
    assert "not found" in data["errors"][0]["message"]


def test_solve_directory_and_binary_file_are_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = run_json(capsys, ["solve", str(tmp_path), "--json"])
    assert (code, data["errors"][0]["location"]) == (2, str(tmp_path))
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    code, data = run_json(capsys, ["solve", str(binary), "--json"])
    assert code == 2
    assert data["errors"][0]["location"] == str(binary)


def test_solve_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(TRANSPORT))
    code, data = run_json(capsys, ["solve", "-", "--json"])
    assert code == 0
    assert data["objective"] == pytest.approx(1707.5)


def test_solve_one_line_json_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"variables": {"x": {"upper": 4}}, "objective": {"sense": "max", "expression": "3 * x"}}
    path = tmp_path / "one.json"
    path.write_text(json.dumps(doc), encoding="utf-8")  # no trailing newline
    code, data = run_json(capsys, ["solve", str(path), "--json"])
    assert (code, data["status"], data["objective"]) == (0, "optimal", 12.0)


def test_solve_pulp_backend_on_a_qp_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = run_json(capsys, ["solve", write(tmp_path, QP), "--json", "--backend", "pulp"])
    assert code == 1
    assert data["status"] == "error"
    assert data["model_class"] == "QP"
    assert data["message"]


def test_solve_unknown_solver_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["solve", write(tmp_path, TRANSPORT), "--json", "--backend", "highs"]
    code, data = run_json(capsys, [*argv, "--solver", "no_such_solver"])
    assert code == 1
    assert data["status"] == "error"
    assert "no_such_solver" in data["message"]


def test_solve_time_limit_and_gap_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["solve", write(tmp_path, TRANSPORT), "--json", "--time-limit", "30"]
    code, data = run_json(capsys, [*argv, "--mip-gap", "0.01"])
    assert (code, data["status"]) == (0, "optimal")


def test_solve_rejects_a_negative_time_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["solve", write(tmp_path, TRANSPORT), "--time-limit", "-1"])
    assert exc.value.code == 2
    assert "time-limit" in capsys.readouterr().err


def test_solve_crash_is_status_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    solve_module = importlib.import_module("modeling.solve")  # the package re-exports solve()

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(solve_module, "solve", boom)
    code, data = run_json(capsys, ["solve", write(tmp_path, TRANSPORT), "--json"])
    assert code == 1
    assert data["status"] == "error"
    assert "kaboom" in data["message"]
    code = main(["solve", write(tmp_path, TRANSPORT)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.out + captured.err
    assert "kaboom" in captured.err


# ------------------------------------------------------------------ solve report


def test_solve_report_shows_status_objective_class_solver_and_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["solve", write(tmp_path, TRANSPORT)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("transport: optimal")
    assert "1707.5" in out
    assert "LP (6 variables, 5 constraints, 12 nonzeros)" in out
    assert "highs" in out
    # values in the formulation's names, aligned in one column
    value_lines = [line for line in out.splitlines() if line.strip().startswith("ship[")]
    assert value_lines
    assert len({len(line) for line in value_lines}) == 1
    assert "binding constraints:" in out
    assert "meet_demand['new_york']" in out


def test_solve_report_leaves_out_zeros_and_truncates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = """\
sets: {I: {from: 1, to: 80}}
variables: {x: {index: [I]}}
objective: {sense: min, expression: "sum(x[i] for i in I)"}
constraints:
  - {name: low, forall: "for i in I if i <= 60", expression: "x[i] >= 1"}
"""
    code = main(["solve", write(tmp_path, doc)])
    out = capsys.readouterr().out
    assert code == 0
    assert "x[1] " in out
    assert "x[70]" not in out  # zero
    assert "x[55]" not in out  # beyond the first 50 rows
    assert "10 more nonzero values" in out


def test_solve_report_for_invalid_lists_issues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["solve", write(tmp_path, INVALID)])
    out = capsys.readouterr().out
    assert code == 2
    assert "invalid" in out
    assert "objective.expression: unknown name 'cots'" in out
    assert "constraints[0].expression: uses a strict '<'" in out


def test_solve_report_infeasible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["solve", write(tmp_path, INFEASIBLE)])
    out = capsys.readouterr().out
    assert code == 0
    assert ": infeasible" in out.splitlines()[0]


# ------------------------------------------------------------------ check


def test_check_valid_prints_class_and_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", write(tmp_path, TRANSPORT)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].startswith("valid: LP")
    assert "6 variables, 5 constraints, 12 nonzeros" in out


def test_check_invalid_prints_every_issue_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", write(tmp_path, INVALID)])
    out = capsys.readouterr().out
    assert code == 2
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == "invalid: 2 problems"
    assert any(
        line.startswith("objective.expression: unknown name 'cots'") and "(" in line
        for line in lines
    )
    assert any(
        line.startswith("constraints[0].expression: uses a strict '<'") and "+ 1" in line
        for line in lines
    )


def test_check_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, ["check", write(tmp_path, QP), "--json"])
    assert code == 0
    assert data["valid"] is True and data["issues"] == []
    assert data["model_class"] == "QP" and data["convex"] is True
    assert data["sizes"]["variables"] == 2
    code, data = run_json(capsys, ["check", write(tmp_path, INVALID), "--json"])
    assert code == 2
    assert data["valid"] is False
    assert {i["location"] for i in data["issues"]} == {
        "objective.expression",
        "constraints[0].expression",
    }
    assert all({"location", "message", "hint"} <= i.keys() for i in data["issues"])


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", str(tmp_path / "nope.yaml")])
    assert code == 2
    assert "nope.yaml: file not found" in capsys.readouterr().out


def test_check_yaml_syntax_error_is_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", write(tmp_path, "variables: [\n")])
    assert code == 2
    assert "not valid YAML" in capsys.readouterr().out


# ------------------------------------------------------------------ export / explain


NONLINEAR = """\
variables:
  x: {upper: 3}
objective: {sense: min, expression: "exp(x) - 2 * x"}
constraints:
  - {name: c, expression: "x * x >= 0.25"}
"""


def test_export_to_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, TRANSPORT)
    assert main(["export", path, "--to", "latex"]) == 0
    assert "ship" in capsys.readouterr().out
    assert main(["export", path, "--to", "pyomo"]) == 0
    script = capsys.readouterr().out
    assert "pyomo" in script
    compile(script, "model.py", "exec")  # a valid Python program (not run)
    assert main(["export", path, "--to", "mps"]) == 0
    assert "ROWS" in capsys.readouterr().out
    out = tmp_path / "model.lp"
    assert main(["export", path, "--to", "lp", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "meet_demand" in out.read_text()
    tex = tmp_path / "model.tex"
    assert main(["export", path, "--to", "latex", "--output", str(tex)]) == 0
    assert "ship" in tex.read_text()


def test_export_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", write(tmp_path, INVALID), "--to", "latex"]) == 2
    assert "objective.expression: unknown name 'cots'" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope.yaml"), "--to", "lp"]) == 2
    assert "file not found" in capsys.readouterr().err
    # LP files hold no nonlinear model: an error that says what to use instead
    assert main(["export", write(tmp_path, NONLINEAR, "nl.yaml"), "--to", "lp"]) == 1
    assert "Pyomo" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", write(tmp_path, TRANSPORT), "--to", "docx"])


def test_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, INFEASIBLE)
    assert main(["explain", path]) == 0
    text = capsys.readouterr().out
    assert "infeasible" in text
    assert "too_much" in text
    code, data = run_json(capsys, ["explain", path, "--json"])
    assert code == 0
    assert data["status"] == "infeasible"
    code, data = run_json(capsys, ["explain", write(tmp_path, TRANSPORT, "t.yaml"), "--json"])
    assert (code, data["status"]) == (0, "optimal")
    code = main(["explain", write(tmp_path, INVALID, "bad.yaml")])
    assert code == 2
    assert "objective.expression: unknown name 'cots'" in capsys.readouterr().out
    code, data = run_json(capsys, ["explain", write(tmp_path, INVALID, "bad.yaml"), "--json"])
    assert (code, data["status"]) == (2, "invalid")
    assert {e["location"] for e in data["errors"]} == {
        "objective.expression",
        "constraints[0].expression",
    }


# ------------------------------------------------------------------ real processes


def _optiwise() -> list[str]:
    script = Path(sys.executable).parent / "optiwise"
    return [str(script)] if script.exists() else [sys.executable, "-m", "agent.cli"]


@pytest.fixture(scope="module")
def cli_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every ``optiwise`` subprocess of this file, by name, started together.

    Each is a fresh interpreter that spends about 2 s of CPU importing before it
    works; started side by side they use both cores instead of one at a time.
    """
    folder = tmp_path_factory.mktemp("cli")
    commands: dict[str, tuple[list[str], str | None]] = {
        "solve-optimal": (
            ["solve", write(folder, TRANSPORT, "t.yaml"), "--json", "--backend", "auto"],
            None,
        ),
        "solve-infeasible": (
            ["solve", write(folder, INFEASIBLE, "i.yaml"), "--json", "--backend", "auto"],
            None,
        ),
        "solve-invalid": (
            ["solve", write(folder, INVALID, "bad.yaml"), "--json", "--backend", "auto"],
            None,
        ),
        "solve-error": (
            ["solve", write(folder, QP, "qp.yaml"), "--json", "--backend", "pulp"],
            None,
        ),
        "verbose": (["solve", "-", "--json", "--verbose"], TRANSPORT),
        "export-lp": (["export", str(folder / "t.yaml"), "--to", "lp"], None),
        "check-ok": (["check", str(folder / "t.yaml")], None),
        "check-bad": (["check", str(folder / "bad.yaml"), "--json"], None),
    }
    started = {
        name: subprocess.Popen(
            [*_optiwise(), *argv],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (argv, stdin) in commands.items()
    }
    runs = {}
    for name, proc in started.items():
        stdout, stderr = proc.communicate(commands[name][1], timeout=120)
        runs[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return runs


def _one_json_object(stdout: str) -> dict[str, Any]:
    """stdout holds exactly one JSON object and nothing else (no solver banner)."""
    data, end = json.JSONDecoder().raw_decode(stdout.lstrip())
    assert stdout.lstrip()[end:].strip() == "", f"extra output after the JSON: {stdout!r}"
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("status", "code"),
    [("optimal", 0), ("infeasible", 0), ("invalid", 2), ("error", 1)],
    ids=["optimal", "infeasible", "invalid", "error"],
)
def test_subprocess_stdout_is_exactly_one_json_object(
    cli_runs: dict[str, subprocess.CompletedProcess[str]], status: str, code: int
) -> None:
    proc = cli_runs[f"solve-{status}"]  # the error: a QP on the PuLP backend
    data = _one_json_object(proc.stdout)
    assert SPEC_KEYS <= data.keys()
    assert (data["status"], proc.returncode) == (status, code), proc.stderr
    assert "Traceback" not in proc.stderr
    if status == "invalid":
        assert all(e["location"] and e["message"] for e in data["errors"])


def test_subprocess_verbose_log_goes_to_stderr(
    cli_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    proc = cli_runs["verbose"]  # the model read from stdin
    assert proc.returncode == 0
    assert _one_json_object(proc.stdout)["objective"] == pytest.approx(1707.5)
    assert "HiGHS" in proc.stderr


def test_subprocess_export_lp_stdout_is_only_the_file(
    cli_runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    proc = cli_runs["export-lp"]
    assert proc.returncode == 0, proc.stderr
    assert "Running HiGHS" not in proc.stdout
    assert proc.stdout.lstrip().startswith("\\")  # the LP file's comment line
    assert "meet_demand" in proc.stdout


def test_subprocess_check_exit_codes(cli_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    ok, bad = cli_runs["check-ok"], cli_runs["check-bad"]
    assert ok.returncode == 0 and ok.stdout.startswith("valid: LP")
    assert bad.returncode == 2
    assert _one_json_object(bad.stdout)["valid"] is False


def test_yaml_spec_example_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON form of a YAML document solves to the same answer."""
    as_json = json.dumps(yaml.safe_load(TRANSPORT))
    code, data = run_json(capsys, ["solve", write(tmp_path, as_json, "t.json"), "--json"])
    assert (code, data["objective"]) == (0, pytest.approx(1707.5))
