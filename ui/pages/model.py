"""Model page: the formulation as a document, checked as you type, solved on demand.

What is computed from the document (its check, its compiled model, its LaTeX)
is kept per document text, so a rerun that does not change the text (opening
an expander, picking a parameter) recomputes nothing, and exports are written
only when asked for.  A solve result belongs to the text it was solved from:
after an edit it is no longer shown as the model's result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st
import yaml

import modeling
import modeling.export as export
from modeling.compiler import CompiledModel
from modeling.errors import Issue
from modeling.scenarios import apply_changes
from modeling.worker import solve_isolated
from ui.results import show_result
from ui.state import set_later, solve_kwargs
from ui.view_model import (
    diff_text,
    doc_digest,
    editable_parameters,
    issue_lines,
    model_summary,
    parameter_changes,
)

_KEEP = 4  # documents remembered per session (the current one and a few undo steps)

# label -> (function, file name); each is written when its button is pressed
EXPORTS: dict[str, tuple[Callable[[str], str], str]] = {
    "LaTeX": (export.to_latex, "model.tex"),
    "Pyomo script": (export.to_pyomo_script, "model.py"),
    "LP file": (export.to_lp, "model.lp"),
    "MPS file": (export.to_mps, "model.mps"),
}


@dataclass
class Analysis:
    """What one document text gives: its issues, and its compiled model when it has none."""

    issues: list[Issue]
    model: CompiledModel | None
    exports: dict[str, str] = field(default_factory=dict)  # label -> content or error


def analysis(text: str) -> Analysis:
    """The check and compile of ``text``, computed once per text in this session."""
    memo: dict[str, Analysis] = st.session_state.setdefault("_analysis", {})
    key = doc_digest(text)
    if key not in memo:
        issues = modeling.check(text)
        memo[key] = Analysis(issues, None if issues else modeling.compile_model(text))
        while len(memo) > _KEEP:
            memo.pop(next(iter(memo)))
    return memo[key]


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
    with right:
        if not text.strip():
            st.info("No formulation yet.")
            return
        found = analysis(text)
        if found.issues:
            n = len(found.issues)
            st.error(f"{n} problem{'s' if n != 1 else ''} in the document:")
            st.markdown("\n".join(f"- {line}" for line in issue_lines(found.issues)))
        elif found.model is not None:
            st.success(model_summary(found.model))
            _param_editor(text, found.model)
    if found.issues:
        _stale_result(text)
        return
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Solve", type="primary", key="model_solve"):
        with st.spinner("Solving…"):
            ss["result"] = solve_isolated(text, **solve_kwargs())
            ss["result_text"] = text
    result: modeling.SolveResult | None = ss.get("result")
    if result is not None and ss.get("result_text") != text:
        _stale_result(text)
        result = None
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
    _exports(text, found)


def _stale_result(text: str) -> None:
    """The last solve was of another text: say so, and what changed, instead of showing it."""
    ss = st.session_state
    if ss.get("result") is None or ss.get("result_text") in (None, text):
        return
    st.warning(
        "The document changed since the last solve; its result is hidden. "
        "Press **Solve** for the new version.",
        icon="⏳",
    )
    changes = diff_text(ss["result_text"], text)
    if changes:
        with st.expander("Changes since the last solve"):
            st.code(changes, language="diff")


def _param_editor(text: str, model: CompiledModel) -> None:
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
                set_later(doc_text=yaml.safe_dump(doc, sort_keys=False))
                st.rerun()


def _export(found: Analysis, label: str, text: str) -> None:
    fn, _ = EXPORTS[label]
    try:
        found.exports[label] = fn(text)
    except Exception as exc:  # shown beside the button; the other formats still work
        found.exports[label] = f"error: {exc}"


def _exports(text: str, found: Analysis) -> None:
    """The document as is, and each export written when its button is pressed.

    LaTeX, once written, is also shown as mathematics.
    """
    st.subheader("Export")
    cols = st.columns(len(EXPORTS) + 1)
    cols[0].download_button("Formulation (.yaml)", text, file_name="formulation.yaml")
    for col, (label, (_, fname)) in zip(cols[1:], EXPORTS.items(), strict=True):
        if label not in found.exports:
            if col.button(label, key=f"export_{fname}"):
                _export(found, label, text)
            else:
                continue
        content = found.exports[label]
        if content.startswith("error: "):
            col.caption(f"{label}: {content[7:]}")
        else:
            col.download_button(f"Download {fname}", content, file_name=fname, key=f"dl_{fname}")
    latex = found.exports.get("LaTeX", "")
    if latex and not latex.startswith("error: "):
        with st.expander("Mathematics (LaTeX)", expanded=True):
            st.latex(latex)


render()
