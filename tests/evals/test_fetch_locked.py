"""A release pinned by a short ref (``resolve_on_fetch``, as ``miplib_nl.full``) against a
loopback fake of GitHub serving 3 instances of the dev mirror: the first fetch resolves the
ref, lists the release, downloads it and locks it; later fetches and loads verify against the
lock; a changed file is refused; a killed fetch resumes."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support import benchmark_mirror

from evals import cli
from evals.fetch import ChecksumError, FetchError, fetch, manifest_sha256, tree_file_hashes
from evals.loaders import load
from evals.registry import DatasetEntry, get
from evals.upstream_lock import LockError, lock_path, read_lock

REPO = "someone/miplib-nl"
FULL = "9f14ad1" + "0123456789abcdef0123456789abcdef0"
NAMES = ["ex1010-pi", "noswot", "ran13x13"]  # ex1010-pi lists a table upstream does not ship

pytestmark = pytest.mark.needs_data("miplib_nl.dev")


class FakeGitHub:
    """GitHub's commits and contents API plus raw files, from an in-memory tree."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files  # "<instance>/<relpath>" -> bytes
        self.requests: list[str] = []
        self.fail: set[str] = set()  # raw paths answered with HTTP 500 (a fetch killed there)
        self.extra_dirs: list[str] = []
        self.api_status = 200  # 403: the API's rate limit
        self.hold: dict[str, threading.Event] = {}  # raw paths answered only once the event is set

    def answer(self, path: str) -> tuple[int, bytes]:
        parts = urllib.parse.urlsplit(path)
        route = urllib.parse.unquote(parts.path)
        query = urllib.parse.parse_qs(parts.query)
        if route.startswith("/api/") and self.api_status != 200:
            return self.api_status, b'{"message": "API rate limit exceeded"}'
        if route.startswith(f"/api/repos/{REPO}/commits/"):
            ref = route.rsplit("/", 1)[1]
            if FULL.startswith(ref):
                return 200, json.dumps({"sha": FULL, "commit": {"message": "x"}}).encode()
            return 404, b'{"message": "No commit found"}'
        if route == f"/api/repos/{REPO}/contents/dataset":
            if query.get("ref") != [FULL]:
                return 404, b'{"message": "Not Found"}'
            names = sorted({k.split("/")[0] for k in self.files} | set(self.extra_dirs))
            listing = [{"name": n, "type": "dir", "path": f"dataset/{n}"} for n in names]
            listing.append({"name": "README.md", "type": "file", "path": "dataset/README.md"})
            return 200, json.dumps(listing).encode()
        prefix = f"/raw/{REPO}/{FULL}/dataset/"
        if route.startswith(prefix):
            rel = route[len(prefix) :]
            if rel in self.fail:
                return 500, b"boom"
            if rel in self.hold:
                self.hold[rel].wait(30)
            if rel in self.files:
                return 200, self.files[rel]
        return 404, b"404: Not Found"


@pytest.fixture()
def github() -> Iterator[tuple[FakeGitHub, str]]:
    root = benchmark_mirror() / "miplib_nl" / "dev"
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for name in NAMES
        for p in sorted((root / name).rglob("*"))
        if p.is_file()
    }
    fake = FakeGitHub(files)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            fake.requests.append(self.path)
            status, body = fake.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTIWISE_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("OPTIWISE_RAW_BASE_URL", "OPTIWISE_GITHUB_API_URL", "OPTIWISE_REGISTRY"):
        monkeypatch.delenv(name, raising=False)


def entry(count: int = 3) -> DatasetEntry:
    """The registered miplib_nl.full entry, aimed at the fake repository with 3 instances."""
    return get("miplib_nl.full").model_copy(update={"repo": REPO, "count": count})


def do_fetch(base: str, data_dir: Path, **kwargs: Any) -> Any:
    messages: list[str] = []
    report = fetch(
        entry(kwargs.pop("count", 3)),
        data_dir=data_dir,
        base_url=f"{base}/raw",
        api_url=f"{base}/api",
        timeout=10,
        workers=2,
        log=messages.append,
        **kwargs,
    )
    return report, messages


def raw_requests(fake: FakeGitHub) -> list[str]:
    return [r for r in fake.requests if r.startswith("/raw/")]


def test_the_registered_full_release_is_a_short_ref_resolved_on_first_fetch() -> None:
    full = get("miplib_nl.full")
    assert (full.repo, full.commit, full.count) == ("optsuite/MIPLIB-NL", "9f14ad1", 223)
    assert full.resolve_on_fetch and not full.problems and not full.hash_known
    assert full.license == "CC-BY-SA-4.0" and full.local_path == "miplib_nl/full"
    dev = get("miplib_nl.dev")
    assert (full.files, full.optional_files, full.tables_from) == (
        dev.files,
        dev.optional_files,
        dev.tables_from,
    )


