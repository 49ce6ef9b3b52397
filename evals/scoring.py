"""Scoring protocols of the papers, side by side.

A "correct" answer means different things in different papers, and the
published tables are not comparable without saying which rule was used
(each protocol's description names the evaluation code it follows).  Each rule here is a small
:class:`ScoringProtocol` with a name, a description, and
``correct(prediction, answer) -> bool | None``; ``None`` means the reference
answer is unknown, so the item is left out of accuracy and counted apart.

==========  =====================================================  ==========================
protocol    numbers                                                "no optimum" labels
==========  =====================================================  ==========================
sirl        |p-g| / (|g|+1) <= 1e-6                                 prediction infeasible
optimind    |p-g| / (|g|+1) <  1e-6; list label: any element        no objective, decided
mamo        |p-g|·10^d < 1 (d = label decimals, >= 2) or rel 1e-4  prediction infeasible
orlm        round both; |p-g|/|g| <= 5% (g = 0: |p| <= 0.05)       any proven no-optimum
optmath     same as orlm (its conversion fallback is not redone)   any proven no-optimum
miplib_nl   |p-g| / |g| <= 1e-6 (g = 0: |p| <= 1e-6)               prediction infeasible
==========  =====================================================  ==========================

``miplib_nl`` is MIPLIB-NL's own protocol; it is scored on request (``--protocols``)
and always beside the others in the report of a MIPLIB-NL run
(:data:`FAMILY_PROTOCOLS`), not in every run's default set (:data:`ALL_PROTOCOLS`).

The default is ``sirl``: it is the strictest rule in current use (SIRL and
OptiMind share it), the ``+1`` keeps it meaningful for zero objectives, and
it matches the modeling layer's MIP gap (1e-7, so objectives compare at
1e-6).  The 5% rule of ORLM/OptMATH accepts answers that are plainly wrong
(a 4% cost error) and is reported next to it, not instead of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from evals.problems import Answer

STATUSES = (
    "optimal",
    "feasible",
    "infeasible",
    "unbounded",
    "infeasible_or_unbounded",
    "time_limit",
    "error",
    "invalid",
)
NO_OPTIMUM = frozenset({"infeasible", "unbounded", "infeasible_or_unbounded"})
# Statuses that count as "the run produced an answer" (execution rate).
DECIDED = frozenset({"optimal", "feasible", *NO_OPTIMUM})

DEFAULT_PROTOCOL = "sirl"


class Prediction(BaseModel):
    """What a solver run answered: a status in the spec's vocabulary and an objective.

    Unknown status strings become ``error`` (an unknown outcome is never
    counted as a decided answer).
    """

    model_config = ConfigDict(frozen=True)

    status: str = "error"
    objective: float | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _known_status(cls, value: Any) -> str:
        text = str(getattr(value, "value", value) or "").strip().lower()
        return text if text in STATUSES else "error"

    @field_validator("objective", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> float | None:
        if value is None or isinstance(value, bool):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None

    @property
    def decided(self) -> bool:
        """True when the run produced a number or a proven no-optimum status."""
        if self.status in NO_OPTIMUM:
            return True
        return self.status in DECIDED and self.objective is not None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, first: bool = False) -> Prediction:
        """Read ``status``/``objective`` (or ``first_status``/``first_objective``)."""
        if first:
            status = data.get("first_status") or data.get("status")
            objective = (
                data.get("first_objective") if data.get("first_status") else data.get("objective")
            )
            return cls.model_validate({"status": status, "objective": objective})
        return cls.model_validate(
            {"status": data.get("status"), "objective": data.get("objective")}
        )


@dataclass(frozen=True)
class ScoringProtocol:
    """One paper's rule for "the predicted objective matches the label".

    ``numeric_statuses``: prediction statuses whose objective is compared with
    a numeric label.  ``no_optimum_statuses``: prediction statuses that match
    a label saying no finite optimum exists ("No Best Solution", -99999,
    ``infeasible``...).
    """

    name: str
    description: str
    numeric_statuses: frozenset[str] = frozenset({"optimal", "feasible"})
    no_optimum_statuses: frozenset[str] = frozenset({"infeasible", "infeasible_or_unbounded"})

    def match(self, predicted: float, expected: float, answer: Answer) -> bool:
        """Whether two objective values agree under this protocol."""
        raise NotImplementedError

    def correct(self, prediction: Prediction, answer: Answer) -> bool | None:
        """True/False, or None when the label is unknown (excluded from accuracy)."""
        if answer.kind == "unknown":
            return None
        if answer.kind == "infeasible":
            return prediction.status in self.no_optimum_statuses
        if answer.value is None:
            return None
        if prediction.status not in self.numeric_statuses or prediction.objective is None:
            return False
        expected = answer.candidates or (answer.value,)
        return any(self.match(prediction.objective, g, answer) for g in expected)


@dataclass(frozen=True)
class RelativeToPlusOne(ScoringProtocol):
    """|p − g| / (|g| + 1) compared with a tolerance (SIRL: ``<=``, OptiMind: ``<``)."""

    tolerance: float = 1e-6
    strict: bool = False

    def match(self, predicted: float, expected: float, answer: Answer) -> bool:
        error = abs(predicted - expected) / (abs(expected) + 1.0)
        return error < self.tolerance if self.strict else error <= self.tolerance


@dataclass(frozen=True)
class MamoRule(ScoringProtocol):
    """MAMO: |p − g|·10^d < 1 with d the label's decimals (at least 2), or rel ≤ 1e-4."""

    relative: float = 1e-4
    min_decimals: int = 2

    def match(self, predicted: float, expected: float, answer: Answer) -> bool:
        decimals = max(answer.decimals or 0, self.min_decimals)
        if abs(predicted - expected) * 10**decimals < 1:
            return True
        return expected != 0 and abs(predicted - expected) / abs(expected) <= self.relative


