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
"""

from __future__ import annotations

from evals.synth.generators import GenerationError, Instance, Settings, generate, structure_of
from evals.synth.seeds import Seed, SeedError, load_seeds, table_of

__all__ = [
    "GenerationError",
    "Instance",
    "Seed",
    "SeedError",
    "Settings",
    "generate",
    "load_seeds",
    "structure_of",
    "table_of",
]