def test_first_fetch_resolves_lists_downloads_and_locks(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, base = github
    report, messages = do_fetch(base, tmp_path / "data")
    dest = tmp_path / "data" / "miplib_nl" / "full"
    assert report.written == [dest]
    assert sorted(p.name for p in dest.iterdir()) == NAMES
    # byte-identical to the instances served (the dev mirror's), tables included
    mirror = benchmark_mirror() / "miplib_nl" / "dev"
    for name in NAMES:
        ours = {p.relative_to(dest).as_posix() for p in (dest / name).rglob("*") if p.is_file()}
        theirs = {p.relative_to(mirror).as_posix() for p in (mirror / name).rglob("*")}
        assert ours == {t for t in theirs if (mirror / t).is_file()}
    lock = read_lock(lock_path(dest))
    assert (lock.commit, lock.ref, lock.names) == (FULL, "9f14ad1", NAMES)
    served = {k: v for k, v in tree_file_hashes(mirror).items() if k.split("/")[0] in NAMES}
    assert lock.manifest_sha256 == manifest_sha256(served)
    noswot = {k: v for k, v in served.items() if k.startswith("noswot/")}
    assert lock.instance_manifest("noswot") == manifest_sha256(noswot)
    # the hash to record is reported like any unknown sha256, and said in words
    assert report.unverified == {"miplib_nl/full": lock.manifest_sha256}
    warning = next(m for m in messages if m.startswith("WARNING"))
    assert FULL in warning and lock.manifest_sha256 in warning and "3 instances" in warning
    assert any("lists data/S1.csv but upstream has none" in m for m in messages)
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]  # no staging left
    # loaded like the dev sample, tables on disk
    dataset = load(entry(), data_dir=tmp_path / "data")
    assert [p.id for p in dataset.problems] == NAMES
    by_id = dataset.by_id()
    assert by_id["noswot"].data == str(dest / "noswot" / "data")
    assert by_id["ex1010-pi"].answer.flagged  # its listed table is not shipped


