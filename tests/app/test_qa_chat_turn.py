"""QA session 3: a chat turn is not lost to a message sent while it runs (Q3);
a diagnosis's plain-text tables stay tables on the Chat page (Q4).

Q3: with Streamlit's fast reruns a message sent during a turn started a second
run of the page beside the first: it was answered from the half-finished turn
("the current model is valid") and the first turn's reply was lost. Checked in
headless Chromium (QA findings, Q3); here the two parts of the fix: the app's
config turns fast reruns off, and the page holds a rerun back until the reply
is kept. Q4: the sensitivity report that answers "why is it infeasible?" on a
solved model aligns its columns with spaces; drawn as markdown it became one
paragraph.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from streamlit.runtime.scriptrunner import RerunException, StopException

from ui.turns import DeferredRerun
from ui.view_model import fixed_width_blocks

ROOT = Path(__file__).resolve().parents[2]

DIAGNOSIS = """The current model is optimal, not infeasible.
Optimal (production_mix): objective = 8520 (maximize).

Constraints (shadow price = change of the objective per unit increase of
the right-hand side; the range keeps the same optimal basis):
  constraint                   activity   rhs  slack  shadow price       rhs range  binding
  ---------------------------  --------  ----  -----  ------------  --------------  -------
  resource_limit['carpentry']       600   600      0            14  [230, 613.333]      yes
  chair_market                      120   120      0             1        [0, 200]      yes

Variables (reduced cost = change of the objective per unit increase of the
variable from its bound; the cost range keeps the solution optimal):
  variable          value  reduced cost  cost        cost range
  ----------------  -----  ------------  ----  ----------------
  make['table']         0            -1    55        [-inf, 56]"""


def test_the_app_does_not_start_a_second_run_beside_a_running_turn() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["runner"]["fastReruns"] is False


def test_a_rerun_during_the_turn_is_held_until_the_reply_is_kept() -> None:
    rerun = DeferredRerun()
    drawn: list[str] = []

    def update(label: str) -> None:
        if label == "solving":
            raise RerunException(None)  # what Streamlit does when a new message arrives
        drawn.append(label)

    for label in ["checking", "solving", "explaining"]:  # the turn goes on
        rerun.call(update, label)
    assert drawn == ["checking"]  # drawing stops once the page is to be redrawn
    with pytest.raises(RerunException):
        rerun.reraise()
    rerun.reraise()  # handed on once


def test_stop_is_not_held_back() -> None:
    def stop() -> None:
        raise StopException()

    with pytest.raises(StopException):
        DeferredRerun().call(stop)


def test_a_diagnosis_table_is_drawn_in_a_fixed_width_block() -> None:
    text = fixed_width_blocks(DIAGNOSIS)
    fences = [k for k, line in enumerate(text.split("\n")) if line.startswith("```")]
    assert len(fences) == 4, text  # two tables, each opened and closed
    lines = text.split("\n")
    assert lines[fences[0] + 1].strip().startswith("constraint")
    assert lines[fences[1] - 1].strip().startswith("chair_market")
    assert "The current model is optimal, not infeasible." in text


def test_markdown_from_the_llm_is_left_alone() -> None:
    reply = "Make **84 desks**:\n\n- tables\n  - none\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    assert fixed_width_blocks(reply) == reply
