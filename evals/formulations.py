"""Score formulations produced elsewhere: one spec-v1 document per problem id.

``optiwise eval --dataset NAME --formulations DIR`` reads ``DIR/<id>.yaml``
(or ``.yml``/``.json``) for every problem, solves it with the modeling
layer and scores the objective like any other run.  A missing or unreadable
file counts as a failed problem (status ``error``/``invalid``), never as a
skipped one, so accuracy is always over the whole selection; the command
refuses a folder that matches none of the selected ids (:meth:`coverage`).

A problem that comes with a data folder (``Problem.data``, e.g. MIPLIB-NL's
``data/``) has its document's tables read from that folder, as the live agent
does. Each document is solved in a killable worker
(:func:`modeling.worker.run_isolated`): with ``timeout_s`` the worker is
killed at that many seconds, so a model that would hang the solver (a huge
power, a model too big to build) is stopped for real and recorded as a
time-out.
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


class _TimedOut(Exception):
    """The worker was killed at the time-out."""


def solve_document(document: dict[str, Any], data: str | None = None) -> Any:
    """``modeling.solve(document)``, its tables read from the problem's data folder ``data``.

    A document that breaks the spec's shape is an ``invalid`` result with its
    located issues, as ``modeling.solve`` gives for one without tables.
    """
    # Imported lazily: the modeling layer is heavy.
    from modeling import solve
    from modeling.errors import FormulationError
    from modeling.formulation import load
    from modeling.result import SolveResult

    if data is None:
        return solve(document)
    try:
        source = load(document, data=data)
    except FormulationError as exc:
        return SolveResult.invalid(exc.issues, str(exc))
    return solve(source)


def _solve_in_worker(
    document: dict[str, Any], timeout_s: float | None, data: str | None = None
) -> Any:
    """:func:`solve_document` in a worker process killed after ``timeout_s``."""
    from modeling.worker import HardLimitExceeded, run_isolated

    try:
        return run_isolated(solve_document, document, data, time_limit=timeout_s)
    except HardLimitExceeded as exc:
        if exc.kind == "time":
            raise _TimedOut(
                f"no answer within {timeout_s} s: the solve was stopped ({exc})"
            ) from exc
        raise


class FormulationSolver:
    """A :class:`~evals.runner.Solver` that solves stored formulation documents.

    ``solve_fn`` receives the parsed document (a dict) and returns an object
    with ``.status`` (spec vocabulary) and ``.objective``; it defaults to
    ``modeling.solve``.  It runs in a worker thread so that several documents
    are solved concurrently without blocking the event loop.
    """

    def __init__(
        self,
        directory: str | Path,
        solve_fn: SolveFn | None = None,
        *,
        timeout_s: float | None = None,
    ) -> None:
        self.directory = Path(directory)
        self._solve_fn = solve_fn
        self.timeout_s = timeout_s

    def warm_up(self) -> None:
        """Start the solve worker now, so that its start-up does not count against a time-out."""
        if self._solve_fn is None:
            from modeling.worker import warm_up

            warm_up()

    def files(self) -> list[Path]:
        """The formulation files in the folder, sorted."""
        return sorted(p for p in self.directory.iterdir() if p.suffix in SUFFIXES and p.is_file())

    def coverage(self, problem_ids: list[str]) -> tuple[list[str], list[str]]:
        """``(ids with a file, ids without)`` for a selection of problems."""
        found = [i for i in problem_ids if self.find(i) is not None]
        missing = [i for i in problem_ids if self.find(i) is None]
        return found, missing

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
        try:
            if self._solve_fn is not None:
                result = await asyncio.to_thread(self._solve_fn, dict(document))
            else:
                result = await asyncio.to_thread(
                    _solve_in_worker, dict(document), self.timeout_s, problem.data_dir
                )
        except _TimedOut as exc:
            return {
                "status": "error",
                "error_categories": ["timeout"],
                "message": str(exc),
                "formulation": dict(document),
            }
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
