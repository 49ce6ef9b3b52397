"""How the chat reads a tool turn: one row per call, errors as results, sweeps as tables."""

from __future__ import annotations

from ui.view_model import TOOL_MODE_CHOICES, sweep_rows, tool_call_rows, tool_mode_label


def test_tool_calls_read_as_short_rows_with_the_error_as_the_result() -> None:
    rows = tool_call_rows(
        [
            {
                "name": "edit_model",
                "arguments": {"scale": {"budget": 0.9}},
                "ok": True,
                "result": {"objective": 1840.0000001, "diff": "- budget: 950", "values": {}},
            },
            {
                "name": "what_if",
                "arguments": {"changes": {"budgt": 1}},
                "ok": False,
                "result": {"error": "no parameter named 'budgt'"},
            },
            {
                "name": "sweep_parameter",
                "arguments": {},
                "ok": True,
                "result": {"table": [0.5] * 500},
            },
        ]
    )
    assert [r["tool"] for r in rows] == ["edit_model", "what_if", "sweep_parameter"]
    assert [r["ok"] for r in rows] == [True, False, True]
    assert rows[0]["arguments"] == '{"scale":{"budget":0.9}}'
    assert rows[0]["result"] == '{"objective":1840.0,"values":{}}'  # rounded; diff shown apart
    assert rows[1]["result"] == "no parameter named 'budgt'"
    assert len(rows[2]["result"]) <= 160


def test_a_sweep_reads_as_value_objective_status_rows() -> None:
    rows = [{"value": 1.0, "status": "optimal", "objective": 3.0}]
    assert sweep_rows({"rows": rows}) == [{"value": 1.0, "objective": 3.0, "status": "optimal"}]
    assert sweep_rows({"x": [1, 2], "y": [3, None]}) == [
        {"value": 1, "objective": 3, "status": ""},
        {"value": 2, "objective": None, "status": ""},
    ]


def test_every_tool_mode_has_a_label_and_off_comes_first() -> None:
    from agent.tool_chat import TOOL_MODES

    assert set(TOOL_MODE_CHOICES) == set(TOOL_MODES) and TOOL_MODE_CHOICES[0] == "off"
    assert all(tool_mode_label(m).startswith(f"{m}: ") for m in TOOL_MODE_CHOICES)
