"""Few-shot examples for the formulate prompt: the sample problems most like the new one.

The samples are :func:`modeling.samples.load_samples` (package data, so an
installed agent finds them too); only those whose answer is ``optimal`` are
shown, since an infeasible or unbounded model is a poor example to imitate.
Similarity is the word overlap (Jaccard) of the problem texts, titles and tags.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.state import normalize_document
from modeling.result import Status
from modeling.samples import load_samples

__all__ = ["Example", "content_words", "examples", "pick_examples", "render_examples"]

_WORD = re.compile(r"[a-z]{4,}")
_STOP = frozenset(
    "that this with from have each must what which many much should their there these "
    "than they will been were into more most your when where make made total".split()
)


def content_words(text: str) -> frozenset[str]:
    """The words of four letters or more that carry meaning (no stop words), lower-cased."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP)


@dataclass(frozen=True)
class Example:
    """A solved sample problem usable as a few-shot example."""

    id: str
    problem: str
    formulation: Mapping[str, Any]
    """The sample's document as plain JSON data."""
    words: frozenset[str] = field(repr=False, default=frozenset())


@functools.lru_cache(maxsize=8)
def examples(directory: str | None = None) -> tuple[Example, ...]:
    """The optimal sample problems of ``directory`` (default: the packaged samples)."""
    out = []
    for s in load_samples(Path(directory) if directory else None):
        if s.expected_status != Status.OPTIMAL:
            continue
        out.append(
            Example(
                id=s.id,
                problem=s.problem,
                formulation=normalize_document(s.formulation),
                words=content_words(f"{s.title} {s.problem} {' '.join(s.tags)}"),
            )
        )
    return tuple(out)


def pick_examples(problem: str, n: int, directory: str | None = None) -> list[Example]:
    """The ``n`` samples most similar to ``problem`` (word overlap), never the problem itself."""
    if n <= 0:
        return []
    words = content_words(problem)
    mine = problem.strip()
    scored = []
    for s in examples(directory):
        if s.problem == mine:
            continue  # showing a problem its own answer would make any benchmark meaningless
        union = len(words | s.words) or 1
        scored.append((len(words & s.words) / union, -len(s.problem), s.id, s))
    scored.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [t[3] for t in scored[:n]]


def render_examples(chosen: list[Example]) -> str:
    """The examples as the formulate prompt's ``examples`` section ('' for none)."""
    if not chosen:
        return ""
    parts = ["## Examples"]
    for k, s in enumerate(chosen, 1):
        doc = json.dumps(s.formulation, separators=(",", ":"), ensure_ascii=False)
        parts.append(
            f"### Example {k}: problem\n\n{s.problem}\n\n### Example {k}: document\n\n{doc}"
        )
    return "\n\n".join(parts)
