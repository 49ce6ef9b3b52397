"""Data tables uploaded into a chat thread: where they are kept, and which uploads are refused.

A chat thread (:class:`agent.chat.ChatSession`) has its own data folder beside
the threads file: ``$OPTIWISE_HOME/threads-data/<thread id>/`` for the default
``threads.sqlite`` (``<stem>-data/<thread id>/`` beside any other threads
file), so a reopened thread reads the same tables and nothing is written into
the user's working directory.  Files reach it from the app's uploads or from
``ChatSession(data=...)``; the formulate, edit, check and solve steps of the
thread then read them as ``agent.solve(text, data=folder)`` does
(:mod:`agent.data_context`).

An upload is refused with a :class:`UploadError` that says why and what to do:
a name with a folder in it, ``..`` or a leading dot, a kind of file the tables
cannot be read from (Excel only where ``openpyxl`` is installed, Parquet only
with ``pyarrow``), or a file over the size limit
(:data:`DEFAULT_MAX_MB` MB, ``OPTIWISE_UPLOAD_MAX_MB`` to change it).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
from pathlib import Path

from modeling.tables import SUFFIXES

__all__ = [
    "DEFAULT_MAX_MB",
    "UploadError",
    "accepted_suffixes",
    "check_upload",
    "link_tables",
    "max_upload_bytes",
    "safe_table_name",
    "save_upload",
    "thread_data_dir",
]

DEFAULT_MAX_MB = 50.0
"""Largest uploaded file, in MB, unless ``OPTIWISE_UPLOAD_MAX_MB`` says otherwise."""

MAX_NAME = 120
"""Longest file name kept."""

_PLAIN = re.compile(r"[^\w.\- ]")


class UploadError(ValueError):
    """An uploaded file that is not saved: a bad name, a kind not readable, or too big."""


def accepted_suffixes() -> list[str]:
    """The file kinds a table can be read from here (without the dot), CSV always first.

    Excel needs ``openpyxl`` and Parquet ``pyarrow`` (or ``fastparquet``); a kind
    whose reader is not installed is not offered.
    """
    out = ["csv", "tsv", "txt"]
    if importlib.util.find_spec("openpyxl") is not None:
        out += ["xlsx", "xls"]
    if any(importlib.util.find_spec(m) is not None for m in ("pyarrow", "fastparquet")):
        out += ["parquet", "pq"]
    return [s for s in out if f".{s}" in SUFFIXES]


def max_upload_bytes() -> int:
    """The size limit of one upload: ``OPTIWISE_UPLOAD_MAX_MB`` MB, else :data:`DEFAULT_MAX_MB`."""
    raw = os.environ.get("OPTIWISE_UPLOAD_MAX_MB", "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    return max(int(mb * 1024 * 1024), 1)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def safe_table_name(name: str) -> str:
    """``name`` as a plain file name for the data folder, or :class:`UploadError`.

    A name with a folder (``/`` or ``\\``), ``..``, a leading dot or no
    readable suffix is refused, never rewritten into a path; other odd
    characters become ``_`` (a formulation names the file in YAML).
    """
    text = str(name or "").strip()
    if not text:
        raise UploadError("upload: the file has no name")
    if any(not c.isprintable() for c in text):
        raise UploadError(
            f"upload {text!r}: a file name may not contain control characters; rename the file"
        )
    if any(c in text for c in "/\\") or ".." in text:
        raise UploadError(
            f"upload {text!r}: a file name may not contain a folder or '..'; "
            "upload the file itself, e.g. 'costs.csv'"
        )
    if text.startswith("."):
        raise UploadError(f"upload {text!r}: a file name may not start with '.'")
    suffix = Path(text).suffix.lower().lstrip(".")
    kinds = accepted_suffixes()
    if suffix not in kinds:
        extra = ""
        if suffix in ("xlsx", "xls"):
            extra = " (Excel needs the openpyxl package, not installed here: save it as CSV)"
        raise UploadError(
            f"upload {text!r}: not a table file this app can read{extra}; "
            f"use one of: {', '.join('.' + k for k in kinds)}"
        )
    clean = _PLAIN.sub("_", text)
    if len(clean) > MAX_NAME:
        stem = Path(clean).stem[: MAX_NAME - len(suffix) - 1]
        clean = f"{stem}.{suffix}"
    return clean


def check_upload(name: str, content: bytes, limit: int | None = None) -> str:
    """The name ``name`` is saved under, or :class:`UploadError` (bad name or kind, size)."""
    clean = safe_table_name(name)
    limit = max_upload_bytes() if limit is None else limit
    if len(content) > limit:
        raise UploadError(
            f"upload {clean!r}: {_size(len(content))} is over the limit of {_size(limit)} "
            "(OPTIWISE_UPLOAD_MAX_MB raises it)"
        )
    if not content:
        raise UploadError(f"upload {clean!r}: the file is empty")
    return clean


def save_upload(folder: str | Path, name: str, content: bytes, limit: int | None = None) -> str:
    """Save one uploaded file into ``folder`` under its checked name; returns that name.

    A file of the same name is replaced (uploading a corrected table again).
    Raises :class:`UploadError` for a bad name, an unreadable kind, an empty
    file or one over ``limit`` bytes (default :func:`max_upload_bytes`).
    """
    clean = check_upload(name, content, limit)
    target_dir = Path(folder)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / clean
    partial = target_dir / f".{clean}.part"
    partial.write_bytes(content)
    partial.replace(target)  # a reader never sees half a file
    return clean


def link_tables(source: str | Path, folder: str | Path) -> list[str]:
    """Put the table files directly in ``source`` into ``folder`` (hard links, else copies).

    Used for ``ChatSession(data=DIR)``: the thread keeps its own view of the
    files, so it reads them again when reopened.  Names are checked as uploads
    are; files of other kinds are skipped.
    """
    src = Path(source).expanduser()
    if not src.is_dir():
        raise UploadError(f"data {str(source)!r}: not a folder")
    out = []
    target_dir = Path(folder)
    target_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        if not path.is_file():
            continue
        try:
            clean = safe_table_name(path.name)
        except UploadError:
            continue
        target = target_dir / clean
        if target.exists():
            target.unlink()
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
        out.append(clean)
    return out


def thread_data_dir(threads_path: str | Path, thread_id: str) -> Path:
    """The data folder of ``thread_id`` beside the threads file ``threads_path``.

    A thread id that is not a plain name (a folder separator, a leading dot)
    is replaced by its hash, so the folder is always inside the data root.
    """
    db = Path(threads_path)
    root = db.parent / ("threads-data" if db.stem == "threads" else f"{db.stem}-data")
    plain = re.fullmatch(r"[\w\-][\w.\-]{0,99}", thread_id) and ".." not in thread_id
    name = thread_id if plain else hashlib.sha256(thread_id.encode()).hexdigest()[:24]
    return root / name
