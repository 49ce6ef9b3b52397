"""A user's problems file as a dataset: ``optiwise eval --problems FILE.jsonl``.

One JSON object per line in the :class:`~evals.problems.Problem` shape, which
is what ``optiwise synth`` writes to ``problems.jsonl``::

    {"id": "p1", "question": "A bakery ...", "answer": 8520, "metadata": {...}}
    {"id": "p2", "question": "Ship ... (tables in the data folder)", "answer": 85, "data": "p2/"}

``question`` is required; ``data`` (optional) is the problem's data folder, the
tables its formulation reads (absolute, or relative to the problems file; a
folder that is not there is refused, naming the line); ``id`` defaults to the 0-based line index, ``dataset``
to the file's stem; ``answer`` is an :class:`~evals.problems.Answer` object
(with ``kind``) or a raw label read like any benchmark's (a number, a numeric
string, ``"infeasible"`` ...; missing = unknown, left out of accuracy).

The dataset is named ``file.<stem>`` (family ``file``, variant ``<stem>``), so
its runs live in ``runs/file/<stem>/<model>/<run id>/`` and resume like any
other; the file's sha256 is recorded, and a resume with a changed file is
refused (:func:`file_info`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from evals.loaders import Dataset
from evals.problems import Answer, Problem, normalize_answer, unknown

__all__ = ["ProblemFileError", "file_info", "load_problem_file"]


class ProblemFileError(ValueError):
    """A problems file that cannot be read; the message names the file and line."""


def _answer(raw: Any, where: str) -> Answer:
    if raw is None:
        return unknown(None, "the problems file gives no answer", flagged=False)
    if isinstance(raw, dict) and "kind" in raw:
        try:
            return Answer.model_validate(raw)
        except ValueError as exc:
            raise ProblemFileError(f"{where}: 'answer' is not a valid Answer: {exc}") from exc
    return normalize_answer(raw)


def _data_folder(raw: Any, source: Path, where: str) -> str | None:
    """A line's ``data`` folder as an absolute path (relative to the file's folder), checked."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ProblemFileError(
            f"{where}: 'data' must be a folder path (a string), got {type(raw).__name__}"
        )
    folder = Path(raw).expanduser()
    if not folder.is_absolute():
        folder = source.resolve().parent / folder
    if not folder.is_dir():
        raise ProblemFileError(
            f"{where}: 'data' {raw!r} is not a folder ({folder}); give the folder that holds "
            "the problem's tables, absolute or relative to the problems file"
        )
    return str(folder)


def _safe(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in text).strip("._")
    return cleaned or "problems"


def load_problem_file(path: str | Path) -> Dataset:
    """The problems of a JSONL file as a :class:`~evals.loaders.Dataset`.

    Raises :class:`ProblemFileError` (with ``file:line``) for a missing file, a
    line that is not a JSON object, a problem without ``question`` and a
    repeated ``id``, and when the file holds no problem at all.
    """
    source = Path(path)
    if not source.is_file():
        raise ProblemFileError(f"--problems {source}: no such file")
    stem = _safe(source.stem)
    name = f"file.{stem}"
    problems: list[Problem] = []
    lines: dict[str, int] = {}
    text = source.read_text(encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProblemFileError(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise ProblemFileError(f"{where}: expected a JSON object, got {type(record).__name__}")
        question = record.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ProblemFileError(
                f"{where}: a problem needs a non-empty 'question' (the Problem shape: id, "
                "question, answer, metadata)"
            )
        pid = str(record.get("id", number - 1))
        if pid in lines:
            raise ProblemFileError(
                f"{where}: id {pid!r} repeats line {lines[pid]}; ids must be unique"
            )
        lines[pid] = number
        metadata = record.get("metadata")
        problems.append(
            Problem(
                id=pid,
                dataset=str(record.get("dataset") or name),
                question=question,
                answer=_answer(record.get("answer"), where),
                metadata=dict(metadata) if isinstance(metadata, dict) else {},
                data=_data_folder(record.get("data"), source, where),
            )
        )
    if not problems:
        raise ProblemFileError(f"--problems {source}: the file holds no problem")
    return Dataset(
        name=name,
        family="file",
        variant=stem,
        problems=tuple(problems),
        source=source.resolve(),
        info=file_info(source),
    )


def file_info(path: str | Path) -> dict[str, Any]:
    """``{"path", "sha256", "lines"}`` of a problems file (the run's ``problems_file`` section)."""
    source = Path(path)
    raw = source.read_bytes()
    return {
        "path": str(source.resolve()),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "lines": sum(1 for line in raw.splitlines() if line.strip()),
    }
