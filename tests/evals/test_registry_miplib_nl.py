"""The registered MIPLIB-NL dev sample against the shared mirror (an unpacked tree)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import benchmark_mirror

from evals.fetch import manifest_sha256, tree_file_hashes
from evals.loaders import load
from evals.registry import get


@pytest.mark.needs_data("miplib_nl.dev")
def test_the_mirror_matches_the_dev_manifest_and_every_instance_loads() -> None:
    root = benchmark_mirror()
    entry = get("miplib_nl.dev")
    folder = root / entry.local_path
    assert manifest_sha256(tree_file_hashes(folder)) == entry.manifest_sha256
    dataset = load(entry, data_dir=root)
    assert len(dataset) == 45
    kinds = [p.answer.kind for p in dataset.problems]
    assert kinds.count("infeasible") == 3 and "unknown" not in kinds
    with_tables = [p for p in dataset.problems if p.metadata["files"]]
    assert len(with_tables) == 40
    assert all(Path(p.metadata["data_dir"]).is_dir() for p in with_tables if p.id != "ex1010-pi")
    # Problem.data is the tables' folder where it exists (the agent reads the tables from it)
    by_id = dataset.by_id()
    noswot = by_id["noswot"]
    assert noswot.data == noswot.data_dir
    # the same folder, however the mirror was reached (CI reaches it through a symlink)
    assert Path(str(noswot.data)).resolve() == (folder / "noswot" / "data").resolve()
    assert by_id["ex1010-pi"].data is None
