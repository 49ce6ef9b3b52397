"""Problems for tuning: where they come from, and splits that never leak into evaluation.

Sources: a registered benchmark variant (``--dataset NAME``), or the user's
own labelled file (``--problems FILE.jsonl``, one :class:`~evals.problems.Problem`
per line: ``{"id": ..., "question": ..., "answer": <label or Answer>}``).

Guards, as users of prompt optimizers ask for them:

- problems are deduplicated by normalized question text before splitting;
- train, validation and test are disjoint by id *and* by text;
- train and validation drop every problem whose text also appears in a
  registered test variant other than the one being tuned on (those are what
  ``optiwise eval`` reports on), so tuned prompts cannot have seen them;
- the final prompt set is scored on the test split, which no step of the
  search looked at.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.problems import Answer, Problem, normalize_answer

__all__ = [
    "Splits",
    "dedupe",
    "holdout_fingerprints",
    "load_source",
    "make_splits",
    "read_problem_file",
    "text_fingerprint",
]

_SPACE = re.compile(r"\s+")


def text_fingerprint(text: str) -> str:
    """A hash of the question with case and whitespace normalized."""
    norm = _SPACE.sub(" ", text.strip().lower())
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()


def read_problem_file(path: str | Path) -> list[Problem]:
    """Problems from a JSONL file; a line's ``answer`` is an Answer object or a raw label."""
    source = Path(path)
    problems = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}:{number}: not JSON ({exc.msg})") from exc
        if "question" not in record:
            raise ValueError(f"{source}:{number}: a problem needs a 'question' field")
        raw = record.get("answer")
        answer = (
            Answer.model_validate(raw)
            if isinstance(raw, dict) and "kind" in raw
            else normalize_answer(raw)
        )
        problems.append(
            Problem(
                id=str(record.get("id", number - 1)),
                dataset=str(record.get("dataset", source.stem)),
                question=str(record["question"]),
                answer=answer,
                metadata=dict(record.get("metadata") or {}),
            )
        )
    return problems


def load_source(
    *,
    dataset: str | None = None,
    problems_file: str | Path | None = None,
    synthetic: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
) -> tuple[str, list[Problem]]:
    """``(name, problems)`` from a registered variant, a user file or the synthetic set.

    Exactly one source must be given.
    """
    if sum(x is not None for x in (dataset, problems_file, synthetic)) != 1:
        raise ValueError(
            "give exactly one of --dataset NAME, --problems FILE.jsonl or --synthetic N"
        )
    if synthetic is not None:
        from evals.tune.synthetic import synthetic_problems

        return "synthetic", synthetic_problems(synthetic, seed)
    if problems_file is not None:
        path = Path(problems_file)
        return path.stem, read_problem_file(path)
    from evals.loaders import load

    assert dataset is not None
    loaded = load(dataset, data_dir=data_dir)
    return loaded.name, list(loaded.problems)


def dedupe(problems: Iterable[Problem]) -> tuple[list[Problem], list[str]]:
    """Problems with unique question text (first kept), and the ids dropped."""
    seen: set[str] = set()
    kept: list[Problem] = []
    dropped: list[str] = []
    for problem in problems:
        key = text_fingerprint(problem.question)
        if key in seen:
            dropped.append(problem.id)
            continue
        seen.add(key)
        kept.append(problem)
    return kept, dropped


def holdout_fingerprints(
    exclude: str | None, *, data_dir: str | Path | None = None, names: Sequence[str] | None = None
) -> tuple[set[str], list[str]]:
    """Text fingerprints of registered *test* variants present locally (``exclude`` left out).

    Returns the fingerprints and the variant names read. Variants whose data
    are missing or unreadable are skipped (they cannot leak what is not here).
    """
    from evals.datadir import locate
    from evals.loaders import load
    from evals.registry import get, list_datasets

    entries = (
        [get(n) for n in names]
        if names is not None
        else [e for e in list_datasets() if getattr(e, "split", "test") == "test"]
    )
    found: set[str] = set()
    read: list[str] = []
    for entry in entries:
        if entry.name == exclude or locate(entry, data_dir) is None:
            continue
        try:
            loaded = load(entry, data_dir=data_dir)
        except Exception:  # a broken mirror file must not block tuning on another set
            continue
        found.update(text_fingerprint(p.question) for p in loaded.problems)
        read.append(entry.name)
    return found, read


def _size(spec: float, total: int) -> int:
    if spec < 0:
        raise ValueError("split sizes must be non-negative")
    return int(round(spec * total)) if 0 < spec < 1 else int(spec)


@dataclass
class Splits:
    """Disjoint train/val/test problems and what the guards removed."""

    train: list[Problem]
    val: list[Problem]
    test: list[Problem]
    duplicates: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise ValueError if any two splits share an id or a question text."""
        parts = {"train": self.train, "val": self.val, "test": self.test}
        names = list(parts)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                ids = {p.id for p in parts[a]} & {p.id for p in parts[b]}
                texts = {text_fingerprint(p.question) for p in parts[a]} & {
                    text_fingerprint(p.question) for p in parts[b]
                }
                if ids or texts:
                    raise ValueError(f"the {a} and {b} splits overlap ({len(ids | texts)} items)")

    def to_dict(self) -> dict[str, Any]:
        """Ids per split (recorded in the run folder so a resume uses the same splits)."""
        return {
            "train": [p.id for p in self.train],
            "val": [p.id for p in self.val],
            "test": [p.id for p in self.test],
            "duplicates": self.duplicates,
            "leaked": self.leaked,
        }


def make_splits(
    problems: Sequence[Problem],
    *,
    train: float,
    val: float,
    test: float | None = None,
    seed: int = 0,
    holdout: set[str] | None = None,
) -> Splits:
    """Seeded, disjoint splits (sizes are counts, or fractions below 1).

    Test gets what is left after train and validation (up to ``test`` items).
    Problems whose text is in ``holdout`` never enter train or validation.
    """
    unique, duplicates = dedupe(problems)
    ordered = sorted(unique, key=lambda p: p.id)
    random.Random(seed).shuffle(ordered)
    total = len(ordered)
    n_train, n_val = _size(train, total), _size(val, total)
    leaked: list[str] = []
    usable: list[Problem] = []
    rest: list[Problem] = []
    for problem in ordered:
        if holdout and text_fingerprint(problem.question) in holdout:
            leaked.append(problem.id)
            rest.append(problem)  # may still be tested on: it is only barred from the search
        else:
            usable.append(problem)
    if n_train + n_val > len(usable):
        hint = (
            "; tune on a dev or train variant (e.g. nl4opt.competition_dev) or your own file, "
            "or pass --no-holdout-check and stop reporting the overlapping test variants"
            if leaked
            else ""
        )
        raise ValueError(
            f"asked for {n_train} train + {n_val} validation problems but only {len(usable)} "
            f"are usable ({len(duplicates)} duplicates, {len(leaked)} in registered test sets)"
            + hint
        )
    train_part = usable[:n_train]
    val_part = usable[n_train : n_train + n_val]
    test_part = usable[n_train + n_val :] + rest
    if test is not None:
        test_part = test_part[: _size(test, total)]
    splits = Splits(train_part, val_part, test_part, duplicates, leaked)
    splits.check()
    return splits
