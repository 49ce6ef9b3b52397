"""The frame around the pages: page setup, session state, sidebar, navigation."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.state import banner, init_state, llm_configured, llm_settings

__all__ = ["PAGES", "go", "main"]

_DIR = Path(__file__).resolve().parent / "pages"

# url path -> (title, icon); each page is the script ui/pages/<url path>.py
PAGES: dict[str, tuple[str, str]] = {
    "chat": ("Chat", ":material/chat:"),
    "model": ("Model", ":material/function:"),
    "gallery": ("Gallery", ":material/collections_bookmark:"),
    "evals": ("Evals", ":material/leaderboard:"),
    "tune": ("Tune", ":material/tune:"),
    "settings": ("Settings", ":material/settings:"),
}


def go(page: str) -> None:
    """Switch to ``page`` (a key of :data:`PAGES`) and rerun.

    The path is relative to the entry script, ``app.py`` beside the ``ui`` package.
    """
    st.switch_page(f"ui/pages/{page}.py")


def main() -> None:
    """Run the app once (Streamlit calls the entry script on every interaction)."""
    st.set_page_config(page_title="optiwise", page_icon="📐", layout="wide")
    init_state()
    pages = [
        st.Page(str(_DIR / f"{name}.py"), title=title, icon=icon, url_path=name, default=k == 0)
        for k, (name, (title, icon)) in enumerate(PAGES.items())
    ]
    current = st.navigation(pages)
    with st.sidebar:
        st.markdown("**optiwise**")
        st.caption("Plain-language optimization → solved models")
        if llm_configured():
            s = llm_settings()
            st.caption(f"LLM: `{s.model}`" + (f" at `{s.base_url}`" if s.base_url else ""))
        else:
            st.caption("LLM: not configured")
    if current.title != PAGES["chat"][0] and not llm_configured():
        banner()
    current.run()
