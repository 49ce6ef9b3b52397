"""Problems that come with data: the data folder an agent run reads tables from, described.

A problem may come with tables instead of numbers pasted into its text
(``agent.solve(text, data="instance/data")``, ``optiwise ask TEXT --data DIR``).
The tables stay on disk: the LLM is shown what it needs to *map* them — each
file's description when one is given, its columns with their types and value
ranges, its row count and its first rows, never the whole table — and writes
the mapping into the formulation with ``table:`` keys (spec v1.1, see
``docs/formulation.md``, Tables).  Check, compile and solve then read the
files from the folder through :mod:`modeling.tables`, so a bad cell comes back
as a located error (``data C3.csv row 17 column 4: ...``) that the repair
prompt shows.

``data`` is a folder, or a mapping of table names to a file path, to rows
(a list of dicts, or a list of lists whose first row is the header), to a
DataFrame-like object (anything with ``to_csv``), or to
``{"path" | "rows": ..., "description": "..."}``.  A mapping is laid out in a
private temporary folder (files hard-linked, or copied where a link is
impossible) that :meth:`ProblemData.close` removes; table names must be plain
file names, so a formulation can never reach outside the folder.

    with prepare_data("instance/data", {"arcs.csv": "the candidate links"}) as data:
        print(data.describe())
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modeling.tables import SUFFIXES, TableError, TableReader

__all__ = [
    "DataArgumentError",
    "ProblemData",
    "describe_data",
    "describe_table_brief",
    "file_defect",
    "header_looks_like_data",
    "opened_data",
    "prepare_data",
    "table_files",
]

MAX_FILES = 40
"""Table files described one by one; more are only named."""
MAX_COLUMNS = 12
"""Columns described one by one (and shown in the preview rows); the rest are summarised."""
PREVIEW_ROWS = 3
"""First rows shown of each table."""
MAX_CELL = 40
"""Characters of a cell shown in a preview row."""
MAX_DEPTH = 3
"""Folder levels searched for table files below the data folder."""

TABLE_SYNTAX = """\
The numbers are in these files, not in the text: do not copy them into the
formulation. Read sets and parameters from the tables with `table:` (files
named relative to the data folder; columns by header name or by position
counted from 1):
  sets:
    S: {table: f.csv, column: id}               # the distinct values of a column, in file order
    R: {table: f.csv, columns: [from, to]}      # a set of tuples (pairs, triples)
    M: {table: m.csv, column_labels: 2}         # the header labels from column 2 on (wide table)
  parameters:
    c: {index: [S], table: f.csv, keys: id, value: cost}        # long layout: key column(s) + value
    d: {index: [R], table: f.csv, keys: [from, to], value: d, default: 0}  # missing entries: 0
    a: {index: [S, M], table: m.csv, layout: wide}              # a matrix: row labels x column labels
