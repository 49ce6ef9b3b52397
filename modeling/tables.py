"""Sets and parameters read from data tables (CSV; Excel and Parquet through pandas).

A formulation can name a table instead of writing the numbers inline::

    sets:
      P: {table: product.csv, column: productID}      # distinct values, file order
      M: {table: product.csv, column_labels: 2}       # header labels from column 2 on
      R: {table: routes.csv, columns: [from, to]}     # a set of tuples
    parameters:
      a: {index: [P, M], table: product.csv, layout: wide}
      c: {index: [R], table: routes.csv, value: cost, default: 0}

Files are resolved relative to the problem's *data folder* only (no absolute
path, no ``..``, no symbolic link leading out of it), are read as text and
converted to numbers (nothing in them is evaluated), and may together take at
most a share of the memory budget (:func:`table_byte_limit`).  Rows and columns
are counted from 1 as a spreadsheet shows them (a header, when present, is row
1), and every problem is located there: ``data C3.csv row 17 column 4``.  Cells
that are not numbers are one issue at the element that reads them
(``parameters.c.value: column 'cost' of C3.csv has a cell that is not a number
("abc", row 17 column 4)``), so the document's culprit is named, not only the file.
Everything is vectorised (pandas parses, numpy maps keys), so a table of a
million rows loads in about a second.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modeling.errors import Issue, did_you_mean
from modeling.limits import BUDGET_ENV, human, memory_budget

TABLE_SHARE = 10  # tables may take (file bytes) a tenth of the memory budget together
MAX_LISTED = 5  # keys not in their set shown per issue, columns per issue, before "and N more"
SUFFIXES = {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".xlsx": "excel", ".xls": "excel"}
SUFFIXES |= {".parquet": "parquet", ".pq": "parquet"}
_INT_RE = r"-?\d+"


class TableError(Exception):
    """Problems of a table reference, each a located :class:`Issue`."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(str(i) for i in issues))
        self.issues = issues


