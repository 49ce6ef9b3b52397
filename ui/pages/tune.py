"""Tune page: the runs of ``optiwise tune`` — validation score per step, the report, the prompts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.view_model import AppSettings, find_tune_runs, tune_history


def render() -> None:
    st.header("Tune")
    root = AppSettings().runs_dir
    runs = find_tune_runs(root)
    if not runs:
        st.info(
            f"No tuning runs under `{root.resolve()}` yet. Start one with e.g. `optiwise tune "
            "--dataset nl4opt.competition_dev --train-split 10 --val-split 5 --out runs/tune1` "
            "(add `--estimate` first to see its cost); `OPTIWISE_RUNS_DIR` points the page "
            "at another folder."
        )
        return
    labels = [str(r.relative_to(root)) for r in runs]
    chosen = st.selectbox("Tuning run", labels, index=len(labels) - 1, key="tune_run")
    run = root / chosen
    history = tune_history(run)
    if history:
        frame = pd.DataFrame(history)
        st.line_chart(frame, x="step", y="validation")
        st.dataframe(frame, hide_index=True)
    else:
        st.caption("No finished step yet.")
    report = run / "report.md"
    if report.is_file():
        st.markdown(report.read_text(encoding="utf-8"))
    else:
        st.caption("The run has no report yet (it is written when the run ends).")
    prompts = run / "prompts"
    if prompts.is_dir():
        st.caption(f"Best prompt set so far: `{prompts}` (load it with `--prompts`).")
        for path in sorted(prompts.glob("*.md")):
            with st.expander(path.name):
                st.code(path.read_text(encoding="utf-8"), language="markdown")


render()
