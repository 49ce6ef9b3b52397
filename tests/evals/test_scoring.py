"""Scoring protocols: right, wrong, infeasible and unknown labels under each rule."""

from __future__ import annotations

import pytest

from evals.problems import Answer, normalize_answer
from evals.scoring import (
    ALL_PROTOCOLS,
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    Prediction,
    get_protocol,
    score,
)


def opt(value: float) -> Prediction:
    return Prediction(status="optimal", objective=value)


NUMBER = normalize_answer("1000")
INFEASIBLE = normalize_answer("No Best Solution")
UNKNOWN = Answer(kind="unknown", reason="no label")


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_exact_answer_is_correct_under_every_protocol(name: str) -> None:
    assert get_protocol(name).correct(opt(1000.0), NUMBER) is True


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_far_answer_is_wrong_under_every_protocol(name: str) -> None:
    assert get_protocol(name).correct(opt(1500.0), NUMBER) is False


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_unknown_label_is_excluded(name: str) -> None:
    assert get_protocol(name).correct(opt(1.0), UNKNOWN) is None


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_infeasible_label_needs_an_infeasible_prediction(name: str) -> None:
    rule = get_protocol(name)
    assert rule.correct(Prediction(status="infeasible"), INFEASIBLE) is True
    assert rule.correct(Prediction(status="infeasible_or_unbounded"), INFEASIBLE) is True
    assert rule.correct(opt(0.0), INFEASIBLE) is False
    assert rule.correct(Prediction(status="error"), INFEASIBLE) is False
    assert rule.correct(Prediction(status="time_limit"), INFEASIBLE) is False


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_infeasible_prediction_on_a_numeric_label_is_wrong(name: str) -> None:
    assert get_protocol(name).correct(Prediction(status="infeasible"), NUMBER) is False


def test_unbounded_prediction_matches_no_best_solution_only_where_the_paper_would() -> None:
    unbounded = Prediction(status="unbounded")
    # SIRL greps stdout for "nfeasible"; ORLM prints "No Best Solution" for any non-optimum.
    assert get_protocol("sirl").correct(unbounded, INFEASIBLE) is False
    assert get_protocol("orlm").correct(unbounded, INFEASIBLE) is True
    assert get_protocol("optimind").correct(unbounded, INFEASIBLE) is True


def test_sirl_tolerance_is_relative_to_abs_gt_plus_one_inclusive() -> None:
    sirl = get_protocol("sirl")
    assert sirl.correct(opt(1000.0 + 1001 * 1e-6), NUMBER) is True
    assert sirl.correct(opt(1000.0 + 1001 * 1.5e-6), NUMBER) is False
    zero = normalize_answer(0)
    assert sirl.correct(opt(5e-7), zero) is True
    assert sirl.correct(opt(2e-6), zero) is False


def test_optimind_is_strict_and_accepts_any_list_element() -> None:
    optimind = get_protocol("optimind")
    boundary = opt(1000.0 + 1001 * 1e-6 * (1 + 1e-9))
    assert optimind.correct(boundary, NUMBER) is False
    listed = normalize_answer("[18.0, 20.0]")
    assert optimind.correct(opt(20.0), listed) is True
    assert optimind.correct(opt(19.0), listed) is False


def test_mamo_uses_label_decimals_or_relative_1e_4() -> None:
    mamo = get_protocol("mamo")
    assert mamo.correct(opt(18.004), normalize_answer("18")) is True  # |d|*100 < 1
    assert mamo.correct(opt(18.02), normalize_answer("18")) is False
    assert mamo.correct(opt(1.23451), normalize_answer("1.2345")) is True
    assert mamo.correct(opt(1.2347), normalize_answer("1.2345")) is False
    assert mamo.correct(opt(100005.0), normalize_answer("100000")) is True  # rel 5e-5


def test_orlm_rounds_then_allows_five_percent() -> None:
    orlm = get_protocol("orlm")
    assert orlm.correct(opt(1049.4), NUMBER) is True
    assert orlm.correct(opt(1051.0), NUMBER) is False
    zero = normalize_answer("0.3")  # rounds to 0: prediction must round to 0 too
    assert orlm.correct(opt(0.4), zero) is True
    assert orlm.correct(opt(0.6), zero) is False
    assert get_protocol("optmath").correct(opt(1049.4), NUMBER) is True


def test_feasible_non_optimal_counts_except_under_orlm_rules() -> None:
    feasible = Prediction(status="feasible", objective=1000.0)
    assert get_protocol("sirl").correct(feasible, NUMBER) is True
    assert get_protocol("orlm").correct(feasible, NUMBER) is False
    assert get_protocol("optmath").correct(feasible, NUMBER) is False


def test_prediction_normalises_status_and_objective() -> None:
    assert Prediction.model_validate({"status": "OPTIMAL", "objective": "12.5"}).objective == 12.5
    assert Prediction(status="solved!", objective=1).status == "error"
    assert Prediction(status="optimal", objective=float("nan")).objective is None
    assert Prediction(status="optimal", objective=None).decided is False
    assert Prediction(status="infeasible").decided is True
    assert Prediction(status="time_limit").decided is False


def test_first_attempt_defaults_to_final_answer() -> None:
    final = Prediction.from_mapping({"status": "optimal", "objective": 3})
    first = Prediction.from_mapping({"status": "optimal", "objective": 3}, first=True)
    assert first == final
    repaired = {"status": "optimal", "objective": 3, "first_status": "error"}
    assert Prediction.from_mapping(repaired, first=True).status == "error"


def test_score_reports_every_protocol_and_default_is_sirl() -> None:
    verdicts = score(opt(1030.0), NUMBER)
    assert set(verdicts) == set(ALL_PROTOCOLS) and set(ALL_PROTOCOLS) < set(PROTOCOLS)
    assert verdicts["sirl"] is False and verdicts["orlm"] is True
    assert DEFAULT_PROTOCOL == "sirl"
    with pytest.raises(KeyError, match="known"):
        get_protocol("nope")
    for rule in PROTOCOLS.values():
        assert rule.description
