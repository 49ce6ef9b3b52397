"""What the app's pages show, tested without Streamlit (``ui.view_model``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import modeling
from agent.chat import ChatReply
from agent.trace import Trace
from modeling.samples import get_sample
from modeling.scenarios import apply_changes
from ui.view_model import (
    AppSettings,
    comparison_rows,
    diff_text,
    doc_digest,
    editable_parameters,
    find_runs,
    issue_lines,
    model_summary,
    parameter_changes,
    result_rows,
    sample_line,
    solution_tables,
    thread_labels,
    turn_chip,
    turn_message,
    values_frames,
)


def _transport() -> dict[str, object]:
    return json.loads(json.dumps(dict(get_sample("transport_basic").formulation)))


def test_two_threads_on_the_same_problem_get_different_labels() -> None:
    threads = [
        {"thread_id": "aaaaaaaa1111", "title": "Ship cement"},
        {"thread_id": "bbbbbbbb2222", "title": "Ship cement"},
        {"thread_id": "cccccccc3333", "title": ""},
    ]
    labels = thread_labels(threads)
    assert labels[""] == "New conversation"
    assert len(set(labels.values())) == len(labels) == 4
    assert labels["cccccccc3333"].startswith("(untitled)")
    # a thread just started (not listed yet) still has a label of its own
    assert "dddddddd" in thread_labels(threads, current="dddddddd4444")["dddddddd4444"]


def test_solution_tables_leave_zeros_out() -> None:
    tables = solution_tables({"ship": {"a,x": 3.0, "a,y": 0.0}, "idle": {"a": 0.0}, "z": 2.5})
    assert tables["ship"] == [{"index": "a,x", "value": 3.0}]
    assert tables["idle"] == [{"index": "(all)", "value": 0.0}]
    assert tables["z"] == [{"index": "", "value": 2.5}]


def test_comparison_rows_put_the_objective_first_and_a_status_change_second() -> None:
    rows = comparison_rows(
        {
            "objective_before": 10.0,
            "objective_after": 8.0,
            "delta": -2.0,
            "status_before": "optimal",
            "status_after": "feasible",
            "changed": [{"name": "x", "before": 1.0, "after": 2.0, "delta": 1.0}],
        }
    )
    assert [r["what"] for r in rows] == ["objective", "status", "x"]
    assert rows[0]["change"] == -2.0


def test_diff_text_names_where_a_change_is() -> None:
    doc = _transport()
    edited = apply_changes(doc, {"demand": {"north": 240}})
    diff = diff_text(yaml.safe_dump(doc, sort_keys=False), yaml.safe_dump(edited, sort_keys=False))
    assert "parameters.demand.values.north" in diff
    assert "-      north: 260" in diff and "+      north: 240" in diff
    assert diff_text("a: 1\n", "a: 1\n") == ""


def test_a_solved_model_reads_as_tables_named_after_its_sets() -> None:
    result = modeling.solve(_transport())
    frames = values_frames(result)
    ship = frames["ship"]
    assert list(ship.columns) == ["Plants", "Markets", "value"]
    assert ship["value"].sum() == pytest.approx(760.0)
    assert model_summary(modeling.compile_model(_transport())) == (
        "Valid LP: 6 variables, 5 constraints, 12 nonzeros."
    )


def test_a_parameter_edited_as_a_table_changes_only_that_entry() -> None:
    doc = _transport()
    model = modeling.compile_model(doc)
    demand = next(p for p in editable_parameters(model) if p.name == "demand")
    table = demand.frame()
    assert parameter_changes(demand, table) == {}  # nothing edited, nothing to apply
    table.loc["north", "demand"] = 240
    changes = parameter_changes(demand, table)
    assert changes == {"demand": {"north": 240.0}}
    edited = apply_changes(doc, changes)
    assert modeling.solve(edited).objective == pytest.approx(2444.0)
    cost = next(p for p in editable_parameters(model) if p.name == "cost")
    grid = cost.frame()
    grid.iloc[0, 0] = 9.5
    [(key, value)] = parameter_changes(cost, grid)["cost"].items()
    assert key == (cost.rows[0], cost.columns[0]) and value == 9.5  # type: ignore[index]


def test_issue_lines_show_location_message_and_hint() -> None:
    issues = modeling.check(
        yaml.safe_dump(_transport(), sort_keys=False).replace("sum(", "summ(", 1)
    )
    [line] = issue_lines(issues)
    assert line.startswith("`objective.expression`") and "did you mean 'sum'" in line


def _reply(status: str, error: str | None = None) -> ChatReply:
    trace = Trace()
    trace.llm_call("edit", [{"role": "user", "content": "x"}], error=error)
    return ChatReply(
        route="edit",
        answer="The change was not applied; the previous model is still current.",
        status=status,
        objective=2528.0,
        formulation=_transport(),
        solution={"ship": {"riverside,north": 70.0}},
        trace=trace,
    )


def test_a_failed_llm_call_is_not_reported_as_done() -> None:
    chip = turn_chip(_reply("optimal", error="APIConnectionError: connection refused"))
    assert chip.failed and "Failed" in chip.label
    assert "connection refused" in chip.failure
    message = turn_message(_reply("optimal", error="APIConnectionError: connection refused"))
    assert "connection refused" in message["failure"]
    assert "solution" not in message  # the old solution is not shown as this turn's result


def test_a_successful_turn_reads_done_with_its_status() -> None:
    chip = turn_chip(_reply("optimal"))
    assert chip == type(chip)("Done: optimal", False)
    assert turn_message(_reply("optimal"))["solution"]["ship"][0]["value"] == 70.0
    assert turn_chip(_reply("error")).failed


def test_gallery_line_uses_the_one_number_format() -> None:
    line = sample_line(get_sample("transport_basic"))
    assert line.startswith("**") and "`LP`" in line and "optimal · 2528" in line


def test_runs_are_found_under_the_runs_folder(tmp_path: Path) -> None:
    assert find_runs(tmp_path / "missing") == []
    for run in ("a/r1", "b/r2"):
        (tmp_path / run).mkdir(parents=True)
        (tmp_path / run / "summary.json").write_text("{}")
    assert find_runs(tmp_path) == [tmp_path / "a/r1", tmp_path / "b/r2"]
    rows = result_rows([{"id": "p1", "status": "optimal", "answer": {"value": 3.0}}])
    assert rows == [
        {
            "id": "p1",
            "status": "optimal",
            "objective": None,
            "first_status": None,
            "repair_rounds": None,
            "label": 3.0,
        }
    ]


def test_runs_folder_is_the_current_folder_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPTIWISE_RUNS_DIR", raising=False)
    assert AppSettings().runs_dir == Path("runs")  # relative: where `optiwise eval` writes
    monkeypatch.setenv("OPTIWISE_RUNS_DIR", "/data/runs")
    assert AppSettings().runs_dir == Path("/data/runs")


def test_doc_digest_changes_with_the_text() -> None:
    assert doc_digest("a: 1") == doc_digest("a: 1") != doc_digest("a: 2")


def test_tune_runs_are_found_and_a_damaged_state_gives_no_rows(tmp_path: Path) -> None:
    from ui.view_model import find_tune_runs, tune_history

    good, broken, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (good, broken, other):
        d.mkdir()
    (good / "state.json").write_text(
        json.dumps({"history": [{"step": 0, "val": 0.5, "accepted": True}, {"step": 1}]})
    )
    (good / "steps.jsonl").write_text("")
    (broken / "state.json").write_text("{not json")
    (broken / "steps.jsonl").write_text("")
    (other / "state.json").write_text("{}")  # not a tuning run: no steps.jsonl

    assert find_tune_runs(tmp_path) == [good, broken]
    assert tune_history(good) == [{"step": 0, "validation": 0.5, "accepted": True}]
    assert tune_history(broken) == []
