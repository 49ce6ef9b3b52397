"""Gallery page: the sample problems, and the benchmark problems found on this machine."""

from __future__ import annotations

import streamlit as st
import yaml

from modeling.samples import load_samples
from ui.shell import go
from ui.state import set_later
from ui.view_model import sample_line


def render() -> None:
    st.header("Gallery")
    st.caption(
        "Problems written by the optiwise team, each with a verified optimum. Open one "
        "in Chat to let the agent formulate it, or in Model to see our formulation."
    )
    samples = load_samples()
    classes = sorted({s.model_class for s in samples})
    pick = st.multiselect("Model class", classes, default=[], key="gallery_filter")
    for s in samples:
        if pick and s.model_class not in pick:
            continue
        with st.container(border=True):
            c1, c2, c3 = st.columns([6, 1, 1])
            c1.markdown(sample_line(s))
            c1.caption(" ".join(f"#{t}" for t in s.tags))
            if c2.button("Chat", key=f"chat_{s.id}"):
                set_later(chat_prefill=s.problem)
                go("chat")
            if c3.button("Model", key=f"model_{s.id}"):
                set_later(
                    doc_text=yaml.safe_dump(dict(s.formulation), sort_keys=False), result=None
                )
                go("model")
            with c1.expander("Problem"):
                st.markdown(s.problem)
    _benchmarks()


def _benchmarks() -> None:
    from evals import loaders, registry

    st.subheader("Benchmark problems")
    try:
        entries = [d for d in registry.list_datasets() if registry.is_present(d.name)]
    except Exception as exc:  # a broken registry must not take the gallery down
        st.caption(f"Benchmarks unavailable: {exc}")
        return
    if not entries:
        st.caption(
            "No benchmark data found. Point `OPTIWISE_DATA_DIR` at a mirror or run "
            "`optiwise data fetch NAME`."
        )
        return
    name = st.selectbox("Dataset", [d.name for d in entries], key="bench_pick")
    try:
        problems = loaders.load_problems(name)
    except Exception as exc:
        st.error(f"Could not load {name}: {exc}")
        return
    k = st.number_input("Problem", 0, max(0, len(problems) - 1), 0, key="bench_k")
    prob = problems[int(k)]
    label = prob.answer.value if prob.answer.value is not None else prob.answer.kind
    st.markdown(f"`{prob.id}` — label: `{label}`")
    st.markdown(prob.question)
    if st.button("Open in Chat", key="bench_chat"):
        set_later(chat_prefill=prob.question)
        go("chat")


render()
