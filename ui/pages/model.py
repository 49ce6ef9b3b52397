"""Model page: the formulation as a document, checked as you type, solved on demand."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
import yaml

import modeling
import modeling.export as export
from modeling.scenarios import apply_changes
from ui.results import show_formulation_math, show_result
from ui.state import set_later, solve_kwargs
from ui.view_model import editable_parameters, issue_lines, model_summary, parameter_changes


def render() -> None:
    st.header("Model")
    st.caption(
        "The formulation as a document (YAML or JSON, spec v1). Edits are validated "
        "as you type; errors name their location."
    )
    ss = st.session_state
    left, right = st.columns([3, 2])
    with left:
        text = st.text_area(
            "Formulation",
            key="doc_text",
            height=420,
            placeholder="Open a sample from the Gallery, or paste a formulation.",
        )
    issues = modeling.check(text) if text.strip() else []
    with right:
        if not text.strip():
            st.info("No formulation yet.")
            return
        if issues:
            st.error(f"{len(issues)} problem{'s' if len(issues) != 1 else ''} in the document:")
            st.markdown("\n".join(f"- {line}" for line in issue_lines(issues)))
        else:
            model = modeling.compile_model(text)
            st.success(model_summary(model))
            _param_editor(text, model)
    if issues:
        return
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Solve", type="primary", key="model_solve"):
        with st.spinner("Solving…"):
            ss["result"] = modeling.solve(text, **solve_kwargs())
    result: modeling.SolveResult | None = ss.get("result")
    if result is not None and b2.button("Save as scenario", key="save_scenario"):
        ss["scenarios"].append(
            {
                "name": f"scenario {len(ss['scenarios']) + 1}",
                "status": str(result.status),
                "objective": result.objective,
                "values": result.values,
            }
        )
    if result is not None:
        show_result(result, "model")
    if ss["scenarios"]:
        st.subheader("Scenarios")
        st.dataframe(
            pd.DataFrame([{k: v for k, v in s.items() if k != "values"} for s in ss["scenarios"]]),
            hide_index=True,
        )
    with st.expander("Mathematics (LaTeX)"):
        show_formulation_math(text)
    _downloads(text)


def _param_editor(text: str, model: Any) -> None:
    """Editable tables for the document's 1- and 2-index parameters."""
    params = editable_parameters(model)
    if not params:
        return
    with st.expander("Edit parameters as tables"):
        name = st.selectbox("Parameter", [p.name for p in params], key="param_pick")
        param = next(p for p in params if p.name == name)
        edited = st.data_editor(param.frame(), key=f"edit_{name}")
        if st.button("Apply to the document", key="apply_params"):
            changes = parameter_changes(param, edited)
            if changes:
                doc = apply_changes(yaml.safe_load(text), changes)
                set_later(doc_text=yaml.safe_dump(doc, sort_keys=False), result=None)
                st.rerun()


def _downloads(text: str) -> None:
    st.subheader("Download")
    cols = st.columns(5)
    cols[0].download_button("Formulation (.yaml)", text, file_name="formulation.yaml")
    for col, (label, fn, fname) in zip(
        cols[1:],
        [
            ("LaTeX", export.to_latex, "model.tex"),
            ("Pyomo script", export.to_pyomo_script, "model.py"),
            ("LP file", export.to_lp, "model.lp"),
            ("MPS file", export.to_mps, "model.mps"),
        ],
        strict=True,
    ):
        try:
            content = fn(text)
        except Exception as exc:
            col.caption(f"{label}: {exc}")
            continue
        col.download_button(label, content, file_name=fname, key=f"dl_{fname}")


render()
