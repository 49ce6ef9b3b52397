"""Folder datasets pinned by a short upstream ref: resolved, listed and locked on first fetch.

Some releases are known only by a short commit (MIPLIB-NL's full release,
``optsuite/MIPLIB-NL`` at ``9f14ad1``, 223 instances) and their folder names
cannot be written into the registry offline.  Such an entry says
``resolve_on_fetch = true`` (see :class:`evals.registry.DatasetEntry`) and the
first ``optiwise data fetch`` does what a maintainer would do by hand:

1. resolve the short ref to the full commit through GitHub's API
   (``GET {api}/repos/{repo}/commits/{ref}``; the answer must start with the ref),
2. list ``{path}/`` at that commit (``GET {api}/repos/{repo}/contents/{path}?ref=…``)
   and check that it holds exactly ``count`` folders,
3. download every instance folder (the entry's ``files``, ``optional_files`` and the
   tables its ``tables_from`` JSON lists) from the raw base at the full commit,
4. write a **lock** beside the data (``<local_path>.lock.json``): the full commit,
   the folder names and, per instance, every file's sha256 and the instance's
   manifest hash (:func:`evals.fetch.manifest_sha256` over ``<instance>/<file>``
   lines), plus the manifest of the whole release — the hash to record in the
   registry, as for ``optmath.official``'s "sha256 recorded on first fetch".

Later fetches and every load verify the data against the lock: a file that
changed upstream (or on disk) fails loudly, naming the instance and file, and
nothing is saved.  The download goes through a staging folder beside the
destination (``.<name>.part``) in which each instance is renamed into place only
when complete, so a killed fetch resumes where it stopped (finished instances
are re-hashed against what was recorded when they were written, not fetched
again).  To start over from upstream, delete the lock.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.datadir import DataNotFoundError
from evals.fetch import (
    ChecksumError,
    FetchError,
    _download_bytes,
    manifest_sha256,
    raw_url,
    sha256_bytes,
    sha256_file,
    table_paths,
)
from evals.registry import DatasetEntry

__all__ = [
    "DEFAULT_API_BASE",
    "GITHUB_API_ENV",
    "LOCK_SUFFIX",
    "Lock",
    "LockError",
    "LockedFetch",
    "api_base_url",
    "fetch_locked",
    "instance_hashes",
    "is_current_locked",
    "list_folders",
    "lock_path",
    "read_lock",
    "resolve_commit",
    "verify_against_lock",
]

GITHUB_API_ENV = "OPTIWISE_GITHUB_API_URL"
DEFAULT_API_BASE = "https://api.github.com"
LOCK_SUFFIX = ".lock.json"
_PROGRESS = ".progress.json"

Log = Callable[[str], None]


class LockError(DataNotFoundError):
    """The data on disk are not what their lock recorded (or the lock is missing/unreadable)."""


@dataclass(frozen=True)
class Lock:
    """What the first fetch of a ``resolve_on_fetch`` entry pinned."""

    dataset: str
    repo: str
    ref: str
    commit: str
    path: str
    instances: dict[str, dict[str, str]]
    """Instance folder -> {file relative to the folder: sha256}."""
    manifest_sha256: str
    fetched_at: str = ""

    @property
    def names(self) -> list[str]:
        """The instance folders, sorted."""
        return sorted(self.instances)

    def instance_manifest(self, name: str) -> str:
        """The manifest hash of one instance (``<name>/<file> <sha256>`` lines)."""
        return _instance_manifest(name, self.instances[name])

    def to_json(self) -> dict[str, Any]:
        """The lock file's content."""
        return {
            "dataset": self.dataset,
            "repo": self.repo,
            "ref": self.ref,
            "commit": self.commit,
            "path": self.path,
            "count": len(self.instances),
            "fetched_at": self.fetched_at,
            "manifest_sha256": self.manifest_sha256,
            "instances": {
                name: {"manifest_sha256": self.instance_manifest(name), "files": files}
                for name, files in sorted(self.instances.items())
            },
        }


