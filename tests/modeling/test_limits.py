"""Limits checked before anything is built: exponents, expansions, magnitudes, memory.

Each pathological input of issue 9 is refused by ``check`` in well under a
second, with a location and a hint, instead of hanging a solve or exhausting
the machine's memory.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from modeling import Status, check, load, solve
from modeling.limits import (
    BUDGET_ENV,
    MAX_EXPONENT,
    available_memory,
    estimate_memory,
    max_multinomial,
    memory_budget,
    parse_size,
)


def doc(expression: str, **variables: Any) -> dict[str, Any]:
    return {
        "sets": {"I": {"from": 1, "to": 100}},
        "parameters": {"n": 100_000, "c": {"index": "I", "default": 1}},
        "variables": variables or {"x": {"upper": 1}, "y": {"upper": 1}},
        "objective": {"sense": "max", "expression": expression},
    }


def refused(document: Any, location: str = "objective.expression") -> str:
    """The single issue's text; asserts the check took well under a second."""
    t0 = time.perf_counter()
    issues = check(document)
    took = time.perf_counter() - t0
    assert len(issues) == 1, [str(i) for i in issues]
    assert issues[0].location == location
    assert took < 2.0, f"refusing took {took:.2f} s"
    return str(issues[0])


# ----------------------------------------------------------------- powers


def test_huge_exponent_is_refused_before_any_build() -> None:
    text = refused(doc("x ** 100000"))
    assert "100000" in text and f"at most {MAX_EXPONENT}" in text
    assert solve(doc("x ** 100000"), time_limit=5).status == Status.INVALID


def test_exponent_given_by_a_parameter_is_refused() -> None:
    assert "100000" in refused(doc("x ** n"))


def test_exponent_at_the_limit_still_solves() -> None:
    r = solve(doc(f"x ** {MAX_EXPONENT}"), time_limit=30)
    assert r.status == Status.OPTIMAL and r.objective == pytest.approx(1.0)


def test_power_of_a_sum_with_huge_coefficients_is_refused_not_unbounded() -> None:
    # (1 + x) ** 100 used to be reported "unbounded": multiplied out, C(100, 50) ~ 1e29
    text = refused(doc("(1 + x) ** 100"))
    assert "1.0e+29" in text and "infinite" in text


def test_power_of_a_long_sum_is_refused_by_its_expansion_size() -> None:
    z = {"z": {"index": "I", "upper": 1}}
    text = refused(doc("sum(z[i] for i in I) ** 4", **z))
    assert "100 variables" in text and "4,421,275 terms" in text


def test_power_of_a_bounded_variable_beyond_infinity_is_refused() -> None:
    text = refused(doc("w ** 30", w={"upper": 10}))
    assert "1.0e+30" in text and "[0, 10]" in text


def test_small_powers_of_sums_are_fine() -> None:
    assert check(doc("(x + y) ** 3 + (1 + x) ** 20")) == []


def test_constant_power_tower_is_called_too_large() -> None:
    text = refused(doc("2**2**2**2**2**2 * x"))
    assert "too large" in text and "negative base" not in text


def test_constant_power_without_real_value_says_so() -> None:
    assert "no real value" in refused(doc("(-8) ** (1/3) * x"))


def test_max_multinomial() -> None:
    assert max_multinomial(2, 4) == pytest.approx(6)  # (a + b)^4: 1 4 6 4 1
    assert max_multinomial(3, 3) == pytest.approx(6)  # abc


# ------------------------------------------------------------- magnitudes


def test_huge_coefficient_is_refused_with_location() -> None:
    text = refused(doc("1e300 * x"))
    assert "1e+300" in text and "infinite" in text


def test_huge_parameter_value_is_refused_with_its_index() -> None:
    d = doc("sum(c[i] * x for i in I)")
    d["parameters"]["c"] = {
        "index": "I",
        "rows": [[i, 1e300 if i == 7 else 1] for i in range(1, 101)],
    }
    text = refused(d, "parameters.c")
    assert "[7]" in text and "1e+300" in text


# ----------------------------------------------------------------- memory


def big(n_set: int, dims: int = 1) -> dict[str, Any]:
    idx = ["I"] * dims
    body = "x[" + ", ".join(f"i{k}" for k in range(dims)) + "]"
    gens = " ".join(f"for i{k} in I" for k in range(dims))
    return {
        "sets": {"I": {"from": 1, "to": n_set}},
        "variables": {"x": {"index": idx, "upper": 1}},
        "objective": {"sense": "max", "expression": f"sum({body} {gens})"},
    }


def test_model_over_the_memory_budget_is_refused_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "1G")
    t0 = time.perf_counter()
    issues = check(big(10**7))
    took = time.perf_counter() - t0
    assert len(issues) == 1, [str(i) for i in issues]
    text = str(issues[0])
    assert "more than the memory budget of 1.0 GB" in text
    assert "10,000,000 variables" in text and BUDGET_ENV in text
    assert took < 2.0  # nothing was built: the 10^7 set used to take 3.6 GB and ~40 s


def test_49_million_variables_are_refused_by_the_default_budget() -> None:
    if estimate_memory(load(big(7000, dims=2))).bytes <= memory_budget():
        pytest.skip("this machine has memory enough for 49M variables")
    t0 = time.perf_counter()
    issues = check(big(7000, dims=2))  # 49M variables: used to take 4.3 GB to check
    assert len(issues) == 1 and issues[0].code == "size"
    assert time.perf_counter() - t0 < 2.0


def test_budget_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "512M")
    assert memory_budget() == 512 * 2**20
    monkeypatch.setenv(BUDGET_ENV, "25%")
    assert memory_budget() == pytest.approx(available_memory() * 0.25, rel=0.05)
    monkeypatch.setenv(BUDGET_ENV, "lots")  # malformed: the default, not a crash
    assert memory_budget() == pytest.approx(available_memory() * 0.5, rel=0.05)
    assert memory_budget("2G") == 2 * 2**30


def test_parse_size() -> None:
    assert parse_size("1.5g") == int(1.5 * 2**30)
    assert parse_size("100%") == 1.0
    with pytest.raises(ValueError, match="not a size"):
        parse_size("12 parsecs")


def test_estimate_counts_variables_and_grows_with_the_sets() -> None:
    small, large = estimate_memory(load(big(1000))), estimate_memory(load(big(100_000)))
    assert small.columns == 1000 and large.columns == 100_000
    assert large.bytes > 50 * (small.bytes - 64 * 2**20)


def test_a_model_within_budget_still_solves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "1G")
    r = solve(big(20_000), time_limit=30)
    assert r.status == Status.OPTIMAL and r.objective == pytest.approx(20_000)
