"""The sample problems: problem text, our formulation and its verified answer.

One home for ``datasets/samples/*.yaml``, the worked problems the team wrote
(the agent's few-shot examples, the app's gallery, test and bench inputs).
They are read through :mod:`importlib.resources` from ``modeling/_data``, the
package's view of the repository's ``datasets/`` folder (a symlink in a
checkout, copied files in a wheel), so an editable checkout and an installed
wheel see the same problems.

>>> from modeling.samples import get_sample, sample_names
>>> "transport_basic" in sample_names()
True
>>> s = get_sample("transport_basic")
>>> s.expected_status == "optimal", s.expected_objective
(True, 2528.0)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from modeling.errors import did_you_mean
from modeling.result import Status

__all__ = [
    "Sample",
    "SampleError",
    "UnknownSampleError",
    "get_sample",
    "load_samples",
    "sample_names",
    "samples_dir",
]

_EXPECTED = frozenset({Status.OPTIMAL, Status.INFEASIBLE, Status.UNBOUNDED})


class SampleError(ValueError):
    """A sample file that cannot be read; says which file and what is wrong."""


class UnknownSampleError(KeyError):
    """A name that is not a sample; the message lists what is close."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        hint = did_you_mean(name, known) or f"known: {', '.join(known) or 'none'}"
        super().__init__(f"no sample named {name!r}; {hint}")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Sample:
    """One sample problem with the answer our formulation is known to reach."""

    id: str
    """The file's stem, e.g. ``transport_basic``."""
    title: str
    model_class: str
    """LP, MILP, QP, MIQP, NLP or MINLP, as written in the file."""
    tags: tuple[str, ...]
    problem: str
    """The problem in plain language, as a user would type it."""
    formulation: Mapping[str, Any] = field(hash=False)
    """The five-element document (``sets``, ``parameters``, ...), as written."""
    expected_status: Status
    """``optimal``, ``infeasible`` or ``unbounded``."""
    expected_objective: float | None
    """The verified optimum (None unless ``expected_status`` is optimal)."""
    source: str = field(default="", compare=False)
    """Where the file was read from (a path when the data are on disk)."""


def samples_dir() -> Traversable:
    """The folder of the packaged sample files (``datasets/samples`` in a checkout)."""
    return files("modeling").joinpath("_data", "samples")


def _parse(text: str, where: str, stem: str) -> Sample:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SampleError(f"{where}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise SampleError(f"{where}: expected a mapping with problem, formulation and answer")
    problem = str(data.get("problem") or "").strip()
    formulation = data.get("formulation")
    answer = data.get("answer")
    if not problem:
        raise SampleError(f"{where}: 'problem' is missing or empty (the text a user would type)")
    if not isinstance(formulation, dict):
        raise SampleError(f"{where}: 'formulation' must be a mapping (the five-element document)")
    if not isinstance(answer, dict) or answer.get("status") not in _EXPECTED:
        raise SampleError(
            f"{where}: 'answer.status' must be one of optimal, infeasible, unbounded "
            f"(got {answer.get('status') if isinstance(answer, dict) else answer!r})"
        )
    status = Status(answer["status"])
    objective = answer.get("objective")
    expected: float | None = None
    if status is Status.OPTIMAL:
        if not isinstance(objective, int | float):
            raise SampleError(f"{where}: an optimal sample needs a numeric 'answer.objective'")
        expected = float(objective)
    tags = data.get("tags") or []
    return Sample(
        id=str(data.get("id") or stem),
        title=str(data.get("title") or stem),
        model_class=str(data.get("model_class") or ""),
        tags=tuple(str(t) for t in tags),
        problem=problem,
        formulation=formulation,
        expected_status=status,
        expected_objective=expected,
        source=where,
    )


@functools.lru_cache(maxsize=8)
def _load(directory: str | None) -> tuple[Sample, ...]:
    folder: Traversable = Path(directory) if directory is not None else samples_dir()
    if not folder.is_dir():
        where = directory if directory is not None else "modeling/_data/samples"
        raise SampleError(
            f"{where}: no sample folder (an installed optiwise must ship its package data; "
            "reinstall it, or check that modeling/_data links to ../datasets)"
        )
    entries = sorted(
        (e for e in folder.iterdir() if e.name.endswith(".yaml")), key=lambda e: e.name
    )
    return tuple(
        _parse(e.read_text(encoding="utf-8"), str(e), e.name.removesuffix(".yaml")) for e in entries
    )


def load_samples(directory: str | Path | None = None) -> tuple[Sample, ...]:
    """Every sample, sorted by file name (cached).

    ``directory`` reads another folder of files in the same format instead of
    the packaged samples.  A malformed file raises :class:`SampleError` naming
    it: a broken sample is a bug to fix, not one to skip silently.
    """
    return _load(None if directory is None else str(directory))


def sample_names(directory: str | Path | None = None) -> tuple[str, ...]:
    """The ids of every sample, sorted."""
    return tuple(sorted(s.id for s in load_samples(directory)))


def get_sample(name: str, directory: str | Path | None = None) -> Sample:
    """The sample with id ``name``; :class:`UnknownSampleError` lists close ids."""
    for s in load_samples(directory):
        if s.id == name:
            return s
    raise UnknownSampleError(name, sample_names(directory))
