"""The optiwise Streamlit app: ``streamlit run app.py`` (``make run``).

``app.py`` only calls :func:`ui.shell.main`, which sets up the session and
navigates between the pages in ``ui/pages`` (Chat, Model, Gallery, Evals,
Settings).  The pages draw; what they show is computed in
:mod:`ui.view_model` (tested without Streamlit); all modeling and agent work
is the public API of :mod:`modeling`, :mod:`agent` and :mod:`evals`.
"""

from __future__ import annotations

__all__: list[str] = []
