"""Prompts are data: every prompt renders, sets save and load, errors are clear."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.llm import extract_json
from agent.prompts import PROMPT_NAMES, PromptError, PromptSet, load_prompt

# What the agent passes to each prompt; the prompt files must use exactly these.
VARIABLES = {
    "system": set(),
    "formulate": {"problem", "examples"},
    "repair": {"problem", "document", "errors"},
    "explain": {"problem", "result"},
    "review": {"problem", "document"},
    "edit": {"request", "document"},
    "code": {"problem"},
    "code_repair": {"error"},
    "tool_chat": {"model"},
}


def test_the_built_in_set_has_every_prompt() -> None:
    prompts = PromptSet.default()
    assert set(prompts) == set(PROMPT_NAMES) == set(VARIABLES)
    assert prompts is PromptSet.default()  # loaded once
    assert load_prompt("repair") == prompts["repair"]


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_every_prompt_renders_with_its_variables(name: str) -> None:
    prompts = PromptSet.default()
    assert prompts.variables(name) == VARIABLES[name]
    values = {var: f"<<{var.upper()} VALUE>>" for var in VARIABLES[name]}

    text = prompts.render(name, **values)

    for value in values.values():
        assert value in text
    assert not re.search(r"\$[A-Za-z_{]", text), "a placeholder was left unfilled"
    assert len(text) < 12_000  # prompts stay concise


def test_a_missing_variable_is_named_in_the_error() -> None:
    with pytest.raises(PromptError, match=r"'repair' needs \$document, \$errors"):
        PromptSet.default().render("repair", problem="p")


def test_render_details() -> None:
    prompts = PromptSet({"t": "Pay $$5 or $5; doc: $doc; ${name}x; unused ok"})
    text = prompts.render("t", doc={"a": [1, 2]}, name="N", extra="ignored")
    assert text.startswith("Pay $5 or $5; doc: {\n")
    assert json.loads(text.split("doc: ")[1].split(";")[0]) == {"a": [1, 2]}
    assert "Nx" in text


def test_values_are_not_reinterpreted() -> None:
    text = PromptSet.default().render("code", problem="Costs $x and $$y per ${unit}.")
    assert "Costs $x and $$y per ${unit}." in text


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    tuned = PromptSet.default().updated(formulate="Formulate: $problem\n$examples\n")
    assert tuned["formulate"] != PromptSet.default()["formulate"]  # the original is unchanged

    tuned.save(tmp_path / "tuned")
    loaded = PromptSet.load(tmp_path / "tuned")

    assert loaded == tuned and loaded.digest() == tuned.digest()
    assert loaded.digest() != PromptSet.default().digest()
    assert sorted(p.name for p in (tmp_path / "tuned").iterdir()) == sorted(
        f"{n}.md" for n in PROMPT_NAMES
    )


def test_a_partial_directory_is_completed_by_the_defaults(tmp_path: Path) -> None:
    PromptSet({"formulate": "only $problem"}).save(tmp_path)
    merged = PromptSet.load(tmp_path)
    assert merged["formulate"] == "only $problem"
    assert merged["system"] == PromptSet.default()["system"]
    assert set(PromptSet.load(tmp_path, defaults=False)) == {"formulate"}


def test_unknown_prompts_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="known prompts: code, code_repair, edit"):
        load_prompt("nope")
    with pytest.raises(PromptError, match="no prompt named 'nope'"):
        PromptSet.default().render("nope")
    with pytest.raises(PromptError, match="no prompt directory"):
        PromptSet.load(tmp_path / "missing")
    with pytest.raises(PromptError, match="invalid prompt name"):
        PromptSet({"../escape": "x"})


def test_system_prompt_teaches_the_spec_rules() -> None:
    text = PromptSet.default()["system"]
    for must in ("<=", "strict", "constant exponent", "parameter", "index name", "min", "sum("):
        assert must in text.lower() or must in text, must
    example = extract_json(text.split("## Example", 1)[1])
    assert set(example) >= {"sets", "parameters", "variables", "objective", "constraints"}


@pytest.mark.parametrize(
    ("name", "keys"), [("review", {"verdict", "issues"}), ("edit", {"summary", "document"})]
)
def test_json_answer_prompts_state_their_answer_shape(name: str, keys: set[str]) -> None:
    text = PromptSet.default()[name]
    assert all(f'"{key}"' in text for key in keys)
    assert "JSON" in text
