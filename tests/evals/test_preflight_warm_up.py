"""The eval's workers start during the preflight request, and a failed preflight stops them."""

from __future__ import annotations

import multiprocessing
import socket
import time
from pathlib import Path

import pytest
from support import optiwise, sample_records, toy_registry


@pytest.mark.slow  # a real process pool starts (the forkserver imports the agent): ~8 s quiet
def test_a_failed_preflight_stops_the_process_pool_it_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = toy_registry(monkeypatch, tmp_path, sample_records(["production_mix"]))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPTIWISE_MAX_RETRIES", "0")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    before = {p.pid for p in multiprocessing.active_children()}
    code = optiwise(
        "eval", "--dataset", "toy.samples", "--model", "m", "--base-url",
        f"http://127.0.0.1:{port}/v1", "--data-dir", str(data), "--out", str(tmp_path / "runs"),
        "--executor", "process", "--workers", "1", "--no-progress", "--run-id", "r",
    )  # fmt: skip
    assert code == 1
    assert "endpoint check failed" in capsys.readouterr().err
    # the pool starts in the background while the preflight runs: whenever its workers come
    # up, they must be stopped; nothing of ours may be left running a few seconds later
    start = time.monotonic()
    while True:
        left = {p.pid for p in multiprocessing.active_children()} - before
        waited = time.monotonic() - start
        if (not left and waited > 4) or waited > 20:
            break
        time.sleep(0.2)
    assert not left
    assert not list((tmp_path / "runs").rglob("results.jsonl"))
