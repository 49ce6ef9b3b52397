"""A problem that comes with a data table, for the upload tests (chat library, app, browser).

``products.csv`` has 50 products (profit, hours); the model makes as much
profit as 40 hours allow.  Only the last product is worth making (profit 999
per 3 hours), so the optimum 40 / 3 * 999 = 13,320 can only be found by
reading the whole table: the LLM is shown its first rows and ranges, never the
row that decides.  An edit raises the hours to 80 (optimum 26,640).
"""

from __future__ import annotations

import copy
import json
from typing import Any

PROBLEM = (
    "A workshop makes products; each one's profit per unit and hours per unit are in "
    "products.csv. With 40 hours available, how many of each should it make to maximize profit?"
)
EDIT = "The available hours rise to 80."
HOURS_EDITED = 80
OPTIMUM = 40 / 3 * 999
OPTIMUM_EDITED = 80 / 3 * 999
HIDDEN_ROW = "item37"  # a row past the preview: never in a prompt


def products_csv() -> bytes:
    """50 rows; item50 is the only one worth making."""
    lines = ["product,profit,hours"]
    for i in range(1, 50):
        lines.append(f"item{i},{10 + i % 9},{2 + i % 5}")
    lines.append("item50,999,3")
    return ("\n".join(lines) + "\n").encode()


DOCUMENT: dict[str, Any] = {
    "name": "workshop",
    "sets": {"P": {"table": "products.csv", "column": "product"}},
    "parameters": {
        "profit": {"index": ["P"], "table": "products.csv", "keys": "product", "value": "profit"},
        "hours": {"index": ["P"], "table": "products.csv", "keys": "product", "value": "hours"},
        "available": 40,
    },
    "variables": {"make": {"index": ["P"], "type": "continuous", "lower": 0}},
    "objective": {"sense": "maximize", "expression": "sum(profit[p] * make[p] for p in P)"},
    "constraints": [
        {"name": "hours", "expression": "sum(hours[p] * make[p] for p in P) <= available"}
    ],
}


def edited_document() -> dict[str, Any]:
    doc = copy.deepcopy(DOCUMENT)
    doc["parameters"]["available"] = HOURS_EDITED
    return doc


def handler(body: dict[str, Any]) -> str:
    """Stub replies: the table formulation, its edit, or a one-line explanation."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    last = str(users[-1].get("content", "")) if users else ""
    if last.startswith("The user wants to change"):
        return json.dumps({"summary": "80 hours", "document": edited_document()})
    if last.startswith("Explain the solution"):
        return "Make only item50: it earns the most per hour."
    return "```json\n" + json.dumps(DOCUMENT) + "\n```"


def user_text(body: dict[str, Any]) -> str:
    """Everything the request's user messages say."""
    return "\n".join(
        str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user"
    )
