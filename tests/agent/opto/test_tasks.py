"""The self-contained tasks run end to end with the scripted optimizer LLM."""

from __future__ import annotations

import pytest

from agent.fake import FakeLLM
from agent.opto.tasks import battleship, numeric


def test_numeric_programs_converge_with_the_scripted_optimizer() -> None:
    report = numeric.run_numeric(programs=4, steps=20, seed=3)
    summary = report.summary()
    assert summary["optoprime_success"] == 1.0
    for program, trace in zip(report.programs, report.optoprime, strict=True):
        assert trace.errors[-1] <= program.tolerance() < trace.errors[0]
    assert len(report.adam) == 4 and "mean final |error|" in report.table()


def test_numeric_program_is_seeded_and_traced_like_plain_python() -> None:
    program = numeric.make_program(7)
    assert program == numeric.make_program(7)
    from agent.opto import ParameterNode

    x = ParameterNode(program.start, name="x")
    assert program.run(x).data == pytest.approx(program.run(program.start))
    value, slope = program.derivative(program.start)
    assert value == pytest.approx(program.run(program.start))
    h = 1e-6
    assert slope == pytest.approx((program.run(program.start + h) - value) / h, rel=1e-4)
    assert numeric.numeric_feedback(program.target, program) == "Success."


def test_battleship_trains_reason_and_act_end_to_end() -> None:
    report = battleship.train(FakeLLM(rules=[(lambda _t: True, battleship.ScriptedCoder())]))
    assert report.before < 0.2 and report.after >= 0.6
    # the scripted optimizer's buggy proposal came back as marked source, then got fixed
    errors = [f for f in report.feedback if "(KeyError)" in f]
    assert errors and "<--- (KeyError) 'next'" in errors[0]
    assert "targets" in report.code["reason.__code"] and "targets" in report.code["act.__code"]


def test_battleship_board_rewards_and_wasted_turns() -> None:
    board = battleship.Board(seed=1, size=6)
    cell = sorted(board.ships)[0]
    assert board.shoot(cell)[0] == 1
    assert "already shot" in board.shoot(cell)[1]
    assert "off the board" in board.shoot((9, 9))[1]
    assert "must return a (row, col)" in board.shoot("B4")[1]
    assert board.view()[cell[0]][cell[1]] == "X"
