"""Loaders and answer normalisation: every format, every answer encoding, every variant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import benchmark_mirror

from evals.loaders import DataFormatError, load, load_entry, load_problems
from evals.problems import (
    Answer,
    answer_from_results,
    answer_from_samples,
    normalize_answer,
)
from evals.registry import DatasetEntry, is_present, list_datasets


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTIWISE_CACHE_HOME", str(tmp_path / "cache"))


def mirror() -> Path:
    return benchmark_mirror()  # the test is marked needs_data


# --------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (3600, 3600.0),
        (3600.5, 3600.5),
        ("3600.0", 3600.0),
        (" 1,234.5 ", 1234.5),
        ("$1,200", 1200.0),
        ("-$5", -5.0),
        ("$-5.5", -5.5),
        ("35 units", 35.0),
        ("1.2e-5", 1.2e-5),
        (".5", 0.5),
        ("[18.0]", 18.0),
        ([42], 42.0),
    ],
)
def test_numbers_in_every_spelling(raw: Any, value: float) -> None:
    answer = normalize_answer(raw)
    assert answer.kind == "number"
    assert answer.value == pytest.approx(value)
    assert not answer.flagged
    assert answer.raw == raw


@pytest.mark.parametrize(
    "raw",
    [
        "No Best Solution",
        "No Best Solution.",
        "no best solution",
        -99999,
        -99999.0,
        "-99999",
        -9999,
        "-9999.0",
        "infeasible",
        "Unbounded",
        "infeasible or unbounded",
    ],
)
def test_no_optimum_encodings(raw: Any) -> None:
    answer = normalize_answer(raw)
    assert answer.kind == "infeasible"
    assert answer.value is None
    assert answer.reason


@pytest.mark.parametrize(
    ("raw", "flagged"),
    [
        (None, False),
        ("", True),
        ("   ", True),
        ("None", True),
        ("nan", True),
        ("1,2", True),
        ("3 or 4", True),
        ("x = 3, y = 4", True),
        ("about twelve", True),
        ("[None]", True),
        ("[1, 'a']", True),
        ("[1, 2", True),
        (True, True),
        (float("nan"), True),
    ],
)
def test_unusable_answers_are_unknown(raw: Any, flagged: bool) -> None:
    answer = normalize_answer(raw)
    assert answer.kind == "unknown"
    assert answer.flagged is flagged
    assert answer.reason


def test_percentage_is_read_but_flagged() -> None:
    answer = normalize_answer("12.5%")
    assert answer.value == 12.5 and answer.flagged and "percentage" in answer.reason


def test_implausible_magnitude_is_flagged_not_dropped() -> None:
    answer = normalize_answer(407999995500002257060344751334621184)
    assert answer.kind == "number" and answer.flagged
    assert "magnitude" in answer.reason


def test_list_labels() -> None:
    several = normalize_answer("[18.0, 20.0]")
    assert several.kind == "number" and several.value == 18.0
    assert several.candidates == (18.0, 20.0) and several.flagged
    empty = normalize_answer("[]")
    assert empty.kind == "infeasible" and empty.flagged


def test_orthought_answer_json() -> None:
    assert normalize_answer({"status": "optimal", "obj": 700}).value == 700.0
    missing = normalize_answer({"status": "optimal", "obj": None})
    assert missing.kind == "unknown" and missing.flagged
    status = normalize_answer({"status": "infeasible or unbounded", "obj": None})
    assert status.kind == "infeasible"
    assert normalize_answer({"status": "infeasible", "obj": None}).kind == "infeasible"
    assert normalize_answer({"status": "weird", "obj": 3}).kind == "unknown"


def test_results_dict_takes_the_last_entry() -> None:
    answer = answer_from_results({"Number of trucks": "10.0", "Total profit": "395000.0"})
    assert answer.value == 395000.0 and not answer.flagged
    assert answer_from_results({"The maximum profit": "3600.0"}).value == 3600.0


def test_results_dict_prefers_a_worded_objective_and_flags_it() -> None:
    results = {
        "The optimal number of stations to build": "2.0",
        "Whether a station is built in city 1": "0.0",
        "Whether a station is built in city 2": "1.0",
    }
    answer = answer_from_results(results)
    assert answer.value == 2.0 and answer.flagged
    assert "wording" in answer.reason


def test_results_dict_with_several_worded_entries_keeps_last_and_flags() -> None:
    results = {"The best x": "0.5", "The best y": "0.25", "Rope length": "0.35"}
    answer = answer_from_results(results)
    assert answer.value == 0.35 and answer.flagged


def test_results_dict_with_bad_value_is_unknown() -> None:
    answer = answer_from_results({"Total cost": "n/a"})
    assert answer.kind == "unknown" and answer.flagged
    assert answer_from_results({}).kind == "unknown"


def test_sample_outputs() -> None:
    assert answer_from_samples([{"input": {"a": 1}, "output": [5050]}]).value == 5050.0
    assert answer_from_samples({"input": {}, "output": [7]}).value == 7.0
    assert answer_from_samples([{"output": ["30000.0"]}]).value == 30000.0
    assert answer_from_samples([{"output": [None]}]).kind == "unknown"
    disagree = answer_from_samples([{"output": [1]}, {"output": [2]}])
    assert disagree.kind == "unknown" and disagree.flagged


def test_decimals_written_in_the_label() -> None:
    assert normalize_answer("18.50").decimals == 2
    assert normalize_answer(18).decimals == 0
    assert normalize_answer(1.25).decimals == 2
    assert normalize_answer("[18.0]").decimals == 1
    assert normalize_answer("1.2e-5").decimals == 6
    assert normalize_answer({"status": "optimal", "obj": 1.25}).decimals == 2
    assert answer_from_results({"x": "10.0", "Total cost": "5.125"}).decimals == 3


# --------------------------------------------------------------------------- formats


def _entry(tmp: Path, local: str, fmt: str, count: int, **extra: Any) -> DatasetEntry:
    fields: dict[str, Any] = {
        "name": "toy.v1",
        "family": "toy",
        "variant": "v1",
        "title": "toy",
        "repo": "o/r",
        "commit": "0" * 40,
        "path": local,
        "local_path": local,
        "format": fmt,
        "license": "MIT",
        "count": count,
    }
    fields.update(extra)
    return DatasetEntry.model_validate(fields)


def test_json_array_jsonl_in_json_and_keyed_object(tmp_path: Path) -> None:
    rows = [{"en_question": f"q{i}", "en_answer": str(i), "id": 10 + i} for i in range(3)]
    array = tmp_path / "a.json"
    array.write_text(json.dumps(rows), encoding="utf-8")
    lines = tmp_path / "b.json"
    lines.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    keyed = tmp_path / "c.json"
    keyed.write_text(json.dumps({f"k{i}": r for i, r in enumerate(rows)}), encoding="utf-8")
    for path in (array, lines):
        problems = load_entry(_entry(tmp_path, path.name, "json", 3, id_field="id"), path)
        assert [p.id for p in problems] == ["10", "11", "12"]
        assert [p.answer.value for p in problems] == [0.0, 1.0, 2.0]
    problems = load_entry(_entry(tmp_path, "c.json", "json", 3, id_field="_key"), keyed)
    assert [p.id for p in problems] == ["k0", "k1", "k2"]


def test_ids_default_to_record_index(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"en_question": "a", "en_answer": 1}\n\n{"en_question": "b"}\n')
    problems = load_entry(_entry(tmp_path, "a.jsonl", "jsonl", 2), path)
    assert [p.id for p in problems] == ["0", "1"]
    assert problems[1].answer.kind == "unknown"


def test_bad_jsonl_line_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"en_question": "a", "en_answer": 1}\n{"en_question": \n')
    with pytest.raises(DataFormatError, match=r"a.jsonl:2"):
        load_entry(_entry(tmp_path, "a.jsonl", "jsonl", 2), path)


def test_duplicate_ids_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"q": "a", "id": 1}\n{"q": "b", "id": 1}\n')
    entry = _entry(tmp_path, "a.jsonl", "jsonl", 2, id_field="id", question_field="q")
    with pytest.raises(DataFormatError, match="duplicate"):
        load_entry(entry, path)


def test_csv_with_bom_and_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    text = '\ufeffproblem_class,question,answer\n"[\'Diet\']","line one\nline two","[18.0]"\n'
    path.write_text(text, encoding="utf-8")
    entry = _entry(
        tmp_path,
        "a.csv",
        "csv",
        1,
        question_field="question",
        answer_field="answer",
        metadata_fields={"type": "problem_class"},
    )
    (problem,) = load_entry(entry, path)
    assert problem.question == "line one\nline two"
    assert problem.answer.value == 18.0
    assert problem.metadata["type"] == "['Diet']"


def test_parquet(tmp_path: Path) -> None:
    import pandas as pd

    path = tmp_path / "a.parquet"
    frame = pd.DataFrame(
        {"en_question": ["q0", "q1"], "en_answer": [1.5, None], "data_source": ["x", "y"]}
    )
    frame.to_parquet(path)
    entry = _entry(tmp_path, "a.parquet", "parquet", 2, metadata_fields={"source": "data_source"})
    problems = load_entry(entry, path)
    assert problems[0].answer.value == 1.5 and problems[0].metadata == {"source": "x"}
    assert problems[1].answer.kind == "unknown"


def test_nl4opt_hash_lines_have_no_objective(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    body = {"document": "Maximize x.", "obj_declaration": {"type": "objective"}}
    path.write_text(json.dumps({"-123": body}) + "\n")
    entry = _entry(
        tmp_path, "t.jsonl", "nl4opt", 1, question_field="document", answer_encoding="none"
    )
    (problem,) = load_entry(entry, path)
    assert problem.id == "-123"
    assert problem.answer.kind == "unknown" and not problem.answer.flagged
    assert problem.metadata["reference_formulation"]["obj_declaration"] == {"type": "objective"}


def _folder_entry(tmp: Path, local: str) -> DatasetEntry:
    return _entry(
        tmp,
        local,
        "folders",
        2,
        problems=["p1", "p2"],
        files=["description.txt", "sample.json"],
        question_file="description.txt",
        answer_file="sample.json",
        answer_encoding="samples",
        append_sample_input=True,
    )


def _folder_files() -> dict[str, dict[str, str]]:
    return {
        "p1": {
            "description.txt": "Minimise cost over `Items`.",
            "sample.json": json.dumps([{"input": {"cost": [1, 2]}, "output": [3]}]),
        },
        "p2": {
            "description.txt": "Maximise profit.",
            "sample.json": json.dumps([{"input": {"profit": 4}, "output": [None]}]),
        },
    }


def test_packed_and_unpacked_folders_load_the_same(tmp_path: Path) -> None:
    files = _folder_files()
    packed = tmp_path / "packed.jsonl"
    packed.write_text(
        "".join(json.dumps({"problem": p, **f}) + "\n" for p, f in files.items()),
        encoding="utf-8",
    )
    tree = tmp_path / "tree"
    for problem, contents in files.items():
        (tree / problem).mkdir(parents=True)
        for name, text in contents.items():
            (tree / problem / name).write_text(text, encoding="utf-8")
    from_packed = load_entry(_folder_entry(tmp_path, "packed.jsonl"), packed)
    from_tree = load_entry(_folder_entry(tmp_path, "tree"), tree)
    assert from_packed == from_tree
    first, second = from_packed
    assert first.id == "p1" and first.answer.value == 3.0
    assert first.question.startswith("Minimise cost") and '"cost": [1, 2]' in first.question
    assert second.answer.kind == "unknown"


def test_missing_problem_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "tree" / "p1").mkdir(parents=True)
    with pytest.raises(DataFormatError, match="p2"):
        load_entry(_folder_entry(tmp_path, "tree"), tmp_path / "tree")


def test_load_without_data_says_how_to_fetch(tmp_path: Path) -> None:
    from evals.fetch import DataNotFoundError

    assert not is_present("optmath", data_dir=tmp_path)
    with pytest.raises(DataNotFoundError, match="optiwise data fetch"):
        load("optmath", data_dir=tmp_path)


@pytest.mark.needs_data
def test_load_problems_resolves_aliases() -> None:
    root = mirror()
    assert is_present("mamo_complex", data_dir=root)
    problems = load_problems("mamo_complex", data_dir=root, limit=5)
    assert len(problems) == 5 and problems[0].dataset == "mamo_complex.sirl_fixed"


# --------------------------------------------------------------------------- the mirror


@pytest.mark.parametrize(
    "entry",
    [pytest.param(e, marks=pytest.mark.needs_data(e.name), id=e.name) for e in list_datasets()],
)
def test_every_registered_variant_loads_with_its_count(entry: DatasetEntry) -> None:
    root = mirror()
    dataset = load(entry, data_dir=root)
    assert len(dataset) == entry.count
    assert len({p.id for p in dataset.problems}) == entry.count
    assert all(p.question.strip() for p in dataset.problems)
    assert all(p.dataset == entry.name for p in dataset.problems)


def _answers(name: str) -> dict[str, Answer]:
    return {p.id: p.answer for p in load(name, data_dir=mirror()).problems}


@pytest.mark.needs_data
def test_known_label_facts_in_the_mirror() -> None:
    nl4opt = _answers("nl4opt")
    assert sum(a.kind == "infeasible" for a in nl4opt.values()) == 17
    orlm = _answers("nl4opt.orlm_hf_2024")
    assert sum(a.kind == "infeasible" for a in orlm.values()) == 22
    assert "LPWP_prob_152" in orlm
    easy = _answers("mamo_easy")
    assert sum(a.kind == "infeasible" for a in easy.values()) == 1
    nlp4lp = _answers("nlp4lp")
    kinds = [a.kind for a in nlp4lp.values()]
    assert kinds.count("infeasible") == 8 and kinds.count("unknown") == 14
    optibench = _answers("optibench")
    assert optibench["4"].value == 2.0 and optibench["4"].flagged
    assert sum(a.flagged for a in optibench.values()) == 9
    assert _answers("nlp4lp.llmopt")["97"].flagged
    assert all(a.kind == "unknown" for a in _answers("nl4opt.competition_test").values())


@pytest.mark.needs_data
def test_metadata_from_records_and_summary_files() -> None:
    v1 = load("industryor.orlm_v1", data_dir=mirror())
    assert {p.metadata["difficulty"] for p in v1.problems} == {"Easy", "Medium", "Hard"}
    orthought = load("industryor.orthought", data_dir=mirror())
    assert all("difficulty" in p.metadata and "type" in p.metadata for p in orthought.problems)
    complexor = load("complexor", data_dir=mirror()).by_id()
    landing = complexor["prob_001_aircraft_landing"]
    assert "EarliestLanding" in landing.question and landing.metadata["data_appended"]
    assert complexor["prob_011_multi"].answer.kind == "infeasible"
