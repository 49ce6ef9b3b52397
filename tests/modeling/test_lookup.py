"""Index lookups without a Python loop give the same model and the same located errors.

``x[t - 1]`` over integer sets is a binary search; many label keys (a parameter
indexed by a derived label) go through one hash-table call. Both must find
exactly what the element-by-element lookup found, and report what is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modeling import check, compile_model, solve


def chain(elements: list[int], shift: str = "t - 2") -> dict[str, Any]:
    return {
        "sets": {"T": elements},
        "parameters": {"d": {"index": ["T"], "values": [float(e) for e in elements]}},
        "variables": {"inv": {"index": ["T"], "upper": 100}},
        "objective": {"sense": "min", "expression": "sum(inv[t] for t in T)"},
        "constraints": [
            {
                "name": "flow",
                "forall": f"for t in T if t > {elements[0]}",
                "expression": f"inv[t] >= inv[{shift}] + d[t]",
            }
        ],
    }


def test_integer_index_arithmetic_on_an_unordered_non_contiguous_set() -> None:
    elements = [1, 9, 5, 3, 7]  # written out of order: positions are the written order
    a = compile_model(chain(elements)).matrix.toarray()
    pos = {e: k for k, e in enumerate(elements)}
    rows = [t for t in elements if t > 1]
    assert a.shape == (len(rows), len(elements))
    for r, t in enumerate(rows):
        expect = np.zeros(len(elements))
        expect[pos[t]] += 1
        expect[pos[t - 2]] -= 1
        assert np.array_equal(a[r], expect), t


def test_an_index_outside_its_integer_set_is_still_located() -> None:
    issues = check(chain([1, 2, 3], shift="t + 5"))
    assert len(issues) == 1
    assert issues[0].location == "constraints[0].expression"
    assert "uses '7', which is not an element of set T" in issues[0].message
    assert "if t > 1" in issues[0].hint


def test_many_label_keys_use_the_hashed_lookup_with_the_same_result() -> None:
    n = 12_000  # above the hashed-lookup threshold
    labels = [f"s{k}" for k in range(n)]
    doc = {
        "sets": {"S": labels, "P": [[lab, lab] for lab in labels]},
        "parameters": {
            "w": {"index": ["P"], "rows": [[lab, lab, k % 7] for k, lab in enumerate(labels)]}
        },
        "variables": {"x": {"index": ["S"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(w[i, j] * x[i] for (i, j) in P)"},
    }
    r = solve(doc)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(sum(k % 7 for k in range(n)))


def test_a_missing_label_among_many_keys_is_named_with_a_hint() -> None:
    n = 12_000
    labels = [f"s{k}" for k in range(n)]
    doc = {
        "sets": {"S": labels, "Q": labels[:-1] + ["s_extra"]},
        "variables": {"x": {"index": ["S"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(x[q] for q in Q)"},
    }
    issues = check(doc)
    assert [i.location for i in issues] == ["objective.expression"]
    assert "'s_extra', which is not an element of set S" in issues[0].message
