"""Label flags from OptiMind's fix logs: which benchmark labels were wrong, underspecified or ambiguous.

OptiMind (microsoft/OptiGuide, ``optimind/data/comparisons/*.html``) cleaned
OptMATH-Bench and IndustryOR item by item and published each change as an
HTML table: the original text and answer, the cleaned text and answer, what
was fixed (``Fix``) and a comma-separated ``Fix Type`` ("incorrect ground
truth", "missing data", "ambiguous", "underspecified", "specific solver", …).
The logs are registered as ``aux`` files (role ``log``) of the OptiMind
variants, so ``optiwise data fetch`` downloads them with the data.

This module reads a log into :class:`FixEntry` rows and turns their fix
types into three flags on the *original* labels:

- ``wrong_ground_truth``: the original answer is wrong (or the instance was
  infeasible, or not the stated problem class, yet had a number);
- ``missing_data``: the text leaves out data or the objective;
- ``ambiguous``: the text can be read several ways (including inconsistent
  units and integral-versus-fractional quantities).

"specific solver" (a solver name removed from the text) flags nothing.
:func:`apply_flags` marks the matching problems of any variant (same
question text as the log's original, same answer) as ``flagged`` with the
reason, so reports show accuracy on unflagged labels beside the whole set;
an item already in its fixed form is never flagged. :func:`flags_table` is
the per-item artefact (JSON-able rows) written by :func:`write_flags`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evals.problems import Answer, Problem, normalize_answer

__all__ = [
    "FLAGS",
    "FixEntry",
    "apply_flags",
    "flags_of",
    "flags_table",
    "log_paths",
    "parse_fix_log",
    "read_fix_logs",
    "summarize_flags",
    "write_flags",
]

FLAGS = ("wrong_ground_truth", "missing_data", "ambiguous")

# Fix-type words (lower case, as OptiMind writes them) → flag. Matched as substrings of
# each comma-separated fix type, so "integer/fractional" and "integral/fractional" agree.
_FIX_TYPE_FLAGS: tuple[tuple[str, str], ...] = (
    ("incorrect ground truth", "wrong_ground_truth"),
    ("wrong ground truth", "wrong_ground_truth"),
    ("infeasible", "wrong_ground_truth"),
    ("non-linear", "wrong_ground_truth"),
    ("missing data", "missing_data"),
    ("missing objective", "missing_data"),
    ("underspecified", "missing_data"),
    ("incomplete", "missing_data"),
    ("ambigu", "ambiguous"),
    ("inconsistent", "ambiguous"),
    ("fractional", "ambiguous"),
    ("unclear", "ambiguous"),
)
_NO_FLAG = ("ok", "specific solver", "")

_ROW_RE = re.compile(r"<tr>(.*?)</tr>", re.S)
_CELL_RE = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
_TAG_RE = re.compile(r"<[^>]+>")
_NOT_ALNUM = re.compile(r"[\W_]+")
_COLUMNS = 9  # Row, Description 1, Value 1, Description 2, Value 2, 2 diffs, Fix, Fix Type


class FixLogError(ValueError):
    """A fix log that is not OptiMind's comparison table."""


@dataclass(frozen=True)
class FixEntry:
    """One row of a fix log: the original item, the cleaned one and what was done."""

    row: int
    original_question: str
    original_value: str
    fixed_question: str
    fixed_value: str
    fix: str
    fix_types: tuple[str, ...]
    flags: tuple[str, ...]


def _text(cell: str) -> str:
    return html.unescape(_TAG_RE.sub("", cell)).strip()


def flags_of(fix_types: Iterable[str]) -> tuple[str, ...]:
    """The flags (in :data:`FLAGS` order) that a row's fix types imply."""
    found: set[str] = set()
    for kind in fix_types:
        low = kind.strip().lower()
        if low in _NO_FLAG:
            continue
        for word, flag in _FIX_TYPE_FLAGS:
            if word in low:
                found.add(flag)
    return tuple(f for f in FLAGS if f in found)


def parse_fix_log(text: str, where: str = "fix log") -> list[FixEntry]:
    """Every item row of an OptiMind comparison table (HTML), in order.

    Raises :class:`FixLogError` naming the row when a row does not have the
    table's nine cells or its row number is not a number.
    """
    entries: list[FixEntry] = []
    for match in _ROW_RE.finditer(text):
        cells = _CELL_RE.findall(match.group(1))
        if not cells:
            continue  # the header row (th cells)
        if len(cells) != _COLUMNS:
            raise FixLogError(
                f"{where}: a row has {len(cells)} cells, expected {_COLUMNS} (Row, Description 1, "
                "Value 1, Description 2, Value 2, two diffs, Fix, Fix Type); is it an OptiMind log?"
            )
        row_text = _text(cells[0])
        try:
            row = int(row_text)
        except ValueError:
            raise FixLogError(f"{where}: row number {row_text!r} is not a number") from None
        fix_types = tuple(t.strip() for t in _text(cells[8]).split(",") if t.strip())
        entries.append(
            FixEntry(
                row=row,
                original_question=_text(cells[1]),
                original_value=_text(cells[2]),
                fixed_question=_text(cells[3]),
                fixed_value=_text(cells[4]),
                fix=_text(cells[7]),
                fix_types=fix_types,
                flags=flags_of(fix_types),
            )
        )
    if not entries:
        raise FixLogError(f"{where}: no item rows found (not an OptiMind comparison table?)")
    return entries


