"""``optiwise eval report`` rewrites a run's report; ``optiwise data flags`` writes label flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from evals.problems import Problem, normalize_answer
from evals.results import ResultWriter, build_result
from evals.scoring import ALL_PROTOCOLS


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    problem = Problem(id="a", dataset="miplib_nl.dev", question="q", answer=normalize_answer(85))
    line = build_result(
        problem, {"status": "optimal", "objective": 85.0}, protocols=ALL_PROTOCOLS, latency_s=0.1
    )
    with ResultWriter(run / "results.jsonl") as writer:
        writer.write(line)
    config = {"dataset": "miplib_nl.dev", "family": "miplib_nl", "model": "m", "n_selected": 1}
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return run


def test_eval_report_rewrites_the_report_under_the_protocol_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_folder(tmp_path)
    assert main(["eval", "report", str(run), "--protocol", "miplib_nl"]) == 0
    assert "wrote" in capsys.readouterr().out
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "default protocol: **miplib_nl**" in report
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["default_protocol"] == "miplib_nl"
    assert main(["eval", "report", str(run), "--print"]) == 0
    assert "default protocol: **sirl**" in capsys.readouterr().out


def test_eval_report_on_a_folder_without_results_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "report", str(tmp_path / "nothing")]) == 1
    assert "error:" in capsys.readouterr().err


@pytest.mark.needs_data
def test_data_flags_writes_each_log_row_with_the_ids_it_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "flags.jsonl"
    assert main(["data", "flags", "industryor.orthought_base", "--out", str(out)]) == 0
    assert "log rows" in capsys.readouterr().out
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    flagged = [r for r in rows if r["flags"]]
    assert flagged and len(flagged) < len(rows)  # some labels are fine, some are not
    assert any(r["flags_problems"] for r in flagged)  # tied to this variant's problem ids
    assert all(not r["flags_problems"] for r in rows if not r["flags"])


def test_data_flags_without_a_fix_log_names_what_to_fetch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "flags", "complexor.coe", "--data-dir", str(tmp_path)]) == 1
    assert "no fix log of family 'complexor'" in capsys.readouterr().err
