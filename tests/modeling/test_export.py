"""Exports mean what the compiler solves: LaTeX to read, a Pyomo script to run, LP/MPS files.

The generated Pyomo scripts are run for real in subprocesses (all at once, to
keep the suite fast) and must print the objective that modeling.solve finds.
"""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import highspy
import pytest
from spec_example import TRANSPORT

from modeling import compile_model, solve
from modeling.compiler import ModelClass
from modeling.export import (
    ExportError,
    lp_name,
    to_latex,
    to_lp,
    to_mps,
    to_pyomo_script,
)
from modeling.result import Status

SAMPLES = Path(__file__).resolve().parents[2] / "datasets" / "samples"


KNAPSACK: dict[str, Any] = {
    "name": "knapsack",
    "sets": {"Items": ["tent", "water", "food", "radio", "medkit"], "T": {"from": 1, "to": 3}},
    "parameters": {
        "value": {"index": ["Items"], "values": [10, 13, 7, 8, 9]},
        "weight": {"index": ["Items"], "values": [5, 8, 3, 4, 4]},
        "cap": 14,
        "slots": {"index": ["T"], "rows": [[1, 2], [3, 1]], "default": 0},
    },
    "variables": {
        "take": {"index": ["Items"], "type": "binary"},
        "crates": {"index": ["T"], "type": "integer", "upper": 4},
    },
    "objective": {
        "sense": "maximize",
        "expression": "sum(value[i] * take[i] for i in Items) - sum(crates[t] for t in T)",
    },
    "constraints": [
        {"name": "capacity", "expression": "sum(weight[i] * take[i] for i in Items) <= cap"},
        {
            "name": "crate_need",
            "forall": "for t in T if slots[t] > 0",
            "expression": "2 * crates[t] >= slots[t] + 1",
        },
        {
            "name": "chain",
            "forall": "for t in T if t > 1",
            "expression": "crates[t] <= crates[t - 1] + 1",
        },
        {"name": "pair", "expression": "take['radio'] <= take['water']"},
    ],
}

PRICING: dict[str, Any] = {
    "name": "pricing",
    "parameters": {"market": 100, "sensitivity": 0.02},
    "variables": {"price": {"upper": 200}},
    "objective": {
        "sense": "maximize",
        "expression": "market * price * exp(-sensitivity * price)",
    },
}
PRICING_OPT = 100 * 50 * math.exp(-1)  # at price = 1 / sensitivity = 50

QP: dict[str, Any] = {
    "name": "projection",
    "variables": {"x": {"lower": None}, "y": {"lower": None}},
    "objective": {"sense": "minimize", "expression": "(x - 1) ** 2 + (y - 2) ** 2"},
    "constraints": [{"name": "half_plane", "expression": "x + y <= 2"}],
}

EVIL = "x'); import os; os.system('touch PWNED'); print('"
HOSTILE: dict[str, Any] = {
    "name": 'n"""\nimport os\nos.system("touch PWNED")\n"""',
    "sets": {"S": [EVIL, "a\nb", "c\\d", "\u2028e", 3]},
    "parameters": {"w": {"index": ["S"], "values": [1, 2, 3, 4, 5]}},
    "variables": {"x": {"index": ["S"], "upper": 1}, "name": {"upper": 2}},
    "objective": {
        "sense": "max",
        "expression": "sum(w[s] * x[s] for s in S if s != 'a\\nb') + name",
        "description": "ok\nimport os\x00\u2028os.system('touch PWNED')",
    },
    "constraints": [
        {
            "name": "model",
            "forall": "for pyo in S",
            "expression": "x[pyo] <= 1",
            "description": "d\r\nos.system('touch PWNED')",
        },
        {"name": "pair", "expression": "x['c\\\\d'] + x[3] <= 1"},
    ],
}
HOSTILE_OPT = 1 + 4 + 5 + 2  # w[EVIL] + w['\u2028e'] + max(w['c\\d'], w[3]) + name

INFEASIBLE = {
    "variables": {"x": {"upper": 1}},
    "objective": {"sense": "min", "expression": "x"},
    "constraints": [{"name": "too_much", "expression": "x >= 2"}],
}


# ------------------------------------------------------------------ LaTeX


