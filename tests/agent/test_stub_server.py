"""``python -m agent.stub_server``: a local endpoint a newcomer can point ``optiwise ask`` at."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import ROOT, SAMPLES, stub_model

from agent import OptimizationAgent
from agent.cli import main
from agent.stub_server import FormulationRule, StubServer

PRODUCTION = yaml.safe_load((SAMPLES / "production_mix.yaml").read_text(encoding="utf-8"))


def test_the_command_serves_a_reply_file_to_optiwise_ask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = tmp_path / "model.yaml"
    reply.write_text(yaml.safe_dump(PRODUCTION["formulation"]), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.stub_server", "--port", "0", "--reply-file", str(reply)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "stub LLM server on http://127.0.0.1:" in banner, proc.stderr
        url = banner.split(" on ", 1)[1].split()[0]
        assert f"export OPENAI_BASE_URL={url}" in proc.stdout.readline()
        monkeypatch.setenv("OPENAI_BASE_URL", url)

        code = main(["ask", "--json", "Any problem at all: the stub answers with the file."])
        data = json.loads(capsys.readouterr().out)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        returncode = proc.wait(timeout=10)

    assert code == 0 and (data["status"], data["objective"]) == ("optimal", 8520)
    assert returncode == 0


def test_a_reply_file_without_a_formulation_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("just some words\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "agent.stub_server", "--reply-file", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode != 0 and "holds no formulation document" in done.stderr


def test_by_default_the_gallery_samples_are_answered_without_a_repair() -> None:
    with StubServer(handler=FormulationRule()) as stub:
        result = OptimizationAgent(llm=stub_model(stub), max_repairs=1).solve(PRODUCTION["problem"])
        unknown = FormulationRule()({"messages": [{"content": "## Problem\n\nPlan my week."}]})

    assert (result.status, result.objective, result.repairs) == ("optimal", 8520, 0)
    assert "--reply-file" in unknown and "--echo-formulation" in unknown


def test_echo_mode_answers_with_the_formulation_written_in_the_problem() -> None:
    document = yaml.safe_dump(PRODUCTION["formulation"])
    problem = f"Solve this model:\n\n```yaml\n{document}```\n"
    with StubServer(handler=FormulationRule(echo=True)) as stub:
        result = OptimizationAgent(llm=stub_model(stub), max_repairs=0).solve(problem)

    assert (result.status, result.objective) == ("optimal", 8520)