Add `header: false` for a file without a header row. Only the files below can be read."""


class DataArgumentError(ValueError):
    """The ``data`` given with a problem cannot be used (not a folder, a bad table name, ...)."""


def table_files(folder: str | Path) -> list[str]:
    """The table files below ``folder`` (by suffix), as paths relative to it, sorted.

    Hidden files and folders are skipped; symbolic links that lead out of the
    folder are left out (a formulation could not read them either).
    """
    root = Path(folder).resolve()
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and depth < MAX_DEPTH)
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in SUFFIXES:
                continue
            path = here / name
            with contextlib.suppress(OSError):
                real = path.resolve()
                if root in real.parents and real.is_file():
                    found.append(path.relative_to(root).as_posix())
    return sorted(found)


def _cell(text: Any) -> str:
    s = str(text)
    return s if len(s) <= MAX_CELL else s[: MAX_CELL - 1] + "…"


def _kind(values: np.ndarray) -> tuple[str, int]:
    """``"integer, 0 to 5"`` / ``"number, ..."`` / ``"text, 7 distinct"`` of text cells; empties."""
    import pandas as pd

    flat = pd.Series(values.reshape(-1), dtype=object)
    filled = flat[flat != ""]
    empty = len(flat) - len(filled)
    if len(filled) == 0:
        return "empty", empty
    nums = pd.to_numeric(filled, errors="coerce")
    if not nums.isna().any():
        whole = bool((nums == nums.round()).all())
        return f"{'integer' if whole else 'number'}, {nums.min():g} to {nums.max():g}", empty
    bad = int(nums.isna().sum())
    if bad < len(filled):
        return f"mixed: {len(filled) - bad} numbers, {bad} text cells", empty
    return f"text, {filled.nunique()} distinct", empty


def _shape(text: str) -> str:
    """A cell's shape: digits runs as ``0`` ("Main pipe17" and "Main pipe0" are alike)."""
    return re.sub(r"\d+", "0", text.strip())


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def header_looks_like_data(header: Sequence[str] | None, cells: np.ndarray) -> str:
    """Why a table's header row looks like a data row ("" when it does not).

    Two signs, each rare in a real header: the first column's label has the
    shape of that column's values (``Main pipe0`` over ``Main pipe1``,
    ``Main pipe2``: digits aside, the same text), or every label, the first
    one included, is a number (a wide table's numeric column labels sit
    beside a text label for its row-label column).
    """
    if header is None or len(header) == 0 or cells.size == 0:
        return ""
    first = str(header[0]).strip()
    if first and not _is_number(first):
        column = [str(v).strip() for v in cells[:, 0] if str(v).strip()]
        alike = [v for v in column if _shape(v) == _shape(first)]
        has_digit = any(ch.isdigit() for ch in first)
        if column and (first in column or (has_digit and len(alike) * 2 >= len(column))):
            return f"the first label {first!r} is like the column's values {alike[0]!r}"
    labels = [str(h).strip() for h in header]
    if all(label and _is_number(label) for label in labels):
        return "every label is a number"
    return ""


def describe_table_brief(
    folder: str | Path, name: str, rows: int = PREVIEW_ROWS, max_columns: int = MAX_COLUMNS
) -> str:
    """A table's shape for an LLM: columns (type, range), row count, first rows; never all of it.

    Like :func:`modeling.tables.describe_table`, but a wide table (a matrix
    with thousands of columns, as MIPLIB-NL's) is summarised past
    ``max_columns``: its first columns one by one, the rest as one line
    (their count, type and range), and preview rows cut at the same column.
    Raises :class:`~modeling.tables.TableError` as a formulation naming the file would.
    """
    t = TableReader(folder).table({"table": name}, f"data {name}")
    n, ncols = len(t.cells), t.ncols
    lines = [f"{name}: {n} rows, {ncols} columns"]
    shown = min(ncols, max_columns)
    for c in range(shown):
        label = t.header[c] if t.header is not None else f"column {c + 1}"
        info, empty = _kind(t.cells[:, c])
        lines.append(f"  {c + 1}. {label}: {info}" + (f", {empty} empty" if empty else ""))
    if ncols > shown:
        info, empty = _kind(t.cells[:, shown:])
        labels = t.header[shown:] if t.header is not None else []
        named = f" ({_cell(labels[0])} … {_cell(labels[-1])})" if labels else ""
        lines.append(
            f"  {shown + 1}-{ncols}. {ncols - shown} more columns{named}: {info}"
            + (f", {empty} empty cells" if empty else "")
        )
    more = " …" if ncols > shown else ""
    looks = header_looks_like_data(t.header, t.cells)
    if looks:
        lines.append(
            f"  note: its header row looks like data ({looks}): if the file has no header "
            "row, read it with `header: false` (columns by position)"
        )
    if t.header is not None:
        lines.append("  first rows:")
        lines.append("    " + ",".join(_cell(h) for h in t.header[:shown]) + more)
    else:
        lines.append("  first rows (the file has no header row? check row 1):")
    lines += ["    " + ",".join(_cell(v) for v in row[:shown]) + more for row in t.cells[:rows]]
    if n > rows:
        lines.append(f"    ... ({n - rows} more rows)")
    return "\n".join(lines)


MAX_DEFECT_CELLS = 5
"""At most this many non-number cells in an otherwise numeric column count as a broken file."""

_QUOTED = re.compile(r'"([^"\\]*)"')


