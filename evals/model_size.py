"""Problem sizes for the report's size buckets where the dataset states none (MIPLIB-NL).

MIPLIB-NL's paper reports accuracy by size bucket (variables + constraints:
< 1k, 1k–10k, ≥ 10k) of each instance, but its ``instance.json`` states no
size (only ``parameters`` such as ``num_nodes``), and the reference model is a
Gurobi script we cannot run.  What a run does have is the formulation it
scored and the instance's tables: compiled, it has a definite number of
variables and constraints, and a correct model has about the reference's size
(beasleyC1: exactly MIPLIB's 2,500 x 1,750; stein9inf: 13 constraints where the
MPS has 14 rows, a two-sided constraint being one here); a wrong one may be
larger or smaller.  So for the families in
:data:`COMPILED_SIZE_FAMILIES`, a result without a stated size is bucketed by
the compiled size of its final formulation, read with the instance's data
folder (``<dataset source>/<id>/data``); a result with no formulation, or one
that does not compile, has no size and the report counts it beside the table.

Sizes are cached in the run directory (:data:`SIZES_FILE`, keyed by the
formulation's hash), so rebuilding a report compiles nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.results import ProblemResult, write_json_atomic

__all__ = [
    "COMPILED_SIZE_FAMILIES",
    "SIZES_FILE",
    "compiled_size",
    "compiled_sizes",
    "data_folder",
]

COMPILED_SIZE_FAMILIES = frozenset({"miplib_nl"})
"""Families whose size buckets come from the compiled scored formulation."""
SIZES_FILE = "model_sizes.json"


def compiled_size(formulation: Any, data: str | Path | None) -> tuple[int, int] | None:
    """``(variables, constraints)`` of a formulation compiled with its tables; None if it fails."""
    from modeling import compile_model
    from modeling.formulation import load

    if not isinstance(formulation, Mapping) or not formulation:
        return None
    try:
        model = compile_model(load(dict(formulation), data=data))
    except Exception:  # noqa: BLE001 - any document that does not compile has no size
        return None
    return int(model.ncols), int(sum(b.count for b in model.con_blocks))


def data_folder(config: Mapping[str, Any], problem_id: str) -> Path | None:
    """An instance's ``data/`` folder under the run's dataset source (a folder tree), if there."""
    source = config.get("source")
    if not source:
        return None
    folder = Path(str(source)) / problem_id / "data"
    return folder if folder.is_dir() else None


def _key(formulation: Any, data: Path | None) -> str:
    text = json.dumps([formulation, str(data) if data else None], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compiled_sizes(
    results: Sequence[ProblemResult], config: Mapping[str, Any], run_dir: Path | None
) -> dict[str, int]:
    """Variables + constraints per result id, for a family of :data:`COMPILED_SIZE_FAMILIES`.

    Only results without a dataset-stated size are compiled; those that cannot
    be (no formulation, a compile error, the tables gone) are left out.
    """
    family = str(config.get("family") or str(config.get("dataset", "")).split(".")[0])
    if family not in COMPILED_SIZE_FAMILIES:
        return {}
    cache_path = run_dir / SIZES_FILE if run_dir is not None else None
    cache: dict[str, Any] = {}
    if cache_path is not None and cache_path.exists():
        try:
            cache = json.loads(cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cache = {}
    sizes: dict[str, int] = {}
    changed = False
    for result in results:
        if result.size is not None or result.formulation is None:
            continue
        data = data_folder(config, result.id)
        key = _key(result.formulation, data)
        hit = cache.get(result.id)
        if not (isinstance(hit, Mapping) and hit.get("key") == key):
            found = compiled_size(result.formulation, data)
            hit = {
                "key": key,
                "variables": found[0] if found else None,
                "constraints": found[1] if found else None,
            }
            cache[result.id] = hit
            changed = True
        if hit.get("variables") is not None and hit.get("constraints") is not None:
            sizes[result.id] = int(hit["variables"]) + int(hit["constraints"])
    if changed and cache_path is not None and cache_path.parent.is_dir():
        write_json_atomic(cache_path, cache)
    return sizes
