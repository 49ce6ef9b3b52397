"""What the LLM is shown of a MIPLIB-NL instance: the published text with its ``{name}``
slots filled from ``parameters``, and one "Data tables" section (the agent's), the instance's
own file descriptions under a heading of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import benchmark_mirror

from evals.batch import formulate_messages
from evals.loaders import fill_placeholders, read_miplib_nl


def test_slots_naming_a_parameter_are_filled_and_others_left(tmp_path: Path) -> None:
    text, used = fill_placeholders(
        "Ship from {n} sites over {m} links; x_{i} and {unknown} stay.", {"n": 5, "m": "12"}
    )
    assert text == "Ship from 5 sites over 12 links; x_{i} and {unknown} stay."
    assert used == ["n", "m"]
    inst = tmp_path / "toy"
    (inst / "data").mkdir(parents=True)
    (inst / "data" / "arcs.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    instance = {
        "abstract_problem": "The network has {num_nodes} sites.",
        "parameters": {"num_nodes": 500},
        "files": {
            "arcs": {"path": "data/arcs.csv", "description": "One row per link of {num_nodes}."}
        },
        "optimal_value": 3,
    }
    (inst / "instance.json").write_text(json.dumps(instance), encoding="utf-8")
    (p,) = read_miplib_nl(tmp_path)
    assert p.question.startswith("The network has 500 sites.")
    assert "- num_nodes = 500" in p.question  # still listed
    assert "- arcs.csv (arcs): One row per link of 500." in p.question
    assert p.metadata["placeholders_filled"] == ["num_nodes"]


@pytest.mark.needs_data("miplib_nl.dev")
def test_no_dev_instance_keeps_a_parameter_slot_and_the_prompt_has_one_tables_section() -> None:
    problems = read_miplib_nl(benchmark_mirror() / "miplib_nl" / "dev")
    filled = [p for p in problems if p.metadata.get("placeholders_filled")]
    assert len(filled) == 30  # of 45: every slot of the published texts names a parameter
    for p in problems:
        for name in p.metadata["parameters"]:
            assert "{" + name + "}" not in p.question, (p.id, name)
    beasley = next(p for p in problems if p.id == "beasleyC1")
    assert "The backbone contains 500 sites and 1250 candidate directed links" in beasley.question
    messages = formulate_messages(beasley.question, data=beasley.data_dir)
    user = messages[-1]["content"]
    assert user.count("Data tables") == 1  # the agent's section; upstream's has its own heading
    assert "What each data file holds (the instance's own description of its files):" in user
    assert "arcs.csv: 1250 rows, 3 columns" in user
