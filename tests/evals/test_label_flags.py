"""OptiMind fix logs → label flags on the original items; OptiMind's cleaned OptMATH-Bench entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import benchmark_mirror

from evals.label_flags import (
    FixLogError,
    apply_flags,
    flags_of,
    parse_fix_log,
    summarize_flags,
    write_flags,
)
from evals.loaders import load, load_entry
from evals.problems import Problem, normalize_answer
from evals.registry import get, parse_registry
from evals.report import protocol_score
from evals.results import build_result


def row(n: int, q1: str, v1: str, q2: str, v2: str, fix: str, kinds: str) -> str:
    """One item row in the shape of optimind/data/comparisons/*.html (hand-written)."""
    style = 'style="max-width: 400px; word-wrap: break-word; white-space: pre-wrap;"'
    return f"""
        <tr>
            <td>{n}</td>
            <td {style}>{q1}</td>
            <td>{v1}</td>
            <td {style}>{q2}</td>
            <td>{v2}</td>
            <td class="diff-cell"><span class="no-diff">No differences</span></td>
            <td class="diff-cell">{v1} → {v2}</td>
            <td>{fix}</td>
            <td>{kinds}</td>
        </tr>"""


PLANT = "A plant makes chairs &amp; tables. Maximise profit: chairs earn $3, tables $5."
DIET = "Choose foods to meet 1600 g of fibre with at most 600 g of food."
SHOP = "Schedule two jobs on machines to minimise the makespan."
TEXT = "Ship goods using COPTPY at least cost from 2 plants to 3 shops."

LOG = f"""<html><body><table>
<thead><tr><th>Row</th><th>Description 1</th><th>Value 1</th><th>Description 2</th>
<th>Value 2</th><th>Description Diff</th><th>Value Diff</th><th>Fix</th><th>Fix Type</th></tr></thead>
<tbody>
{row(1, PLANT, "125", PLANT + " Profit is the objective.", "130", "Objective unclear", "ambiguous")}
{
    row(
        2,
        DIET,
        "1600",
        DIET,
        "18.95",
        "Incorrect ground truth: 1600 g is impossible",
        "incorrect ground truth",
    )
}
{row(3, SHOP, "25", SHOP + " Machines: M0, M1.", "25", "Missing data (machines)", "missing data")}
{
    row(
        4,
        TEXT,
        "900",
        TEXT.replace(" using COPTPY", ""),
        "900",
        "Removed solver name",
        "specific solver",
    )
}
{row(5, "Fine as is.", "7", "Fine as is.", "7", "ok", "")}
</tbody></table></body></html>"""


def problem(pid: str, question: str, label: object) -> Problem:
    return Problem(id=pid, dataset="toy.v1", question=question, answer=normalize_answer(label))


def test_fix_types_map_to_three_flags() -> None:
    assert flags_of(["incorrect ground truth", "ambiguous"]) == ("wrong_ground_truth", "ambiguous")
    assert flags_of(["integral/fractional", "Ambiguity"]) == ("ambiguous",)
    assert flags_of(["underspecified", "missing objective"]) == ("missing_data",)
    assert flags_of(["specific solver", "ok"]) == ()


def test_a_log_parses_into_rows_with_flags() -> None:
    entries = parse_fix_log(LOG)
    assert [e.row for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].original_question.startswith("A plant makes chairs & tables")
    assert (entries[1].original_value, entries[1].fixed_value) == ("1600", "18.95")
    assert [e.flags for e in entries] == [
        ("ambiguous",),
        ("wrong_ground_truth",),
        ("missing_data",),
        (),
        (),
    ]
    assert summarize_flags(entries) == {
        "wrong_ground_truth": 1,
        "missing_data": 1,
        "ambiguous": 1,
        "none": 2,
    }


def test_a_table_that_is_not_a_fix_log_is_refused_with_a_hint() -> None:
    with pytest.raises(FixLogError, match="expected 9"):
        parse_fix_log("<table><tr><td>1</td><td>x</td></tr></table>", "x.html")
    with pytest.raises(FixLogError, match="no item rows"):
        parse_fix_log("<html></html>", "x.html")


def test_original_labels_are_flagged_and_fixed_items_are_not() -> None:
    entries = parse_fix_log(LOG)
    problems = [
        # the original copies, with whitespace and escapes differing from the log
        problem(
            "plant",
            "A plant makes chairs & tables.\n Maximise profit: chairs earn $3, tables $5.",
            125,
        ),
        problem("diet", DIET, "1600.0"),
        problem("shop", SHOP, 25),
        problem("text", TEXT, 900),
        problem("fine", "Fine as is.", 7),
        # a copy that already carries OptiMind's fix (same text, corrected answer)
        problem("diet_fixed", DIET, 18.95),
        # the original text with another label (another cleaner fixed it): not the log's item
        problem("diet_other", DIET, 19),
    ]
    out = {p.id: p for p in apply_flags(problems, entries)}
    flagged = {pid for pid, p in out.items() if p.answer.flagged}
    assert flagged == {"plant", "diet", "shop"}
    assert out["diet"].metadata["label_flags"] == ["wrong_ground_truth"]
    assert "row 2" in out["diet"].answer.reason and "impossible" in out["diet"].answer.reason

    # reports then show accuracy on unflagged labels beside the whole set
    results = [
        build_result(
            p, {"status": "optimal", "objective": p.answer.value}, protocols=["sirl"], latency_s=0.0
        )
        for p in out.values()
    ]
    score = protocol_score(results, "sirl")
    assert (score.scored, score.scored_unflagged) == (7, 4)


def test_flags_artefact_lists_each_row_and_the_problems_it_flags(tmp_path: Path) -> None:
    entries = parse_fix_log(LOG)
    target = write_flags(tmp_path / "flags.json", entries, [problem("d", DIET, 1600)])
    rows = json.loads(target.read_text(encoding="utf-8"))
    assert [r["row"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[1]["flags"] == ["wrong_ground_truth"] and rows[1]["flags_problems"] == ["d"]
    assert rows[0]["changed_question"] is True and rows[1]["changed_question"] is False
    lines = write_flags(tmp_path / "flags.jsonl", entries).read_text(encoding="utf-8")
    assert len(lines.splitlines()) == 5


TOY_REGISTRY = """
[[dataset]]
name = "toy.original"
family = "toy"
variant = "original"
title = "toy original"
repo = "o/r"
commit = "{commit}"
path = "orig.jsonl"
local_path = "toy/orig.jsonl"
format = "jsonl"
license = "MIT"
count = 2
question_field = "q"
answer_field = "a"

[[dataset]]
name = "toy.clean"
family = "toy"
variant = "clean"
title = "toy cleaned"
repo = "o/r"
commit = "{commit}"
path = "clean.jsonl"
local_path = "toy/clean.jsonl"
format = "jsonl"
license = "MIT"
count = 1
question_field = "q"
answer_field = "a"

[[dataset.aux]]
role = "log"
path = "comparisons/toy_original_vs_ours.html"
local_path = "toy/toy_original_vs_ours.html"
"""


def test_loading_a_variant_applies_the_familys_fix_logs(tmp_path: Path) -> None:
    registry = parse_registry(TOY_REGISTRY.format(commit="0" * 40))
    (tmp_path / "toy").mkdir()
    records = [{"q": DIET, "a": 1600}, {"q": "Fine as is.", "a": 7}]
    (tmp_path / "toy" / "orig.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    (tmp_path / "toy" / "clean.jsonl").write_text(
        json.dumps({"q": DIET, "a": 18.95}) + "\n", encoding="utf-8"
    )
    before = load("toy.original", data_dir=tmp_path, registry=registry)
    assert not any(p.answer.flagged for p in before.problems)  # log not on disk yet
    (tmp_path / "toy" / "toy_original_vs_ours.html").write_text(LOG, encoding="utf-8")
    original = load("toy.original", data_dir=tmp_path, registry=registry)
    assert [p.answer.flagged for p in original.problems] == [True, False]
    clean = load("toy.clean", data_dir=tmp_path, registry=registry)
    assert not clean.problems[0].answer.flagged


OPTMATH_CSV = (
    "\ufeffproblem_class,question,answer\n"
    "['Job Shop'],\"Two jobs, three machines.\n\nMinimise the makespan.\",25.0\n"
    "\"['SupplyChain', 'Network Optimization']\",\"Ship **236 units** from Node 0.\",18640.0\n"
    "['Knapsack'],\"Pick items; the capacity is missing.\",\n"
)


def test_optimind_cleaned_optmath_entry_and_loader(tmp_path: Path) -> None:
    entry = get("optmath.optimind_clean")
    assert entry.repo == "microsoft/OptiGuide" and entry.count == 130
    assert entry.commit == "419cf7b9eee20b6af036abf15152fa775b20c951"
    assert entry.license == "MIT" and entry.sha256 is None and not entry.hash_known
    assert [a.role for a in entry.aux] == ["log"]
    path = tmp_path / "optmath.csv"
    path.write_text(OPTMATH_CSV, encoding="utf-8")
    problems = load_entry(entry, path)
    assert [p.id for p in problems] == ["0", "1", "2"]
    assert problems[0].question == "Two jobs, three machines.\n\nMinimise the makespan."
    assert problems[0].answer.value == 25.0 and problems[1].answer.value == 18640.0
    assert problems[0].metadata["type"] == "['Job Shop']"
    assert problems[2].answer.kind == "unknown"  # OptiMind left 2 answers empty


@pytest.mark.needs_data("industryor.optimind_clean", "industryor.orthought_base")
def test_industryor_logs_flag_the_original_text_not_optiminds_clean_copy() -> None:
    root = benchmark_mirror()
    base = load("industryor.orthought_base", data_dir=root)
    flagged = [p for p in base.problems if "label_flags" in p.metadata]
    # 44 of the 100 original items carry a flag in the log; 40 match the base copy's text+label
    assert len(flagged) == 40
    assert sum("wrong_ground_truth" in p.metadata["label_flags"] for p in flagged) >= 20
    clean = load("industryor.optimind_clean", data_dir=root)
    assert not any("label_flags" in p.metadata for p in clean.problems)
