"""QA session 3 (Q4): a chat diagnosis's plain-text tables stay tables on the Chat page.

The sensitivity report that answers "why is it infeasible?" on a solved model
aligns its columns with spaces; drawn as markdown it became one paragraph.
"""

from __future__ import annotations

from ui.view_model import fixed_width_blocks

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
