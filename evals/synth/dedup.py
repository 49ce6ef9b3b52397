"""Keep synthetic problems apart from every registered benchmark problem present locally.

Two tests, both against each registered variant whose data are in the data
folders (``$OPTIWISE_DATA_DIR``, ``--data-dir`` or the fetch cache):

- **near-duplicate text**: Jaccard similarity of normalized character
  5-shingles at or above ``text_threshold`` (0.7). MinHash signatures pick the
  candidates, the exact Jaccard decides, so the result does not depend on the
  hashing;
- **same label and structure**: an equal optimum (within 1e-6 relative) and,
  where the benchmark problem carries a reference structure (model class,
  variable and constraint counts), the same structure; where it carries none,
  an equal optimum with text similarity at or above ``label_text_threshold``
  (0.4), since two different stories with the same small optimum are common.

Within the synthetic set, an exact repeat (same normalized text) is dropped too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evals.problems import Problem

__all__ = ["BenchmarkIndex", "Duplicate", "jaccard", "normalize_text", "shingles"]

SHINGLE = 5
_PERMUTATIONS = 64
_BANDS = 32  # 32 bands of 2 rows: pairs above ~0.3 Jaccard almost surely meet


_NOT_WORD = re.compile(r"[^a-z0-9.]+")


def normalize_text(text: str) -> str:
    """Lower case, accents folded, digits kept, punctuation and runs of space squashed."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_WORD.sub(" ", text.lower()).strip()


def shingles(text: str, k: int = SHINGLE) -> np.ndarray:
    """The character ``k``-grams of the normalized text, as sorted unique 64-bit codes.

    A ``k``-gram of ASCII bytes (``k`` <= 8) packs exactly into one integer, so
    the codes are the shingles themselves, computed with a few array operations.
    """
    norm = normalize_text(text).encode("ascii")
    if not norm:
        return np.zeros(0, dtype=np.uint64)
    if len(norm) < k:
        norm = norm.ljust(k)
    raw = np.frombuffer(norm, dtype=np.uint8).astype(np.uint64)
    n = raw.size - k + 1
    codes = np.zeros(n, dtype=np.uint64)
    for j in range(k):
        codes = (codes << np.uint64(8)) | raw[j : j + n]
    return np.unique(codes)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a ∩ b| / |a ∪ b| of two shingle arrays (0 for two empty ones)."""
    if a.size == 0 and b.size == 0:
        return 0.0
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (a.size + b.size - common)


_RNG = np.random.default_rng(20260)
_A = _RNG.integers(1, 2**63 - 1, size=_PERMUTATIONS, dtype=np.uint64) | np.uint64(1)
_B = _RNG.integers(0, 2**63 - 1, size=_PERMUTATIONS, dtype=np.uint64)


def _signature(items: np.ndarray) -> np.ndarray:
    if items.size == 0:
        return np.zeros(_PERMUTATIONS, dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = items[None, :] * _A[:, None] + _B[:, None]
        mixed ^= mixed >> np.uint64(29)
    return np.asarray(mixed.min(axis=1), dtype=np.uint64)


def _bands(signature: np.ndarray) -> list[tuple[int, bytes]]:
    rows = _PERMUTATIONS // _BANDS
    return [(b, signature[b * rows : (b + 1) * rows].tobytes()) for b in range(_BANDS)]


@dataclass(frozen=True)
class Duplicate:
    """Why a synthetic problem was dropped, and which benchmark problem it matched."""

    reason: str
    """``text`` (near-duplicate text), ``label+structure`` or ``repeat`` (within the set)."""
    dataset: str
    problem_id: str
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "reason": self.reason,
            "dataset": self.dataset,
            "problem_id": self.problem_id,
            "similarity": round(self.similarity, 4),
        }


def _structure(problem: Problem) -> tuple[str, int, int] | None:
    meta = problem.metadata
    try:
        return (str(meta["model_class"]), int(meta["n_variables"]), int(meta["n_constraints"]))
    except (KeyError, TypeError, ValueError):
        return None


def _same_value(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1.0)


@dataclass
class BenchmarkIndex:
    """Shingle sets, MinHash bands and labels of the benchmark problems to keep apart from."""

    problems: list[Problem] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    text_threshold: float = 0.7
    label_text_threshold: float = 0.4
    _shingles: list[np.ndarray] = field(default_factory=list)
    _buckets: dict[tuple[int, bytes], list[int]] = field(default_factory=dict)
    _by_label: dict[float, list[int]] = field(default_factory=dict)
    _texts: dict[str, int] = field(default_factory=dict)

    def add(self, problems: Iterable[Problem]) -> None:
        """Index more benchmark problems."""
        for problem in problems:
            k = len(self.problems)
            self.problems.append(problem)
            first = self._texts.setdefault(problem.question, k)
            if first != k:  # the same text in another variant: share its shingles
                self._shingles.append(self._shingles[first])
            else:
                items = shingles(problem.question)
                self._shingles.append(items)
                for band in _bands(_signature(items)):
                    self._buckets.setdefault(band, []).append(k)
            value = problem.answer.value
            if problem.answer.kind == "number" and value is not None:
                self._by_label.setdefault(round(value, 4), []).append(k)

    @classmethod
    def from_registry(
        cls,
        *,
        data_dir: str | Path | None = None,
        registry: Any = None,
        text_threshold: float = 0.7,
        label_text_threshold: float = 0.4,
    ) -> BenchmarkIndex:
        """Every registered variant (test, dev and validation) found in the data folders.

        Variants that are not present or cannot be read are skipped: what is
        not here cannot leak (``variants`` lists what was read).
        """
        from evals.datadir import locate
        from evals.loaders import load
        from evals.registry import list_datasets

        index = cls(text_threshold=text_threshold, label_text_threshold=label_text_threshold)
        for entry in list_datasets(registry=registry):
            if locate(entry, data_dir) is None:
                continue
            try:
                loaded = load(entry, data_dir=data_dir)
            except Exception:  # an unreadable variant is reported by `optiwise data`
                continue
            index.variants.append(entry.name)
            index.add(loaded.problems)
        return index

    def _candidates(self, items: np.ndarray) -> set[int]:
        found: set[int] = set()
        for band in _bands(_signature(items)):
            found.update(self._buckets.get(band, ()))
        return found

    def match(
        self,
        question: str,
        *,
        objective: float | None = None,
        structure: Sequence[Any] | None = None,
    ) -> Duplicate | None:
        """The first reason ``question`` (with its label and structure) duplicates a benchmark."""
        items = shingles(question)
        best: tuple[float, int] | None = None
        for k in self._candidates(items):
            sim = jaccard(items, self._shingles[k])
            if best is None or sim > best[0]:
                best = (sim, k)
        if best is not None and best[0] >= self.text_threshold:
            p = self.problems[best[1]]
            return Duplicate("text", p.dataset, p.id, best[0])
        if objective is None:
            return None
        for k in self._by_label.get(round(objective, 4), ()):
            p = self.problems[k]
            if p.answer.value is None or not _same_value(p.answer.value, objective):
                continue
            theirs = _structure(p)
            if theirs is not None and structure is not None:
                if tuple(theirs) == tuple(structure):
                    return Duplicate("label+structure", p.dataset, p.id, 1.0)
                continue
            sim = jaccard(items, self._shingles[k])
            if sim >= self.label_text_threshold:
                return Duplicate("label+structure", p.dataset, p.id, sim)
        return None
