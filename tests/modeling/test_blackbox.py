"""The black-box minimiser: the formulation's expression language, checked and never eval-ed."""

from __future__ import annotations

import pytest

from modeling.blackbox import minimize_function


def test_a_global_search_finds_the_rosenbrock_minimum_in_a_box() -> None:
    best = minimize_function("(1 - x)**2 + 100 * (y - x**2)**2", {"x": (-2, 2), "y": (-1, 3)})
    assert best.global_search and best.status == "optimal"
    assert best.values["x"] == pytest.approx(1, abs=1e-4)
    assert best.values["y"] == pytest.approx(1, abs=1e-4)


def test_a_local_search_handles_missing_bounds_and_start_points() -> None:
    local = minimize_function(
        "(x - 3)**2 + abs(y) + exp(z)", {"x": None, "y": None, "z": {"lower": 0, "start": 2}}
    )
    assert not local.global_search
    assert local.values["x"] == pytest.approx(3, abs=1e-4)
    assert local.values["z"] == pytest.approx(0, abs=1e-6)  # the bound holds
    assert local.objective == pytest.approx(1.0, abs=1e-4)


def test_maximize_with_constants_reports_the_maximum_itself() -> None:
    top = minimize_function("a * t - t**2", {"t": (0, 10)}, sense="maximize", constants={"a": 4})
    assert top.values["t"] == pytest.approx(2, abs=1e-5)
    assert top.objective == pytest.approx(4)


def test_points_where_the_function_is_undefined_are_avoided() -> None:
    best = minimize_function("log(x) + (x - 2)**2", {"x": (-1, 5)})
    assert best.status == "optimal" and best.values["x"] > 0


def test_bad_input_is_refused_with_a_reason_and_python_is_never_evaluated() -> None:
    with pytest.raises(ValueError, match="can be called"):
        minimize_function("__import__('os').system('echo hi')", {"x": (0, 1)})
    with pytest.raises(ValueError, match="did you mean 'x'"):
        minimize_function("xx ** 2", {"x": (0, 1)})
    with pytest.raises(ValueError, match="unknown set 'I'"):
        minimize_function("sum(x for i in I)", {"x": (0, 1)})
    with pytest.raises(ValueError, match="finite lower and upper"):
        minimize_function("x", {"x": (0, None)}, method="global")
    with pytest.raises(ValueError, match="at least one variable"):
        minimize_function("1", {})
    with pytest.raises(ValueError, match="both a variable and a constant"):
        minimize_function("x", {"x": (0, 1)}, constants={"x": 2})