def _instance_manifest(name: str, files: Mapping[str, str]) -> str:
    return manifest_sha256({f"{name}/{rel}": digest for rel, digest in files.items()})


def _release_manifest(instances: Mapping[str, Mapping[str, str]]) -> str:
    """The same hash a registry ``manifest_sha256`` of a tree dataset holds."""
    return manifest_sha256(
        {f"{name}/{rel}": d for name, files in instances.items() for rel, d in files.items()}
    )


def lock_path(data_path: Path) -> Path:
    """Where the lock of a dataset stored at ``data_path`` lives (beside it)."""
    return data_path.with_name(data_path.name + LOCK_SUFFIX)


def read_lock(path: Path) -> Lock:
    """Read and check a lock file (its recorded manifests must match its file hashes)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        instances = {
            str(name): {str(k): str(v) for k, v in dict(info["files"]).items()}
            for name, info in dict(raw["instances"]).items()
        }
        lock = Lock(
            dataset=str(raw["dataset"]),
            repo=str(raw["repo"]),
            ref=str(raw["ref"]),
            commit=str(raw["commit"]),
            path=str(raw["path"]),
            instances=instances,
            manifest_sha256=str(raw["manifest_sha256"]),
            fetched_at=str(raw.get("fetched_at", "")),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LockError(
            f"{path}: not a readable lock ({exc}); delete it and run `optiwise data fetch` again"
        ) from exc
    if _release_manifest(lock.instances) != lock.manifest_sha256:
        raise LockError(f"{path}: its manifest does not match its own file hashes (edited?)")
    return lock


def _write_lock(path: Path, lock: Lock) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(lock.to_json(), out, indent=1, ensure_ascii=False)
            out.write("\n")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def instance_hashes(folder: Path) -> dict[str, str]:
    """{file relative to an instance folder: sha256}, subfolders included."""
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _difference(name: str, expected: Mapping[str, str], actual: Mapping[str, str]) -> str:
    changed = [f for f in expected if f in actual and actual[f] != expected[f]]
    missing = [f for f in expected if f not in actual]
    extra = [f for f in actual if f not in expected]
    parts = []
    if changed:
        parts.append("changed: " + ", ".join(f"{name}/{f}" for f in changed[:3]))
    if missing:
        parts.append("missing: " + ", ".join(f"{name}/{f}" for f in missing[:3]))
    if extra:
        parts.append("not in the lock: " + ", ".join(f"{name}/{f}" for f in extra[:3]))
    return "; ".join(parts)


def verify_against_lock(root: Path, lock: Lock, names: Sequence[str] | None = None) -> None:
    """Check the instance folders under ``root`` against ``lock`` (all, or ``names``).

    Raises :class:`LockError` naming the first instance and files that differ.
    """
    on_disk = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if names is None and on_disk != lock.names:
        gone = sorted(set(lock.names) - set(on_disk))
        extra = sorted(set(on_disk) - set(lock.names))
        raise LockError(
            f"{root}: the instance folders differ from the lock "
            f"(missing {gone[:5]}, not in the lock {extra[:5]}); run "
            f"`optiwise data fetch {lock.dataset}` to restore them"
        )
    for name in names if names is not None else lock.names:
        expected = lock.instances[name]
        actual = instance_hashes(root / name) if (root / name).is_dir() else {}
        if actual != expected:
            raise LockError(
                f"{root}: instance {name} differs from the lock ({_difference(name, expected, actual)}); "
                f"run `optiwise data fetch {lock.dataset} --force` to download it again "
                f"at {lock.commit[:12]}"
            )


# ----------------------------------------------------------------- GitHub's API


def api_base_url(api_url: str | None = None) -> str:
    """GitHub's API base: argument, ``$OPTIWISE_GITHUB_API_URL`` or ``https://api.github.com``."""
    return (api_url or os.environ.get(GITHUB_API_ENV) or DEFAULT_API_BASE).rstrip("/")


