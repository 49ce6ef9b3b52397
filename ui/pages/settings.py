"""Settings page: the LLM endpoint and the agent's knobs, for this session only."""

from __future__ import annotations

import streamlit as st

from modeling.backends import backend_names
from ui.state import llm_settings, tool_mode_problem
from ui.view_model import TOOL_MODE_CHOICES, tool_mode_label


def render() -> None:
    st.header("Settings")
    s = st.session_state["settings"]
    st.caption(
        "The API key comes from the environment (`OPENAI_API_KEY`) or Streamlit "
        "secrets; it is never shown, logged or stored in a thread."
    )
    st.markdown("API key: " + ("**set**" if llm_settings().api_key else "**not set**"))
    s["base_url"] = st.text_input(
        "Endpoint (base_url)",
        s["base_url"],
        placeholder="https://api.openai.com/v1 or http://localhost:11434/v1",
    )
    s["model"] = st.text_input("Model", s["model"])
    s["temperature"] = st.slider("Temperature", 0.0, 1.5, float(s["temperature"]), 0.1)
    s["samples"] = st.number_input("Samples (self-consistency)", 1, 9, int(s["samples"]))
    s["max_repairs"] = st.number_input("Repair rounds", 0, 10, int(s["max_repairs"]))
    backends = ["auto", *backend_names()]
    s["backend"] = st.selectbox(
        "Solver backend",
        backends,
        index=backends.index(s["backend"]) if s["backend"] in backends else 0,
        key="settings_backend",
    )
    s["time_limit"] = st.number_input("Time limit (s)", 1.0, 3600.0, float(s["time_limit"]))
    modes = list(TOOL_MODE_CHOICES)
    s["tool_mode"] = st.selectbox(
        "Chat tools",
        modes,
        index=modes.index(s["tool_mode"]) if s["tool_mode"] in modes else 0,
        format_func=tool_mode_label,
        key="settings_tool_mode",
        help="With tools, the LLM answers a follow-up by calling solve, edit, what-if, "
        "sweep, IIS and sensitivity tools itself; off keeps the fixed routes. "
        "Default from OPTIWISE_TOOL_MODE.",
    )
    problem = tool_mode_problem()
    if problem:
        st.warning(f"The environment's tool setting was not used: {problem}")


render()