@dataclass(frozen=True)
class RoundedRelative(ScoringProtocol):
    """ORLM/OptMATH: round both to integers, then |p − g|/|g| ≤ tol (|p| ≤ tol if g = 0)."""

    tolerance: float = 0.05

    def match(self, predicted: float, expected: float, answer: Answer) -> bool:
        p, g = round(predicted), round(expected)
        if g == 0:
            return abs(p) <= self.tolerance
        return abs(p - g) / abs(g) <= self.tolerance


@dataclass(frozen=True)
class Relative(ScoringProtocol):
    """|p − g| / |g| ≤ tol, and |p| ≤ tol when g = 0 (MIPLIB-NL's stated rule)."""

    tolerance: float = 1e-6

    def match(self, predicted: float, expected: float, answer: Answer) -> bool:
        if expected == 0:
            return abs(predicted) <= self.tolerance
        return abs(predicted - expected) / abs(expected) <= self.tolerance


PROTOCOLS: dict[str, ScoringProtocol] = {
    "sirl": RelativeToPlusOne(
        name="sirl",
        description=(
            "SIRL reproduce notebooks: correct if |pred-gt|/(|gt|+1) <= 1e-6. A 'No Best "
            "Solution'/-9999 label is correct when the prediction says infeasible (stdout "
            "containing 'nfeasible': infeasible or infeasible_or_unbounded). SIRL also credits "
            "a run that times out on such a label and retries with flipped variable types; "
            "neither is done here."
        ),
        tolerance=1e-6,
    ),
    "optimind": RelativeToPlusOne(
        name="optimind",
        description=(
            "OptiMind compute_acc: correct if |pred-gt|/(|gt|+1) < 1e-6 (strict); a list label "
            "matches when any element does. An empty label (None) matches a prediction without "
            "objective; here only a proven no-optimum status counts (not an error)."
        ),
        tolerance=1e-6,
        strict=True,
        no_optimum_statuses=NO_OPTIMUM,
    ),
    "mamo": MamoRule(
        name="mamo",
        description=(
            "MAMO scripts: correct if |pred-gt|*10^d < 1 (d = decimals written in the label, at "
            "least 2) or the relative error is <= 1e-4. MAMO has no infeasible labels; here they "
            "match an infeasible or infeasible_or_unbounded prediction."
        ),
    ),
    "orlm": RoundedRelative(
        name="orlm",
        description=(
            "ORLM eval/execute.py: round gt and pred to integers, correct if |pred-gt|/|gt| <= "
            "0.05 (|pred| <= 0.05 when gt rounds to 0); only an OPTIMAL run prints a value. "
            "'No Best Solution' is correct when the run printed it: here any proven no-optimum "
            "status (ORLM also prints it at a time limit, which is not credited here)."
        ),
        numeric_statuses=frozenset({"optimal"}),
        no_optimum_statuses=NO_OPTIMUM,
    ),
    "optmath": RoundedRelative(
        name="optmath",
        description=(
            "OptMATH eval/ (numerical_tolerance 0.05): the ORLM rule. Its default 'conversion "
            "fallback' (re-running with INTEGER<->CONTINUOUS, '>'->'>=', MIN<->MAX swaps and "
            "crediting any match) needs the generated code and is not reproduced, so published "
            "OptMATH figures can be higher than this."
        ),
        numeric_statuses=frozenset({"optimal"}),
        no_optimum_statuses=NO_OPTIMUM,
    ),
    "miplib_nl": Relative(
        name="miplib_nl",
        description=(
            "MIPLIB-NL (ICML 2026) as its paper states it: correct if the executed objective "
            "is within relative error 1e-6 of optimal_value (|pred| <= 1e-6 for a zero "
            "label); labels are numbers, numeric strings or 'infeasible'/'impossible', which "
            "match an infeasible or infeasible_or_unbounded prediction. The paper's own "
            "evaluation code is not public, so ties such as a zero label are our reading."
        ),
        tolerance=1e-6,
    ),
}
ALL_PROTOCOLS: tuple[str, ...] = ("sirl", "optimind", "mamo", "orlm", "optmath")
"""The protocols a run scores by default (every paper-independent comparison needs them)."""

FAMILY_PROTOCOLS: dict[str, tuple[str, ...]] = {"miplib_nl": ("miplib_nl",)}
"""A benchmark's own protocol, added to its reports beside the default ones."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct (Chen et al., 2021).

    ``1 - C(n-c, k) / C(n, k)``: the chance that at least one of ``k`` samples
    drawn without replacement from the ``n`` is correct. Needs ``1 <= k <= n``.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2)
    (0.25, 1.0, 0.0)
    """
    if not 1 <= k <= n or not 0 <= c <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n and 0 <= c <= n; got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def get_protocol(name: str) -> ScoringProtocol:
    """A protocol by name; the error lists the known ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(
            f"unknown scoring protocol {name!r}; known: {', '.join(PROTOCOLS)}"
        ) from None


def score(
    prediction: Prediction, answer: Answer, protocols: Iterable[str] = ALL_PROTOCOLS
) -> dict[str, bool | None]:
    """Correctness of one prediction under each named protocol."""
    return {name: get_protocol(name).correct(prediction, answer) for name in protocols}
