"""Where benchmark files live, and downloading them with a hash check.

Where data are looked up (``--data-dir`` / ``$OPTIWISE_DATA_DIR``, then the
user cache) is decided in :mod:`evals.datadir`.  ``optiwise data fetch NAME``
fills the cache (or ``--data-dir``) from
``https://raw.githubusercontent.com/{repo}/{commit}/{path}`` (the base URL can
be changed with ``$OPTIWISE_RAW_BASE_URL``, e.g. to a local mirror).

Every download is written to a temporary file next to its destination and
renamed only after its sha256 matched the registry, so a failed or
interrupted fetch leaves nothing half-written behind.  Per-problem folder
datasets are fetched file by file, checked against their manifest hash and
stored packed (one JSONL record per folder), the layout a mirror folder has too;
``layout = "tree"`` datasets (MIPLIB-NL: ``instance.json`` + ``data/*.csv`` per
instance) keep their folders, tables included, written to a temporary folder
that is renamed into place only after the manifest matched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from evals.datadir import (
    CACHE_ENV,
    DATA_DIR_ENV,
    DataNotFoundError,
    cache_dir,
    data_roots,
    locate,
    locate_relative,
    require,
)
from evals.registry import AuxFile, DatasetEntry

# Lookup lives in evals.datadir; its names stay importable from here, where
# callers found them before it existed.
__all__ = [
    "CACHE_ENV",
    "DATA_DIR_ENV",
    "DEFAULT_RAW_BASE",
    "RAW_BASE_ENV",
    "ChecksumError",
    "DataNotFoundError",
    "FetchError",
    "FetchReport",
    "cache_dir",
    "data_roots",
    "fetch",
    "fetch_file",
    "folder_file_hashes",
    "locate",
    "locate_relative",
    "manifest_sha256",
    "packed_file_hashes",
    "raw_base_url",
    "raw_url",
    "require",
    "sha256_bytes",
    "sha256_file",
    "table_paths",
    "tree_file_hashes",
]

RAW_BASE_ENV = "OPTIWISE_RAW_BASE_URL"
DEFAULT_RAW_BASE = "https://raw.githubusercontent.com"

Log = Callable[[str], None]


class FetchError(RuntimeError):
    """A download failed (HTTP error, unreachable host, undecodable file)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status when the server answered with an error (404: no such file)."""


class ChecksumError(FetchError):
    """A downloaded file's sha256 differs from the one in the registry."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"sha256 mismatch for {what}: expected {expected}, got {actual}. Nothing was "
            "saved. The upstream file changed or the download was altered; check the commit "
            "in datasets/benchmarks.toml before updating its hash."
        )


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_sha256(file_hashes: Mapping[str, str]) -> str:
    """Hash of a folder dataset: sha256 over sorted ``"<relpath> <sha256>\\n"`` lines.

    ``relpath`` is ``<problem folder>/<file name>`` with forward slashes.
    """
    lines = "".join(f"{rel} {file_hashes[rel]}\n" for rel in sorted(file_hashes))
    return sha256_bytes(lines.encode("utf-8"))


def packed_file_hashes(path: Path) -> dict[str, str]:
    """Per-file hashes of a packed folder dataset (values re-encoded as UTF-8)."""
    hashes: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        problem = record["problem"]
        for name, text in record.items():
            if name != "problem":
                hashes[f"{problem}/{name}"] = sha256_bytes(str(text).encode("utf-8"))
    return hashes


def folder_file_hashes(root: Path) -> dict[str, str]:
    """Per-file hashes of an unpacked per-problem folder tree."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.glob("*/*"))
        if p.is_file()
    }


def tree_file_hashes(root: Path) -> dict[str, str]:
    """Per-file hashes of a ``tree`` folder dataset, subfolders included (``p/data/x.csv``)."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.glob("*/**/*"))
        if p.is_file()
    }


