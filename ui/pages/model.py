"""Model page: the formulation as a document, checked as you type, solved on demand.

What is computed from the document (its check, its compiled model, its LaTeX)
is kept per document text, so a rerun that does not change the text (opening
an expander, picking a parameter) recomputes nothing, and exports are written
only when asked for.  A solve result belongs to the text it was solved from:
after an edit it is no longer shown as the model's result.

A formulation that reads data tables (spec v1.1, ``table:`` keys) reads them
from the page's data folder: the chat thread's when the model was opened from
Chat, else this session's own folder under ``$OPTIWISE_HOME/model-data/``.
Tables uploaded beside the editor go into that folder (checked as chat uploads
are, :mod:`agent.chat_data`), and the check, solve and exports use it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml

import modeling
import modeling.export as export
from agent.chat_data import UploadError, accepted_suffixes, save_upload
from agent.context import optiwise_home
from agent.data_context import table_files
from modeling.compiler import CompiledModel
from modeling.errors import FormulationError, Issue
from modeling.formulation import load
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


def data_dir() -> Path | None:
    """The page's data folder, or None when no table was added (nor opened from Chat)."""
    folder = st.session_state.get("model_data_dir")
    return Path(folder) if folder else None


def _data_signature() -> str:
    """The data folder and its files' names, sizes and times: a new upload is a new model."""
    folder = data_dir()
    if folder is None or not folder.is_dir():
        return ""
    parts = [str(folder)]
    for name in table_files(folder):
        st_ = (folder / name).stat()
        parts.append(f"{name}:{st_.st_size}:{st_.st_mtime_ns}")
    return "\n".join(parts)


def source(text: str) -> Any:
    """What to check, solve and export: the text, with the data folder when there is one."""
    folder = data_dir()
    if folder is None:
        return text
    try:
        return load(text, data=folder)
    except FormulationError:  # the check reports the same problems, located
        return text


def analysis(text: str) -> Analysis:
    """The check and compile of ``text`` (with its data), computed once per text in this session."""
    memo: dict[str, Analysis] = st.session_state.setdefault("_analysis", {})
    key = doc_digest(text + "\0" + _data_signature())
    if key not in memo:
        src = source(text)
        issues = modeling.check(src)
        memo[key] = Analysis(issues, None if issues else modeling.compile_model(src))
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
        _data_panel()
        if not text.strip():
            st.info("No formulation yet.")
            return
        found = analysis(text)
        if found.issues:
            n = len(found.issues)
            st.error(f"{n} problem{'s' if n != 1 else ''} in the document:")
            st.markdown("\n".join(f"- {line}" for line in issue_lines(found.issues)))
            if any("no data folder" in i.message for i in found.issues):
                st.info("The document reads data tables: add them under **Data tables** above.")
        elif found.model is not None:
            st.success(model_summary(found.model))
            _param_editor(text, found.model)
    if found.issues:
        _stale_result(text)
        return
    b1, b2, _ = st.columns([1, 1, 4])
    if b1.button("Solve", type="primary", key="model_solve"):
        with st.spinner("Solving…"):
            ss["result"] = solve_isolated(source(text), **solve_kwargs())
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


def _data_panel() -> None:
    """Upload data tables for a formulation that reads them; list the folder's tables."""
    ss = st.session_state
    kinds = accepted_suffixes()
    uploads = st.file_uploader(
        "Data tables",
        type=kinds,
        accept_multiple_files=True,
        key="model_uploads",
        help="Files a formulation names with `table:` (spec v1.1 Tables): "
        + ", ".join("." + k for k in kinds)
        + ". They are read from this page's data folder.",
    )
    seen: set[str] = ss.setdefault("_model_saved_uploads", set())
    for up in uploads or []:
        if up.file_id in seen:
            continue
        seen.add(up.file_id)
        folder = data_dir()
        if folder is None:
            folder = optiwise_home() / "model-data" / uuid.uuid4().hex[:12]
            ss["model_data_dir"] = str(folder)
        try:
            save_upload(folder, up.name, up.getvalue())
        except UploadError as exc:
            ss.setdefault("_model_refused", {})[up.file_id] = str(exc)
    current = {up.file_id for up in uploads or []}
    refused: dict[str, str] = ss.setdefault("_model_refused", {})
    for file_id in [k for k in refused if k not in current]:  # removed from the uploader
        del refused[file_id]
    for reason in refused.values():
        st.error(f"Not added: {reason}")
    folder = data_dir()
    files = table_files(folder) if folder is not None and folder.is_dir() else []
    if files:
        st.caption(":material/attach_file: Data tables: " + ", ".join(f"`{f}`" for f in files))


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
        found.exports[label] = fn(source(text))
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