def file_defect(folder: str | Path, location: str, message: str) -> str | None:
    """The data file's own defect behind a "not a number" error, in words; None when unsure.

    A formulation error that quotes cells which are not numbers may be the
    document's fault (it reads a text column as values: a repair can fix it)
    or the file's (a stray ``abc`` in a column of numbers: no document can).
    It is the file's when the error names exactly one table file of
    ``folder``, quotes at least one cell, and every quoted cell sits only in
    columns that are otherwise numbers (at most :data:`MAX_DEFECT_CELLS`
    text cells, and at least nine numbers for each). Anything else (a cell
    not found, a column mostly text, two files named) is left to repair.
    """
    text = f"{location}: {message}"
    named = [rel for rel in table_files(folder) if re.search(rf"\b{re.escape(rel)}\b", text)]
    named = [r for r in named if not any(r != o and r in o for o in named)]
    values = [v.strip() for v in _QUOTED.findall(text) if v.strip()]
    if len(named) != 1 or not values:
        return None
    rel = named[0]
    try:
        t = TableReader(folder).table({"table": rel}, f"data {rel}")
    except TableError:
        return None
    import pandas as pd

    found: dict[int, list[tuple[int, str]]] = {}
    for value in dict.fromkeys(values):
        rows, cols = np.nonzero(np.char.strip(t.cells.astype(str)) == value)
        if len(cols) == 0:
            return None
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            found.setdefault(c, []).append((r, value))
    parts = []
    for c, cells in sorted(found.items()):
        column = pd.Series(t.cells[:, c], dtype=object).astype(str).str.strip()
        filled = column[column != ""]
        numbers = int(pd.to_numeric(filled, errors="coerce").notna().sum())
        bad = len(filled) - numbers
        if bad > MAX_DEFECT_CELLS or numbers < 9 * bad:
            return None
        label = f"column {c + 1}" + (f" ({t.header[c]!r})" if t.header is not None else "")
        first = 2 if t.header is not None else 1  # file line numbers, as the table errors give
        where = ", ".join(f'row {first + r} "{v}"' for r, v in cells[:MAX_DEFECT_CELLS])
        parts.append(
            f"{label} holds {numbers} numbers and {bad} cell{'s' if bad > 1 else ''} that "
            f"{'are' if bad > 1 else 'is'} not: {where}"
        )
    return (
        f"the data file {rel} itself looks broken: " + "; ".join(parts) + ". Fix the file "
        "(no formulation can read these cells as numbers) and run again."
    )


def describe_data(
    folder: str | Path,
    descriptions: Mapping[str, str] | None = None,
    rows: int = PREVIEW_ROWS,
) -> str:
    """The data section of a problem message: how to read tables, then each file described.

    ``descriptions`` maps a file (its path relative to the folder, or its
    name) to a sentence about it, shown above its columns.  A file that
    cannot be read is listed with the located reason (the formulation would
    meet the same error).
    """
    descriptions = dict(descriptions or {})
    files = table_files(folder)
    if not files:
        return "## Data tables\n\nThe problem's data folder holds no table files."
    head = (
        f"## Data tables\n\nThis problem comes with a data folder of {len(files)} table "
        f"file{'s' if len(files) != 1 else ''}. {TABLE_SYNTAX}"
    )
    parts = [head]
    for i, rel in enumerate(files):
        if i == MAX_FILES:
            parts.append(f"... and {len(files) - MAX_FILES} more files: " + ", ".join(files[i:]))
            break
        note = descriptions.get(rel) or descriptions.get(Path(rel).name) or ""
        note = note or descriptions.get(Path(rel).stem, "")
        try:
            body = describe_table_brief(folder, rel, rows)
        except TableError as exc:
            body = f"{rel}: cannot be read: " + "; ".join(str(i) for i in exc.issues)
        parts.append(f"### {rel}\n" + (f"{note.strip()}\n" if note.strip() else "") + body)
    return "\n\n".join(parts)


@dataclass
class ProblemData:
    """A problem's data folder, with the descriptions of its files; close() removes a temp one."""

    folder: Path
    descriptions: dict[str, str] = field(default_factory=dict)
    temporary: bool = False

    def describe(self, rows: int = PREVIEW_ROWS) -> str:
        """The data section shown to the LLM (see :func:`describe_data`)."""
        return describe_data(self.folder, self.descriptions, rows)

    def files(self) -> list[str]:
        """The table files (relative paths)."""
        return table_files(self.folder)

    def close(self) -> None:
        """Remove the folder when this object laid it out (a mapping); a user's folder stays."""
        if self.temporary:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.temporary = False

    def __enter__(self) -> ProblemData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _table_name(name: Any, suffix: str) -> str:
    """A mapping key as a plain file name inside the folder (a suffix added when missing)."""
    text = str(name).strip() if isinstance(name, (str, os.PathLike)) else ""
    if not text or text in (".", "..") or text.startswith(".") or any(c in text for c in "/\\\0"):
        raise DataArgumentError(
            f"data: {name!r} is not a table name; use a plain file name such as 'costs.csv'"
        )
    return text if Path(text).suffix.lower() in SUFFIXES else text + suffix


