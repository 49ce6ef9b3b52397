"""Read every registered benchmark format into :class:`~evals.problems.Problem` records.

Formats (``format`` in the registry):

- ``json``: a JSON array, a JSON object keyed by id, or JSONL in a ``.json``
  file (OptMATH's and SIRL's ``MAMO_*.json`` are JSONL): sniffed.
- ``jsonl``: one JSON object per line.
- ``csv``: a header row; a UTF-8 BOM is tolerated (OptiMind's files have one).
- ``parquet``: read with pandas/pyarrow.
- ``nl4opt``: NL4Opt competition lines ``{hash: {...}}``; there is no
  objective value, so answers are ``unknown``.
- ``folders``: per-problem folders, either packed (one JSONL record per
  folder, keys = file names, as in a mirror folder and the cache) or an
  unpacked directory tree.

Ids: the dataset's own id field where it has one, else the 0-based record
index as a string; the folder name for per-problem folders; the hash key for
NL4Opt competition files.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.fetch import locate_relative, require
from evals.label_flags import apply_flags, log_paths, read_fix_logs
from evals.problems import (
    Answer,
    Problem,
    answer_from_results,
    answer_from_samples,
    answer_from_status_obj,
    normalize_answer,
    unknown,
)
from evals.registry import DatasetEntry, Registry, get

# IndustryOR v1 (ORLM's HF snapshot) labels difficulty and type in Chinese;
# LLM4OR's English mirror of the same file gives the translations used here.
_TRANSLATIONS = {
    "简单": "Easy",
    "中等": "Medium",
    "困难": "Hard",
    "线性规划": "LP",
    "整数规划": "IP",
    "混合整数规划": "MIP",
    "非线性规划": "NLP",
    "其他": "Others",
}

# Metadata keys copied into run results for breakdowns.
BREAKDOWN_KEYS = ("difficulty", "type", "category")

# Instance size (of the reference model), copied into results for the size buckets.
SIZE_KEYS = ("n_variables", "n_constraints")
_SIZE_ALIASES = {
    "n_variables": ("n_variables", "variables_num", "num_variables", "num_vars"),
    "n_constraints": ("n_constraints", "constraints_num", "num_constraints", "num_cons"),
}


class DataFormatError(ValueError):
    """A benchmark file does not have the shape its registry entry promises."""


@dataclass(frozen=True)
class Dataset:
    """A loaded benchmark variant: its problems plus where they came from."""

    name: str
    family: str
    variant: str
    problems: tuple[Problem, ...]
    entry: DatasetEntry | None = None
    source: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.problems)

    def by_id(self) -> dict[str, Problem]:
        """Problems keyed by id."""
        return {p.id: p for p in self.problems}


def _plain(value: Any) -> Any:
    """Numpy/pandas scalars and arrays to plain Python (JSON-able) values."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return _plain(value.tolist())
    if hasattr(value, "item") and not isinstance(value, str | bytes | list | dict):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN from pandas
        return None
    return value


def read_jsonl_text(text: str, where: str) -> list[dict[str, Any]]:
    """Parse JSONL; a bad line raises with its number."""
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{where}:{number}: not a JSON line ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise DataFormatError(f"{where}:{number}: expected a JSON object per line")
        records.append(record)
    return records


def read_json_records(path: Path) -> list[dict[str, Any]]:
    """A JSON array, an id-keyed JSON object (id stored as ``_key``), or JSONL."""
    text = path.read_text(encoding="utf-8-sig")
    head = text.lstrip()[:1]
    if head == "[":
        data = json.loads(text)
        if not all(isinstance(r, dict) for r in data):
            raise DataFormatError(f"{path}: expected an array of objects")
        return list(data)
    if head == "{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return read_jsonl_text(text, str(path))
        if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
            return [{"_key": k, **v} for k, v in data.items()]
        return [data]
    raise DataFormatError(f"{path}: neither a JSON array, object nor JSONL")