def table_paths(listing: bytes, where: str) -> list[str]:
    """The files a ``tables_from`` JSON lists (``files.<name>.path``), relative to the folder.

    ``"./data/x.csv"`` → ``"data/x.csv"``. A path that is absolute or climbs out
    of the folder (``..``) is refused: upstream text never decides where we write.
    """
    try:
        data = json.loads(listing.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FetchError(f"{where}: not a JSON file ({exc})") from exc
    files = data.get("files") if isinstance(data, Mapping) else None
    paths: list[str] = []
    for name, info in (files or {}).items() if isinstance(files, Mapping) else ():
        raw = str(info.get("path", name) if isinstance(info, Mapping) else name)
        rel = PurePosixPath(raw.replace("\\", "/"))
        parts = [part for part in rel.parts if part not in (".", "")]
        if rel.is_absolute() or ".." in parts or not parts:
            raise FetchError(
                f"{where}: table {name!r} has path {raw!r}, outside the problem folder; refused"
            )
        path = "/".join(parts)
        if path not in paths:
            paths.append(path)
    return paths


def raw_base_url(base_url: str | None = None) -> str:
    """The raw-file base URL: argument, ``$OPTIWISE_RAW_BASE_URL`` or GitHub's."""
    return (base_url or os.environ.get(RAW_BASE_ENV) or DEFAULT_RAW_BASE).rstrip("/")


def raw_url(repo: str, commit: str, path: str, base_url: str | None = None) -> str:
    """``{base}/{repo}/{commit}/{path}`` with the path quoted."""
    return f"{raw_base_url(base_url)}/{repo}/{commit}/{urllib.parse.quote(path)}"


@dataclass
class FetchReport:
    """What a fetch did: files written, skipped, and hashes that could not be checked."""

    name: str
    destination: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    unverified: dict[str, str] = field(default_factory=dict)


def _open(url: str, timeout: float, way_out: str = "use --base-url") -> Any:
    request = urllib.request.Request(url, headers={"User-Agent": "optiwise-data-fetch"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}", exc.code) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(_unreachable_message(url, exc, way_out)) from exc


def _unreachable_message(url: str, exc: BaseException, way_out: str = "use --base-url") -> str:
    """What to tell a user whose download could not connect (no network, DNS, refused)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or url
    reason = getattr(exc, "reason", None) or exc
    return (
        f"cannot reach {host} (no network?): {reason} (fetching {parts.path or url}); "
        f"set {DATA_DIR_ENV} to a mirror or {way_out}"
    )


def _download_bytes(url: str, timeout: float, way_out: str = "use --base-url") -> bytes:
    with _open(url, timeout, way_out) as response:
        data: bytes = response.read()
        return data


def _atomic_write(dest: Path, chunks: Iterable[bytes], expected: str | None, what: str) -> str:
    """Write chunks to a temp file beside ``dest``; rename only if the hash matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if expected is not None and actual != expected:
            raise ChecksumError(what, expected, actual)
        os.replace(tmp, dest)
        return actual
    finally:
        tmp.unlink(missing_ok=True)


def _stream(url: str, timeout: float) -> Iterable[bytes]:
    with _open(url, timeout) as response:
        while chunk := response.read(1 << 16):
            yield chunk


def fetch_file(url: str, dest: Path, expected: str | None, *, timeout: float = 60.0) -> str:
    """Download one file to ``dest`` atomically; returns its sha256."""
    return _atomic_write(dest, _stream(url, timeout), expected, url)


def _fetch_folders(
    entry: DatasetEntry, dest: Path, base_url: str | None, timeout: float, workers: int
) -> str:
    """Download every problem folder, verify the manifest, write the packed JSONL."""
    jobs = [(p, f, True) for p in entry.problems for f in entry.files]
    jobs += [(p, f, False) for p in entry.problems for f in entry.optional_files]

    def get(job: tuple[str, str, bool]) -> tuple[str, str, bytes | None]:
        problem, name, required = job
        url = raw_url(entry.repo, entry.commit, f"{entry.path}/{problem}/{name}", base_url)
        try:
            return problem, name, _download_bytes(url, timeout)
        except FetchError:
            if required:
                raise
            return problem, name, None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        got = list(pool.map(get, jobs))
    contents: dict[str, dict[str, str]] = {p: {} for p in entry.problems}
    hashes: dict[str, str] = {}
    for problem, name, data in got:
        if data is None:
            continue
        try:
            contents[problem][name] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FetchError(f"{entry.name}: {problem}/{name} is not UTF-8 text") from exc
        hashes[f"{problem}/{name}"] = sha256_bytes(data)
    actual = manifest_sha256(hashes)
    if entry.manifest_sha256 is not None and actual != entry.manifest_sha256:
        raise ChecksumError(f"{entry.name} (manifest)", entry.manifest_sha256, actual)
    lines = [
        json.dumps({"problem": p, **dict(sorted(contents[p].items()))}, ensure_ascii=False) + "\n"
        for p in entry.problems
    ]
    _atomic_write(dest, [line.encode("utf-8") for line in lines], None, str(dest))
    return actual


def _fetch_tree(
    entry: DatasetEntry,
    dest: Path,
    base_url: str | None,
    timeout: float,
    workers: int,
    log: Log,
) -> str:
    """Download every problem folder with its tables into ``dest`` (a folder), verified."""

    def get(job: tuple[str, str, bool]) -> tuple[str, str, bytes | None]:
        problem, name, required = job
        url = raw_url(entry.repo, entry.commit, f"{entry.path}/{problem}/{name}", base_url)
        try:
            return problem, name, _download_bytes(url, timeout)
        except FetchError as exc:
            if required or exc.status != 404:
                raise
            return problem, name, None

    jobs = [(p, f, True) for p in entry.problems for f in entry.files]
    jobs += [(p, f, False) for p in entry.problems for f in entry.optional_files]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        got = list(pool.map(get, jobs))
        if entry.tables_from:
            listed = [
                (p, rel, False)
                for p, name, data in got
                if name == entry.tables_from and data is not None
                for rel in table_paths(data, f"{entry.name}: {p}/{name}")
            ]
            got += list(pool.map(get, listed))
            missing = [f"{p}/{rel}" for p, rel, data in got[len(jobs) :] if data is None]
            if missing:
                log(
                    f"{entry.name}: {len(missing)} listed table(s) not upstream, skipped: "
                    + ", ".join(missing[:5])
                    + (" …" if len(missing) > 5 else "")
                )
    hashes = {f"{p}/{name}": sha256_bytes(data) for p, name, data in got if data is not None}
    actual = manifest_sha256(hashes)
    if entry.manifest_sha256 is not None and actual != entry.manifest_sha256:
        raise ChecksumError(f"{entry.name} (manifest)", entry.manifest_sha256, actual)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part"))
    try:
        for problem, name, data in got:
            if data is None:
                continue
            target = tmp / problem / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return actual


def _fetch_resolved(
    entry: DatasetEntry,
    dest: Path,
    report: FetchReport,
    base_url: str | None,
    api_url: str | None,
    timeout: float,
    workers: int,
    say: Log,
) -> None:
    """Fetch a ``resolve_on_fetch`` entry; on its first fetch, report the hash to record."""
    from evals.upstream_lock import LockError, fetch_locked, lock_path

    say(
        f"{entry.name}: downloading {entry.count} instance folders from {entry.repo}@{entry.commit}"
    )
    try:
        done = fetch_locked(
            entry,
            dest,
            base_url=base_url,
            api_url=api_url,
            timeout=timeout,
            workers=workers,
            log=say,
        )
    except LockError as exc:
        raise FetchError(str(exc)) from exc
    report.written.append(dest)
    lock = done.lock
    if done.created:
        report.unverified[entry.local_path] = lock.manifest_sha256
        say(
            f"WARNING {entry.local_path}: the registry pins only {entry.commit}, so this first "
            f"download was NOT checked against a recorded hash. Resolved to {lock.commit}; "
            f"{len(lock.names)} instances; manifest {lock.manifest_sha256}. Locked in "
            f"{lock_path(dest)}: later fetches and loads verify against it (to pin the release "
            "in datasets/benchmarks.toml, record the commit, the names and this manifest)"
        )
    else:
        say(f"{entry.local_path}: verified against its lock ({lock.commit[:12]})")


def _is_current(path: Path, expected: str | None, entry: DatasetEntry | None = None) -> bool:
    if not path.exists():
        return False
    if entry is not None and entry.resolve_on_fetch:
        from evals.upstream_lock import is_current_locked

        return is_current_locked(path)
    if entry is not None and entry.is_folder and entry.layout == "tree":
        if entry.manifest_sha256 is None or not path.is_dir():
            return False
        return manifest_sha256(tree_file_hashes(path)) == entry.manifest_sha256
    if entry is not None and entry.is_folder:
        if entry.manifest_sha256 is None or path.is_dir():
            return False
        return manifest_sha256(packed_file_hashes(path)) == entry.manifest_sha256
    return expected is not None and sha256_file(path) == expected


def fetch(
    entry: DatasetEntry,
    *,
    data_dir: str | Path | None = None,
    base_url: str | None = None,
    force: bool = False,
    timeout: float = 60.0,
    workers: int = 8,
    log: Log | None = None,
    api_url: str | None = None,
) -> FetchReport:
    """Download a registered variant (and its auxiliary files) into a data folder.

    The destination is ``data_dir`` if given, else the user cache; files land
    at the same relative paths as in a mirror folder.  A file already there
    with the right hash is kept; so is one already in the ``$OPTIWISE_DATA_DIR``
    mirror when no ``data_dir`` is given (the loaders read it from there).  An entry whose sha256 is unknown is saved
    with a warning (reported in ``unverified`` with the computed hash).  An entry
    with ``resolve_on_fetch`` is resolved, listed and locked on its first fetch
    and verified against its lock afterwards (:mod:`evals.upstream_lock`;
    ``api_url`` or ``$OPTIWISE_GITHUB_API_URL`` replaces GitHub's API).
    """
    say = log or (lambda _msg: None)
    root = Path(data_dir).expanduser() if data_dir is not None else cache_dir()
    report = FetchReport(name=entry.name, destination=root)
    env_mirror = os.environ.get(DATA_DIR_ENV) if data_dir is None else None
    mirror = Path(env_mirror).expanduser() if env_mirror else None
    targets: list[tuple[str, str, str | None, AuxFile | None]] = [
        (entry.path, entry.local_path, entry.sha256, None)
    ]
    targets += [(aux.path, aux.local_path, aux.sha256, aux) for aux in entry.aux]
    for upstream, local, expected, aux in targets:
        dest = root / local
        main_entry = entry if aux is None else None
        if not force and _is_current(dest, expected, main_entry):
            report.skipped.append(dest)
            say(f"{local}: already present, hash verified")
            continue
        if not force and mirror is not None and _is_current(mirror / local, expected, main_entry):
            report.skipped.append(mirror / local)
            say(f"{local}: already present in ${DATA_DIR_ENV} ({mirror}), hash verified")
            continue
        if aux is None and entry.resolve_on_fetch:
            _fetch_resolved(entry, dest, report, base_url, api_url, timeout, workers, say)
            continue
        if aux is None and entry.is_folder:
            n = len(entry.problems)
            say(
                f"{entry.name}: downloading {n} problem folders from {entry.repo}@{entry.commit[:12]}"
            )
            if entry.layout == "tree":
                digest = _fetch_tree(entry, dest, base_url, timeout, workers, say)
            else:
                digest = _fetch_folders(entry, dest, base_url, timeout, workers)
            known = entry.manifest_sha256
        else:
            url = raw_url(entry.repo, entry.commit, upstream, base_url)
            say(f"{local}: downloading {url}")
            digest = fetch_file(url, dest, expected, timeout=timeout)
            known = expected
        if known is None:
            report.unverified[local] = digest
            say(
                f"WARNING {local}: no sha256 recorded in the registry, so it was NOT verified; "
                f"computed {digest} (record it in datasets/benchmarks.toml)"
            )
        report.written.append(dest)
    if (
        mirror is not None
        and report.skipped
        and all(p.is_relative_to(mirror) for p in report.skipped)
        and not report.written
    ):
        report.destination = mirror
    return report
