"""The plain-words answer of a solve stopped by the hard limit says so (QA W6).

A worker killed while the model was being built (SCIP multiplying out a cubic sum) used to
be explained as "The solver reached its time limit without finding a solution. stopped
after 4.0 s: …" — the solver never ran, and the message began in lower case mid-paragraph.
"""

from __future__ import annotations

from modeling.scenarios import explain_solution

DOC = {"objective": {"sense": "max", "expression": "x"}, "variables": {"x": {"upper": 1}}}
KILLED = (
    "stopped after 4.0 s: the hard time limit of 4 s was reached and the worker process "
    "was killed (no solution was returned; raise the time limit, or simplify the model)"
)
NO_WORKER = (
    "no worker was free for 3.0 s, the job's hard limit of 3 s: all 4 worker processes were "
    "busy with other jobs, so the job did not start (run fewer solves at once, or raise "
    "OPTIWISE_WORKERS, now 4)"
)


def test_a_killed_solve_is_not_blamed_on_the_solver_and_reads_as_sentences() -> None:
    text = explain_solution(DOC, "time_limit", None, message=KILLED)
    assert "solver reached its time limit" not in text
    assert text.startswith("The solve was stopped at its hard time limit")
    assert "Stopped after 4.0 s: the hard time limit of 4 s" in text


def test_a_solve_that_got_no_worker_says_it_did_not_run() -> None:
    text = explain_solution(DOC, "time_limit", None, message=NO_WORKER)
    assert "solver reached its time limit" not in text
    assert text.startswith("The solve did not run")
    assert "No worker was free for 3.0 s" in text


def test_the_solvers_own_time_limit_keeps_its_sentence() -> None:
    text = explain_solution(DOC, "time_limit", None, message="time limit reached")
    assert text.startswith("The solver reached its time limit without finding a solution.")
