"""optiwise — the Streamlit app: ``streamlit run app.py`` (or ``make run``).

The pages live in the :mod:`ui` package; this script only starts them.
"""

from __future__ import annotations

from ui.shell import main

main()