def _api_json(url: str, timeout: float) -> Any:
    try:
        data = _download_bytes(url, timeout, f"point ${GITHUB_API_ENV} at a mirror of GitHub's API")
    except FetchError as exc:
        if exc.status in (403, 429):
            raise FetchError(
                f"{exc}: GitHub's API refused (it allows 60 calls an hour without a token); "
                "try again later, nothing was saved",
                exc.status,
            ) from exc
        raise
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FetchError(f"{url}: not a JSON answer ({exc})") from exc


def resolve_commit(
    repo: str, ref: str, *, api_url: str | None = None, timeout: float = 60.0
) -> str:
    """The full 40-hex commit a short ``ref`` names (refused unless the answer starts with it)."""
    url = f"{api_base_url(api_url)}/repos/{repo}/commits/{urllib.parse.quote(ref)}"
    answer = _api_json(url, timeout)
    sha = str(answer.get("sha", "")) if isinstance(answer, Mapping) else ""
    if len(sha) != 40 or not sha.startswith(ref.lower()):
        raise FetchError(f"{url}: answered commit {sha!r}, which is not a full commit {ref}…")
    return sha


def list_folders(
    repo: str, path: str, commit: str, *, api_url: str | None = None, timeout: float = 60.0
) -> list[str]:
    """The folder names directly under ``path`` at ``commit`` (sorted)."""
    quoted = urllib.parse.quote(path.strip("/"))
    url = f"{api_base_url(api_url)}/repos/{repo}/contents/{quoted}?ref={commit}"
    answer = _api_json(url, timeout)
    if not isinstance(answer, list):
        raise FetchError(f"{url}: expected a folder listing, got {type(answer).__name__}")
    names = sorted(
        str(item["name"])
        for item in answer
        if isinstance(item, Mapping) and item.get("type") == "dir" and item.get("name")
    )
    bad = [n for n in names if n in (".", "..") or "/" in n or "\\" in n or n.startswith(".")]
    if bad:
        raise FetchError(f"{url}: unusable folder names {bad[:5]}; refused")
    return names


# ---------------------------------------------------------------------- fetching


def _download_instance(
    entry: DatasetEntry,
    commit: str,
    name: str,
    base_url: str | None,
    timeout: float,
    log: Log,
) -> dict[str, bytes]:
    """Every file of one instance: its fixed files, optional ones that exist, listed tables."""

    def get(rel: str, required: bool) -> bytes | None:
        url = raw_url(entry.repo, commit, f"{entry.path}/{name}/{rel}", base_url)
        try:
            return _download_bytes(url, timeout)
        except FetchError as exc:
            if required or exc.status != 404:
                raise
            return None

    got: dict[str, bytes] = {}
    for rel in entry.files:
        data = get(rel, True)
        assert data is not None
        got[rel] = data
    for rel in entry.optional_files:
        data = get(rel, False)
        if data is not None:
            got[rel] = data
    if entry.tables_from and entry.tables_from in got:
        missing = []
        for rel in table_paths(got[entry.tables_from], f"{entry.name}: {name}/{entry.tables_from}"):
            data = get(rel, False)
            if data is None:
                missing.append(rel)
            else:
                got[rel] = data
        if missing:
            log(
                f"{entry.name}: {name} lists {', '.join(missing[:3])} but upstream has none; skipped"
            )
    return got


def _write_instance(staging: Path, name: str, files: Mapping[str, bytes]) -> None:
    """Write one instance to ``staging/.name.tmp`` and rename it to ``staging/name``."""
    tmp = staging / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for rel, data in files.items():
        target = tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    tmp.mkdir(parents=True, exist_ok=True)
    final = staging / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


@dataclass
class LockedFetch:
    """What :func:`fetch_locked` did."""

    lock: Lock
    created: bool
    """True when this fetch resolved the ref and wrote the lock (first fetch)."""
    downloaded: int
    """Instances downloaded by this call (the rest were resumed from the staging folder)."""


