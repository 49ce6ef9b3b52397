"""Where benchmark data live on disk: the one place that decides.

A registered variant's ``local_path`` (see :mod:`evals.registry`) is looked
up, in order, under

1. ``--data-dir DIR`` or ``$OPTIWISE_DATA_DIR``: a mirror folder holding the
   same ``local_path`` layout (CI points it at its mirror), then
2. the user cache, ``$OPTIWISE_CACHE_HOME/benchmarks`` (default
   ``$XDG_CACHE_HOME/optiwise/benchmarks`` or ``~/.cache/optiwise/benchmarks``),
   which ``optiwise data fetch NAME`` fills (:mod:`evals.fetch`).

This module imports nothing else from evals, so the registry (``is_present``),
the loaders and the fetcher all ask it without import cycles.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

__all__ = [
    "CACHE_ENV",
    "DATA_DIR_ENV",
    "DataNotFoundError",
    "Locatable",
    "cache_dir",
    "data_roots",
    "locate",
    "locate_relative",
    "require",
]

DATA_DIR_ENV = "OPTIWISE_DATA_DIR"
CACHE_ENV = "OPTIWISE_CACHE_HOME"


class Locatable(Protocol):
    """What locating needs of a registry entry (:class:`evals.registry.DatasetEntry`)."""

    @property
    def name(self) -> str: ...

    @property
    def local_path(self) -> str: ...


class DataNotFoundError(FileNotFoundError):
    """A registered dataset is in none of the data folders."""


def cache_dir() -> Path:
    """The user cache for downloaded benchmarks."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "benchmarks"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "optiwise" / "benchmarks"


def data_roots(data_dir: str | Path | None = None) -> list[Path]:
    """Folders searched for benchmark files: the explicit one (or env), then the cache."""
    roots: list[Path] = []
    explicit = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if explicit:
        roots.append(Path(explicit).expanduser())
    roots.append(cache_dir())
    return roots


def locate(entry: Locatable, data_dir: str | Path | None = None) -> Path | None:
    """The first existing copy of ``entry.local_path`` under the data roots."""
    return locate_relative(entry.local_path, data_dir)


def locate_relative(relative: str, data_dir: str | Path | None = None) -> Path | None:
    """The first existing ``root / relative`` under the data roots, or None."""
    for root in data_roots(data_dir):
        candidate = root / relative
        if candidate.exists():
            return candidate
    return None


def require(entry: Locatable, data_dir: str | Path | None = None) -> Path:
    """Like :func:`locate` but raises with the command that fixes it."""
    path = locate(entry, data_dir)
    if path is None:
        where = ", ".join(str(r) for r in data_roots(data_dir))
        raise DataNotFoundError(
            f"{entry.name} is not downloaded (looked for {entry.local_path} in {where}). "
            f"Run `optiwise data fetch {entry.name}`, or point --data-dir / "
            f"${DATA_DIR_ENV} at a mirror."
        )
    return path
