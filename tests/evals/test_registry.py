"""The benchmark registry: names, aliases, validation, hashes against the mirror."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import pytest
from support import benchmark_mirror

from evals import cli
from evals.fetch import manifest_sha256, packed_file_hashes, sha256_file, tree_file_hashes
from evals.registry import (
    DatasetEntry,
    UnknownDatasetError,
    expand_names,
    get,
    list_datasets,
    load_registry,
    parse_registry,
)

ALIASES = {
    "nl4opt",
    "mamo_easy",
    "mamo_complex",
    "industryor",
    "nlp4lp",
    "complexor",
    "optibench",
    "icml2024_task3",
    "logior",
    "optmath",
    "miplib_nl",
}


def data_dir() -> Path | None:
    env = os.environ.get("OPTIWISE_DATA_DIR")
    return Path(env) if env else None


def test_every_alias_resolves_to_a_variant_of_its_family() -> None:
    registry = load_registry()
    assert set(registry.aliases) == ALIASES
    for name, alias in registry.aliases.items():
        entry = get(name)
        assert entry.name == alias.target
        assert entry.family == name
        assert alias.reason


def test_aliases_pick_the_documented_variants() -> None:
    assert get("nl4opt").name == "nl4opt.sirl"
    assert get("mamo_easy").name == "mamo_easy.sirl_fixed"
    assert get("mamo_complex").name == "mamo_complex.sirl_fixed"
    assert get("optmath").name == "optmath.official"
    assert get("miplib_nl").name == "miplib_nl.full"


def test_unknown_name_says_how_to_find_names() -> None:
    with pytest.raises(UnknownDatasetError) as info:
        get("nl4opt.nonexistent")
    assert "optiwise data list" in str(info.value)
    assert "nl4opt.sirl" in str(info.value)


def test_entries_are_complete() -> None:
    entries = list_datasets()
    assert len(entries) >= 40
    for entry in entries:
        assert entry.repo.count("/") == 1
        assert entry.license and entry.count > 0
        if entry.resolve_on_fetch:
            # The one allowed exception to a full commit and a recorded manifest: a short ref
            # that the first fetch resolves and locks (names, per-instance hashes), which the
            # notes must say, as an unknown sha256 must be said.
            assert re.fullmatch(r"[0-9a-f]{7,39}", entry.commit), entry.name
            assert not entry.problems and entry.manifest_sha256 is None
            assert "resolved on first fetch" in entry.notes, entry.name
            assert "recorded on first fetch" in entry.notes, entry.name
            continue
        assert len(entry.commit) == 40
        if entry.is_folder:
            assert len(entry.problems) == entry.count
            assert entry.manifest_sha256 is not None
        elif entry.mirror_sha256 is None and entry.sha256 is None:
            # an unknown hash is only allowed where the notes say so (fetch then warns)
            assert "sha256 is unknown" in entry.notes, entry.name


def test_optmath_bench_hash_is_recorded_as_unknown() -> None:
    entry = get("optmath")
    assert entry.sha256 is None and not entry.hash_known
    assert entry.count == 166
    assert entry.path == "benchmark/OptMATH_Bench.json"
    assert entry.local_path == "optmath_bench/optmath_official/OptMATH_Bench.json"


def test_range_names_keep_zero_padding() -> None:
    assert expand_names(["prob_{008..011}", "x", "{9..10}"]) == [
        "prob_008",
        "prob_009",
        "prob_010",
        "prob_011",
        "x",
        "9",
        "10",
    ]


def _entry(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "toy.v1",
        "family": "toy",
        "variant": "v1",
        "title": "toy",
        "repo": "o/r",
        "commit": "0" * 40,
        "path": "a.jsonl",
        "local_path": "toy/a.jsonl",
        "format": "jsonl",
        "license": "MIT",
        "count": 2,
    }
    base.update(overrides)
    return base


def test_invalid_entries_are_rejected() -> None:
    with pytest.raises(ValueError, match="must be 'toy.v1'"):
        DatasetEntry.model_validate(_entry(name="toy.v2"))
    with pytest.raises(ValueError, match="sha256"):
        DatasetEntry.model_validate(_entry(sha256="abc"))
    with pytest.raises(ValueError, match="problem folders"):
        DatasetEntry.model_validate(
            _entry(format="folders", problems=["p1"], question_file="q", answer_file="a")
        )


def test_alias_to_unknown_target_is_rejected() -> None:
    text = '[aliases.toy]\ntarget = "toy.v9"\nreason = "x"\n'
    with pytest.raises(ValueError, match="unknown dataset"):
        parse_registry(text)


@pytest.mark.needs_data
def test_mirror_files_match_registered_hashes() -> None:
    root = benchmark_mirror()
    checked = 0
    for entry in list_datasets():
        path = root / entry.local_path
        if not path.exists():
            continue
        if entry.is_folder and entry.layout == "tree":
            assert manifest_sha256(tree_file_hashes(path)) == entry.manifest_sha256, entry.name
            checked += 1
            continue
        if entry.is_folder:
            assert manifest_sha256(packed_file_hashes(path)) == entry.manifest_sha256, entry.name
        expected = entry.mirror_sha256 or entry.sha256
        assert sha256_file(path) == expected, entry.name
        for aux in entry.aux:
            assert sha256_file(root / aux.local_path) == aux.sha256, aux.local_path
        checked += 1
    assert checked >= 40


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    return parser


def test_data_list_json_reports_every_dataset(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTIWISE_CACHE_HOME", str(tmp_path / "cache"))
    mirror = data_dir()
    folder = mirror if mirror is not None else tmp_path / "empty"
    args = _parser().parse_args(["data", "list", "--json", "--data-dir", str(folder)])
    assert args.handler(args) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert names == {e.name for e in list_datasets()}
    for row in rows:
        assert {"name", "count", "license", "present"} <= set(row)
    by_name = {r["name"]: r for r in rows}
    assert by_name["nl4opt.sirl"]["aliases"] == ["nl4opt"]
    assert by_name["optmath.official"]["present"] is False
    if mirror is not None and mirror.is_dir():
        assert by_name["mamo_easy.sirl_fixed"]["present"] is True


def test_data_list_text_marks_missing_datasets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTIWISE_CACHE_HOME", str(tmp_path / "cache"))
    args = _parser().parse_args(["data", "list", "--data-dir", str(tmp_path / "empty")])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "optmath.official" in out and "optiwise data fetch" in out
