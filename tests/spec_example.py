"""The spec's own example (``docs/formulation.md``): transport, optimum 1707.5.

Shared by the tests that need a small, well-known LP; copy it before changing it.
"""

from __future__ import annotations

from typing import Any

TRANSPORT_OPTIMUM = 1707.5

TRANSPORT: dict[str, Any] = {
    "name": "transport",
    "sets": {"Plants": ["seattle", "san_diego"], "Markets": ["new_york", "chicago", "topeka"]},
    "parameters": {
        "supply": {"index": ["Plants"], "values": [350, 600]},
        "demand": {
            "index": ["Markets"],
            "values": {"new_york": 325, "chicago": 300, "topeka": 275},
        },
        "cost": {"index": ["Plants", "Markets"], "values": [[2.5, 1.7, 1.8], [2.5, 1.8, 1.4]]},
    },
    "variables": {"ship": {"index": ["Plants", "Markets"], "type": "continuous"}},
    "objective": {
        "sense": "minimize",
        "expression": "sum(cost[p, m] * ship[p, m] for p in Plants for m in Markets)",
    },
    "constraints": [
        {
            "name": "capacity",
            "forall": "for p in Plants",
            "expression": "sum(ship[p, m] for m in Markets) <= supply[p]",
        },
        {
            "name": "meet_demand",
            "forall": "for m in Markets",
            "expression": "sum(ship[p, m] for p in Plants) >= demand[m]",
        },
    ],
}