def table_byte_limit(budget: int | str | None = None) -> int:
    """Bytes of table files one model may read: a tenth of the memory budget.

    Parsing a CSV into text cells takes several times its size on disk, so the
    share keeps reading the data well inside the budget the compiler checks.
    """
    return max(memory_budget(budget) // TABLE_SHARE, 1)


def resolve_path(folder: str | Path | None, name: Any, loc: str) -> Path:
    """The file ``name`` inside ``folder``; a located :class:`TableError` otherwise.

    Refused: no data folder, an absolute path, a ``..`` part, a path (through a
    symbolic link) that leads out of the folder, a missing file.
    """
    if not isinstance(name, str) or not name.strip():
        raise TableError([Issue(loc, "a table is a file name", "write table: costs.csv", "data")])
    text = name.strip()
    if folder is None:
        raise TableError(
            [
                Issue(
                    loc,
                    f"reads the table {text!r} but no data folder was given",
                    "pass the folder with --data DIR, or load(document, data=DIR)",
                    "data",
                )
            ]
        )
    written = Path(text)
    if written.is_absolute() or text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        raise TableError(
            [
                Issue(
                    loc,
                    f"{text!r} is an absolute path; tables are read from the data folder only",
                    "write the file name relative to the data folder",
                    "data",
                )
            ]
        )
    if ".." in re.split(r"[\\/]", text):
        raise TableError(
            [
                Issue(
                    loc,
                    f"{text!r} leads out of the data folder ('..')",
                    "write the file name relative to the data folder",
                    "data",
                )
            ]
        )
    try:
        root = Path(folder).resolve()
        path = (root / written).resolve()
        usable = path.is_file()
    except (OSError, ValueError):  # a NUL byte, a name too long, a link loop
        raise TableError(
            [Issue(loc, f"{text!r} is not a usable file name", "write a plain file name", "data")]
        ) from None
    if path != root and root not in path.parents:
        raise TableError(
            [
                Issue(
                    loc,
                    f"{text!r} is a link that leads out of the data folder",
                    "copy the file into the data folder",
                    "data",
                )
            ]
        )
    if not usable:
        present = sorted(p.name for p in root.iterdir() if p.is_file()) if root.is_dir() else []
        raise TableError(
            [
                Issue(
                    loc,
                    f"no table {text!r} in the data folder",
                    did_you_mean(text, present),
                    "data",
                )
            ]
        )
    return path


@dataclass
class Table:
    """A table read as text cells: ``cells[r, c]`` is row ``r + first_row`` of the file."""

    name: str
    header: list[str] | None
    cells: np.ndarray  # 2-D object array of stripped strings ('' for an empty cell)
    first_row: int

    @property
    def ncols(self) -> int:
        return int(self.cells.shape[1])

    def where(self, row: int | None = None, col: int | None = None) -> str:
        """``data F.csv row 17 column 4`` for 0-based data row and column positions."""
        out = f"data {self.name}"
        if row is not None:
            out += f" row {row + self.first_row}"
        if col is not None:
            out += f" column {col + 1}"
        return out

    def column(self, ref: Any, loc: str) -> int:
        """0-based position of a column given by name (str) or 1-based position (int)."""
        if isinstance(ref, bool) or not isinstance(ref, int | str):
            raise TableError([Issue(loc, f"{ref!r} is not a column name or position", "", "data")])
        if isinstance(ref, int):
            if not 1 <= ref <= self.ncols:
                raise TableError(
                    [
                        Issue(
                            loc,
                            f"column {ref} is not in {self.name}, which has {self.ncols} columns",
                            "columns are counted from 1",
                            "shape",
                        )
                    ]
                )
            return ref - 1
        if self.header is None:
            raise TableError(
                [
                    Issue(
                        loc,
                        f"names column {ref!r} but {self.name} is read without a header",
                        "give the column's position (1 for the first), or header: true",
                        "data",
                    )
                ]
            )
        if ref not in self.header:
            raise TableError(
                [
                    Issue(
                        loc,
                        f"{self.name} has no column {ref!r} "
                        f"(columns: {', '.join(self.header[:12])})",
                        did_you_mean(ref, self.header),
                        "data",
                    )
                ]
            )
        return self.header.index(ref)


@dataclass
class TableReader:
    """Reads tables from one data folder, each file once, within a byte budget."""

    folder: str | Path | None
    budget: int | str | None = None
    _cache: dict[tuple[Path, bool, Any], Table] = field(default_factory=dict)
    _bytes: dict[Path, int] = field(default_factory=dict)

    def table(self, spec: Mapping[str, Any], loc: str) -> Table:
        """The table a set or parameter names (``table``, ``header``, ``sheet``)."""
        path = resolve_path(self.folder, spec.get("table"), f"{loc}.table")
        header = spec.get("header", True)
        if not isinstance(header, bool):
            raise TableError([Issue(f"{loc}.header", "must be true or false", "", "schema")])
        sheet = spec.get("sheet")
        key = (path, header, sheet)
        if key not in self._cache:
            self._check_size(path, str(spec.get("table")), loc)
            self._cache[key] = _read(path, str(spec.get("table")).strip(), header, sheet, loc)
        return self._cache[key]

    def _check_size(self, path: Path, name: str, loc: str) -> None:
        self._bytes[path] = os.path.getsize(path)
        total, limit = sum(self._bytes.values()), table_byte_limit(self.budget)
        if total > limit:
            raise TableError(
                [
                    Issue(
                        f"{loc}.table",
                        f"data {name} brings the tables to {human(total)}, more than the "
                        f"{human(limit)} they may take (a tenth of the memory budget)",
                        f"use smaller tables, or set {BUDGET_ENV} (e.g. 16G or 80%)",
                        "size",
                    )
                ]
            )


_CHUNK = 1 << 20


def table_shape(path: Path, header: bool = True) -> tuple[int, int]:
    """Data rows and columns of a table file, counted without parsing it.

    CSV and TSV: the line breaks (read in 1 MB chunks, a few ms for a 20 MB
    file) and the separators of the first line; Parquet: its metadata;
    Excel: the sheet's recorded dimension.  An upper bound for a set's size
    and the number of cells a read will hold (:data:`modeling.limits.BYTES_PER_CELL`
    each), known before anything is read.  A file that cannot be measured
    counts one cell per 8 bytes on disk.
    """
    kind = SUFFIXES.get(path.suffix.lower(), "csv")
    rows, cols = 0, 1
    try:
        if kind in ("csv", "tsv"):
            sep = b"\t" if kind == "tsv" else b","
            last = b"\n"
            with open(path, "rb") as fh:
                cols = fh.readline().count(sep) + 1
                fh.seek(0)
                while chunk := fh.read(_CHUNK):
                    rows += chunk.count(b"\n")
                    last = chunk[-1:]
            if last != b"\n":  # a last line without a line break
                rows += 1
        elif kind == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(path).metadata
            return int(meta.num_rows), int(meta.num_columns)
        else:
            import openpyxl

            wb = openpyxl.load_workbook(path, read_only=True)
            ws = wb.worksheets[0]
            rows, cols = int(ws.max_row or 0), int(ws.max_column or 0)
            wb.close()
    except Exception:  # unreadable here: the reader reports it with its location
        return max(os.path.getsize(path) // 8, 1), 1
    return max(rows - (1 if header else 0), 0), cols


def table_cells(
    sets: Mapping[str, Any], params: Mapping[str, Any], folder: str | Path | None
) -> list[tuple[str, int]]:
    """``(location, cells)`` of every distinct table the sets and parameters name.

    The location is the ``table`` key of the first set or parameter naming the
    table (``sets.P.table``); a table that
    cannot be resolved is left out (reading it reports why).  Costs a
    line count per file, nothing is parsed.
    """
    out: list[tuple[str, int]] = []
    seen: set[tuple[Path, bool]] = set()
    specs = [(f"sets.{n}", s) for n, s in sets.items()]
    specs += [(f"parameters.{n}", s) for n, s in params.items()]
    for loc, spec in specs:
        if not isinstance(spec, Mapping) or "table" not in spec or folder is None:
            continue
        try:
            path = resolve_path(folder, spec.get("table"), f"{loc}.table")
        except TableError:
            continue
        header = spec.get("header", True) is not False
        if (path, header) in seen:
            continue
        seen.add((path, header))
        rows, cols = table_shape(path, header)
        out.append((f"{loc}.table", rows * cols))
    return out


_STRIP = np.frompyfunc(str.strip, 1, 1)  # every cell of an object array, in one C loop


def _read(path: Path, name: str, header: bool, sheet: Any, loc: str) -> Table:
    """Parse a file into text cells; a located issue for a file pandas cannot read."""
    import pandas as pd

    kind = SUFFIXES.get(path.suffix.lower(), "csv")
    try:
        if kind in ("csv", "tsv"):
            frame = pd.read_csv(
                path,
                header=None,
                dtype=object,  # plain Python strings: 2-4x faster to array than pandas' str
                keep_default_na=False,
                na_filter=False,
                sep="\t" if kind == "tsv" else ",",
                encoding="utf-8-sig",
                skip_blank_lines=True,
                engine="c",
            )
        elif kind == "excel":
            frame = pd.read_excel(path, header=None, dtype=str, sheet_name=sheet or 0)
        else:
            frame = pd.read_parquet(path)
            names = [str(c) for c in frame.columns]
            frame = frame.astype(str)
            frame = pd.concat([pd.DataFrame([names], columns=frame.columns), frame])
    except ImportError as exc:
        found = re.search(r"'([A-Za-z0-9_.-]+)'", str(exc))
        package = exc.name or (found.group(1) if found else "openpyxl")
        raise TableError(
            [
                Issue(
                    f"{loc}.table",
                    f"reading {name} needs the package {package}, which is not installed",
                    f"pip install {package}, or save the table as CSV",
                    "data",
                )
            ]
        ) from None
    except pd.errors.EmptyDataError:
        raise TableError([Issue(f"data {name}", "is empty", "", "data")]) from None
    except pd.errors.ParserError as exc:
        text = str(exc).strip().splitlines()[-1]
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
        if m:
            raise TableError(
                [
                    Issue(
                        f"data {name} row {m.group(2)}",
                        f"has {m.group(3)} cells but the rows before have {m.group(1)}",
                        "give every row the same number of cells",
                        "shape",
                    )
                ]
            ) from None
        raise TableError(
            [Issue(f"data {name}", f"is not a readable table: {text}", "", "data")]
        ) from None
    except UnicodeDecodeError:
        raise TableError(
            [Issue(f"data {name}", "is not UTF-8 text", "save it as UTF-8 CSV", "data")]
        ) from None
    except Exception as exc:  # a corrupt workbook, a bad Parquet file: located, never a crash
        raise TableError(
            [Issue(f"data {name}", f"cannot be read: {exc}", "save it as UTF-8 CSV", "data")]
        ) from None
    if kind in ("csv", "tsv"):
        cells = frame.fillna("").to_numpy(dtype=object)  # a short row's missing cells: empty
        if cells.size:
            cells = _STRIP(cells)
    else:
        frame = frame.fillna("").astype(str)
        cells = frame.apply(lambda col: col.str.strip()).to_numpy(dtype=object)
    if header:
        if len(cells) == 0:
            raise TableError([Issue(f"data {name}", "is empty", "", "data")])
        return Table(name, [str(c) for c in cells[0]], cells[1:], 2)
    return Table(name, None, cells, 1)


# ------------------------------------------------------------------ sets


def _elements(values: np.ndarray) -> list[Any]:
    """Text labels as set elements: integers when every label is an integer."""
    import pandas as pd

    series = pd.Series(values, dtype=object).astype(str)
    if len(series) and series.str.fullmatch(_INT_RE).all():
        return series.astype(np.int64).tolist()  # type: ignore[no-any-return]
    return series.tolist()  # type: ignore[no-any-return]


def table_set(spec: Mapping[str, Any], loc: str, reader: TableReader) -> tuple[list[Any], int]:
    """Elements and dimension of a set read from a table.

    ``column``: the distinct non-empty values of one column (or of a list of
    columns, read row by row), in file order;
    ``columns``: the distinct tuples of several columns; ``column_labels``:
    the header labels from that column on (``true``: from column 2).
    """
    import pandas as pd

    t = reader.table(spec, loc)
    if "column_labels" in spec:
        first = spec["column_labels"]
        start = 2 if first is True else first
        if t.header is None:
            raise TableError(
                [Issue(loc, "column_labels needs a header row", "remove header: false", "data")]
            )
        c = t.column(start, f"{loc}.column_labels")
        labels = [h for h in t.header[c:] if h != ""]
        _no_duplicates(labels, t, loc)
        elements = _elements(np.asarray(labels, dtype=object))
        _no_collisions(labels, elements, t, None, f"{loc}.column_labels")
        return elements, 1
    if "column" in spec:
        refs = spec["column"] if isinstance(spec["column"], list) else [spec["column"]]
        cs = [t.column(r, f"{loc}.column") for r in refs]
        col = t.cells[:, cs].reshape(-1)  # row by row: file order
        col = col[col != ""]
        texts = pd.unique(col)
        elements = _elements(texts)
        _no_collisions(list(texts), elements, t, cs, f"{loc}.column")
        return elements, 1
    if "columns" in spec and isinstance(spec["columns"], list) and len(spec["columns"]) >= 2:
        cs = [t.column(r, f"{loc}.columns[{k}]") for k, r in enumerate(spec["columns"])]
        frame = pd.DataFrame(t.cells[:, cs]).drop_duplicates()
        parts = [_elements(frame[k].to_numpy()) for k in frame.columns]
        tuples = [tuple(p) for p in zip(*parts, strict=True)]
        written = [",".join(str(c) for c in row) for row in frame.itertuples(index=False)]
        _no_collisions(written, tuples, t, None, f"{loc}.columns")
        return tuples, len(cs)
    raise TableError(
        [
            Issue(
                loc,
                "a set from a table needs 'column', 'columns' (two or more) or 'column_labels'",
                "write {table: f.csv, column: name}",
                "set",
            )
        ]
    )


def _no_collisions(
    texts: list[str], elements: list[Any], t: Table, cols: list[int] | None, loc: str
) -> None:
    """Refuse two different labels that read as the same element ('1' and '01' are both 1).

    The distinct labels are taken as written; turning integer labels into
    integers can then make two of them one element, which would give the set
    that element twice (two variables under one name, a parameter whose keys
    cannot be placed). Located at the set, with the file row of the second
    label where the labels come from columns.
    """
    if len(set(elements)) == len(elements):
        return
    first: dict[Any, str] = {}
    for text, element in zip(texts, elements, strict=True):
        if element not in first:
            first[element] = text
            continue
        where = ""
        if cols is not None:
            hit = np.flatnonzero((t.cells[:, cols] == text).any(axis=1))
            if len(hit):
                where = f" ({t.where(int(hit[0]))})"
        raise TableError(
            [
                Issue(
                    loc,
                    f"{t.name} holds {first[element]!r} and {text!r}{where}, which are the same "
                    f"element {element!r} once labels are read as integers; a set lists each "
                    "element once",
                    "write each element one way in the table",
                    "duplicate",
                )
            ]
        )


def _no_duplicates(labels: list[str], t: Table, loc: str) -> None:
    seen: dict[str, int] = {}
    for k, h in enumerate(labels):
        if h in seen:
            raise TableError(
                [Issue(f"data {t.name} row 1", f"the header names {h!r} twice", "", "duplicate")]
            )
        seen[h] = k


# ------------------------------------------------------------------ parameters


@dataclass
class Axis:
    """What a parameter's index set looks like to the table reader."""

    name: str
    dim: int
    elements: list[Any]
    values: np.ndarray  # int64 when every element is an int, else object
    _texts: list[str] | None = None

    @property
    def texts(self) -> list[str]:
        """Elements as written in a table (tuples joined by ','), made on first use."""
        if self._texts is None:
            self._texts = [
                ",".join(str(p) for p in e) if isinstance(e, tuple) else str(e)
                for e in self.elements
            ]
        return self._texts


def _positions(axis: Axis, keys: np.ndarray) -> np.ndarray:
    """Positions of key texts in the set (-1 when absent), matching ints as ints."""
    import pandas as pd

    if axis.values.dtype.kind == "i" and axis.dim == 1:
        as_int = pd.Series(keys, dtype=object).astype(str)
        ok = as_int.str.fullmatch(_INT_RE).to_numpy(dtype=bool)
        out = np.full(len(keys), -1, dtype=np.int64)
        if ok.any():
            ints = as_int[ok].astype(np.int64).to_numpy()
            out[ok] = pd.Index(axis.values).get_indexer(ints)
        return out
    return np.asarray(pd.Index(axis.texts).get_indexer(keys), dtype=np.int64)


def _fast_floats(cells: np.ndarray) -> np.ndarray | None:
    """Text cells as floats in one numpy call (empty cells NaN); None when one is no number.

    About 4x faster than ``pd.to_numeric`` on text (0.2 s per million cells);
    Python's ``float`` also reads ``1_000``, which a table does not mean as
    a number, so such a table goes the slow way (and is reported there).
    """
    empty = cells == ""
    src = np.where(empty, "nan", cells) if empty.any() else cells
    try:
        nums = src.astype(float)
    except (ValueError, TypeError, OverflowError):
        return None
    if "_" in "".join(cells.tolist()):
        return None
    return nums


def _label(t: Table, c: int) -> str:
    """A column as a message names it: ``'cost'`` with a header, ``column 3`` without."""
    return repr(t.header[c]) if t.header is not None else f"column {c + 1}"


def _numeric_columns(t: Table, candidates: Sequence[int]) -> list[int]:
    """The candidate columns whose non-empty cells are all finite numbers (some non-empty)."""
    out = []
    for c in candidates:
        col = t.cells[:, c]
        filled = col[col != ""]
        nums = _fast_floats(filled) if len(filled) else None
        if nums is not None and np.isfinite(nums).all():
            out.append(c)
    return out


def _number_issue(
    t: Table,
    cells: np.ndarray,
    nums: np.ndarray,
    bad: np.ndarray,
    cols: Sequence[int],
    loc: str,
    others: Sequence[int] | None,
) -> Issue:
    """One issue for every cell of an element's value columns that is not a number.

    Located at the element that reads the cells (``parameters.f.value``), so
    with two parameters reading one file the wrong one is named; the first
    bad cell keeps its file position and the rest are counted.  A column
    that is mostly text (the wrong column was named) is said to hold text,
    and ``others`` (the columns a long table could take its values from) are
    searched for the numeric ones to suggest.
    """
    ncol = len(cols)
    r, c = divmod(int(bad[0]), ncol)
    positions = sorted({int(b) % ncol for b in bad})  # the block's columns with a bad cell
    names = [_label(t, cols[k]) for k in positions]
    if len(names) == 1:
        where = names[0] if t.header is None else f"column {names[0]}"
    else:
        extra = len(names) - MAX_LISTED
        where = (
            "columns " + ", ".join(names[:MAX_LISTED]) + (f" and {extra} more" if extra > 0 else "")
        )
    where += f" of {t.name}"
    more = len(bad) - 1
    detail = f'"{cells[int(bad[0])]}", row {r + t.first_row} column {cols[c] + 1}'
    detail += f", and {more:,} more cell{'s' if more > 1 else ''}" if more else ""
    in_bad_cols = np.isin(np.arange(len(cells)) % ncol, positions)
    filled = int(np.count_nonzero(in_bad_cols & (cells != "")))
    only_infinite = bool(np.isinf(nums[bad]).all())
    if not only_infinite and len(bad) * 2 > filled:  # mostly text: the wrong column
        message = f"{where} {'holds' if len(names) == 1 else 'hold'} text ({detail})"
        if others is None:
            return Issue(
                loc, message, "a wide table's cells beside the row labels are numbers", "value"
            )
        numeric = [
            t.header[k] if t.header is not None else str(k + 1) for k in _numeric_columns(t, others)
        ]
        if numeric:
            message += "; numeric columns: " + ", ".join(numeric[:12])
            message += f" and {len(numeric) - 12} more" if len(numeric) > 12 else ""
        else:
            message += f"; no other column of {t.name} holds only numbers"
        if len(numeric) == 1:
            hint = f"did you mean value: {numeric[0]}?"
        else:
            hint = "name the column of numbers with value: (a name or a position from 1)"
        return Issue(loc, message, hint, "value")
    what = "a finite number" if only_infinite else "a number"
    if len(bad) == 1:
        message = f"{where} has a cell that is not {what} ({detail})"
    else:
        message = (
            f"{where} has {len(bad):,} cells that are not {what.removeprefix('a ')}s ({detail})"
        )
    return Issue(loc, message, "table values are numbers; an empty cell takes the default", "value")


def _numbers(
    t: Table,
    block: np.ndarray,
    cols: Sequence[int],
    issues: list[Issue],
    loc: str,
    others: Sequence[int] | None = None,
) -> np.ndarray:
    """Cells as floats (NaN for an empty cell); non-numbers are one issue at ``loc``."""
    import pandas as pd

    flat = pd.Series(block.reshape(-1), dtype=object)
    nums = _fast_floats(flat.to_numpy())
    if nums is None:  # some cell is not a number: pandas marks each one NaN, located below
        nums = pd.to_numeric(flat, errors="coerce").to_numpy(dtype=float)
    cells = flat.to_numpy()
    bad = np.flatnonzero((np.isnan(nums) & (cells != "")) | np.isinf(nums))
    if len(bad):
        issues.append(_number_issue(t, cells, nums, bad, cols, loc, others))
    return nums.reshape(block.shape)


def _not_in_set(
    where: str,
    what: str,
    labels: Sequence[str],
    axis: Axis,
    hint_pool: Sequence[str],
    reader: str,
) -> Issue:
    """One issue for every key (or header label) of a table that is not in its set.

    Located at the first one (its file row and column); the others are counted and
    the first few shown, so a table with 1,000 stray keys is one line in the repair
    request, not 1,000; ``reader`` (``parameters.c``) names the element that reads them.
    """
    first = labels[0]
    message = f"{what}{first!r} is not an element of set {axis.name}"
    more = len(labels) - 1
    if more:
        shown = ", ".join(repr(k) for k in labels[1:MAX_LISTED])
        message += f", nor {'is' if more == 1 else 'are'} {more:,} more ({shown}"
        message += " …)" if more >= MAX_LISTED else ")"
    message += f"; read by {reader}"
    hint = did_you_mean(first, hint_pool)
    if not hint:
        hint = f"add {'it' if not more else 'them'} to {axis.name} or fix the table"
    return Issue(where, message, hint, "element")


def _key_issues(
    t: Table,
    axis: Axis,
    keys: np.ndarray,
    pos: np.ndarray,
    col: int,
    issues: list[Issue],
    loc: str,
) -> np.ndarray:
    """Locate keys that are not elements of the axis' set (one issue); True where a row is usable."""
    bad = np.flatnonzero(pos < 0)
    if len(bad):
        labels = [str(keys[r]) for r in bad]
        where = t.where(int(bad[0]), col)
        issues.append(_not_in_set(where, "", labels, axis, axis.texts[:10000], loc))
    return pos >= 0


def _duplicate_issue(
    t: Table, flat: np.ndarray, rows: np.ndarray, what: str, reader: str
) -> Issue | None:
    """The first key written twice (with both rows), or None.

    ``reader`` (``parameters.h``) names the element that reads the table, so
    that two parameters reading the same file give two distinguishable lines.
    """
    if len(flat) < 2:
        return None
    order = np.argsort(flat, kind="stable")
    same = np.flatnonzero(flat[order][1:] == flat[order][:-1])
    if not len(same):
        return None
    a, b = int(rows[order[same[0]]]), int(rows[order[same[0] + 1]])
    more = f" (and {len(same) - 1} more)" if len(same) > 1 else ""
    return Issue(
        t.where(b),
        f"{what} is written twice (also row {a + t.first_row}){more}; read by {reader}",
        "give each key one row",
        "duplicate",
    )


def table_param(
    spec: Mapping[str, Any], axes: list[Axis], arr: np.ndarray, loc: str, reader: TableReader
) -> list[Issue]:
    """Fill ``arr`` (shaped by ``axes``, pre-filled with the default) from a table.

    ``layout: long`` (default): key columns (``keys``; by default the first
    ones, one per set, two for a set of pairs) and a value column (``value``;
    by default the next one).  ``layout: wide``: two index sets; the row
    labels in one column (``keys``, by default the first) and one column per
    element of the second set, matched by header label (or, without a header,
    in the set's order).  Missing keys and empty cells keep the default.
    """
    layout = spec.get("layout", "long")
    t = reader.table(spec, loc)
    issues: list[Issue] = []
    if layout == "wide":
        _wide(spec, axes, arr, t, loc, issues)
    elif layout == "long":
        _long(spec, axes, arr, t, loc, issues)
    else:
        issues.append(
            Issue(f"{loc}.layout", f"{layout!r} is not a layout", "long or wide", "schema")
        )
    return issues


def _refs(spec: Mapping[str, Any], key: str, n: int, loc: str) -> list[Any] | None:
    raw = spec.get(key)
    if raw is None:
        return None
    refs = raw if isinstance(raw, list) else [raw]
    if len(refs) != n:
        raise TableError(
            [
                Issue(
                    f"{loc}.{key}",
                    f"names {len(refs)} key columns but the index needs {n}",
                    "one column per index set (two for a set of pairs)",
                    "shape",
                )
            ]
        )
    return refs


def _long(
    spec: Mapping[str, Any],
    axes: list[Axis],
    arr: np.ndarray,
    t: Table,
    loc: str,
    issues: list[Issue],
) -> None:
    if not axes:
        issues.append(Issue(loc, "a table parameter needs an index", "write index: [I]", "schema"))
        return
    nkeys = sum(a.dim for a in axes)
    refs = _refs(spec, "keys", nkeys, loc)
    kcols = [t.column(r, f"{loc}.keys") for r in refs] if refs is not None else list(range(nkeys))
    vref = spec.get("value")
    vcol = t.column(vref, f"{loc}.value") if vref is not None else (max(kcols, default=-1) + 1)
    if vcol >= t.ncols:
        issues.append(
            Issue(
                loc,
                f"{t.name} has {t.ncols} columns: no value column after the {nkeys} key columns",
                "name the value column with value: (a name or a position from 1)",
                "shape",
            )
        )
        return
    others = [k for k in range(t.ncols) if k not in kcols and k != vcol]
    vloc = f"{loc}.value" if vref is not None else loc
    values = _numbers(t, t.cells[:, vcol], [vcol], issues, vloc, others)
    n = len(t.cells)
    ok = np.ones(n, dtype=bool)
    flat = np.zeros(n, dtype=np.int64)
    c = 0
    for axis in axes:
        cols = kcols[c : c + axis.dim]
        c += axis.dim
        keys = t.cells[:, cols[0]]
        for extra in cols[1:]:  # a tuple set: its parts joined as the set writes them
            keys = keys + "," + t.cells[:, extra]
        pos = _positions(axis, keys)
        ok &= _key_issues(t, axis, keys, pos, cols[0], issues, loc)
        flat = flat * len(axis.elements) + np.maximum(pos, 0)
    rows = np.flatnonzero(ok)
    dup = _duplicate_issue(t, flat[rows], rows, "this key", loc)
    if dup is not None:
        issues.append(dup)
    if issues:
        return
    present = ~np.isnan(values)
    arr.reshape(-1)[flat[present]] = values[present]


def _wide(
    spec: Mapping[str, Any],
    axes: list[Axis],
    arr: np.ndarray,
    t: Table,
    loc: str,
    issues: list[Issue],
) -> None:
    if len(axes) != 2 or axes[0].dim != 1 or axes[1].dim != 1:
        issues.append(
            Issue(
                f"{loc}.index",
                f"a wide table has rows × columns, so the index is two plain sets "
                f"(it has {len(axes)})",
                "use layout: long for other shapes",
                "shape",
            )
        )
        return
    rows_axis, cols_axis = axes
    refs = _refs(spec, "keys", 1, loc)
    kcol = t.column(refs[0], f"{loc}.keys") if refs is not None else 0
    vcols = [c for c in range(t.ncols) if c != kcol]
    if t.header is not None:
        labels = np.asarray([t.header[c] for c in vcols], dtype=object)
        cpos = _positions(cols_axis, labels)
        stray = np.flatnonzero(cpos < 0)
        if len(stray):
            issues.append(
                _not_in_set(
                    f"data {t.name} row 1 column {vcols[int(stray[0])] + 1}",
                    "the header label ",
                    [str(labels[k]) for k in stray],
                    cols_axis,
                    cols_axis.texts,
                    loc,
                )
            )
        dup = _duplicate_issue(t, cpos, np.zeros(len(cpos), dtype=np.int64), "a header label", loc)
        if dup is not None and not issues:
            issues.append(
                Issue(f"data {t.name} row 1", "the header names a column twice", "", "duplicate")
            )
    else:
        if len(vcols) != len(cols_axis.elements):
            issues.append(
                Issue(
                    f"data {t.name}",
                    f"has {len(vcols)} value columns but set {cols_axis.name} has "
                    f"{len(cols_axis.elements)} elements",
                    "without a header the columns follow the set's order, one per element",
                    "shape",
                )
            )
            return
        cpos = np.arange(len(vcols), dtype=np.int64)
    keys = t.cells[:, kcol]
    rpos = _positions(rows_axis, keys)
    ok = _key_issues(t, rows_axis, keys, rpos, kcol, issues, loc)
    rows = np.flatnonzero(ok)
    dup = _duplicate_issue(t, rpos[rows], rows, f"the row label of set {rows_axis.name}", loc)
    if dup is not None:
        issues.append(dup)
    values = _numbers(t, t.cells[:, vcols], vcols, issues, loc)
    if issues:
        return
    r_idx = np.repeat(rpos, len(vcols))
    c_idx = np.tile(cpos, len(rpos))
    flat_vals = values.reshape(-1)
    present = ~np.isnan(flat_vals)
    arr[r_idx[present], c_idx[present]] = flat_vals[present]


def describe_table(folder: str | Path, name: str, rows: int = 3, header: bool = True) -> str:
    """What an LLM needs to map a table, never the table itself.

    The file's columns (position, name, type: integer, number or text), its
    row count, each numeric column's range, each text column's count of
    distinct values, and its first ``rows`` rows.  Raises :class:`TableError`
    like a formulation that names the file would.
    """
    import pandas as pd

    t = TableReader(folder).table({"table": name, "header": header}, f"data {name}")
    n = len(t.cells)
    lines = [f"{name}: {n} rows, {t.ncols} columns" + ("" if header else " (no header)")]
    for c in range(t.ncols):
        col = pd.Series(t.cells[:, c], dtype=object)
        label = t.header[c] if t.header is not None else f"column {c + 1}"
        filled = col[col != ""]
        nums = pd.to_numeric(filled, errors="coerce")
        if len(filled) and not nums.isna().any():
            whole = bool((nums == nums.round()).all())
            kind = "integer" if whole else "number"
            info = f"{kind}, {nums.min():g} to {nums.max():g}"
        else:
            info = f"text, {filled.nunique()} distinct"
        empty = n - len(filled)
        lines.append(f"  {c + 1}. {label}: {info}" + (f", {empty} empty" if empty else ""))
    if t.header is not None:
        lines.append("  " + ",".join(t.header))
    lines += ["  " + ",".join(str(v) for v in row) for row in t.cells[:rows]]
    if n > rows:
        lines.append(f"  ... ({n - rows} more rows)")
    return "\n".join(lines)


TABLE_KEYS = frozenset({"table", "header", "sheet", "layout", "keys", "value"})

__all__ = [
    "SUFFIXES",
    "TABLE_KEYS",
    "Axis",
    "Table",
    "TableError",
    "TableReader",
    "describe_table",
    "resolve_path",
    "table_byte_limit",
    "table_cells",
    "table_param",
    "table_set",
    "table_shape",
]
