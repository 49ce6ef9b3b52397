"""Chat checkpoints hold plain strings, and threads saved with status enums reopen silently.

LangGraph warned "Deserializing unregistered type modeling.result.Status" on every
reopened thread and announced it would block such types (QA F24). The reopening
runs in a fresh interpreter because langgraph reads LANGGRAPH_STRICT_MSGPACK at import.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from support import SAMPLES

import agent.chat as chat_module
from agent import FakeLLM, OptimizationAgent
from agent.checkpoint_serde import plain
from modeling.result import Status

TRANSPORT = yaml.safe_load((SAMPLES / "transport_basic.yaml").read_text(encoding="utf-8"))
GOOD: dict[str, Any] = TRANSPORT["formulation"]
ROOT = Path(__file__).resolve().parents[2]


def edited() -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    doc["parameters"]["demand"]["values"]["north"] = 300
    return doc


def stored_bytes(path: Path) -> bytes:
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute("SELECT checkpoint FROM checkpoints").fetchall()
        rows += conn.execute("SELECT value FROM writes").fetchall()
    finally:
        conn.close()
    return b"".join(r[0] or b"" for r in rows)


def test_plain_replaces_string_enums_inside_containers() -> None:
    value = {"status": Status.OPTIMAL, "attempts": [{"status": Status.INFEASIBLE}], "n": (1, 2)}
    out = plain(value)
    assert out == {"status": "optimal", "attempts": [{"status": "infeasible"}], "n": (1, 2)}
    assert type(out["status"]) is str and type(out["attempts"][0]["status"]) is str
    untouched = {"a": [1, "x"]}
    assert plain(untouched) is untouched


def test_new_checkpoints_store_the_status_as_a_plain_string(tmp_path: Path) -> None:
    threads = tmp_path / "threads.sqlite"
    agent = OptimizationAgent(llm=FakeLLM([json.dumps(GOOD), json.dumps(edited())]))
    with agent.chat(thread_id="t", path=threads) as chat:
        chat.send(TRANSPORT["problem"])
    assert b"modeling.result" not in stored_bytes(threads)
    with agent.chat(thread_id="t", path=threads) as again:
        assert type(again.state["status"]) is str and again.state["status"] == "optimal"
        reply = again.send("what if the North orders 300 tons?")
    assert reply.route == "edit" and reply.objective == pytest.approx(2696.0)
    assert b"modeling.result" not in stored_bytes(threads)


REOPEN = textwrap.dedent(
    """
    import json, sys
    from agent import FakeLLM, OptimizationAgent
    from agent.context import AgentConfig
    path, doc = sys.argv[1], json.loads(sys.argv[2])
    # solved in process: no solve worker (a forkserver) to start in this fresh interpreter
    config = AgentConfig(solve_in_process=True)
    agent = OptimizationAgent(llm=FakeLLM([json.dumps(doc)]), config=config)
    with agent.chat(thread_id="old", path=path) as chat:
        before = chat.state["status"]
        reply = chat.send("what if the North orders 300 tons?")
    print(json.dumps({"before": before, "route": reply.route, "objective": reply.objective}))
    """
)


@pytest.mark.slow  # a fresh interpreter per mode (langgraph reads the variable at import)
@pytest.mark.parametrize("strict", ["true", "false"])
def test_a_thread_saved_with_status_enums_reopens_without_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strict: str
) -> None:
    threads = tmp_path / "threads.sqlite"
    # How threads were saved before: LangGraph's default serializer keeps the enum type.
    with monkeypatch.context() as m:
        m.setattr(chat_module, "CheckpointSerializer", JsonPlusSerializer)
        agent = OptimizationAgent(llm=FakeLLM([json.dumps(GOOD)]))
        with agent.chat(thread_id="old", path=threads) as chat:
            chat.send(TRANSPORT["problem"])
    assert b"modeling.result" in stored_bytes(threads)

    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": strict, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", REOPEN, str(threads), json.dumps(edited())],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "unregistered type" not in done.stderr and "Blocked" not in done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["before"] == "optimal" and out["route"] == "edit"
    assert out["objective"] == pytest.approx(2696.0)
