"""Solver-verified problem synthesis (``optiwise synth``), OptMATH/ReSocratic style.

Seeds (spec-v1 formulations) → instance generators that scale sets, draw
parameters and vary constraint families → solver labels → an LLM writes the
word problem (back-translation) → the agent formulates it back, and the pair
is kept when the re-formulated optimum matches the label (rejection sampling;
the rest form a hard set) → near-duplicates of registered benchmarks are
dropped → JSONL in the harness's ``Problem`` shape.

::

    from evals.synth import load_seeds, generate, Settings
    seed = load_seeds("samples", names=["transport_basic"])[0]
    instance = generate(seed, 0, rng_seed=7, settings=Settings(complexity=2))
    instance.objective, instance.operations

The command line is :mod:`evals.synth.cli`; the loop is
:func:`evals.synth.pipeline.run_synthesis`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modeling._lazy import lazy_exports

# Imported on first use (PEP 562): ``optiwise`` builds its parser from every command
# module, and this package's modules pull in the openai client; ``optiwise check``
# should not pay for them.
_WHERE = {
    "BenchmarkIndex": "evals.synth.dedup",
    "Duplicate": "evals.synth.dedup",
    "GenerationError": "evals.synth.generators",
    "Instance": "evals.synth.generators",
    "Seed": "evals.synth.seeds",
    "SeedError": "evals.synth.seeds",
    "Settings": "evals.synth.generators",
    "SynthReport": "evals.synth.pipeline",
    "forward_matches": "evals.synth.backtranslate",
    "generate": "evals.synth.generators",
    "load_seeds": "evals.synth.seeds",
    "make_instances": "evals.synth.pipeline",
    "run_synthesis": "evals.synth.pipeline",
    "structure_of": "evals.synth.generators",
    "table_of": "evals.synth.seeds",
}

if TYPE_CHECKING:
    from evals.synth.backtranslate import forward_matches
    from evals.synth.dedup import BenchmarkIndex, Duplicate
    from evals.synth.generators import GenerationError, Instance, Settings, generate, structure_of
    from evals.synth.pipeline import SynthReport, make_instances, run_synthesis
    from evals.synth.seeds import Seed, SeedError, load_seeds, table_of


__all__ = [
    "BenchmarkIndex",
    "Duplicate",
    "GenerationError",
    "Instance",
    "Seed",
    "SeedError",
    "Settings",
    "SynthReport",
    "forward_matches",
    "generate",
    "load_seeds",
    "make_instances",
    "run_synthesis",
    "structure_of",
    "table_of",
]

__getattr__ = lazy_exports(globals(), _WHERE)
