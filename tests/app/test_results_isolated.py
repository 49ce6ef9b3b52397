"""The app's diagnoses run in the killable worker: an IIS whose model build hangs is
stopped at its limit and the page says so, instead of the server hanging."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from modeling.worker import grace, warm_up

LIMIT_S = 1.0
MARGIN_S = 4.0  # compile in the worker, kill, and the AppTest run itself on a loaded machine


def _hanging_iis_page() -> None:
    # AppTest runs this function's source alone: everything it uses is imported here
    from support import hanging_cubic

    import ui.results as results
    from modeling.compiler import compile_model
    from modeling.formulation import load
    from modeling.result import SolveResult, Status, Termination

    results.DIAGNOSIS_TIME_LIMIT_S = 1.0
    doc = hanging_cubic()  # its IIS's model build ignores the limit (runs for over 30 s)
    model = compile_model(load(doc))
    result = SolveResult(Status.INFEASIBLE, Termination.INFEASIBLE, model_class="NLP", model=model)
    results.show_result(result, key="hang")


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    warm_up()  # the forkserver's one-time imports are not what this test times


@pytest.mark.slow  # the page compiles 27,000 terms, then waits for the 3 s kill: ~7 s loaded
def test_a_hanging_iis_is_stopped_and_the_page_says_so() -> None:
    at = AppTest.from_function(_hanging_iis_page, default_timeout=60)
    t0 = time.perf_counter()
    at.run()
    took = time.perf_counter() - t0
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("diagnosis failed" in e and "killed" in e for e in errors), errors
    assert took < LIMIT_S + grace(LIMIT_S) + MARGIN_S + 1.0  # + the compile in the page