def test_a_later_fetch_verifies_against_the_lock_without_downloading(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, base = github
    do_fetch(base, tmp_path / "data")
    fake.requests.clear()
    report, messages = do_fetch(base, tmp_path / "data")
    assert fake.requests == [] and report.written == [] and report.unverified == {}
    assert any("already present, hash verified" in m for m in messages)


def test_a_tampered_file_is_refused_on_load_and_restored_by_fetch(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, base = github
    do_fetch(base, tmp_path / "data")
    dest = tmp_path / "data" / "miplib_nl" / "full"
    table = dest / "noswot" / "data" / "stage_limits.csv"
    original = table.read_bytes()
    table.write_bytes(original + b"9,9\n")
    with pytest.raises(LockError, match=r"instance noswot differs .*noswot/data/stage_limits.csv"):
        load(entry(), data_dir=tmp_path / "data")
    fake.requests.clear()
    report, _ = do_fetch(base, tmp_path / "data")  # no longer current: fetched against the lock
    assert report.written == [dest] and report.unverified == {}
    assert not any("/commits/" in r or "/contents/" in r for r in fake.requests)  # no resolving
    assert table.read_bytes() == original
    assert len(load(entry(), data_dir=tmp_path / "data")) == 3


def test_a_file_changed_upstream_fails_loudly_and_saves_nothing(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, base = github
    do_fetch(base, tmp_path / "data")
    dest = tmp_path / "data" / "miplib_nl" / "full"
    before = tree_file_hashes(dest)
    fake.files["ran13x13/instance.json"] += b" "
    with pytest.raises(
        ChecksumError, match=r"instance ran13x13 \(changed: ran13x13/instance.json\)"
    ):
        do_fetch(base, tmp_path / "data", force=True)
    assert tree_file_hashes(dest) == before  # the locked copy is untouched
    assert read_lock(lock_path(dest)).commit == FULL


def test_a_release_of_another_size_is_refused_before_any_download(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, base = github
    fake.extra_dirs.append("added-later")
    with pytest.raises(
        FetchError, match=r"holds 4 folders, the registry says 3; nothing was saved"
    ):
        do_fetch(base, tmp_path / "data")
    assert raw_requests(fake) == []
    assert not (tmp_path / "data" / "miplib_nl" / "full.lock.json").exists()
    assert not (tmp_path / "data" / "miplib_nl" / "full").exists()


def test_a_ref_answered_with_another_commit_is_refused(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    _, base = github
    wrong = get("miplib_nl.full").model_copy(update={"repo": REPO, "count": 3, "commit": "abcdef0"})
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(wrong, data_dir=tmp_path, base_url=f"{base}/raw", api_url=f"{base}/api", timeout=10)


def test_a_killed_fetch_resumes_where_it_stopped(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, base = github
    fake.fail.add("ran13x13/solve.py")
    with pytest.raises(FetchError, match="HTTP 500"):
        do_fetch(base, tmp_path / "data")
    dest = tmp_path / "data" / "miplib_nl" / "full"
    assert not dest.exists() and not lock_path(dest).exists()
    fake.fail.clear()
    fake.requests.clear()
    report, messages = do_fetch(base, tmp_path / "data")
    assert any("2 instance(s) already downloaded, resuming" in m for m in messages)
    fetched = {r.split("/dataset/")[1].split("/")[0] for r in raw_requests(fake)}
    assert fetched == {"ran13x13"}
    assert sorted(p.name for p in dest.iterdir()) == NAMES
    assert report.unverified  # still the first complete fetch: the hash to record is reported


def test_the_cli_fetches_through_the_api_env_and_then_finds_it_present(
    github: tuple[FakeGitHub, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, base = github
    registry = tmp_path / "registry.toml"
    text = Path("datasets/benchmarks.toml").read_text(encoding="utf-8")
    start = text.index('[[dataset]]\nname = "miplib_nl.full"')
    block = text[start : text.index("[[dataset]]", start + 5)]
    block = block.replace('"optsuite/MIPLIB-NL"', f'"{REPO}"').replace("count = 223", "count = 3")
    registry.write_text(block, encoding="utf-8")
    monkeypatch.setenv("OPTIWISE_REGISTRY", str(registry))
    monkeypatch.setenv("OPTIWISE_GITHUB_API_URL", f"{base}/api")
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    argv = ["data", "fetch", "miplib_nl.full", "--data-dir", str(tmp_path / "d")]
    args = parser.parse_args([*argv, "--base-url", f"{base}/raw"])
    assert args.handler(args) == 0
    out = capsys.readouterr()
    assert "1 written" in out.out and f"Resolved to {FULL}" in out.err
    args = parser.parse_args([*argv, "--base-url", f"{base}/raw"])
    assert args.handler(args) == 0
    assert "0 written, 1 up to date" in capsys.readouterr().out
    (tmp_path / "d" / "miplib_nl" / "full.lock.json").write_text("{", encoding="utf-8")
    args = parser.parse_args([*argv, "--base-url", f"{base}/raw", "--force"])
    assert args.handler(args) == 1
    assert "not a readable lock" in capsys.readouterr().err
    assert fake.requests


def test_an_api_refusal_and_an_unreachable_api_say_what_to_do(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    fake, base = github
    fake.api_status = 403
    with pytest.raises(FetchError, match="allows 60 calls an hour without a token"):
        do_fetch(base, tmp_path / "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FetchError) as err:
        fetch(entry(), data_dir=tmp_path, api_url=f"http://127.0.0.1:{port}", timeout=5)
    assert "cannot reach 127.0.0.1 (no network?)" in str(err.value)
    assert "point $OPTIWISE_GITHUB_API_URL at a mirror of GitHub's API" in str(err.value)
    assert not (tmp_path / "miplib_nl").exists()


def test_a_fetch_killed_mid_download_resumes_from_what_it_wrote(
    github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    """SIGKILL a real `fetch` process while one instance is still downloading, then resume."""
    fake, base = github
    release = threading.Event()
    fake.hold["ran13x13/instance.json"] = release
    data = tmp_path / "data"
    script = (
        "import sys; from evals.fetch import fetch; from evals.registry import get\n"
        f"e = get('miplib_nl.full').model_copy(update={{'repo': {REPO!r}, 'count': 3}})\n"
        f"fetch(e, data_dir={str(data)!r}, base_url={base + '/raw'!r}, "
        f"api_url={base + '/api'!r}, workers=2, timeout=30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[2])
    try:
        progress = data / "miplib_nl" / ".full.part" / ".progress.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if progress.exists() and len(json.loads(progress.read_text())["done"]) == 2:
                break
            assert proc.poll() is None, "the fetch ended before it was killed"
            time.sleep(0.05)
        else:
            pytest.fail("the two other instances were not written within 60 s")
        proc.kill()  # killed while ran13x13 is in flight
        proc.wait(10)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    dest = data / "miplib_nl" / "full"
    assert not dest.exists() and not lock_path(dest).exists()
    fake.hold.clear()
    fake.requests.clear()
    report, messages = do_fetch(base, data)
    assert any("2 instance(s) already downloaded, resuming" in m for m in messages)
    assert {r.split("/dataset/")[1].split("/")[0] for r in raw_requests(fake)} == {"ran13x13"}
    assert sorted(p.name for p in dest.iterdir()) == NAMES and report.unverified