def _write_rows(path: Path, rows: Any, name: str) -> None:
    """Rows (dicts, or lists with a header first) or a DataFrame-like object as a CSV file."""
    if hasattr(rows, "to_csv"):
        rows.to_csv(path, index=False)
        return
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) or not rows:
        raise DataArgumentError(
            f"data {name}: give a file path, a DataFrame, or a non-empty list of rows"
        )
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if all(isinstance(r, Mapping) for r in rows):
            columns: list[str] = []
            for r in rows:
                columns.extend(str(k) for k in r if str(k) not in columns)
            writer.writerow(columns)
            for r in rows:
                plain = {str(k): v for k, v in r.items()}
                writer.writerow(["" if plain.get(c) is None else plain.get(c) for c in columns])
            return
        for k, r in enumerate(rows):
            if isinstance(r, (str, bytes)) or not isinstance(r, Sequence):
                raise DataArgumentError(
                    f"data {name} row {k + 1}: a row is a list of cells or a dict of columns"
                )
            writer.writerow(["" if v is None else v for v in r])


def _place_file(source: Any, target: Path, name: str) -> None:
    path = Path(os.fspath(source)).expanduser()
    if not path.is_file():
        raise DataArgumentError(f"data {name}: {str(path)!r} is not a file")
    try:
        os.link(path, target)  # no copy of a big table where the file system allows it
    except OSError:
        shutil.copyfile(path, target)


def _from_mapping(tables: Mapping[Any, Any]) -> ProblemData:
    folder = Path(tempfile.mkdtemp(prefix="optiwise-data-"))
    data = ProblemData(folder, temporary=True)
    try:
        for key, value in tables.items():
            note = ""
            if isinstance(value, Mapping):
                note = str(value.get("description") or "")
                if "path" in value:
                    value = value["path"]
                elif "rows" in value:
                    value = value["rows"]
                else:
                    raise DataArgumentError(f"data {key}: give 'path' or 'rows'")
            if isinstance(value, (str, os.PathLike)):
                name = _table_name(key, Path(os.fspath(value)).suffix.lower() or ".csv")
                _place_file(value, folder / name, name)
            else:
                name = _table_name(key, ".csv")
                _write_rows(folder / name, value, name)
            if note:
                data.descriptions[name] = note
    except BaseException:
        data.close()
        raise
    return data


def prepare_data(
    data: str | Path | Mapping[Any, Any] | ProblemData | None,
    descriptions: Mapping[str, str] | None = None,
) -> ProblemData | None:
    """The :class:`ProblemData` of a ``data`` argument (None for None).

    A folder is used in place (it must exist); a mapping is laid out in a
    temporary folder, removed by :meth:`ProblemData.close`.  Raises
    :class:`DataArgumentError` with the offending entry.
    """
    if data is None:
        return None
    if isinstance(data, ProblemData):
        out = data
    elif isinstance(data, Mapping):
        out = _from_mapping(data)
    elif isinstance(data, (str, os.PathLike)):
        folder = Path(os.fspath(data)).expanduser()
        if not folder.is_dir():
            raise DataArgumentError(
                f"data: {str(folder)!r} is not a folder; give the folder that holds the tables"
            )
        out = ProblemData(folder.resolve())
    else:
        raise DataArgumentError(
            f"data: expected a folder or a mapping of table names, not {type(data).__name__}"
        )
    if descriptions:
        out.descriptions.update({str(k): str(v) for k, v in descriptions.items()})
    return out


@contextlib.contextmanager
def opened_data(
    data: str | Path | Mapping[Any, Any] | ProblemData | None,
    descriptions: Mapping[str, str] | None = None,
) -> Iterator[ProblemData | None]:
    """:func:`prepare_data` for the length of a ``with`` block (a temporary folder is removed)."""
    prepared = prepare_data(data, descriptions)
    try:
        yield prepared
    finally:
        if prepared is not None and prepared is not data:
            prepared.close()
