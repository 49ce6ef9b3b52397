"""The tool chat's system prompt is a prompt file: the packaged one by default, a tuned one
(``PromptSet.load(DIR)``, ``optiwise tune --components tool_chat``) when given."""

from __future__ import annotations

import json
from pathlib import Path

from support import stub_model

from agent.chat import ChatSession
from agent.prompts import PromptSet
from agent.stub_server import StubServer
from agent.tool_chat import ToolChat, ToolChatConfig, Workspace
from modeling.samples import get_sample

SAMPLE = get_sample("transport_basic")
DOC = json.loads(json.dumps(dict(SAMPLE.formulation)))


def test_the_default_system_prompt_is_the_packaged_file_with_the_model(
    llm_stub: StubServer,
) -> None:
    llm_stub.push("Cost 2528.")
    ToolChat(stub_model(llm_stub), ToolChatConfig(tool_mode="native")).run(
        "what is the profit?", Workspace.of(DOC)
    )
    sent = llm_stub.chat_requests[0].messages[0]
    assert sent["role"] == "system"
    text = str(sent["content"])
    head = PromptSet.default()["tool_chat"].split("$model")[0]
    assert text.startswith(head) and "Use edit_model only for a change" in text
    outline = json.loads(text[len(head) :])  # the model, compact JSON, problem left out
    assert outline["parameters"] == json.loads(json.dumps(DOC["parameters"]))
    assert "problem" not in outline


def test_a_tuned_prompt_directory_replaces_the_tool_chat_prompt(
    llm_stub: StubServer, tmp_path: Path
) -> None:
    PromptSet({"tool_chat": "TUNED. Answer briefly about:\n$model\n"}).save(tmp_path / "tuned")
    prompts = PromptSet.load(tmp_path / "tuned")  # the rest from the defaults
    assert prompts["formulate"] == PromptSet.default()["formulate"]

    llm_stub.push('{"tool": "solve", "arguments": {}}', '{"final": "Cost 2528."}')
    with ChatSession(
        stub_model(llm_stub), prompts=prompts, tool_mode="json", path=tmp_path / "t.sqlite"
    ) as chat:
        chat.open_model(DOC, SAMPLE.problem)
        reply = chat.send("solve it")

    assert reply.answer == "Cost 2528." and [c["name"] for c in reply.tool_calls] == ["solve"]
    system = str(llm_stub.chat_requests[0].messages[0]["content"])
    assert system.startswith("TUNED. Answer briefly about:\n{")
    assert "You help a person" not in system
    assert '{"final"' in system  # the JSON protocol is still appended in json mode