def fetch_locked(
    entry: DatasetEntry,
    dest: Path,
    *,
    base_url: str | None = None,
    api_url: str | None = None,
    timeout: float = 60.0,
    workers: int = 8,
    log: Log | None = None,
) -> LockedFetch:
    """Download a ``resolve_on_fetch`` entry into ``dest`` (a folder) and lock it.

    With a lock beside ``dest`` the lock's commit and names are used and every
    instance must match its recorded hashes; without one the ref is resolved,
    the release listed and counted, and the lock written.  Nothing reaches
    ``dest`` unless every instance is complete (and matches its lock).
    """
    say = log or (lambda _msg: None)
    lpath = lock_path(dest)
    lock = read_lock(lpath) if lpath.exists() else None
    if lock is not None:
        commit, names = lock.commit, lock.names
        say(f"{entry.name}: using its lock ({len(names)} instances at {commit[:12]})")
    else:
        commit = resolve_commit(entry.repo, entry.commit, api_url=api_url, timeout=timeout)
        names = list_folders(entry.repo, entry.path, commit, api_url=api_url, timeout=timeout)
        say(f"{entry.name}: {entry.commit} is {commit}; {len(names)} folders under {entry.path}/")
        if len(names) != entry.count:
            raise FetchError(
                f"{entry.name}: {entry.repo}@{commit[:12]} {entry.path}/ holds {len(names)} "
                f"folders, the registry says {entry.count}; nothing was saved (check the ref "
                "in datasets/benchmarks.toml)"
            )
    staging = dest.parent / f".{dest.name}.part"
    staging.mkdir(parents=True, exist_ok=True)
    progress_file = staging / _PROGRESS
    progress: dict[str, Any] = {}
    if progress_file.exists():
        try:
            progress = json.loads(progress_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            progress = {}
    if progress.get("commit") != commit:
        shutil.rmtree(staging)
        staging.mkdir(parents=True)
        progress = {"commit": commit, "done": {}}
    done: dict[str, dict[str, str]] = dict(progress.get("done") or {})

    def expected_of(name: str) -> dict[str, str] | None:
        return lock.instances[name] if lock is not None else done.get(name)

    todo = []
    for name in names:
        want = expected_of(name)
        folder = staging / name
        if want is not None and folder.is_dir() and instance_hashes(folder) == want:
            done[name] = want
            continue
        todo.append(name)
    if len(todo) < len(names):
        say(f"{entry.name}: {len(names) - len(todo)} instance(s) already downloaded, resuming")

    guard = threading.Lock()

    def one(name: str) -> None:
        files = _download_instance(entry, commit, name, base_url, timeout, say)
        hashes = {rel: sha256_bytes(data) for rel, data in files.items()}
        if lock is not None and hashes != lock.instances[name]:
            raise ChecksumError(
                f"{entry.name} instance {name} ({_difference(name, lock.instances[name], hashes)})",
                lock.instance_manifest(name),
                _instance_manifest(name, hashes),
            )
        _write_instance(staging, name, files)
        with guard:  # recorded as soon as it is in place: a kill loses only instances in flight
            done[name] = hashes
            tmp = progress_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"commit": commit, "done": done}), encoding="utf-8")
            os.replace(tmp, progress_file)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(one, todo):
            pass
    instances = {name: done[name] for name in names}
    created = lock is None
    if lock is None:
        lock = Lock(
            dataset=entry.name,
            repo=entry.repo,
            ref=entry.commit,
            commit=commit,
            path=entry.path,
            instances=instances,
            manifest_sha256=_release_manifest(instances),
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        # The lock first: killed before the move, the next fetch resumes from staging against it.
        _write_lock(lpath, lock)
    progress_file.unlink(missing_ok=True)
    for leftover in staging.iterdir():
        if leftover.name.startswith("."):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(staging, dest)
    return LockedFetch(lock=lock, created=created, downloaded=len(todo))


def is_current_locked(path: Path) -> bool:
    """Whether a locked dataset at ``path`` is there and matches its lock."""
    lpath = lock_path(path)
    if not path.is_dir() or not lpath.exists():
        return False
    try:
        verify_against_lock(path, read_lock(lpath))
    except LockError:
        return False
    return True