def test_latex_of_the_transport_example() -> None:
    tex = to_latex(TRANSPORT)
    for fragment in [
        r"\begin{aligned}",
        r"\min\quad & \sum_{p \in \mathit{Plants}} \sum_{m \in \mathit{Markets}} "
        r"\mathit{cost}_{p,m} \, \mathit{ship}_{p,m}",
        r"\sum_{m \in \mathit{Markets}} \mathit{ship}_{p,m} \le \mathit{supply}_{p}",
        r"\forall p \in \mathit{Plants}",
        r"\ge \mathit{demand}_{m} && \forall m \in \mathit{Markets}",
        r"(\text{meet\_demand})",
        r"\mathit{ship}_{p,m} \in \mathbb{R}_{\ge 0}",
        r"\mathit{Plants} = \{\text{seattle}, \text{san\_diego}\}",
        r"\text{chicago}: 300",
        r"\end{aligned}",
    ]:
        assert fragment in tex, fragment
    assert tex.count("{") - tex.count(r"\{") == tex.count("}") - tex.count(r"\}")
    assert "_demand" not in tex.replace(r"\_demand", "")  # every underscore escaped


SHOWCASE: dict[str, Any] = {
    "sets": {"I": ["a", "b_c"], "T": {"from": 1, "to": 12}},
    "parameters": {
        "unit_cost": {"index": ["I"], "values": [1, 2]},
        "alpha": 0.5,
        "cap": {"index": ["I", "T"], "default": 4},
    },
    "variables": {
        "x": {"index": ["I", "T"], "upper": "cap"},
        "open_": {"index": ["I"], "type": "binary"},
        "n": {"type": "integer", "lower": None},
        "inv": {"index": ["T"], "lower": None, "upper": 9},
    },
    "objective": {
        "sense": "max",
        "expression": "sum(unit_cost[i] * x[i, t] / (1 + alpha) for i in I for t in T "
        "if t != 1) - (n - 1) ** 2 + exp(-alpha * n) + sqrt(abs(n)) + max(n, 2)",
    },
    "constraints": [
        {
            "name": "flow",
            "forall": "for t in T if t > 1 and not t == 12",
            "expression": "inv[t] == inv[t - 1] + sum(x[i, t] for i in I)",
        },
        {"name": "band", "expression": "-3 <= n <= 3"},
    ],
}


def test_latex_renders_every_construct_from_the_tree() -> None:
    doc = SHOWCASE
    tex = to_latex(doc)
    for fragment in [
        r"\max\quad",
        r"\sum_{\substack{i \in I,\ t \in T \\ t \neq 1}}",
        r"\frac{\mathit{unit\_cost}_{i} \, x_{i,t}}{1 + \alpha}",
        r"{\left(n - 1\right)}^{2}",
        r"\exp\left(-\alpha \, n\right)",
        r"\sqrt{\left|n\right|}",
        r"\max\left(n, 2\right)",
        r"\forall t \in T : t > 1 \land \lnot \left(t = 12\right)",
        r"\mathit{inv}_{t} = \mathit{inv}_{t - 1} + \sum_{i \in I} x_{i,t}",
        r"-3 \le n \le 3",
        r"\mathit{open\_}_{i} \in \{0,1\}",
        r"n \in \mathbb{Z}",
        r"0 \le x_{i,t} \le \mathit{cap}_{i,t}",
        r"T = \{1, \ldots, 12\}",
        r"\text{b\_c}",
    ]:
        assert fragment in tex, fragment


_KATEX_CHECK = """
import katex from "./katex.mjs";
import fs from "fs";
const out = {};
for (const [name, tex] of Object.entries(JSON.parse(fs.readFileSync(0, "utf8")))) {
  try { katex.renderToString(tex, {displayMode: true, throwOnError: true, strict: "error"}); }
  catch (e) { out[name] = String(e.message); }
}
console.log(JSON.stringify(out));
"""


