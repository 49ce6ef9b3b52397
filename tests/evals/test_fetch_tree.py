"""``layout = "tree"`` folder datasets (MIPLIB-NL): fetched with their data tables, verified,
written whole or not at all, then loaded with the tables on disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from evals.fetch import (
    ChecksumError,
    FetchError,
    fetch,
    manifest_sha256,
    table_paths,
    tree_file_hashes,
)
from evals.loaders import load
from evals.registry import DatasetEntry, get

REPO = "someone/miplib-nl"
COMMIT = "d" * 40


# fetches go to a cache in tmp_path, with no mirror or raw-file URL from the environment
pytestmark = pytest.mark.usefixtures("fetch_cache")


def instance(value: object, tables: dict[str, str]) -> bytes:
    """A hand-written ``instance.json`` in MIPLIB-NL's shape."""
    doc = {
        "abstract_problem": "Pick at most {k} items of the catalogue to maximise value.",
        "parameters": {"k": 2},
        "files": {
            name: {"path": path, "description": f"{name} table"} for name, path in tables.items()
        },
        "optimal_value": value,
    }
    return json.dumps(doc).encode()


# Folder → file → bytes. "gone" lists a table upstream does not have (as ex1010-pi does).
FOLDERS: dict[str, dict[str, bytes]] = {
    "knap": {
        "instance.json": instance("17", {"items": "./data/items.csv"}),
        "solve.py": b"print('reference')\n",
        "model.md": b"max sum v_i x_i\n",
        "data/items.csv": b"item,value,weight\n1,9,3\n2,8,2\n3,1,1\n",
    },
    "gone": {
        "instance.json": instance("infeasible", {"S1": "data/S1.csv"}),
        "solve.py": b"print('reference')\n",
    },
}


def publish(root: Path) -> str:
    """Put FOLDERS upstream; the manifest hash over every file (tables included)."""
    hashes = {}
    for folder, files in FOLDERS.items():
        for name, data in files.items():
            target = root / REPO / COMMIT / "dataset" / folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            hashes[f"{folder}/{name}"] = hashlib.sha256(data).hexdigest()
    return manifest_sha256(hashes)


def tree_entry(manifest: str | None) -> DatasetEntry:
    return DatasetEntry(
        name="toynl.dev",
        family="toynl",
        variant="dev",
        title="toy",
        split="dev",
        repo=REPO,
        commit=COMMIT,
        path="dataset",
        local_path="toynl/dev",
        format="folders",
        layout="tree",
        tables_from="instance.json",
        license="CC BY-SA 4.0",
        count=2,
        manifest_sha256=manifest,
        problems=["knap", "gone"],
        files=["instance.json", "solve.py"],
        optional_files=["model.md"],
        question_file="instance.json",
        answer_file="instance.json",
    )


def test_tree_dataset_is_fetched_with_its_tables_and_loads(
    upstream: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = upstream
    entry = tree_entry(publish(root))
    said: list[str] = []
    report = fetch(entry, data_dir=tmp_path / "data", base_url=base, log=said.append)
    folder = tmp_path / "data" / "toynl" / "dev"
    assert report.written == [folder] and not report.unverified
    assert (folder / "knap" / "data" / "items.csv").read_bytes() == FOLDERS["knap"][
        "data/items.csv"
    ]
    assert not (folder / "gone" / "model.md").exists()
    assert any("not upstream" in line and "gone/data/S1.csv" in line for line in said)
    assert manifest_sha256(tree_file_hashes(folder)) == entry.manifest_sha256

    problems = {p.id: p for p in load(entry, data_dir=tmp_path / "data").problems}
    knap = problems["knap"]
    assert (knap.answer.kind, knap.answer.value) == ("number", 17.0)
    assert Path(knap.metadata["data_dir"]) == folder / "knap" / "data"
    assert "data/items.csv" not in knap.question or "items.csv" in knap.question
    assert "1,9,3" not in knap.question  # tables are described, never inlined
    assert problems["gone"].answer.kind == "infeasible"
    assert problems["gone"].metadata["missing_files"] == ["S1.csv"]

    again = fetch(entry, data_dir=tmp_path / "data", base_url=base)
    assert again.skipped == [folder] and not again.written


def test_a_changed_table_fails_the_manifest_and_nothing_is_written(
    upstream: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = upstream
    entry = tree_entry(publish(root))
    (root / REPO / COMMIT / "dataset" / "knap" / "data" / "items.csv").write_bytes(b"tampered\n")
    with pytest.raises(ChecksumError, match="manifest"):
        fetch(entry, data_dir=tmp_path / "data", base_url=base)
    leftovers = list((tmp_path / "data").rglob("*")) if (tmp_path / "data").exists() else []
    assert not [p for p in leftovers if p.is_file()]


def test_table_paths_stay_inside_the_problem_folder() -> None:
    ok = instance(1, {"a": "./data/a.csv", "b": "data\\b.csv", "c": "c.csv"})
    assert table_paths(ok, "x") == ["data/a.csv", "data/b.csv", "c.csv"]
    for bad in ("../../etc/passwd", "/etc/passwd", "data/../../x.csv"):
        with pytest.raises(FetchError, match="outside the problem folder"):
            table_paths(instance(1, {"t": bad}), "p/instance.json")
    with pytest.raises(FetchError, match="not a JSON"):
        table_paths(b"{", "p/instance.json")


def test_tree_layout_needs_a_folder_dataset() -> None:
    fields = tree_entry(None).model_dump()
    fields.update(format="jsonl", problems=[], count=2)
    with pytest.raises(ValueError, match="need format 'folders'"):
        DatasetEntry.model_validate(fields)


def test_miplib_nl_dev_is_registered_as_a_tree_with_its_tables() -> None:
    entry = get("miplib_nl.dev")
    assert (entry.layout, entry.tables_from, entry.count) == ("tree", "instance.json", 45)
    assert entry.license == "CC-BY-SA-4.0" and entry.split == "dev"
    assert "9f14ad1" in entry.notes  # the mirror's commit, whose full hash is unknown here


def test_a_damaged_tree_is_fetched_again_whole(upstream: tuple[str, Path], tmp_path: Path) -> None:
    base, root = upstream
    entry = tree_entry(publish(root))
    fetch(entry, data_dir=tmp_path / "data", base_url=base)
    folder = tmp_path / "data" / "toynl" / "dev"
    (folder / "knap" / "data" / "items.csv").unlink()
    (folder / "stray.txt").write_text("left by hand", encoding="utf-8")
    report = fetch(entry, data_dir=tmp_path / "data", base_url=base)
    assert report.written == [folder]
    assert (folder / "knap" / "data" / "items.csv").is_file()
    assert not (folder / "stray.txt").exists()  # the folder is replaced, not patched
    assert manifest_sha256(tree_file_hashes(folder)) == entry.manifest_sha256
