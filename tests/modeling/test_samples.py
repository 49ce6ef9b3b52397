"""modeling.samples: the packaged sample problems, as the agent, app and tests read them."""

from __future__ import annotations

from pathlib import Path

import pytest

import modeling
from modeling.result import Status
from modeling.samples import (
    SampleError,
    UnknownSampleError,
    get_sample,
    load_samples,
    sample_names,
    samples_dir,
)

CHECKOUT_SAMPLES = Path(__file__).resolve().parents[2] / "datasets" / "samples"


def test_every_file_in_datasets_samples_is_a_sample_with_its_answer() -> None:
    names = sample_names()
    assert names == tuple(sorted(p.stem for p in CHECKOUT_SAMPLES.glob("*.yaml")))
    samples = load_samples()
    assert [s.id for s in samples] == list(names)
    for s in samples:
        assert s.problem and s.formulation and s.model_class
        assert s.expected_status in (Status.OPTIMAL, Status.INFEASIBLE, Status.UNBOUNDED)
        assert (s.expected_objective is None) == (s.expected_status is not Status.OPTIMAL)


def test_packaged_folder_is_the_repository_datasets_folder() -> None:
    folder = samples_dir()
    assert folder.is_dir()
    assert Path(str(folder)).resolve() == CHECKOUT_SAMPLES.resolve()


def test_a_sample_solves_to_its_recorded_optimum() -> None:
    s = get_sample("transport_basic")
    result = modeling.solve(dict(s.formulation))
    assert result.status == s.expected_status
    assert result.objective == pytest.approx(s.expected_objective)


def test_unknown_name_suggests_the_close_one() -> None:
    with pytest.raises(UnknownSampleError, match="did you mean 'transport_basic'"):
        get_sample("transport_basik")


def test_another_folder_of_samples_can_be_read(tmp_path: Path) -> None:
    text = (CHECKOUT_SAMPLES / "transport_basic.yaml").read_text(encoding="utf-8")
    (tmp_path / "mine.yaml").write_text(text, encoding="utf-8")
    assert sample_names(tmp_path) == ("transport_basic",)


def test_a_broken_file_is_named_instead_of_skipped(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("problem: x\nanswer: {status: solved}\n")
    with pytest.raises(SampleError, match=r"bad\.yaml: 'formulation' must be a mapping"):
        load_samples(tmp_path)
