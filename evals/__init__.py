"""Benchmark registry, loaders, scoring protocols, the eval runner and reports.

Typical use::

    from evals import load, run_eval

    dataset = load("nl4opt")            # alias -> nl4opt.sirl, 245 problems
    summary = run_eval(dataset, solver, model_name="gpt-4o")
    summary.protocols["sirl"].accuracy

Data come from ``--data-dir`` / ``$OPTIWISE_DATA_DIR`` or the user cache
filled by ``optiwise data fetch NAME``; see ``datasets/README.md``.
"""

from __future__ import annotations

from evals.fetch import (
    ChecksumError,
    DataNotFoundError,
    FetchError,
    cache_dir,
    fetch,
    locate,
)
from evals.formulations import FormulationSolver
from evals.loaders import DataFormatError, Dataset, load
from evals.problems import Answer, Problem, normalize_answer
from evals.registry import DatasetEntry, Registry, get, list_datasets, load_registry
from evals.report import RunSummary, compare, plot_compare, rescore
from evals.results import ProblemResult
from evals.runner import SolveOutcome, Solver, execute, prepare_run, run_eval
from evals.scoring import (
    ALL_PROTOCOLS,
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    Prediction,
    ScoringProtocol,
    get_protocol,
    score,
)

__all__ = [
    "ALL_PROTOCOLS",
    "DEFAULT_PROTOCOL",
    "PROTOCOLS",
    "Answer",
    "ChecksumError",
    "DataFormatError",
    "DataNotFoundError",
    "Dataset",
    "DatasetEntry",
    "FetchError",
    "FormulationSolver",
    "Prediction",
    "Problem",
    "ProblemResult",
    "Registry",
    "RunSummary",
    "ScoringProtocol",
    "SolveOutcome",
    "Solver",
    "cache_dir",
    "compare",
    "execute",
    "fetch",
    "get",
    "get_protocol",
    "list_datasets",
    "load",
    "load_registry",
    "locate",
    "normalize_answer",
    "plot_compare",
    "prepare_run",
    "rescore",
    "run_eval",
    "score",
]
