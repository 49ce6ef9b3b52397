"""Fetching through a loopback HTTP server: verified, atomic, and located afterwards."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from evals import cli
from evals.fetch import (
    ChecksumError,
    FetchError,
    cache_dir,
    fetch,
    locate,
    manifest_sha256,
    sha256_bytes,
)
from evals.loaders import load
from evals.registry import DatasetEntry

REPO = "someone/bench"
COMMIT = "c" * 40
CONTENT = b'{"en_question": "Maximise x.", "en_answer": "12"}\n' * 3


# fetches go to a cache in tmp_path, with no mirror or raw-file URL from the environment
pytestmark = pytest.mark.usefixtures("fetch_cache")


def publish(root: Path, path: str, data: bytes) -> None:
    target = root / REPO / COMMIT / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def file_entry(sha256: str | None, **extra: Any) -> DatasetEntry:
    fields: dict[str, Any] = {
        "name": "toy.v1",
        "family": "toy",
        "variant": "v1",
        "title": "toy",
        "repo": REPO,
        "commit": COMMIT,
        "path": "data/toy set.jsonl",
        "local_path": "toy/v1/toy.jsonl",
        "format": "jsonl",
        "license": "MIT",
        "count": 3,
        "sha256": sha256,
    }
    fields.update(extra)
    return DatasetEntry.model_validate(fields)


def leftovers(folder: Path) -> list[Path]:
    """Temporary files a fetch must never leave behind."""
    if not folder.exists():
        return []
    return [p for p in folder.rglob("*") if p.name.endswith((".part", ".tmp"))]


def test_fetch_verifies_and_then_the_dataset_loads(
    upstream: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = upstream
    publish(root, "data/toy set.jsonl", CONTENT)
    entry = file_entry(hashlib.sha256(CONTENT).hexdigest())
    messages: list[str] = []
    report = fetch(entry, base_url=base, log=messages.append)
    dest = cache_dir() / "toy" / "v1" / "toy.jsonl"
    assert report.written == [dest] and dest.read_bytes() == CONTENT
    assert not report.unverified and not leftovers(cache_dir())
    assert locate(entry) == dest
    assert [p.answer.value for p in load(entry).problems] == [12.0, 12.0, 12.0]
    again = fetch(entry, base_url=base)
    assert again.skipped == [dest] and not again.written


def test_wrong_hash_leaves_nothing_behind(upstream: tuple[str, Path], tmp_path: Path) -> None:
    base, root = upstream
    publish(root, "data/toy set.jsonl", CONTENT)
    entry = file_entry("0" * 64)
    target = tmp_path / "mirror"
    with pytest.raises(ChecksumError, match="expected 0000") as info:
        fetch(entry, base_url=base, data_dir=target)
    assert info.value.actual == hashlib.sha256(CONTENT).hexdigest()
    assert not (target / entry.local_path).exists()
    assert not leftovers(target)


def test_unknown_hash_is_saved_with_a_warning(
    upstream: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, root = upstream
    publish(root, "data/toy set.jsonl", CONTENT)
    monkeypatch.setenv("OPTIWISE_RAW_BASE_URL", base)
    messages: list[str] = []
    report = fetch(file_entry(None), log=messages.append)
    digest = hashlib.sha256(CONTENT).hexdigest()
    assert report.unverified == {"toy/v1/toy.jsonl": digest}
    assert any("WARNING" in m and "NOT verified" in m and digest in m for m in messages)


def test_missing_upstream_file_is_a_clear_error(upstream: tuple[str, Path]) -> None:
    base, _ = upstream
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(file_entry("0" * 64), base_url=base)
    assert not leftovers(cache_dir())


def folder_entry(manifest: str) -> DatasetEntry:
    return file_entry(
        None,
        path="dataset/Toy",
        local_path="toy/v1/Toy_packed.jsonl",
        format="folders",
        count=2,
        manifest_sha256=manifest,
        problems=["p_{1..2}"],
        files=["description.txt", "sample.json"],
        optional_files=["gt_model.txt"],
        question_file="description.txt",
        answer_file="sample.json",
        answer_encoding="samples",
    )


def publish_folders(root: Path) -> str:
    files = {
        "p_1/description.txt": b"Minimise cost.\r\n",
        "p_1/sample.json": json.dumps([{"input": {}, "output": [3]}]).encode(),
        "p_1/gt_model.txt": b"min: x\n",
        "p_2/description.txt": "Maximise profit in \u20ac.".encode(),
        "p_2/sample.json": json.dumps([{"input": {}, "output": [4.5]}]).encode(),
    }
    for rel, data in files.items():
        publish(root, f"dataset/Toy/{rel}", data)
    return manifest_sha256({rel: sha256_bytes(data) for rel, data in files.items()})


def test_folder_dataset_is_fetched_verified_and_packed(
    upstream: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = upstream
    manifest = publish_folders(root)
    entry = folder_entry(manifest)
    report = fetch(entry, base_url=base, data_dir=tmp_path / "data", workers=2)
    packed = tmp_path / "data" / "toy" / "v1" / "Toy_packed.jsonl"
    assert report.written == [packed]
    problems = load(entry, data_dir=tmp_path / "data").problems
    assert [(p.id, p.answer.value) for p in problems] == [("p_1", 3.0), ("p_2", 4.5)]
    assert problems[0].metadata["reference_model"] == "min: x\n"
    assert fetch(entry, base_url=base, data_dir=tmp_path / "data").skipped == [packed]


def test_folder_dataset_with_wrong_manifest_is_refused(
    upstream: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = upstream
    publish_folders(root)
    with pytest.raises(ChecksumError, match="manifest"):
        fetch(folder_entry("1" * 64), base_url=base, data_dir=tmp_path / "data")
    assert not (tmp_path / "data" / "toy" / "v1" / "Toy_packed.jsonl").exists()
    assert not leftovers(tmp_path / "data")


def test_data_dir_is_searched_before_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = file_entry(None)
    cached = cache_dir() / entry.local_path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(CONTENT)
    assert locate(entry) == cached
    mirror = tmp_path / "mirror" / entry.local_path
    mirror.parent.mkdir(parents=True)
    mirror.write_bytes(CONTENT)
    assert locate(entry, tmp_path / "mirror") == mirror
    monkeypatch.setenv("OPTIWISE_DATA_DIR", str(tmp_path / "mirror"))
    assert locate(entry) == mirror


def test_cli_fetch_uses_the_registry_and_reports_mismatch(
    upstream: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base, root = upstream
    publish(root, "data/toy set.jsonl", CONTENT)
    good = hashlib.sha256(CONTENT).hexdigest()
    registry = tmp_path / "benchmarks.toml"
    registry.write_text(
        f"""
