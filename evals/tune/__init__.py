"""``optiwise tune``: the agent improves its own prompts from benchmark feedback.

::

    from evals.tune import TuneConfig, Tuner, load_source, make_splits

    name, problems = load_source(problems_file="mine.jsonl")
    splits = make_splits(problems, train=20, val=10)
    result = Tuner(TuneConfig(out=Path("runs/t1"), optimizer="optoprime"), splits,
                   task_llm=chat, optimizer_llm=strong_chat).run()
    PromptSet.load("runs/t1/prompts")          # what optiwise ask/eval --prompts loads

See :mod:`evals.tune.runner` for the loop, :mod:`evals.tune.feedback` for
what the optimizer reads and :mod:`evals.tune.data` for the split guards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modeling._lazy import lazy_exports

# Imported on first use (PEP 562): ``optiwise`` builds its parser from every command
# module, and this package's modules pull in the openai client; ``optiwise check``
# should not pay for them.
_WHERE = {
    "Budget": "evals.tune.budget",
    "BudgetExceeded": "evals.tune.budget",
    "BudgetedChatModel": "evals.tune.budget",
    "ProblemFeedback": "evals.tune.feedback",
    "Splits": "evals.tune.data",
    "TuneConfig": "evals.tune.runner",
    "TuneResult": "evals.tune.runner",
    "Tuner": "evals.tune.runner",
    "estimate": "evals.tune.runner",
    "load_source": "evals.tune.data",
    "make_splits": "evals.tune.data",
    "problem_feedback": "evals.tune.feedback",
    "read_problem_file": "evals.tune.data",
}

if TYPE_CHECKING:
    from evals.tune.budget import Budget, BudgetedChatModel, BudgetExceeded
    from evals.tune.data import Splits, load_source, make_splits, read_problem_file
    from evals.tune.feedback import ProblemFeedback, problem_feedback
    from evals.tune.runner import TuneConfig, Tuner, TuneResult, estimate


__all__ = [
    "Budget",
    "BudgetExceeded",
    "BudgetedChatModel",
    "ProblemFeedback",
    "Splits",
    "TuneConfig",
    "TuneResult",
    "Tuner",
    "estimate",
    "load_source",
    "make_splits",
    "problem_feedback",
    "read_problem_file",
]

__getattr__ = lazy_exports(globals(), _WHERE)
