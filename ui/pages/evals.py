"""Evals page: compare eval runs, then drill into one problem of one run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

from ui.view_model import AppSettings, find_runs, result_rows


def render() -> None:
    st.header("Evals")
    runs_root = AppSettings().runs_dir
    runs = find_runs(runs_root)
    if not runs:
        st.info(
            f"No eval runs under `{runs_root.resolve()}` yet. Run e.g. `optiwise eval "
            "--dataset nl4opt --limit 20 --model gpt-4o-mini` here, or score formulations "
            "made elsewhere with `optiwise eval --dataset nl4opt --formulations DIR`; "
            "`OPTIWISE_RUNS_DIR` points the page at another folder."
        )
        return
    labels = [str(r.relative_to(runs_root)) for r in runs]
    chosen = st.multiselect("Runs", labels, default=labels[-1:], key="eval_runs")
    dirs = [runs_root / c for c in chosen]
    if not dirs:
        return
    from evals import report

    protocol = st.selectbox(
        "Scoring protocol", ["sirl", "optimind", "mamo", "orlm", "optmath"], key="eval_protocol"
    )
    try:
        st.markdown(report.compare(dirs, protocol=protocol))
        with tempfile.TemporaryDirectory() as tmp:
            png = report.plot_compare(dirs, Path(tmp) / "compare.png", protocol=protocol)
            st.image(png.read_bytes())
    except Exception as exc:  # a damaged run directory must not break the page
        st.warning(f"Could not compare these runs: {exc}")
    run = st.selectbox("Drill into a run", chosen, key="eval_drill")
    from evals.results import read_results

    results = read_results(runs_root / run / "results.jsonl")
    if not results:
        st.caption("No results in this run yet.")
        return
    rows = [r.model_dump(mode="json") for r in results]
    st.dataframe(pd.DataFrame(result_rows(rows)), hide_index=True)
    pid = st.selectbox("Problem", [str(r["id"]) for r in rows], key="eval_pid")
    item = next(r for r in rows if str(r["id"]) == pid)
    st.markdown(
        f"**Answer** `{item.get('objective')}` vs **label** "
        f"`{(item.get('answer') or {}).get('value')}` — status `{item.get('status')}`"
    )
    question = _question_of(str(item.get("dataset", "")), str(item["id"]))
    if question:
        with st.expander("Question", expanded=True):
            st.markdown(question)
    if item.get("formulation"):
        with st.expander("Formulation"):
            st.code(yaml.safe_dump(item["formulation"], sort_keys=False), language="yaml")
    with st.expander("Everything recorded"):
        st.json(item)


@st.cache_data(show_spinner=False)
def _questions(dataset: str) -> dict[str, str]:
    from evals import loaders

    return {p.id: p.question for p in loaders.load_problems(dataset)}


def _question_of(dataset: str, pid: str) -> str:
    try:
        return _questions(dataset).get(pid, "")
    except Exception:  # the data may not be on this machine
        return ""


render()
