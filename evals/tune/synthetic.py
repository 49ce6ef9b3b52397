"""A seeded synthetic problem set for tuning without a benchmark download.

Each problem is a small product-mix LP written in words (2-3 products,
2-3 resources, random profits, usages and capacities); its label is the
optimum of the matching formulation document solved by :mod:`modeling`, so
the labels are exact. ``optiwise tune --synthetic N`` uses it.
"""

from __future__ import annotations

import random
from typing import Any

from evals.problems import Problem, normalize_answer

__all__ = ["synthetic_problems"]

_PRODUCTS = ("chairs", "tables", "desks", "shelves", "benches", "stools", "cabinets")
_RESOURCES = (("labor", "hours of labor"), ("wood", "units of wood"), ("paint", "litres of paint"))


def _problem(rng: random.Random, index: int) -> tuple[str, dict[str, Any]]:
    products = rng.sample(_PRODUCTS, rng.randint(2, 3))
    resources = _RESOURCES[: rng.randint(2, 3)]
    profit = [rng.randint(5, 60) for _ in products]
    use = [[rng.randint(1, 9) for _ in products] for _ in resources]
    cap = [rng.randint(40, 400) for _ in resources]
    sentences = [f"A workshop (case {index}) makes {', '.join(products[:-1])} and {products[-1]}."]
    for p, name in enumerate(products):
        needs = ", ".join(f"{use[r][p]} {unit}" for r, (_, unit) in enumerate(resources))
        sentences.append(f"Each unit of {name} earns ${profit[p]} profit and needs {needs}.")
    available = ", ".join(f"{cap[r]} {unit}" for r, (_, unit) in enumerate(resources))
    sentences.append(f"This week there are {available} available.")
    sentences.append(
        "How many units of each product should it make to maximize total profit? "
        "Fractional amounts are allowed."
    )
    document = {
        "name": f"product_mix_{index}",
        "sets": {"Products": list(products), "Resources": [name for name, _ in resources]},
        "parameters": {
            "profit": {"index": ["Products"], "values": profit},
            "use": {"index": ["Resources", "Products"], "values": use},
            "cap": {"index": ["Resources"], "values": cap},
        },
        "variables": {"make": {"index": ["Products"], "type": "continuous"}},
        "objective": {
            "sense": "maximize",
            "expression": "sum(profit[p] * make[p] for p in Products)",
        },
        "constraints": [
            {
                "name": "capacity",
                "forall": "for r in Resources",
                "expression": "sum(use[r, p] * make[p] for p in Products) <= cap[r]",
            }
        ],
    }
    return " ".join(sentences), document


def synthetic_problems(n: int, seed: int = 0) -> list[Problem]:
    """``n`` seeded product-mix problems labelled with their solved optimum."""
    from modeling import solve

    rng = random.Random(seed)
    problems = []
    for i in range(n):
        text, document = _problem(rng, i)
        result = solve(document)
        if result.objective is None:
            raise RuntimeError(f"synthetic problem {i} did not solve: {result.status}")
        problems.append(
            Problem(
                id=f"synthetic-{seed}-{i}",
                dataset="synthetic",
                question=text,
                answer=normalize_answer(round(float(result.objective), 6)),
                metadata={"reference_formulation": document},
            )
        )
    return problems