def _key(question: str) -> str:
    """Question text compared across copies: letters and digits only, lower case.

    Copies of a benchmark differ in whitespace, LaTeX escapes and HTML entities;
    the words and numbers are what make two items the same problem.
    """
    return _NOT_ALNUM.sub("", question.lower())


def _same_answer(answer: Answer, raw: str) -> bool:
    """Whether a problem's label is the log's value (numbers compared with 1e-9 relative)."""
    other = normalize_answer(raw)
    if answer.kind != other.kind:
        return False
    if answer.kind != "number":
        return True
    a, b = answer.value, other.value
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def apply_flags(problems: Sequence[Problem], entries: Iterable[FixEntry]) -> list[Problem]:
    """Mark problems whose label a fix log found wrong, underspecified or ambiguous.

    A problem matches a log row when its question is the row's original text
    and its answer is the row's original value; a problem that already is the
    row's fixed version (same text and answer as the cleaned item) is left
    alone. Matching problems get ``answer.flagged`` and a reason naming the
    flags and OptiMind's note; ``metadata["label_flags"]`` lists the flags.
    """
    by_text: dict[str, list[FixEntry]] = {}
    for entry in entries:
        if entry.flags:
            by_text.setdefault(_key(entry.original_question), []).append(entry)
    out: list[Problem] = []
    for problem in problems:
        key = _key(problem.question)
        hit = next(
            (
                e
                for e in by_text.get(key, [])
                if _same_answer(problem.answer, e.original_value)
                and not (
                    key == _key(e.fixed_question) and _same_answer(problem.answer, e.fixed_value)
                )
            ),
            None,
        )
        if hit is None:
            out.append(problem)
            continue
        note = hit.fix if len(hit.fix) <= 200 else hit.fix[:199] + "…"
        reason = f"OptiMind fix log row {hit.row}: {', '.join(hit.flags)} ({note})"
        if problem.answer.reason:
            reason = f"{problem.answer.reason}; {reason}"
        answer = problem.answer.model_copy(update={"flagged": True, "reason": reason})
        metadata = {**problem.metadata, "label_flags": list(hit.flags)}
        out.append(problem.model_copy(update={"answer": answer, "metadata": metadata}))
    return out


def log_paths(family: str, registry: Any = None, data_dir: str | Path | None = None) -> list[Path]:
    """The fix logs registered for a benchmark family that are on disk (mirror or cache)."""
    from evals.datadir import locate_relative
    from evals.registry import list_datasets

    paths: list[Path] = []
    for entry in list_datasets(registry=registry):
        if entry.family != family:
            continue
        for aux in entry.aux:
            if aux.role == "log" and aux.path.endswith("_vs_ours.html"):
                found = locate_relative(aux.local_path, data_dir)
                if found is not None and found not in paths:
                    paths.append(found)
    return paths


def read_fix_logs(paths: Iterable[Path]) -> list[FixEntry]:
    """Every row of the given logs."""
    entries: list[FixEntry] = []
    for path in paths:
        entries += parse_fix_log(path.read_text(encoding="utf-8"), str(path))
    return entries


def flags_table(
    entries: Iterable[FixEntry], problems: Sequence[Problem] = ()
) -> list[dict[str, Any]]:
    """The per-item artefact: one JSON-able row per log row (flags, fix, values).

    With ``problems`` (a loaded variant), each row also lists the ids of that
    variant's problems it flags.
    """
    flagged = apply_flags(problems, entries) if problems else []
    rows = []
    for entry in entries:
        data = asdict(entry)
        data["fix_types"] = list(entry.fix_types)
        data["flags"] = list(entry.flags)
        data["question_start"] = " ".join(entry.original_question.split())[:120]
        del data["original_question"], data["fixed_question"]
        data["changed_question"] = _key(entry.original_question) != _key(entry.fixed_question)
        if flagged:
            mark = f"fix log row {entry.row}:"
            data["flags_problems"] = [p.id for p in flagged if mark in p.answer.reason]
        rows.append(data)
    return rows


def write_flags(
    path: str | Path, entries: Iterable[FixEntry], problems: Sequence[Problem] = ()
) -> Path:
    """Write :func:`flags_table` as JSON (``.json``) or JSON lines (any other suffix)."""
    target = Path(path)
    rows = flags_table(list(entries), problems)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".json":
        target.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        target.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    return target


def summarize_flags(entries: Iterable[FixEntry]) -> Mapping[str, int]:
    """How many log rows carry each flag (and how many carry none)."""
    counts = dict.fromkeys((*FLAGS, "none"), 0)
    for entry in entries:
        for flag in entry.flags or ("none",):
            counts[flag] += 1
    return counts
