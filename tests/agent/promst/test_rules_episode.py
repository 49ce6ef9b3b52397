"""Feedback rules pick the right context per category; the episode runner's history window,
stuck detection, step limit and format check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.fake import FakeLLM
from agent.promst import EpisodeConfig, RuleError, RuleSet, builtin_rules, run_episode
from agent.promst.envs import GridLayout, GridWorld
from agent.promst.episode import approx_tokens

PROMPT = "TASK PROMPT: collect the goals."


def corridor(max_steps: int = 30) -> GridWorld:
    # a 4x4 grid, robot at (0, 0), goals at (0, 3) then (3, 3), obstacle at (1, 1)
    return GridWorld(GridLayout(4, (0, 0), ((0, 3), (3, 3)), frozenset({(1, 1)}), True, max_steps))


def scripted(*actions: str) -> FakeLLM:
    return FakeLLM([json.dumps({"action": a}) for a in actions])


def episode_for(llm: FakeLLM, config: EpisodeConfig | None = None, env: GridWorld | None = None):
    return run_episode(llm, PROMPT, env or corridor(), config)


def test_episode_outcomes_success_terminal_error_format_stuck_and_step_limit() -> None:
    ok = episode_for(scripted("right", "right", "right", "pick", "down", "down", "down", "pick"))
    assert ok.success and ok.score == 1.0 and ok.steps == 8 and ok.error is None

    crash = episode_for(scripted("down", "right"))
    assert crash.outcome == "collision" and crash.error and crash.error.kind == "obstacle"
    assert crash.steps == 2 and crash.score == 0.0

    order = episode_for(scripted("down", "down", "down", "right", "right", "right", "pick"))
    assert order.outcome == "wrong_order"

    prose = episode_for(FakeLLM(["I think I will go right."]))
    assert prose.outcome == "wrong_format" and "no JSON object" in prose.error.detail

    # "pick" on an empty cell changes nothing: stuck after more than 4 unchanged steps
    stuck = episode_for(scripted(*["pick"] * 10))
    assert stuck.outcome == "stuck" and stuck.steps == 5

    # moving back and forth changes the state every step: only the step limit ends it
    limit = episode_for(scripted(*["right", "left"] * 3), env=corridor(max_steps=6))
    assert limit.outcome == "out_of_steps" and limit.steps == 6 and limit.max_steps == 6
    capped = episode_for(scripted(*["right", "left"] * 2), EpisodeConfig(max_steps=4))
    assert capped.outcome == "out_of_steps" and capped.max_steps == 4


def test_each_step_sends_prompt_state_and_newest_history_within_the_token_budget() -> None:
    llm = scripted("right", "left", "right", "left", "right")
    config = EpisodeConfig(history_tokens=150, max_steps=5)
    episode_for(llm, config)
    assert all(c.messages[0] == {"role": "system", "content": PROMPT} for c in llm.calls)
    first, last = llm.calls[0].last_user, llm.calls[-1].last_user
    assert "(no previous rounds)" in first and "Robot at (0, 0)" in first
    # the window holds only the newest rounds that fit 150 tokens, oldest first
    history, current = last.split("Current state:")
    kept = [n for n in range(1, 5) if f"Round {n}:" in history]
    assert kept == [4]  # one round is ~110 tokens: two would not fit
    assert "3 older rounds omitted" in history
    assert approx_tokens(history) <= 150 + 10
    assert "Robot at (0, 0)" in current  # right, left, right, left
    wide = scripted("right", "left", "right", "left", "right")
    episode_for(wide, EpisodeConfig(history_tokens=10_000, max_steps=5))
    assert all(f"Round {n}:" in wide.calls[-1].last_user for n in range(1, 5))


def sections(text: str) -> dict[str, bool]:
    return {
        "prompt": "Task prompt:\n" + PROMPT in text,
        "reply": "Offending reply:" in text,
        "rounds": "round(s):" in text,
    }


@pytest.mark.parametrize(
    ("actions", "category", "shown", "message"),
    [
        (
            ["I go right"],
            "wrong_format",
            {"prompt": True, "reply": True, "rounds": False},
            "could not be read as an action",
        ),
        (
            ["down", "right"],
            "collision",
            {"prompt": False, "reply": True, "rounds": False},
            "hit an obstacle: right hits the obstacle at (1, 1)",
        ),
        (
            ["up"],
            "out_of_grid",
            {"prompt": False, "reply": True, "rounds": False},
            "The robot left the grid: up from (0, 0) leaves the grid",
        ),
        (
            ["down", "down", "down", "right", "right", "right", "pick"],
            "wrong_order",
            {"prompt": False, "reply": True, "rounds": False},
            "picked goal1 before goal0",
        ),
        (
            ["pick"] * 6,
            "stuck",
            {"prompt": False, "reply": False, "rounds": True},
            "did not change for several steps",
        ),
        (
            ["right", "left"] * 4,
            "out_of_steps",
            {"prompt": False, "reply": False, "rounds": True},
            "not completed within 8 steps (partial score 0.00)",
        ),
    ],
)
def test_gridworld_rules_pick_the_context_of_each_category(
    actions: list[str], category: str, shown: dict[str, bool], message: str
) -> None:
    replies = [a if " " in a else json.dumps({"action": a}) for a in actions]
    episode = episode_for(FakeLLM(replies), env=corridor(max_steps=8))
    assert episode.outcome == category
    feedback = RuleSet.load("gridworld").feedback(episode, PROMPT)
    assert feedback is not None and feedback.category == category
    assert sections(feedback.text) == shown
    assert message in feedback.text
    if shown["reply"]:
        assert feedback.text.split("Offending reply:\n")[1].startswith(replies[-1])
    if shown["rounds"]:  # the last two rounds, not older ones
        assert "Last 2 round(s):" in feedback.text
        assert f"Round {episode.steps}:" in feedback.text
        assert f"Round {episode.steps - 2}:" not in feedback.text


def test_success_has_no_feedback_and_unknown_categories_use_the_default_rule() -> None:
    rules = RuleSet.load("gridworld")
    ok = episode_for(scripted("right", "right", "right", "pick", "down", "down", "down", "pick"))
    assert rules.feedback(ok, PROMPT) is None
    assert rules.rule_for("too_heavy").label == "Other error"
    assert "$category" in rules.rule_for("too_heavy").message
    assert RuleSet([]).rule_for("anything").show_reply


def test_user_rule_file_extends_builtins_and_overrides_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'extends = ["gridworld"]\n'
        "[rules.collision]\n"
        "last_rounds = 1\n"
        'message = "Mind the walls ($kind at step $steps)."\n'
        "[rules.teleport]\n"
        'label = "Teleported"\n'
        "show_prompt = true\n"
        'message = "No teleporting: $detail"\n',
        encoding="utf-8",
    )
    rules = RuleSet.load(path)
    collision = rules.rule_for("collision")
    assert collision.label == "Collision with an obstacle"  # kept from gridworld.toml
    assert collision.show_reply and collision.last_rounds == 1
    assert rules.rule_for("teleport").show_prompt
    episode = episode_for(scripted("down", "right"))
    text = rules.feedback(episode, PROMPT).text
    assert "Mind the walls (obstacle at step 2)." in text and "Last 1 round(s):" in text
    assert {"common", "gridworld", "boxnet", "boxlift", "warehouse"} <= set(builtin_rules())


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('[rules.collision]\nmessage = "hit $where"\n', r"unknown placeholder \$where"),
        ("[rules.collision]\ncolour = 1\n", "unknown field.*colour"),
        ("[rules.collision]\nlast_rounds = -1\n", "last_rounds must be an integer >= 0"),
        ("[rules.collision]\nshow_reply = 'yes'\n", "show_reply must be bool"),
        ("rule = 1\n", "unknown top-level key"),
        ("[rules\n", "not valid TOML"),
        ('extends = ["nope"]\n', "no built-in rule file 'nope'"),
    ],
)
def test_malformed_rule_files_fail_at_load_with_the_file_name(
    tmp_path: Path, body: str, error: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RuleError, match=error):
        RuleSet.load(path)


@pytest.mark.parametrize("name", ["common", "gridworld", "boxnet", "boxlift", "warehouse"])
def test_builtin_rule_files_load(name: str) -> None:
    rules = RuleSet.load(name)
    assert {"wrong_format", "stuck", "out_of_steps", "default"} <= set(rules.rules)