def read_csv_records(path: Path) -> list[dict[str, Any]]:
    """CSV with a header row; BOM tolerated; multi-line quoted cells kept."""
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return [{(k or "").strip(): v for k, v in row.items()} for row in reader]


def read_parquet_records(path: Path) -> list[dict[str, Any]]:
    """Parquet rows as plain dicts."""
    import pandas as pd

    frame = pd.read_parquet(path)
    return [_plain(row) for row in frame.to_dict(orient="records")]


def read_nl4opt(path: Path) -> list[dict[str, Any]]:
    """NL4Opt competition lines ``{hash: {...}}``; the hash is stored as ``_key``."""
    records = []
    for record in read_jsonl_text(path.read_text(encoding="utf-8"), str(path)):
        if len(record) != 1:
            raise DataFormatError(f"{path}: expected one {{hash: record}} per line")
        ((key, body),) = record.items()
        records.append({"_key": str(key), **body})
    return records


def read_packed_folders(path: Path) -> list[dict[str, Any]]:
    """A packed folder dataset: one record per folder, ``problem`` = folder name."""
    records = read_jsonl_text(path.read_text(encoding="utf-8"), str(path))
    for number, record in enumerate(records):
        if "problem" not in record:
            raise DataFormatError(f"{path}: record {number} has no 'problem' key")
    return records