[aliases.toy]
target = "toy.v1"
reason = "only one"

[[dataset]]
name = "toy.v1"
family = "toy"
variant = "v1"
title = "toy"
repo = "{REPO}"
commit = "{COMMIT}"
path = "data/toy set.jsonl"
local_path = "toy/v1/toy.jsonl"
format = "jsonl"
license = "MIT"
count = 3
sha256 = "{good}"

[[dataset]]
name = "toy.bad"
family = "toy"
variant = "bad"
title = "toy with a wrong hash"
repo = "{REPO}"
commit = "{COMMIT}"
path = "data/toy set.jsonl"
local_path = "toy/bad/toy.jsonl"
format = "jsonl"
license = "MIT"
count = 3
sha256 = "{"f" * 64}"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("OPTIWISE_REGISTRY", str(registry))
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    data = tmp_path / "data"
    args = parser.parse_args(["data", "fetch", "toy", "--data-dir", str(data), "--base-url", base])
    assert args.handler(args) == 0
    assert (data / "toy" / "v1" / "toy.jsonl").read_bytes() == CONTENT
    args = parser.parse_args(["data", "show", "toy", "--limit", "2", "--data-dir", str(data)])
    assert args.handler(args) == 0
    assert "[0] answer: 12" in capsys.readouterr().out
    args = parser.parse_args(
        ["data", "fetch", "toy.bad", "--data-dir", str(data), "--base-url", base]
    )
    assert args.handler(args) == 1
    assert "sha256 mismatch" in capsys.readouterr().err
    assert not (data / "toy" / "bad" / "toy.jsonl").exists()
    assert not leftovers(data)
