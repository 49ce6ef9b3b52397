"""The benchmark registry: every public benchmark variant and where it lives.

``datasets/benchmarks.toml`` lists each variant with its upstream repository,
pinned commit, path(s), license, problem count and sha256, plus how to read
it (format, which fields hold question, answer and id).  This module loads
that file into pydantic models and resolves short aliases (``nl4opt``) to the
variant judged best (see ``datasets/README.md`` for the reasons).  The file
ships as package data (``modeling/_data/benchmarks.toml``) and is read through
:mod:`importlib.resources`, so an installed wheel finds it too; where the
data of a variant are on disk is :mod:`evals.datadir`'s concern.

>>> from evals.registry import get
>>> get("mamo_easy").name
'mamo_easy.sirl_fixed'
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evals.datadir import locate

REGISTRY_ENV = "OPTIWISE_REGISTRY"

Format = Literal["json", "jsonl", "csv", "parquet", "nl4opt", "folders"]
AnswerEncoding = Literal["value", "results", "status_obj", "samples", "solution", "none"]


def packaged_registry() -> Traversable:
    """The registry shipped with optiwise (``datasets/benchmarks.toml`` in a checkout)."""
    return files("modeling").joinpath("_data", "benchmarks.toml")


def default_registry_path() -> Path | Traversable:
    """``$OPTIWISE_REGISTRY``, else the packaged :func:`packaged_registry`."""
    env = os.environ.get(REGISTRY_ENV)
    return Path(env) if env else packaged_registry()


class UnknownDatasetError(KeyError):
    """A name that is neither a registered variant nor an alias."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        family = name.split(".")[0]
        close = [k for k in known if k == family or k.startswith(f"{family}.")][:12]
        hint = f" Did you mean one of: {', '.join(close)}?" if close else ""
        super().__init__(
            f"unknown dataset {name!r}.{hint} Run `optiwise data list` to see every name."
        )

    def __str__(self) -> str:
        return str(self.args[0])


class AuxFile(BaseModel):
    """A file that travels with a variant (metadata, correction lists, fix logs)."""

    model_config = ConfigDict(frozen=True)

    role: Literal["metadata", "corrections", "log", "other"]
    path: str
    local_path: str
    sha256: str | None = None
    description: str = ""


_RANGE_RE = re.compile(r"^(?P<pre>.*)\{(?P<a>\d+)\.\.(?P<b>\d+)\}(?P<suf>.*)$")


def expand_names(patterns: list[str]) -> list[str]:
    """Expand ``prob_{000..003}`` style ranges (zero padding kept) into names.

    Per-problem folder lists are long; ranges keep the TOML readable.
    """
    names: list[str] = []
    for pattern in patterns:
        match = _RANGE_RE.match(pattern)
        if match is None:
            names.append(pattern)
            continue
        a, b = match["a"], match["b"]
        width = len(a) if a.startswith("0") and len(a) > 1 else 0
        for i in range(int(a), int(b) + 1):
            names.append(f"{match['pre']}{str(i).zfill(width)}{match['suf']}")
    return names


class DatasetEntry(BaseModel):
    """One benchmark variant, e.g. ``mamo_easy.sirl_fixed``.

    ``path`` is the file (or, for ``format = "folders"``, the folder of
    per-problem directories) in the upstream repository at ``commit``;
    ``local_path`` is where it sits under a data folder (a mirror given by
    ``$OPTIWISE_DATA_DIR``, or the user cache ``optiwise data fetch`` fills; see
    :mod:`evals.datadir`).  Per-problem folders are stored as one packed
    JSONL: one record per folder, keys = file names.  ``sha256`` is the
    file's hash, ``manifest_sha256`` the hash over ``"<folder>/<file> <sha256>"``
    lines of a folder dataset; either may be None when unknown.
    ``mirror_sha256`` is the hash of the mirror's own file where it is not a
    byte copy of upstream (packed folders; ORLM result files of which only the
    benchmark fields were kept).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    family: str
    variant: str
    title: str
    split: Literal["test", "dev", "validation"] = "test"
    repo: str
    commit: str
    path: str
    local_path: str
    format: Format
    license: str
    count: int
    sha256: str | None = None
    manifest_sha256: str | None = None
    mirror_sha256: str | None = None
    # How to read records.
    question_field: str = "en_question"
    answer_field: str = "en_answer"
    id_field: str | None = None
    answer_encoding: AnswerEncoding = "value"
    metadata_fields: dict[str, str] = Field(default_factory=dict)
    # Per-problem folders.
    problems: list[str] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    optional_files: list[str] = Field(default_factory=list)
    question_file: str = ""
    answer_file: str = ""
    append_sample_input: bool = False
    layout: Literal["packed", "tree"] = "packed"
    """How a folder dataset is stored under a data folder: ``packed`` (one JSONL
    record per folder) or ``tree`` (the upstream folders as they are, with
    subfolders such as MIPLIB-NL's ``data/`` tables; ``local_path`` is then a folder)."""
    tables_from: str = ""
    """For ``tree`` datasets: the JSON file in each problem folder whose ``files``
    mapping lists more files to fetch (``{name: {"path": "./data/x.csv"}}``, as
    MIPLIB-NL's ``instance.json``); a listed file upstream does not have is skipped."""
    resolve_on_fetch: bool = False
    """``commit`` is a short upstream ref and ``problems`` is left empty: the first
    ``optiwise data fetch`` resolves the ref to the full commit through GitHub's API,
    lists ``path``, checks that it holds ``count`` folders and writes a lock beside the
    data (full commit, names, per-instance manifest hashes) that later fetches and loads
    verify against (:mod:`evals.upstream_lock`). Only for ``tree`` folder datasets whose
    names and full commit could not be written down (MIPLIB-NL's full release)."""
    aux: list[AuxFile] = Field(default_factory=list)
    notes: str = ""

    @field_validator("problems")
    @classmethod
    def _expand(cls, value: list[str]) -> list[str]:
        return expand_names(value)

    @model_validator(mode="after")
    def _check(self) -> DatasetEntry:
        if self.name != f"{self.family}.{self.variant}":
            raise ValueError(f"name {self.name!r} must be '{self.family}.{self.variant}'")
        if self.resolve_on_fetch:
            if self.format != "folders" or self.layout != "tree":
                raise ValueError(f"{self.name}: resolve_on_fetch needs a 'tree' folder dataset")
            if not re.fullmatch(r"[0-9a-f]{7,40}", self.commit):
                raise ValueError(f"{self.name}: commit {self.commit!r} is not a hex commit ref")
            if self.problems or self.manifest_sha256 is not None:
                raise ValueError(
                    f"{self.name}: with resolve_on_fetch the names and the manifest come from "
                    "the lock the first fetch writes; list no problems and no manifest_sha256"
                )
        if self.format == "folders" and not self.resolve_on_fetch:
            if len(self.problems) != self.count:
                raise ValueError(
                    f"{self.name}: {len(self.problems)} problem folders listed, count={self.count}"
                )
        if self.format == "folders":
            if not self.question_file or not self.answer_file:
                raise ValueError(f"{self.name}: folders need question_file and answer_file")
        elif self.layout == "tree" or self.tables_from:
            raise ValueError(f"{self.name}: layout 'tree' and tables_from need format 'folders'")
        for digest in (self.sha256, self.manifest_sha256, self.mirror_sha256):
            if digest is not None and not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"{self.name}: not a sha256 hex digest: {digest!r}")
        return self

    @property
    def is_folder(self) -> bool:
        """True for per-problem folder datasets (verified by a manifest hash)."""
        return self.format == "folders"

    @property
    def hash_known(self) -> bool:
        """Whether fetch can verify this entry's download (a locked entry: once its lock exists)."""
        return (self.manifest_sha256 if self.is_folder else self.sha256) is not None

    @property
    def raw_url_path(self) -> str:
        """``{repo}/{commit}/{path}``: the tail of a raw.githubusercontent.com URL."""
        return f"{self.repo}/{self.commit}/{self.path}"


