"""A result's diagnosis (sensitivity, IIS) is computed once, not on every rerun (QA W8).

Every widget on the Model page reruns the script; the sensitivity tab and the IIS view
used to send the diagnosis to a worker again each time, so with a model whose IIS takes
its whole 30 s budget every click on the page waited that long again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest
from support import SAMPLES

import ui.results

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _model_page_solved(sample: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("ui/pages/model.py").run()
    doc = yaml.safe_load((SAMPLES / f"{sample}.yaml").read_text(encoding="utf-8"))
    at.text_area(key="doc_text").set_value(yaml.safe_dump(doc["formulation"])).run()
    next(b for b in at.button if b.key == "model_solve").click().run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def diagnoses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    monkeypatch.setenv("OPTIWISE_HOME", str(tmp_path / "home"))
    calls: list[str] = []
    real = ui.results.diagnose_isolated

    def counting(kind: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(kind)
        return real(kind, *args, **kwargs)

    monkeypatch.setattr(ui.results, "diagnose_isolated", counting)
    return calls


def test_the_sensitivity_report_is_not_recomputed_on_reruns(diagnoses: list[str]) -> None:
    at = _model_page_solved("production_mix")
    assert diagnoses == ["sensitivity"]
    for _ in range(3):
        at.run()  # what any click on the page does
        assert not at.exception, at.exception
    assert diagnoses == ["sensitivity"]
    assert any(len(df.value) for df in at.dataframe)  # the report is still shown


def test_the_iis_is_not_recomputed_on_reruns_and_a_new_solve_gets_its_own(
    diagnoses: list[str],
) -> None:
    at = _model_page_solved("infeasible_feed_blend")
    assert diagnoses == ["infeasible"]
    at.run()
    at.run()
    assert diagnoses == ["infeasible"]
    assert any("min_protein" in c.value for c in at.code)
    next(b for b in at.button if b.key == "model_solve").click().run()  # a new result
    assert diagnoses == ["infeasible", "infeasible"]