def test_latex_renders_in_streamlits_katex(tmp_path: Path) -> None:
    """The exact KaTeX that st.latex ships parses every formula without an error."""
    import streamlit

    bundles = sorted((Path(streamlit.__file__).parent / "static").rglob("katex.*.js"))
    node = shutil.which("node")
    if not bundles or node is None:
        pytest.skip("needs node and Streamlit's KaTeX bundle")
    shutil.copy(bundles[0], tmp_path / "katex.mjs")
    (tmp_path / "check.mjs").write_text(_KATEX_CHECK, encoding="utf-8")
    formulas = {"transport": to_latex(TRANSPORT), "knapsack": to_latex(KNAPSACK)}
    formulas["pricing"] = to_latex(PRICING)
    formulas["hostile"] = to_latex(HOSTILE)
    formulas["showcase"] = to_latex(SHOWCASE)
    formulas.update({p.stem: to_latex(str(p)) for p in sorted(SAMPLES.glob("*.yaml"))[:40]})
    run = subprocess.run(
        [node, "check.mjs"],
        input=json.dumps(formulas),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {}


# ------------------------------------------------------------------ Pyomo scripts


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str, Path]]:
    """Every generated script run at once: name -> (stdout, stderr, working directory)."""
    docs = {
        "transport": TRANSPORT,
        "knapsack": KNAPSACK,
        "pricing": PRICING,
        "qp": QP,
        "infeasible": INFEASIBLE,
        "hostile": HOSTILE,
    }
    procs = {}
    for name, doc in docs.items():
        work = tmp_path_factory.mktemp(name)
        script = work / "model.py"
        script.write_text(to_pyomo_script(doc), encoding="utf-8")
        procs[name] = (
            subprocess.Popen(
                [sys.executable, str(script)],
                cwd=work,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            work,
        )
    out = {}
    for name, (proc, work) in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        out[name] = (stdout, stderr, work)
    return out


def _printed_objective(stdout: str, stderr: str) -> float:
    match = re.search(r"^objective: (\S+)$", stdout, re.M)
    assert match, f"no objective printed:\n{stdout}\n{stderr[-2000:]}"
    return float(match.group(1))


@pytest.mark.parametrize(
    ("name", "doc", "expected"),
    [
        ("transport", TRANSPORT, 1707.5),
        ("knapsack", KNAPSACK, None),
        ("pricing", PRICING, PRICING_OPT),
        ("qp", QP, 0.5),
    ],
)
def test_generated_script_reproduces_the_objective(
    script_runs: dict[str, tuple[str, str, Path]],
    name: str,
    doc: dict[str, Any],
    expected: float | None,
) -> None:
    stdout, stderr, _ = script_runs[name]
    printed = _printed_objective(stdout, stderr)
    assert "status: optimal" in stdout
    result = solve(doc)
    if result.status is Status.OPTIMAL:
        assert printed == pytest.approx(result.objective, rel=1e-6, abs=1e-6)
    if expected is not None:
        assert printed == pytest.approx(expected, rel=1e-6)


def test_script_uses_the_formulation_names() -> None:
    code = to_pyomo_script(TRANSPORT)
    assert "model.Plants = pyo.Set(initialize=['seattle', 'san_diego']" in code
    assert "model.ship = pyo.Var(model.Plants, model.Markets, domain=pyo.NonNegativeReals)" in code
    assert "sum(m_.ship[p, m] for m in m_.Markets) <= m_.supply[p]" in code
    assert "model.meet_demand = pyo.Constraint(model.Markets, rule=meet_demand_rule)" in code
    assert "appsi_highs" in code
    code = to_pyomo_script(KNAPSACK)
    assert "if not (pyo.value(m.slots[t]) > 0)" in code or "if not (m.slots[t] > 0)" in code
    assert "return pyo.Constraint.Skip" in code
    assert "domain=pyo.Binary" in code
    assert "scip_direct" in to_pyomo_script(PRICING)
    assert "pyo.exp(" in to_pyomo_script(PRICING)


def test_script_of_an_infeasible_model_reports_it(
    script_runs: dict[str, tuple[str, str, Path]],
) -> None:
    stdout, stderr, _ = script_runs["infeasible"]
    assert "status: infeasible" in stdout, stderr[-2000:]
    assert "objective:" not in stdout


def test_hostile_strings_stay_data(script_runs: dict[str, tuple[str, str, Path]]) -> None:
    code = to_pyomo_script(HOSTILE)
    compile(code, "<generated>", "exec")
    assert "os.system" not in "\n".join(
        line for line in code.splitlines() if not line.lstrip().startswith("#") and "'" not in line
    )
    stdout, stderr, work = script_runs["hostile"]
    assert not (work / "PWNED").exists()
    assert _printed_objective(stdout, stderr) == pytest.approx(HOSTILE_OPT)
    assert "model_ = pyo_.ConcreteModel" in code  # names the document took are left to it


# ------------------------------------------------------------------ LP and MPS


def _read_and_solve(path: Path) -> tuple[highspy.Highs, float]:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.setOptionValue("mip_rel_gap", 1e-7)
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h, float(h.getInfo().objective_function_value)


@pytest.mark.parametrize("fmt", ["lp", "mps"])
@pytest.mark.parametrize("doc", [TRANSPORT, KNAPSACK, QP], ids=["lp", "milp", "qp"])
def test_lp_and_mps_files_round_trip(tmp_path: Path, fmt: str, doc: dict[str, Any]) -> None:
    path = tmp_path / f"model.{fmt}"
    text = (to_lp if fmt == "lp" else to_mps)(doc, path)
    assert path.read_text(encoding="utf-8") == text
    h, obj = _read_and_solve(path)
    assert obj == pytest.approx(solve(doc).objective, rel=1e-7, abs=1e-9)
    if doc is TRANSPORT:
        assert "ship_seattle_topeka_" in text and "meet_demand_chicago_" in text
        names = h.getLp().col_names_
        assert "ship_san_diego_new_york_" in list(names)


def test_maximised_qp_stays_a_maximisation(tmp_path: Path) -> None:
    doc = {
        "variables": {"x": {"upper": 10}, "end": {"upper": 3}},
        "objective": {"sense": "max", "expression": "3 * x - x ** 2 + end + 7"},
        "constraints": [{"name": "a", "expression": "x + end <= 4"}],
    }
    text = to_lp(doc, tmp_path / "q.lp")
    assert text.splitlines()[1].strip() == "max"
    assert "_end" in text  # an LP keyword as a name is made safe
    _, obj = _read_and_solve(tmp_path / "q.lp")
    assert obj == pytest.approx(solve(doc).objective) and obj == pytest.approx(12.0)


def test_lp_export_refuses_nonlinear_models() -> None:
    with pytest.raises(ExportError, match="LP/MPS files hold linear and quadratic models only"):
        to_lp(PRICING)
    with pytest.raises(ExportError, match="Pyomo script"):
        to_mps(PRICING)


def test_lp_names_are_safe_and_unique() -> None:
    assert lp_name("ship", ("seattle", "topeka")) == "ship_seattle_topeka_"
    assert lp_name("flow", ("a b", 3)) == "flow_a_b_3_"
    assert lp_name("free") == "_free"
    doc = copy.deepcopy(TRANSPORT)
    doc["sets"]["Plants"] = ["a b", "a_b"]  # both sanitise to a_b
    text = to_lp(doc)
    assert "capacity_a_b_:" in text and "capacity_a_b__2:" in text


def _sample_ids() -> list[str]:
    return sorted(p.stem for p in SAMPLES.glob("*.yaml")) if SAMPLES.is_dir() else []


@pytest.mark.parametrize("sample", _sample_ids() or ["none"])
def test_samples_export(sample: str, tmp_path: Path) -> None:
    """Every sample renders to LaTeX and a compilable script; linear ones round-trip as LP."""
    path = SAMPLES / f"{sample}.yaml"
    if not path.exists():
        pytest.skip("no samples yet")
    model = compile_model(str(path))
    tex = to_latex(model)
    assert tex.startswith(r"\begin{aligned}") and tex.endswith(r"\end{aligned}")
    compile(to_pyomo_script(model), f"{sample}.py", "exec")
    if model.model_class not in (ModelClass.LP, ModelClass.MILP, ModelClass.QP):
        return
    result = solve(model)
    if result.status is not Status.OPTIMAL:
        return
    to_lp(model, tmp_path / "m.lp")
    _, obj = _read_and_solve(tmp_path / "m.lp")
    assert obj == pytest.approx(result.objective, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("n", [900, 5000])
def test_long_flat_sums_export_flat_without_recursion(n: int) -> None:
    terms = " + ".join(f"{k % 7 + 1} * x[{k}]" if k % 3 else f"- x[{k}]" for k in range(n))
    doc = {
        "sets": {"K": {"from": 0, "to": n - 1}},
        "variables": {"x": {"index": "K", "upper": 1}},
        "objective": {"sense": "max", "expression": terms.replace("+ -", "-") + " - 5"},
    }
    tex = to_latex(doc)
    assert "x_{512} - x_{513} + 4 \\, x_{514}" in tex and "\\left(" not in tex
    script = to_pyomo_script(doc)
    assert "m.x[512] - m.x[513] + 4 * m.x[514]" in script
    compile(script, "export.py", "exec")  # valid Python, parsed without recursion errors