class Alias(BaseModel):
    """A short name and the variant it stands for, with the reason."""

    model_config = ConfigDict(frozen=True)

    name: str
    target: str
    reason: str


class Registry(BaseModel):
    """Every registered variant, by name, and the aliases."""

    model_config = ConfigDict(frozen=True)

    entries: dict[str, DatasetEntry]
    aliases: dict[str, Alias]

    def get(self, name: str) -> DatasetEntry:
        """The entry for a variant name or an alias."""
        key = name.strip()
        if key in self.aliases:
            key = self.aliases[key].target
        try:
            return self.entries[key]
        except KeyError:
            raise UnknownDatasetError(name, self.names()) from None

    def names(self) -> list[str]:
        """Every variant name and alias, sorted."""
        return sorted([*self.entries, *self.aliases])

    def alias_of(self, name: str) -> list[str]:
        """The aliases that point at a variant."""
        return sorted(a.name for a in self.aliases.values() if a.target == name)


def parse_registry(text: str) -> Registry:
    """Build a :class:`Registry` from TOML text (``[[dataset]]`` and ``[aliases.*]``)."""
    data = tomllib.loads(text)
    entries: dict[str, DatasetEntry] = {}
    for raw in data.get("dataset", []):
        entry = DatasetEntry.model_validate(raw)
        if entry.name in entries:
            raise ValueError(f"dataset {entry.name!r} is registered twice")
        entries[entry.name] = entry
    aliases: dict[str, Alias] = {}
    for name, raw in data.get("aliases", {}).items():
        alias = Alias(name=name, **raw)
        if alias.target not in entries:
            raise ValueError(f"alias {name!r} points at unknown dataset {alias.target!r}")
        if name in entries:
            raise ValueError(f"alias {name!r} shadows a dataset name")
        aliases[name] = alias
    return Registry(entries=entries, aliases=aliases)


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int) -> Registry:
    return parse_registry(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _load_packaged() -> Registry:
    return parse_registry(packaged_registry().read_text(encoding="utf-8"))


def load_registry(path: str | Path | None = None) -> Registry:
    """Load (and cache, until the file changes) the registry TOML.

    ``path`` (or ``$OPTIWISE_REGISTRY``) reads another registry file, as the
    tests do with small toy registries; the default is the packaged one.
    """
    target = default_registry_path() if path is None else Path(path)
    if not isinstance(target, Path):
        return _load_packaged()
    try:
        mtime_ns = target.stat().st_mtime_ns
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{target}: no registry file here (check ${REGISTRY_ENV} or the path given)"
        ) from None
    return _load_cached(str(target), mtime_ns)


def get(name: str, *, registry: Registry | None = None) -> DatasetEntry:
    """The registered variant for a name or alias (``nl4opt`` → ``nl4opt.sirl``)."""
    return (registry or load_registry()).get(name)


def is_present(
    name: str, *, data_dir: str | Path | None = None, registry: Registry | None = None
) -> bool:
    """Whether a variant's data are in a data folder (mirror or cache)."""
    return locate(get(name, registry=registry), data_dir) is not None


def list_datasets(*, registry: Registry | None = None) -> list[DatasetEntry]:
    """Every registered variant, sorted by name."""
    reg = registry or load_registry()
    return [reg.entries[name] for name in sorted(reg.entries)]
