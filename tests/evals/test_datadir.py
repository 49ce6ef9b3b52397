"""evals.datadir: where a variant's data are found, and what the user is told when they are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.datadir import DataNotFoundError, cache_dir, data_roots, locate, require
from evals.registry import get, is_present, load_registry, packaged_registry


@pytest.fixture(autouse=True)
def _clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTIWISE_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OPTIWISE_DATA_DIR", raising=False)


def _put(root: Path, relative: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n", encoding="utf-8")
    return path


def test_explicit_folder_then_environment_then_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = get("nl4opt")
    in_cache = _put(cache_dir(), entry.local_path)
    assert locate(entry) == in_cache
    mirror = tmp_path / "mirror"
    in_mirror = _put(mirror, entry.local_path)
    monkeypatch.setenv("OPTIWISE_DATA_DIR", str(mirror))
    assert data_roots() == [mirror, cache_dir()]
    assert locate(entry) == in_mirror
    given = _put(tmp_path / "given", entry.local_path)
    assert locate(entry, tmp_path / "given") == given
    assert is_present("nl4opt", data_dir=tmp_path / "given")


def test_missing_data_names_the_command_and_the_variable(tmp_path: Path) -> None:
    entry = get("mamo_easy")
    assert not is_present("mamo_easy", data_dir=tmp_path / "empty")
    with pytest.raises(DataNotFoundError) as caught:
        require(entry, tmp_path / "empty")
    message = str(caught.value)
    assert f"optiwise data fetch {entry.name}" in message
    assert "OPTIWISE_DATA_DIR" in message and entry.local_path in message


def test_the_registry_is_package_data_and_overridable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert packaged_registry().is_file()
    assert "nl4opt.sirl" in load_registry().entries
    own = tmp_path / "mine.toml"
    own.write_text(
        '[[dataset]]\nname = "toy.v1"\nfamily = "toy"\nvariant = "v1"\ntitle = "Toy"\n'
        'repo = "a/b"\ncommit = "c"\npath = "t.jsonl"\nlocal_path = "toy/t.jsonl"\n'
        'format = "jsonl"\nlicense = "MIT"\ncount = 1\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("OPTIWISE_REGISTRY", str(own))
    assert list(load_registry().entries) == ["toy.v1"]
    monkeypatch.setenv("OPTIWISE_REGISTRY", str(tmp_path / "nowhere.toml"))
    with pytest.raises(FileNotFoundError, match="OPTIWISE_REGISTRY"):
        load_registry()