def read_folder_tree(root: Path, names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """An unpacked per-problem tree ``root/<problem>/<file>`` as packed-style records."""
    folders = (
        [root / n for n in names] if names else sorted(p for p in root.iterdir() if p.is_dir())
    )
    records = []
    for folder in folders:
        if not folder.is_dir():
            raise DataFormatError(f"{root}: problem folder {folder.name!r} is missing")
        record: dict[str, Any] = {"problem": folder.name, "_folder": str(folder.resolve())}
        for file in sorted(folder.iterdir()):
            if file.is_file():
                record[file.name] = file.read_bytes().decode("utf-8")
        records.append(record)
    return records


def read_records(entry: DatasetEntry, path: Path) -> list[dict[str, Any]]:
    """Raw records of a file in the entry's format."""
    if entry.format == "folders":
        if path.is_dir():
            return read_folder_tree(path, entry.problems)
        return read_packed_folders(path)
    readers = {
        "json": read_json_records,
        "jsonl": lambda p: read_jsonl_text(p.read_text(encoding="utf-8-sig"), str(p)),
        "csv": read_csv_records,
        "parquet": read_parquet_records,
        "nl4opt": read_nl4opt,
    }
    return list(readers[entry.format](path))


def _field(record: Mapping[str, Any], spec: str) -> Any:
    """Value of the first present field among ``a|b|c``."""
    for name in spec.split("|"):
        if name in record:
            return record[name]
    return None


def _metadata(entry: DatasetEntry, record: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, spec in entry.metadata_fields.items():
        value = _plain(_field(record, spec))
        if value is None or value == "":
            continue
        if isinstance(value, str):
            value = _TRANSLATIONS.get(value.strip(), value.strip())
        meta[key] = value
    return meta


def size_metadata(*sources: Any) -> dict[str, int]:
    """``n_variables``/``n_constraints`` from the first source that states them.

    A source is a mapping (a record, its metadata, or ORThought's ``details``,
    which is a Python-literal string such as ``"{'variables_num': 24, ...}"``).
    Sizes feed the size buckets of a report; nothing is guessed.
    """
    import ast

    for source in sources:
        if isinstance(source, str):
            try:
                source = ast.literal_eval(source.strip())
            except (ValueError, SyntaxError):
                continue
        if not isinstance(source, Mapping):
            continue
        found: dict[str, int] = {}
        for key, names in _SIZE_ALIASES.items():
            for name in names:
                value = source.get(name)
                if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                    found[key] = int(value)
                    break
        if len(found) == len(SIZE_KEYS):
            return found
    return {}


def _json_file(record: Mapping[str, Any], name: str, where: str) -> Any:
    try:
        return json.loads(record[name])
    except KeyError:
        raise DataFormatError(f"{where}: no {name}") from None
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{where}: {name} is not JSON ({exc.msg})") from exc


def _folder_answer(entry: DatasetEntry, record: Mapping[str, Any], where: str) -> Answer:
    data = _json_file(record, entry.answer_file, where)
    if entry.answer_encoding == "samples":
        return answer_from_samples(data)
    if entry.answer_encoding == "status_obj":
        if not isinstance(data, Mapping):
            return unknown(data, f"{entry.answer_file} is not an object")
        return answer_from_status_obj(data)
    if entry.answer_encoding == "solution":
        if not isinstance(data, Mapping) or "objective" not in data:
            return unknown(data, f"{entry.answer_file} has no objective")
        answer = normalize_answer(data["objective"])
        return answer.model_copy(update={"raw": data["objective"]})
    return normalize_answer(data)


# ------------------------------------------------------------------ MIPLIB-NL

MIPLIB_NL_FILE = "instance.json"
_MIPLIB_NL_WORDS = {
    "impossible": "MIPLIB-NL labels it 'impossible': the stated problem has no feasible solution",
}


def miplib_nl_answer(raw: Any) -> Answer:
    """``optimal_value`` of a MIPLIB-NL instance: a number, a numeric string or a word.

    ``"infeasible"`` and ``"impossible"`` both mean that no feasible solution
    exists (a solver must say infeasible); everything else is read as
    :func:`~evals.problems.normalize_answer` reads labels.
    """
    if isinstance(raw, str) and raw.strip().lower() in _MIPLIB_NL_WORDS:
        return Answer(kind="infeasible", raw=raw, reason=_MIPLIB_NL_WORDS[raw.strip().lower()])
    return normalize_answer(raw)


def _data_relative(path: str) -> str:
    """A table's path as written in ``instance.json`` (``./data/x.csv``), within ``data/``."""
    parts = [p for p in Path(path.replace("\\", "/")).parts if p not in (".", "")]
    return "/".join(parts[1:] if parts and parts[0] == "data" else parts)


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill_placeholders(text: str, parameters: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``text`` with each ``{name}`` whose name is a key of ``parameters`` replaced by its value.

    MIPLIB-NL's published descriptions keep template slots (``{num_nodes}``) whose
    values are the instance's ``parameters``; a reader expects the numbers. Only
    slots naming a parameter are filled (other braces are left as written); the
    names filled are returned, in order of first use.
    """
    used: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            return match.group(0)
        if name not in used:
            used.append(name)
        return str(parameters[name])

    return _PLACEHOLDER.sub(value, text), used


def miplib_nl_question(instance: Mapping[str, Any], data_dir: Path | None) -> str:
    """The text the model sees: the description, the scalar parameters and each table's schema.

    ``{name}`` slots of the published text (and of the file descriptions) that
    name a parameter are filled with its value (:func:`fill_placeholders`); the
    parameters are also listed. Tables are described (path within the data folder
    and upstream's description), never inlined; the data stay in the files. The
    agent adds its own section on the same files (columns, types, first rows), so
    this one is headed as the instance's own description of them, not a second
    "Data tables" section.
    """
    raw_params = instance.get("parameters") or {}
    params: Mapping[str, Any] = raw_params if isinstance(raw_params, Mapping) else {}
    text, _ = fill_placeholders(str(instance.get("abstract_problem", "")).strip(), params)
    lines = [text]
    if params:
        lines += ["", "Parameters:"]
        lines += [f"- {k} = {v}" for k, v in params.items()]
    files = instance.get("files") or {}
    if isinstance(files, Mapping) and files:
        lines += ["", "What each data file holds (the instance's own description of its files):"]
        for name, info in files.items():
            info = info if isinstance(info, Mapping) else {}
            rel = _data_relative(str(info.get("path", name)))
            desc, _ = fill_placeholders(str(info.get("description", "")).strip(), params)
            lines.append(f"- {rel} ({name}): {desc}" if desc else f"- {rel} ({name})")
    return "\n".join(lines).strip()


def miplib_nl_problem(
    record: Mapping[str, Any], dataset: str, metadata: Mapping[str, Any] | None = None
) -> Problem:
    """A MIPLIB-NL instance folder (``instance.json``, ``model.md``, ``data/``) as a Problem.

    ``Problem.data`` is the absolute path of the instance's ``data/`` folder
    when it exists (the agent then reads the tables from it); it is also kept
    in ``metadata["data_dir"]`` as before (absent for a packed record, which
    carries no tables, and for an instance without a ``data/`` folder), the tables in
    ``metadata["files"]`` (name → path within the data folder, description),
    listed tables missing on disk in ``metadata["missing_files"]`` (the instance
    then carries ``metadata["missing_data"]``, why it cannot be solved, and its
    label is flagged: see :attr:`~evals.problems.Problem.missing_data`), and
    ``model.md`` in ``metadata["reference_model"]``.
    """
    pid = str(record["problem"])
    where = f"{dataset}/{pid}"
    instance = _json_file(record, MIPLIB_NL_FILE, where)
    if not isinstance(instance, Mapping) or "abstract_problem" not in instance:
        raise DataFormatError(f"{where}: {MIPLIB_NL_FILE} has no abstract_problem")
    folder = Path(record["_folder"]) if record.get("_folder") else None
    data_dir = folder / "data" if folder is not None else None
    meta: dict[str, Any] = dict(metadata or {})
    files: dict[str, dict[str, str]] = {}
    for name, info in (instance.get("files") or {}).items():
        info = info if isinstance(info, Mapping) else {}
        files[str(name)] = {
            "path": _data_relative(str(info.get("path", name))),
            "description": str(info.get("description", "")),
        }
    meta["files"] = files
    meta["parameters"] = _plain(instance.get("parameters") or {})
    params = instance.get("parameters")
    if isinstance(params, Mapping):
        _, filled = fill_placeholders(str(instance.get("abstract_problem", "")), params)
        if filled:
            meta["placeholders_filled"] = filled
    answer = miplib_nl_answer(instance.get("optimal_value"))
    has_folder = data_dir is not None and data_dir.is_dir()
    if data_dir is not None:
        if has_folder:
            meta["data_dir"] = str(data_dir)
        missing = [f["path"] for f in files.values() if not (data_dir / f["path"]).is_file()]
        if missing:
            meta["missing_files"] = missing
            meta["missing_data"] = miplib_nl_missing_data(pid, missing, has_folder)
            answer = answer.model_copy(
                update={"flagged": True, "reason": f"missing data: {meta['missing_data']}"}
            )
    if "model.md" in record:
        meta["reference_model"] = record["model.md"]
    return Problem(
        id=pid,
        dataset=dataset,
        question=miplib_nl_question(instance, data_dir),
        answer=answer,
        metadata=meta,
        data=str(data_dir) if has_folder else None,
    )


def miplib_nl_missing_data(pid: str, missing: Sequence[str], has_folder: bool) -> str:
    """Why an instance cannot be solved as published: the tables its text lists are absent.

    ``optiwise data fetch`` skips a listed table that upstream does not have (ex1010-pi
    lists ``data/S1.csv`` but ships no ``data/`` folder), so a fetched mirror lacks
    exactly those; fetching again changes nothing.
    """
    shown = ", ".join(f"data/{m}" for m in missing[:3]) + (" …" if len(missing) > 3 else "")
    where = "" if has_folder else " and has no data/ folder"
    return (
        f"{pid} lists {shown} but the table(s) are not on disk{where}: upstream MIPLIB-NL "
        "ships no such tables for this instance (`optiwise data fetch` gets every table "
        "upstream has), so it cannot be solved as published; its label is flagged and left "
        "out of the unflagged accuracy"
    )


def read_miplib_nl(
    root: str | Path, names: Sequence[str] = (), dataset: str = "miplib_nl"
) -> list[Problem]:
    """Every instance folder under ``root`` (or the ``names`` given) as a Problem."""
    return [miplib_nl_problem(r, dataset) for r in read_folder_tree(Path(root), names)]


def _folder_problem(
    entry: DatasetEntry, record: Mapping[str, Any], extra: Mapping[str, Any]
) -> Problem:
    pid = str(record["problem"])
    where = f"{entry.name}/{pid}"
    if entry.question_file == MIPLIB_NL_FILE:
        return miplib_nl_problem(record, entry.name, _metadata(entry, {**extra, **record}))
    if entry.question_file not in record:
        raise DataFormatError(f"{where}: no {entry.question_file}")
    question = str(record[entry.question_file]).strip()
    metadata = _metadata(entry, {**extra, **record})
    if entry.append_sample_input and "sample.json" in record:
        samples = _json_file(record, "sample.json", where)
        sample = samples[0] if isinstance(samples, list) and samples else samples
        data = sample.get("input") if isinstance(sample, Mapping) else None
        if data is not None:
            question += "\n\nThe data of this instance (JSON):\n" + json.dumps(
                data, ensure_ascii=False
            )
            metadata["data_appended"] = True
    for name in ("model.txt", "gt_model.txt"):
        if name in record and "TODO" not in record[name][:200]:
            metadata["reference_model"] = record[name]
    if "problem_info.json" in record:
        metadata["reference_model"] = _json_file(record, "problem_info.json", where)
    if "parameters.json" in record:
        metadata["parameters"] = _json_file(record, "parameters.json", where)
    answer = _folder_answer(entry, record, where)
    return Problem(id=pid, dataset=entry.name, question=question, answer=answer, metadata=metadata)


def _record_answer(entry: DatasetEntry, record: Mapping[str, Any]) -> Answer:
    if entry.answer_encoding == "none":
        return unknown(None, "this dataset has no objective values", flagged=False)
    raw = _plain(record.get(entry.answer_field))
    if entry.answer_encoding == "results":
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                return unknown(raw, "results is not a JSON object")
        if not isinstance(raw, Mapping):
            return unknown(raw, "results is not a dict")
        return answer_from_results(raw)
    if entry.answer_field not in record:
        return unknown(None, f"record has no {entry.answer_field!r} field", flagged=False)
    return normalize_answer(raw)


def problems_from_records(
    entry: DatasetEntry,
    records: Iterable[Mapping[str, Any]],
    extra_metadata: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Problem]:
    """Turn raw records into problems with stable ids (duplicates are an error)."""
    extra_metadata = extra_metadata or {}
    problems: list[Problem] = []
    for index, record in enumerate(records):
        if entry.format == "folders":
            pid = str(record["problem"])
            problem = _folder_problem(entry, record, extra_metadata.get(pid, {}))
        else:
            if entry.format == "nl4opt":
                pid = str(record["_key"])
            elif entry.id_field:
                if entry.id_field not in record:
                    raise DataFormatError(f"{entry.name}: record {index} has no {entry.id_field!r}")
                pid = str(_plain(record[entry.id_field]))
            else:
                pid = str(index)
            if entry.question_field not in record:
                raise DataFormatError(
                    f"{entry.name}: record {index} has no {entry.question_field!r}"
                )
            metadata = _metadata(entry, {**extra_metadata.get(pid, {}), **record})
            if entry.format == "nl4opt":
                metadata["reference_formulation"] = {
                    "obj_declaration": _plain(record.get("obj_declaration")),
                    "const_declarations": _plain(record.get("const_declarations")),
                }
            problem = Problem(
                id=pid,
                dataset=entry.name,
                question=str(record[entry.question_field]).strip(),
                answer=_record_answer(entry, record),
                metadata=metadata,
            )
        if not all(k in problem.metadata for k in SIZE_KEYS):
            extra = extra_metadata.get(problem.id, {})
            sizes = size_metadata(problem.metadata, extra.get("details"), extra, record)
            if sizes:
                problem = problem.model_copy(update={"metadata": {**problem.metadata, **sizes}})
        problems.append(problem)
    seen: set[str] = set()
    for problem in problems:
        if problem.id in seen:
            raise DataFormatError(f"{entry.name}: duplicate problem id {problem.id!r}")
        seen.add(problem.id)
    return problems


def _aux_metadata(
    entry: DatasetEntry, main: Path, data_dir: str | Path | None
) -> dict[str, dict[str, Any]]:
    """Per-problem metadata from the entry's ``metadata`` aux file, when present."""
    merged: dict[str, dict[str, Any]] = {}
    for aux in entry.aux:
        if aux.role != "metadata":
            continue
        # Prefer the copy beside the main file (same mirror), then any data root.
        depth = len(Path(entry.local_path).parts)
        root = main.parents[depth - 1]
        path: Path | None = root / aux.local_path
        if path is None or not path.exists():
            path = locate_relative(aux.local_path, data_dir)
        if path is None:
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, dict):
                    merged.setdefault(str(key), {}).update(value)
    return merged


def load_entry(
    entry: DatasetEntry, path: Path, *, data_dir: str | Path | None = None
) -> list[Problem]:
    """Every problem of ``entry`` read from ``path``.

    A ``resolve_on_fetch`` entry (MIPLIB-NL's full release) is read only after its
    folders matched the lock its first fetch wrote (:mod:`evals.upstream_lock`):
    a changed, missing or extra file raises :class:`~evals.upstream_lock.LockError`.
    """
    if entry.resolve_on_fetch:
        from evals.upstream_lock import LockError, lock_path, read_lock, verify_against_lock

        lpath = lock_path(path)
        if not lpath.exists():
            raise LockError(
                f"{path}: no lock beside it ({lpath.name}), so its content cannot be checked; "
                f"run `optiwise data fetch {entry.name}` (it verifies or downloads, and locks)"
            )
        lock = read_lock(lpath)
        verify_against_lock(path, lock)
        records = read_folder_tree(path, lock.names)
        return problems_from_records(entry, records, _aux_metadata(entry, path, data_dir))
    records = read_records(entry, path)
    return problems_from_records(entry, records, _aux_metadata(entry, path, data_dir))


def load(
    dataset: str | DatasetEntry,
    *,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    registry: Registry | None = None,
) -> Dataset:
    """Load a registered variant (name, alias or entry) from the data folders.

    Labels that a fix log of the family (OptiMind's, see :mod:`evals.label_flags`)
    found wrong, underspecified or ambiguous come back ``flagged``, when the log
    is on disk (``optiwise data fetch`` gets it with the OptiMind variant).

    >>> ds = load("mamo_easy")                       # doctest: +SKIP
    >>> ds.name, len(ds), ds.problems[0].answer.kind  # doctest: +SKIP
    ('mamo_easy.sirl_fixed', 642, 'number')
    """
    entry = dataset if isinstance(dataset, DatasetEntry) else get(dataset, registry=registry)
    path = require(entry, data_dir)
    problems = load_entry(entry, path, data_dir=data_dir)
    logs = log_paths(entry.family, registry, data_dir)
    if logs:
        problems = apply_flags(problems, read_fix_logs(logs))
    if limit is not None:
        problems = problems[:limit]
    return Dataset(
        name=entry.name,
        family=entry.family,
        variant=entry.variant,
        problems=tuple(problems),
        entry=entry,
        source=path,
    )


def load_problems(
    dataset: str | DatasetEntry,
    *,
    data_dir: str | Path | None = None,
    limit: int | None = None,
) -> list[Problem]:
    """Just the problems of a registered variant (see :func:`load`)."""
    return list(load(dataset, data_dir=data_dir, limit=limit).problems)
