"""``--data-refs`` exports keep a formulation's tables apart from the model (issue 15).

The Pyomo script reads the tables when it runs, with optiwise's own reader, so a
changed table changes its answer; the LaTeX names the files; LP and MPS, which
hold every coefficient, refuse the option with a message.
"""

from __future__ import annotations

import ast
import io
import runpy
import shutil
import sys
from pathlib import Path

import pytest

from agent.cli import main
from modeling import load, solve
from modeling.data import param_entries, read_data
from modeling.errors import FormulationError
from modeling.export import to_latex, to_pyomo_script

# A transport model whose every number is in a table: supplies (long, keys by name),
# demands (headerless, by position), unit costs (a wide matrix) and a set of
# forbidden routes (pairs) with a penalty default.
DOC = """
sets:
  P: {table: supply.csv, column: plant}
  M: {table: cost.csv, column_labels: 2}
  BAN: {table: banned.csv, columns: [plant, market]}
parameters:
  s: {index: [P], table: supply.csv, keys: plant, value: capacity}
  d: {index: [M], table: demand.csv, header: false}
  c: {index: [P, M], table: cost.csv, layout: wide}
variables:
  x: {index: [P, M]}
objective: {sense: min, expression: "sum(c[p, m] * x[p, m] for p in P for m in M)"}
constraints:
  - {name: supply, forall: "p in P", expression: "sum(x[p, m] for m in M) <= s[p]"}
  - {name: demand, forall: "m in M", expression: "sum(x[p, m] for p in P) >= d[m]"}
  - {name: banned, forall: "(p, m) in BAN", expression: "x[p, m] == 0"}
"""


@pytest.fixture(autouse=True)
def _stdin_doc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI tests read DOC from '-' (standard input)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(DOC))


def _tables(folder: Path, cost_ab: float = 2.25) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "supply.csv").write_text("plant,capacity\nseattle,350\nsan-diego,600\n")
    (folder / "demand.csv").write_text("new-york,325\nchicago,300\ntopeka,275\n")
    (folder / "cost.csv").write_text(
        f"plant,new-york,chicago,topeka\nseattle,{cost_ab},1.7,1.8\nsan-diego,2.5,1.8,1.4\n"
    )
    (folder / "banned.csv").write_text("plant,market\nsan-diego,chicago\n")
    return folder


def _run_script(path: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> float:
    """Run a generated script in this interpreter (pyomo is imported once); its objective."""
    argv = sys.argv
    sys.argv = [str(path), *args]
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert "status: optimal" in out, out
    line = next(x for x in out.splitlines() if x.startswith("objective:"))
    return float(line.split(":", 1)[1])


def test_the_script_reads_the_tables_when_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _tables(tmp_path / "data")
    f = load(DOC, data=data)
    reference = solve(f)
    script = tmp_path / "model.py"
    script.write_text(to_pyomo_script(f, data_refs=True, data_dir="data"))
    code = script.read_text()
    assert "2.25" not in code and "seattle" not in code  # no value of the tables is written
    assert _run_script(script, capsys=capsys) == pytest.approx(reference.objective)

    # a changed table changes the script's answer: it read the file, not a copy
    other = _tables(tmp_path / "other", cost_ab=0.5)
    cheaper = solve(load(DOC, data=other)).objective
    assert cheaper is not None and reference.objective is not None
    assert cheaper < reference.objective
    assert _run_script(script, str(other), capsys=capsys) == pytest.approx(cheaper)


def test_script_and_data_can_move_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _tables(tmp_path / "project" / "tables")
    out = tmp_path / "project" / "export" / "model.py"
    out.parent.mkdir(parents=True)
    rc = main(["export", "-", "--data", str(data), "--to", "pyomo", "--data-refs", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "'../tables'" in out.read_text()  # relative to the script
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "project", moved)
    shutil.rmtree(tmp_path / "project")
    expected = solve(load(DOC, data=moved / "tables")).objective
    capsys.readouterr()
    assert _run_script(moved / "export" / "model.py", capsys=capsys) == pytest.approx(expected)


def test_inline_script_still_holds_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = load(DOC, data=_tables(tmp_path / "data"))
    code = to_pyomo_script(f)
    assert "'seattle'" in code and "modeling" not in code  # standalone: no optiwise import
    script = tmp_path / "inline.py"
    script.write_text(code)
    assert _run_script(script, capsys=capsys) == pytest.approx(solve(f).objective)


def test_document_strings_stay_literals(tmp_path: Path) -> None:
    """A hostile string in the document reaches the script only as a string literal."""
    data = _tables(tmp_path / "data")
    hostile = "x'); __import__('os').system('echo owned'); ('"
    doc = DOC.replace("column: plant}", "column: plant, description: " + repr(hostile) + "}")
    f = load(doc, data=data)
    code = to_pyomo_script(f, data_refs=True)
    tree = ast.parse(code)
    assigned = {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    sets = ast.literal_eval(assigned["SETS"])
    assert sets["P"]["description"] == hostile
    assert not any(
        isinstance(n, ast.Call) and getattr(n.func, "id", "") == "__import__"
        for n in ast.walk(tree)
    )


def test_latex_names_the_files_instead_of_the_values(tmp_path: Path) -> None:
    f = load(DOC, data=_tables(tmp_path / "data"))
    tex = to_latex(f, data_refs=True)
    assert r"\text{cost.csv (column labels 2)},\ |M| = 3" in tex
    assert r"c_{p,m}:\ \text{cost.csv (layout wide)}" in tex
    assert "2.25" not in tex
    assert "2.25" in to_latex(f)  # the default shows the first values


def test_lp_and_mps_refuse_data_refs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _tables(tmp_path / "data")
    for fmt in ("lp", "mps"):
        rc = main(["export", "-", "--data", str(data), "--to", fmt, "--data-refs"])
        assert rc == 2
        err = capsys.readouterr().err
        assert f"--data-refs does not apply to {fmt.upper()}" in err


def test_read_data_reports_located_table_errors(tmp_path: Path) -> None:
    data = _tables(tmp_path / "data")
    (data / "supply.csv").write_text("plant,capacity\nseattle,lots\nsan-diego,600\n")
    f = load(DOC)
    with pytest.raises(FormulationError) as err:
        read_data(f.sets, f.parameters, data)
    assert any("lots" in str(i) and i.location.startswith("parameters.s") for i in err.value.issues)
    good = read_data(f.sets, f.parameters, _tables(tmp_path / "good"))
    assert param_entries(good.params["c"], good.sets)[("seattle", "new-york")] == 2.25


def test_a_nonlinear_model_refused_as_lp_names_the_cli_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (
        'variables: {x: {lower: 1, upper: 4}}\nobjective: {sense: min, expression: "x * exp(x)"}\n'
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO(doc))
    assert main(["export", "-", "--to", "lp"]) == 1
    assert "--to pyomo" in capsys.readouterr().err
