"""Adam, AdamP, diffGrad and AdAdaGrad on least squares: loss goes down, batches adapt, bounds hold."""

from __future__ import annotations

import numpy as np
import pytest

from modeling.numeric import FiniteSum, adadagrad, adam, adamp, diffgrad, minimize


def _least_squares(n: int = 200, d: int = 5) -> tuple[FiniteSum, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    b = a @ w + 0.01 * rng.normal(size=n)

    def rows(idx: np.ndarray | None) -> np.ndarray:
        return np.arange(n) if idx is None else idx

    def loss(x: np.ndarray, idx: np.ndarray | None) -> float:
        i = rows(idx)
        return float(0.5 * np.mean((a[i] @ x - b[i]) ** 2))

    def grad(x: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        i = rows(idx)
        return a[i].T @ (a[i] @ x - b[i]) / len(i)

    def sample_grads(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return a[idx] * (a[idx] @ x - b[idx])[:, None]

    return FiniteSum(n, loss, grad, np.zeros(d), sample_grads), w


@pytest.mark.parametrize("method", [adam, adamp, diffgrad, adadagrad], ids=lambda f: f.__name__)
def test_first_order_methods_reduce_least_squares_loss(method) -> None:  # type: ignore[no-untyped-def]
    fs, w = _least_squares()
    start = fs.loss(fs.x0, None)
    r = method(
        fs,
        lr=0.05,
        max_grad_evals=100,
        batch=32 if method is not adadagrad else "adaptive",
        record_every=20,
    )
    assert r.objective < 0.01 * start
    assert np.linalg.norm(r.x - w) < 0.1
    assert [h["grad_evals"] for h in r.history] == sorted(h["grad_evals"] for h in r.history)


def test_adaptive_batch_grows_near_the_solution() -> None:
    fs, _ = _least_squares()
    r = adadagrad(fs, lr=0.1, max_grad_evals=60, record_every=5)
    batches = [h["batch"] for h in r.history]
    assert batches[0] <= 4 and batches[-1] > 4 * batches[0]
    assert batches == sorted(batches)


def test_projection_keeps_bounds() -> None:
    fs, _ = _least_squares()
    fs.lower = np.zeros(5)
    fs.upper = np.full(5, 0.5)
    r = adam(fs, lr=0.05, max_iter=300)
    assert np.all(r.x >= 0) and np.all(r.x <= 0.5)


def test_expression_objective_with_exact_gradient() -> None:
    r = minimize("(x - 3)**2 + 10*(y + 1)**2", {"x": 0.0, "y": 0.0}, method="diffgrad", lr=0.1)
    assert r.status == "optimal"
    assert r.solution == pytest.approx({"x": 3.0, "y": -1.0}, abs=1e-4)


def test_first_order_refuses_equalities() -> None:
    with pytest.raises(ValueError, match="no equality constraints"):
        minimize("x**2", ["x"], equalities=["x - 1"], method="adam")
