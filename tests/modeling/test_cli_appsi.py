"""``optiwise solve --solver appsi_highs`` solves at once (it used to deadlock ~105 s in
Pyomo's output capture when APPSI was first loaded under the CLI's stdout redirect)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import SAMPLES


@pytest.mark.slow  # a fresh process importing Pyomo and APPSI: ~5 s
def test_appsi_highs_from_the_cli_solves_without_the_capture_deadlock() -> None:
    code = "from agent.cli import main; raise SystemExit(main())"
    argv = [sys.executable, "-c", code, "solve", str(SAMPLES / "production_mix.yaml")]
    argv += ["--backend", "pyomo", "--solver", "appsi_highs", "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["solver"]) == ("optimal", "appsi_highs")
    assert result["objective"] == pytest.approx(8520.0)
    assert "deadlock" not in done.stderr
