"""Facts derived from a finished :class:`~agent.result.AgentResult` for reports and the CLI.

:func:`solver_stop_of` says why the solver stopped on the final document —
proved optimal, stopped at the time limit with or without an incumbent, and
so on (:data:`agent.state.SOLVER_STOPS`) — so eval reports can break accuracy
down by it (``solver_stop`` in the eval outcome and in ``optiwise ask --json``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.state import solver_stop

if TYPE_CHECKING:
    from agent.result import AgentResult

__all__ = ["solver_stop_of"]


def solver_stop_of(result: AgentResult) -> str:
    """Why the solve of ``result``'s final document stopped (see :func:`agent.state.solver_stop`).

    The solver's termination is read from the kept :class:`~modeling.result.SolveResult`
    when there is one (it tells a time-limit incumbent from another limit's);
    a ``time_limit`` or an ``invalid`` status says enough by itself. With
    several candidates, the chosen one's.
    """
    termination = None
    if result.result is not None:
        termination = str(result.result.termination)
    elif result.status == "error" and result.attempts:
        # a solve that failed (a crashed or killed worker) records the solver's error
        last = result.attempts[-1]
        if any(str(e.get("code")) == "solver" for e in last.errors):
            termination = "error"
    return solver_stop(result.status, termination)
