"""Drawing a solve result: metrics, values, chart, sensitivity, checks, IIS, LaTeX.

Shared by the Model page and the chat.  The numbers come from
:mod:`modeling.diagnostics` (the IIS, unbounded ray and sensitivity computed in a
killable worker); the tables from :mod:`ui.view_model`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

import modeling.diagnostics as diag
import modeling.export as export
from modeling import SolveResult, Status
from modeling.compiler import CompiledModel
from modeling.format import format_number
from modeling.worker import diagnose_isolated
from ui.view_model import issue_lines, values_frames

__all__ = ["DIAGNOSIS_TIME_LIMIT_S", "show_formulation_math", "show_result"]

DIAGNOSIS_TIME_LIMIT_S = 30.0
"""Budget of the IIS, unbounded-ray and sensitivity diagnoses shown with a result. They run
in a killable worker (:func:`modeling.worker.diagnose_isolated`), killed this long plus a
grace period after they start, so the server keeps answering whatever the model."""


def show_result(result: SolveResult, key: str) -> None:
    """Status, objective, class and solver, then what the status calls for."""
    status = result.status
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Status", str(status))
    c2.metric("Objective", "—" if result.objective is None else format_number(result.objective))
    c3.metric("Model class", result.model_class or "—")
    c4.metric("Solver", f"{result.solver} {result.solver_version}".strip() or "—")
    if status is Status.INVALID:
        st.error("The formulation breaks the spec:")
        st.markdown("\n".join(f"- {line}" for line in issue_lines(result.errors)))
        return
    if status is Status.ERROR:
        st.error(result.message)
        return
    model = result.model
    if model is None:
        st.warning(result.message or str(status))
        return
    if status in (Status.INFEASIBLE, Status.INFEASIBLE_OR_UNBOUNDED):
        st.warning(
            "The model is infeasible. An irreducible infeasible subset, in the model's own names:"
        )
        _report(
            lambda: _once(
                result,
                "infeasible",
                lambda: diagnose_isolated("infeasible", model, time_limit=DIAGNOSIS_TIME_LIMIT_S),
            ),
            "Computing an irreducible subset…",
        )
        return
    if status is Status.UNBOUNDED:
        st.warning("The model is unbounded: the objective can improve without limit.")
        _report(
            lambda: _once(
                result,
                "unbounded",
                lambda: diagnose_isolated("unbounded", model, time_limit=DIAGNOSIS_TIME_LIMIT_S),
            ),
            "Finding the unbounded directions…",
        )
        return
    if not status.has_solution:
        st.warning(result.message or str(status))
        return
    frames = values_frames(result)
    tabs = st.tabs(["Solution", "Chart", "Sensitivity", "Checks"])
    with tabs[0]:
        for name, df in frames.items():
            nz = df[df["value"].abs() > 1e-9] if len(df) > 1 else df
            st.markdown(f"**{name}** ({len(nz)} nonzero of {len(df)})")
            st.dataframe(nz, hide_index=True, width="stretch")
    with tabs[1]:
        indexed = {n: df for n, df in frames.items() if len(df) > 1}
        if indexed:
            name = st.selectbox("Variable", list(indexed), key=f"chart_{key}")
            df = indexed[name]
            labels = df.drop(columns="value").astype(str).agg(", ".join, axis=1)
            st.bar_chart(pd.DataFrame({"value": df["value"].to_numpy()}, index=labels))
        else:
            st.caption("Only scalar variables; nothing to chart.")
    with tabs[2]:
        _sensitivity(result, model)
    with tabs[3]:
        _sanity(result)


_DIAGNOSES = "_diagnoses_of_results"
_KEEP = 32


def _once(result: SolveResult, kind: str, make: Callable[[], Any]) -> Any:
    """``make()``'s report for this result, computed at its first showing only.

    Every widget reruns the page, and a diagnosis is a job in a worker (an IIS can take its
    whole budget): kept in the session per result and kind (the latest 32), beside the
    result it belongs to (a new solve is a new result, so it gets its own).  A failure is kept too,
    so a diagnosis killed at its limit is not started again by the next click.
    """
    store: dict[tuple[str, int], tuple[SolveResult, Any, Exception | None]]
    store = st.session_state.setdefault(_DIAGNOSES, {})
    key = (kind, id(result))
    kept = store.get(key)
    if kept is None or kept[0] is not result:  # an id is reused only once a result is gone
        try:
            kept = (result, make(), None)
        except Exception as exc:  # shown by the caller, now and at the next rerun
            kept = (result, None, exc)
        store[key] = kept
        while len(store) > _KEEP:  # the chat shows many results; keep the latest ones
            del store[next(iter(store))]
    if kept[2] is not None:
        raise kept[2]
    return kept[1]


def _report(make: Any, spinner: str) -> None:
    """A diagnostics report as text; a diagnosis that cannot be made says why."""
    with st.spinner(spinner):
        try:
            report = make()
        except Exception as exc:  # shown to the person, who can act on it
            st.error(f"The diagnosis failed: {exc}")
            return
    st.code(report.to_text(), language="text")


def _sensitivity(result: SolveResult, model: CompiledModel) -> None:
    if result.model_class != "LP":
        st.caption(
            f"Duals, reduced costs and ranges exist for LPs; this model is a {result.model_class}."
        )
        return
    try:
        report = _once(
            result,
            "sensitivity",
            lambda: diagnose_isolated("sensitivity", model, time_limit=DIAGNOSIS_TIME_LIMIT_S),
        )
        rows = report.to_rows()
    except Exception as exc:
        st.caption(f"Sensitivity failed: {exc}")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _sanity(result: SolveResult) -> None:
    try:
        findings = diag.sanity_check(result)
    except Exception as exc:
        st.caption(f"Checks failed: {exc}")
        return
    if not findings:
        st.success("No integrality, bound or constraint violations; magnitudes look sane.")
    for f in findings:
        st.warning(str(f))


def show_formulation_math(source: Any) -> None:
    """The model in LaTeX (KaTeX), or why it cannot be written."""
    try:
        st.latex(export.to_latex(source))
    except Exception as exc:
        st.caption(f"(LaTeX unavailable: {exc})")
