"""Score formulations produced elsewhere: one spec-v1 document per problem id.

``optiwise eval --dataset NAME --formulations DIR`` reads ``DIR/<id>.yaml``
(or ``.yml``/``.json``) for every problem, solves it with the modeling
layer and scores the objective like any other run.  A missing or unreadable
file counts as a failed problem (status ``error``/``invalid``), never as a
skipped one, so accuracy is always over the whole selection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from evals.problems import Problem

SUFFIXES = (".yaml", ".yml", ".json")

SolveFn = Callable[[Any], Any]


def _default_solve() -> SolveFn:
    # Imported lazily: the modeling layer is heavy and is written in parallel.
    from modeling import solve

    fn: SolveFn = solve
    return fn


class FormulationSolver:
    """A :class:`~evals.runner.Solver` that solves stored formulation documents.

    ``solve_fn`` receives the parsed document (a dict) and returns an object
    with ``.status`` (spec vocabulary) and ``.objective``; it defaults to
    ``modeling.solve``.  It runs in a worker thread so that several documents
    are solved concurrently without blocking the event loop.
    """

    def __init__(self, directory: str | Path, solve_fn: SolveFn | None = None) -> None:
        self.directory = Path(directory)
        self._solve_fn = solve_fn

    def find(self, problem_id: str) -> Path | None:
        """The formulation file for a problem id, if any."""
        for suffix in SUFFIXES:
            candidate = self.directory / f"{problem_id}{suffix}"
            if candidate.is_file():
                return candidate
        return None

    async def solve(self, problem: Problem) -> Mapping[str, Any]:
        """Solve ``<id>.yaml``/``.json``; missing or broken files are failures."""
        path = self.find(problem.id)
        if path is None:
            return {
                "status": "error",
                "error_categories": ["missing_formulation"],
                "message": f"no {problem.id}.yaml/.yml/.json in {self.directory}",
            }
        try:
            text = path.read_text(encoding="utf-8")
            document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
            return {
                "status": "invalid",
                "error_categories": ["unreadable_formulation"],
                "message": f"{path.name}: {exc}",
            }
        if not isinstance(document, Mapping):
            return {
                "status": "invalid",
                "error_categories": ["unreadable_formulation"],
                "message": f"{path.name}: not a mapping at the top level",
            }
        solve_fn = self._solve_fn or _default_solve()
        try:
            result = await asyncio.to_thread(solve_fn, dict(document))
        except Exception as exc:
            return {
                "status": "error",
                "error_categories": [f"solve_exception:{type(exc).__name__}"],
                "message": str(exc)[:2000],
                "formulation": dict(document),
            }
        raw_status = getattr(result, "status", "error")
        status = str(getattr(raw_status, "value", raw_status))
        categories = [] if status not in {"error", "invalid"} else [f"solve_{status}"]
        return {
            "status": status,
            "objective": getattr(result, "objective", None),
            "error_categories": categories,
            "message": str(getattr(result, "message", "") or ""),
        }
