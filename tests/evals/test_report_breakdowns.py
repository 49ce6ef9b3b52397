"""report.md breakdowns: execution / modeling / time-limited failures, size buckets, pass@k,
MIPLIB-NL's protocol beside ours, verify findings and stated assumptions (synthetic results)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.loaders import miplib_nl_answer, size_metadata
from evals.problems import Problem, normalize_answer
from evals.report import (
    failure_split,
    findings_table,
    pass_at,
    render_report,
    size_breakdown,
    size_bucket,
    summarize,
)
from evals.results import ProblemResult, build_result, findings_from_attempts, read_results
from evals.scoring import ALL_PROTOCOLS, get_protocol, pass_at_k


def result(
    pid: str,
    status: str,
    objective: float | None,
    label: Any = 100.0,
    **extra: Any,
) -> ProblemResult:
    """A stored result line as the runner writes it (via build_result, the real path)."""
    metadata = extra.pop("metadata", {})
    problem = Problem(
        id=pid, dataset="toy.v1", question="q", answer=normalize_answer(label), metadata=metadata
    )
    outcome = {"status": status, "objective": objective, **extra}
    return build_result(problem, outcome, protocols=ALL_PROTOCOLS, latency_s=0.1)


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 5, 1) == 1.0
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(5, 2, 4) == 1.0  # only 3 wrong samples: any 4 include a right one
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(2, 1, 3)


def test_failures_split_into_execution_modeling_and_time_limited() -> None:
    results = [
        result("right", "optimal", 100.0),
        result("invalid", "invalid", None),
        result("crash", "error", None, error_categories=["exception:RuntimeError"]),
        result("wrong", "optimal", 120.0),
        result("says_infeasible", "infeasible", None),
        result("incumbent_wrong", "feasible", 130.0),  # no stop reason: status says limit
        result("no_point", "time_limit", None),
        result("incumbent_right", "feasible", 100.0),
        result("proved_wrong", "feasible", 130.0, termination="optimal"),  # reported reason wins
        result("unknown_label", "optimal", 1.0, label=None),
    ]
    split = failure_split(results, "sirl")
    assert (split.scored, split.correct) == (9, 2)
    assert (split.execution, split.modeling, split.time_limited) == (2, 3, 2)
    assert split.correct_at_limit == 1
    assert split.correct + split.execution + split.modeling + split.time_limited == split.scored


def test_the_agents_solver_stop_decides_time_limited_and_gets_its_own_table() -> None:
    results = [
        result("proved", "optimal", 100.0, solver_stop="optimal"),
        result("limit_right", "feasible", 100.0, solver_stop="time_limit_incumbent"),
        result("limit_wrong", "feasible", 90.0, solver_stop="time_limit_incumbent"),
        result("node_limit", "feasible", 90.0, solver_stop="limit_incumbent"),
        # solver_stop wins over the status: a feasible point that is not a limit stop
        result("other", "feasible", 90.0, solver_stop="optimal"),
    ]
    split = failure_split(results, "sirl")
    assert (split.correct, split.correct_at_limit, split.time_limited, split.modeling) == (
        2,
        1,
        2,
        1,
    )
    report = render_report(summarize(results, config={"dataset": "toy.v1"}, run_dir=Path("r")))
    assert "| time_limit_incumbent | 2 | 1 / 2 | 50.0% |" in report


def test_termination_is_read_from_the_outcome_or_the_agent_solver_dict() -> None:
    assert result("a", "feasible", 1.0, termination="time_limit").termination == "time_limit"
    nested = result("b", "feasible", 1.0, solver={"termination": "iteration_limit"})
    assert nested.termination == "iteration_limit" and nested.stopped_at_limit
    assert result("c", "optimal", 1.0).termination is None


def test_size_buckets_follow_variables_plus_constraints() -> None:
    assert [size_bucket(n) for n in (None, 0, 999, 1000, 9999, 10_000)] == [
        None,
        "< 1k",
        "< 1k",
        "1k–10k",
        "1k–10k",
        "≥ 10k",
    ]
    sized = [
        result("s", "optimal", 100.0, metadata={"n_variables": 300, "n_constraints": 200}),
        result("m", "optimal", 90.0, metadata={"n_variables": 5000, "n_constraints": 100}),
        result("m2", "optimal", 100.0, metadata={"n_variables": 800, "n_constraints": 200}),
        result("l", "optimal", 100.0, metadata={"n_variables": 283_648, "n_constraints": 1}),
        result("unsized", "optimal", 100.0),
    ]
    cells = size_breakdown(sized, "sirl")
    assert list(cells) == ["< 1k", "1k–10k", "≥ 10k"]
    assert (cells["< 1k"].n, cells["1k–10k"].n, cells["1k–10k"].correct) == (1, 2, 1)
    report = render_report(summarize(sized, config={"dataset": "toy.v1"}, run_dir=Path("r")))
    assert "## By size: variables + constraints" in report
    assert "| 1k–10k | 2 | 1 / 2 | 50.0% |" in report
    assert "1 problem(s) of unknown size" in report


def test_sizes_are_read_from_orthought_details_strings() -> None:
    details = "{'variables_num': 24, 'constraints_num': 11, 'nonzeros_num': 48}"
    assert size_metadata({}, details) == {"n_variables": 24, "n_constraints": 11}
    assert size_metadata({"num_vars": 3}, "not a dict") == {}


def test_pass_at_k_uses_each_problems_samples() -> None:
    right = {"status": "optimal", "objective": 100.0}
    wrong = {"status": "optimal", "objective": 1.0}
    results = [
        result("a", "optimal", 100.0, samples=[right, wrong, wrong, wrong]),
        result("b", "optimal", 1.0, samples=[wrong, wrong, wrong, wrong]),
    ]
    found = pass_at(results, "sirl")
    assert found is not None and (found.n, found.problems) == (4, 2)
    assert found.values[1] == pytest.approx(0.125)  # (1/4 + 0) / 2
    assert found.values[4] == pytest.approx(0.5)
    single = [result("c", "optimal", 100.0)]
    assert pass_at(single, "sirl") is None  # one sample per problem: pass@1 is the accuracy
    report = render_report(summarize(results, config={"dataset": "toy.v1"}, run_dir=Path("r")))
    assert "| pass@1 | pass@2 | pass@3 | pass@4 |" in report
    assert "| 12.5% |" in report


def test_miplib_nl_protocol_is_relative_1e6_and_sits_beside_ours() -> None:
    rule = get_protocol("miplib_nl")
    label = miplib_nl_answer("1e6")
    assert rule.correct(result("x", "optimal", 1e6 + 0.9).prediction, label) is True
    assert rule.correct(result("x", "optimal", 1e6 + 2).prediction, label) is False
    # sirl's |g|+1 denominator is looser near zero; MIPLIB-NL's relative error is not
    near_zero = miplib_nl_answer(0.5)
    close = result("x", "optimal", 0.5000009).prediction
    assert get_protocol("sirl").correct(close, near_zero) is True
    assert rule.correct(close, near_zero) is False
    for word in ("infeasible", "impossible", "Impossible "):
        assert rule.correct(result("x", "infeasible", None).prediction, miplib_nl_answer(word))
    assert rule.correct(result("x", "optimal", 3.0).prediction, miplib_nl_answer("3")) is True

    results = [result("a", "optimal", 100.0), result("b", "time_limit", None)]
    config = {"dataset": "miplib_nl.dev", "family": "miplib_nl"}
    summary = summarize(results, config=config, run_dir=Path("r"), protocols=ALL_PROTOCOLS)
    assert "miplib_nl" in summary.protocols and list(summary.failures) == ["sirl", "miplib_nl"]
    report = render_report(summary)
    assert "| miplib_nl | 1 / 2 | 50.0% |" in report
    assert "| time-limited | 1 (50.0%) | 1 (50.0%) |" in report
    other = summarize(results, config={"dataset": "toy.v1"}, run_dir=Path("r"))
    assert "miplib_nl" not in other.protocols


def attempt(
    round_: int, status: str, objective: float | None, *errors: tuple[str, str]
) -> dict[str, Any]:
    return {
        "round": round_,
        "source": "formulate" if round_ == 0 else "repair",
        "document": {},
        "status": status,
        "objective": objective,
        "errors": [
            {"code": code, "severity": sev, "message": f"{code} fired", "evidence": "x[1] = 2.5"}
            for code, sev in errors
        ],
    }


def test_findings_table_counts_fires_and_whether_the_model_was_right() -> None:
    # A false alarm (suspicion on a right model that stays right), an integrality error
    # on a wrong model that repair fixed, and a note on a wrong final answer.
    false_alarm = attempt(0, "optimal", 100.0, ("magnitude", "suspicion"))
    fixed = [
        attempt(0, "optimal", 97.5, ("integrality", "error")),
        attempt(1, "optimal", 100.0),
    ]
    wrong = attempt(0, "optimal", 55.0, ("cost_sign", "note"), ("magnitude", "suspicion"))
    results = [
        result("alarm", "optimal", 100.0, findings=findings_from_attempts([false_alarm])),
        result("fixed", "optimal", 100.0, attempts=fixed, first_status="optimal"),
        result("wrong", "optimal", 55.0, attempts=[wrong]),
        result("quiet", "optimal", 100.0),
    ]
    first = results[1].finding_records()[0]
    assert first["round"] == 0 and first["objective"] == 97.5
    rows = {r.code: r for r in findings_table(results, "sirl")}
    assert [r.code for r in findings_table(results, "sirl")] == [
        "integrality",
        "magnitude",
        "cost_sign",
    ]
    integrality, magnitude, note = rows["integrality"], rows["magnitude"], rows["cost_sign"]
    assert (integrality.severity, integrality.fired, integrality.right_when_fired) == (
        "error",
        1,
        0,
    )
    assert integrality.final_right == 1  # the repair fixed it
    assert (magnitude.severity, magnitude.problems, magnitude.right_when_fired) == (
        "suspicion",
        2,
        1,
    )
    assert magnitude.final_right == 1
    assert (note.severity, note.right_when_fired, note.final_right) == ("note", 0, 0)

    report = render_report(summarize(results, config={"dataset": "toy.v1"}, run_dir=Path("r")))
    assert "## Verify findings (sirl)" in report
    assert "| magnitude | suspicion | 2 | 2 | 1 (50.0%) | 1 (50.0%) |" in report
    assert "| integrality | error | 1 | 1 | 0 (0.0%) | 1 (100.0%) |" in report


def test_older_results_fall_back_to_error_categories_with_table_severity() -> None:
    old = result(
        "old",
        "optimal",
        100.0,
        error_categories=["cost_sign", "parse", "timeout", "exception:TransportError"],
    )
    assert old.findings is None
    records = old.finding_records()
    assert [(f["code"], f["severity"], f["round"]) for f in records] == [
        ("cost_sign", "note", None),
        ("parse", "error", None),
    ]
    summary = summarize([old], config={"dataset": "toy.v1"}, run_dir=Path("r"))
    assert not summary.findings[0].per_attempt
    assert "judged by its final answer" in render_report(summary)


def test_answers_resting_on_assumptions_are_counted_apart() -> None:
    doc = {
        "name": "x",
        "assumptions": [
            {"text": "the holding cost is 1 per unit", "parameters": ["h"]},
            {"text": "no backorders", "parameters": []},
        ],
    }
    results = [
        result("assumed_right", "optimal", 100.0, formulation=doc),
        result("assumed_wrong", "optimal", 90.0, formulation=doc),
        result("plain", "optimal", 100.0, formulation={"name": "y"}),
    ]
    assert len(results[0].assumptions) == 2 and results[2].assumptions == []
    summary = summarize(results, config={"dataset": "toy.v1"}, run_dir=Path("r"))
    split = summary.assumptions
    assert split is not None
    assert (split.with_assumptions, split.correct_with, split.total_assumptions) == (2, 1, 4)
    assert (split.without, split.correct_without) == (1, 1)
    assert "| with assumptions (4 stated) | 2 | 1 / 2 | 50.0% |" in render_report(summary)


def test_new_fields_round_trip_through_results_jsonl_and_old_lines_still_read(
    tmp_path: Path,
) -> None:
    fresh = result(
        "a",
        "feasible",
        100.0,
        termination="time_limit",
        samples=[{"status": "optimal", "objective": 100}, {"status": "error"}],
        attempts=[attempt(0, "feasible", 100.0, ("magnitude", "suspicion"))],
    )
    legacy = fresh.model_dump(mode="json")
    for key in ("termination", "samples", "findings"):
        legacy.pop(key)
    legacy["id"] = "b"
    path = tmp_path / "results.jsonl"
    path.write_text(fresh.model_dump_json() + "\n" + json.dumps(legacy) + "\n", encoding="utf-8")
    back = {r.id: r for r in read_results(path)}
    assert back["a"].termination == "time_limit"
    assert [f["code"] for f in back["a"].finding_records()] == ["magnitude"]
    assert [p.status for p in back["a"].sample_predictions()] == ["optimal", "error"]
    assert back["b"].termination is None and back["b"].samples == []
    assert back["b"].findings is None  # not recorded: reports fall back to error_categories
    quiet = result("q", "optimal", 100.0, findings=[], error_categories=["cost_sign"])
    assert quiet.finding_records() == []  # recorded as none: the codes are not re-read
    assert back["b"].stopped_at_limit  # feasible without a recorded reason


def test_compare_puts_miplib_nl_published_pass_at_1_beside_a_run(tmp_path: Path) -> None:
    from evals.report import compare
    from evals.results import ResultWriter

    run = tmp_path / "run"
    with ResultWriter(run / "results.jsonl") as writer:
        writer.write(result("a", "optimal", 100.0))
    (run / "config.json").write_text(
        json.dumps({"dataset": "miplib_nl.dev", "family": "miplib_nl", "model": "stub"}),
        encoding="utf-8",
    )
    table = compare([run], protocol="miplib_nl")
    assert "| stub | 100.0% (1/1) |" in table
    assert (
        "| GPT-5.1 | MIPLIB-NL paper (ICML 2026, arXiv 2602.10450), pass@1 (miplib_nl) "
        "| 39.0 [miplib_nl.full] |" in table  # the paper scored the full release, not dev
    )


def test_an_old_runs_report_is_rebuilt_with_the_new_breakdowns(tmp_path: Path) -> None:
    from evals.report import rebuild_report
    from evals.results import ResultWriter

    run = tmp_path / "run"
    old = result("a", "feasible", 90.0, metadata={"n_variables": 10, "n_constraints": 5})
    line = old.model_dump(mode="json")
    for key in ("termination", "solver_stop", "samples", "findings"):
        line.pop(key)  # a line written before these fields existed
    with ResultWriter(run / "results.jsonl") as writer:
        writer.write(ProblemResult.model_validate(line))
    config = {"dataset": "miplib_nl.dev", "family": "miplib_nl", "model": "m", "n_selected": 2}
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    report = rebuild_report(run).read_text(encoding="utf-8")
    assert "1/2 problems, INCOMPLETE" in report
    assert "| time-limited | 1 (100.0%) | 1 (100.0%) |" in report  # sirl and miplib_nl
    assert "| < 1k | 1 | 0 / 1 | 0.0% |" in report
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["default_protocol"] == "sirl" and "miplib_nl" in summary["protocols"]
    again = rebuild_report(run, default_protocol="miplib_nl").read_text(encoding="utf-8")
    assert "default protocol: **miplib_nl**" in again
    with pytest.raises(KeyError, match="known"):
        rebuild_report(run, default_protocol="nope")
