"""optiwise data fetch without network says so and how to get around it; a dataset already
in the $OPTIWISE_DATA_DIR mirror is reported present instead of downloaded again (QA F16)."""

from __future__ import annotations

import argparse
import hashlib
import socket
from pathlib import Path

import pytest

from evals import cli
from evals.fetch import FetchError, cache_dir, fetch
from evals.registry import DatasetEntry, get

CONTENT = b'{"en_question": "Maximise x.", "en_answer": "12"}\n'


# fetches go to a cache in tmp_path, with no mirror or raw-file URL from the environment
pytestmark = pytest.mark.usefixtures("fetch_cache")


def entry(sha256: str | None) -> DatasetEntry:
    return DatasetEntry.model_validate(
        {
            "name": "toy.v1",
            "family": "toy",
            "variant": "v1",
            "title": "toy",
            "repo": "someone/bench",
            "commit": "c" * 40,
            "path": "data/toy.jsonl",
            "local_path": "toy/v1/toy.jsonl",
            "format": "jsonl",
            "license": "MIT",
            "count": 1,
            "sha256": sha256,
        }
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on leaving: connections are refused


def test_an_unreachable_host_is_named_with_the_way_out(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(FetchError) as err:
        fetch(entry(hashlib.sha256(CONTENT).hexdigest()), base_url=base, timeout=5)
    message = str(err.value)
    assert message.startswith("cannot reach 127.0.0.1 (no network?)")
    assert "set OPTIWISE_DATA_DIR to a mirror or use --base-url" in message
    assert "/data/toy.jsonl" in message  # which file it was after
    assert not [p for p in cache_dir().rglob("*") if p.is_file()]  # nothing partial


def test_a_dataset_in_the_env_mirror_is_not_downloaded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    (mirror / "toy" / "v1").mkdir(parents=True)
    (mirror / "toy" / "v1" / "toy.jsonl").write_bytes(CONTENT)
    monkeypatch.setenv("OPTIWISE_DATA_DIR", str(mirror))
    said: list[str] = []
    base = f"http://127.0.0.1:{closed_port()}"  # a download attempt would fail
    report = fetch(entry(hashlib.sha256(CONTENT).hexdigest()), base_url=base, log=said.append)
    assert report.skipped == [mirror / "toy" / "v1" / "toy.jsonl"] and not report.written
    assert report.destination == mirror and not cache_dir().exists()
    assert said == [
        f"toy/v1/toy.jsonl: already present in $OPTIWISE_DATA_DIR ({mirror}), hash verified"
    ]

    # A damaged mirror copy is not trusted: the fetch goes to the cache (and fails offline).
    (mirror / "toy" / "v1" / "toy.jsonl").write_bytes(CONTENT + b"x")
    with pytest.raises(FetchError, match="cannot reach"):
        fetch(entry(hashlib.sha256(CONTENT).hexdigest()), base_url=base, timeout=5)


def test_licenses_are_spelled_one_way() -> None:
    assert get("miplib_nl.dev").license == "CC-BY-SA-4.0"
    registry = Path(__file__).resolve().parents[2] / "datasets" / "benchmarks.toml"
    text = registry.read_text(encoding="utf-8")
    assert 'license = "CC BY' not in text


def test_cli_reports_the_mirror_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "benchmarks.toml"
    registry.write_text(
        f"""
[[dataset]]
name = "toy.v1"
family = "toy"
variant = "v1"
title = "toy"
repo = "someone/bench"
commit = "{"c" * 40}"
path = "data/toy.jsonl"
local_path = "toy/v1/toy.jsonl"
format = "jsonl"
license = "MIT"
count = 1
sha256 = "{hashlib.sha256(CONTENT).hexdigest()}"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("OPTIWISE_REGISTRY", str(registry))
    mirror = tmp_path / "mirror"
    (mirror / "toy" / "v1").mkdir(parents=True)
    (mirror / "toy" / "v1" / "toy.jsonl").write_bytes(CONTENT)
    monkeypatch.setenv("OPTIWISE_DATA_DIR", str(mirror))
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    base = f"http://127.0.0.1:{closed_port()}"
    args = parser.parse_args(["data", "fetch", "toy.v1", "--base-url", base])
    assert args.handler(args) == 0
    captured = capsys.readouterr()
    assert "already present in $OPTIWISE_DATA_DIR" in captured.err
    assert f"0 written, 1 up to date in {mirror}" in captured.out
    monkeypatch.delenv("OPTIWISE_DATA_DIR")
    args = parser.parse_args(["data", "fetch", "toy.v1", "--base-url", base])
    assert args.handler(args) == 1
    assert "cannot reach 127.0.0.1 (no network?)" in capsys.readouterr().err
