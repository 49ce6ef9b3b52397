"""Self-contained, seeded tasks for the optimizers: numeric programs and a Battleship game.

Run with a real endpoint when one is configured (``OPENAI_API_KEY`` /
``OPENAI_BASE_URL``, ``OPTIWISE_MODEL``), else with a scripted optimizer::

    python -m agent.opto.tasks.numeric
    python -m agent.opto.tasks.battleship
"""

from __future__ import annotations

__all__: list[str] = []
