"""``optiwise ask --prompts DIR`` loads a tuned repair hook saved there by ``optiwise tune``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.cli import main
from agent.stub_server import StubServer

GOOD = {
    "variables": {"x": {"upper": 4}},
    "objective": {"sense": "max", "expression": "3 * x"},
}

HOOK = """
def repair_feedback(findings):
    return "TUNED HOOK: " + " | ".join(f["location"] for f in findings)
"""


def test_ask_uses_the_repair_hook_beside_the_prompts(
    monkeypatch: pytest.MonkeyPatch, llm_stub: StubServer, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "OPTIWISE_")) and name != "OPTIWISE_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.base_url)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "repair_feedback.py").write_text(HOOK, encoding="utf-8")
    broken = {**GOOD, "objective": {"sense": "max", "expression": "3 * z"}}
    llm_stub.push(json.dumps(broken), json.dumps(GOOD))

    code = main(["ask", "--json", "--prompts", str(prompts), "Make at most 4 of x; max 3x."])

    assert code == 0
    repair = str(llm_stub.chat_requests[1].body["messages"][-1]["content"])
    assert "TUNED HOOK: objective.expression" in repair
