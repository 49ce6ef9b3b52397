"""Benchmark problems and their reference answers, normalised.

Every benchmark stores its reference answer differently: floats, numeric
strings (sometimes with ``$``, thousands separators or units), the words
``"No Best Solution"``, sentinels such as ``-99999`` (ORLM) or ``-9999``
(SIRL), empty cells, status words from ORThought's ``answer.json``, list
strings such as ``"[18.0]"`` (OptiMind), a dict of named quantities
(ReSocratic's OptiBench / NL4OPT-E) or the ``output`` list of a
Chain-of-Experts ``sample.json``.  This module turns each of them into one
:class:`Answer`, so scoring never has to know where a label came from.

The rule is: never guess silently.  When a label can be read more than one
way it is still read (so that it can be scored), but ``flagged`` is set and
``reason`` says what was ambiguous, so reports can count and exclude those.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AnswerKind = Literal["number", "infeasible", "unknown"]

# Sentinels that upstream files use for "no optimal solution".  ORLM's HF
# snapshot writes -99999 next to "No Best Solution"; SIRL's fixed MAMO files
# mark their infeasible items with -9999 (their notebooks test for "-9999").
INFEASIBLE_SENTINELS = frozenset({-99999.0, -9999.0})

# Above this magnitude a label is almost surely an unbounded model's junk
# (e.g. LLMOPT's NLP4LP item with 4.08e35), so it is flagged.
IMPLAUSIBLE_MAGNITUDE = 1e15

_NO_OPTIMUM_WORDS = {
    "no best solution": "the label says 'No Best Solution' (no optimum found upstream)",
    "infeasible": "the label says infeasible",
    "unbounded": "the label says unbounded: no finite optimum",
    "infeasible or unbounded": "the label says infeasible or unbounded",
    "infeasible_or_unbounded": "the label says infeasible or unbounded",
    "no solution": "the label says no solution",
    "no feasible solution": "the label says no feasible solution",
}
_MISSING_WORDS = {"none", "null", "nan", "n/a", "na", "-", "?", "unknown"}

_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
_LABEL_NUMBER_RE = re.compile(
    rf"^(?P<sign1>[-+])?\s*(?P<cur>[$€£¥])?\s*(?P<sign2>[-+])?\s*(?P<num>{_NUMBER})"
    r"\s*(?P<unit>[A-Za-z%/.²³ ]*)$"
)

# Words that mark a results-dict key as the objective (OptiBench, NL4OPT-E).
_OBJECTIVE_KEY_RE = re.compile(
    r"\b(maxim\w*|minim\w*|max|min|optimal|objective|lowest|highest|least|best|"
    r"largest|smallest|total|overall|net)\b",
    re.IGNORECASE,
)


class Answer(BaseModel):
    """A reference answer in one vocabulary.

    ``kind`` is ``number`` (``value`` holds the objective), ``infeasible``
    (the label says no finite optimum exists: infeasible, unbounded, "No Best
    Solution", a sentinel) or ``unknown`` (there is no usable objective, e.g.
    NL4OPT's competition files, or an empty ``solution.json``; unknown answers
    are left out of accuracy and counted apart).  ``raw`` keeps the value as
    stored upstream, ``flagged``/``reason`` mark labels that had to be
    interpreted.  ``candidates`` holds every value of a list label (OptiMind
    scores a list as correct when any element matches); ``decimals`` the
    decimals written in a numeric label.
    """

    model_config = ConfigDict(frozen=True)

    kind: AnswerKind
    value: float | None = None
    raw: Any = None
    flagged: bool = False
    reason: str = ""
    candidates: tuple[float, ...] = ()

    decimals: int | None = None


def label_decimals(raw: Any) -> int | None:
    """Decimals written in a raw label (MAMO's tolerance depends on them).

    ``"18.50"`` → 2, ``18`` → 0, ``"1.2e-5"`` → 6, ``"[18.0]"`` → 1.
    """
    if isinstance(raw, list | tuple) and len(raw) == 1:
        raw = raw[0]
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return 0
    text = repr(raw) if isinstance(raw, float) else str(raw).strip().replace(",", "")
    try:
        exponent = Decimal(text).as_tuple().exponent
    except InvalidOperation:
        match = re.search(r"\.(\d+)", text)
        return len(match.group(1)) if match else 0
    return max(0, -exponent) if isinstance(exponent, int) else None


def number(value: float, raw: Any = None) -> Answer:
    """A numeric answer; implausible magnitudes and sentinels are handled here."""
    if math.isnan(value) or math.isinf(value):
        return Answer(kind="unknown", raw=raw, flagged=True, reason=f"not a finite number: {raw!r}")
    if value in INFEASIBLE_SENTINELS:
        return Answer(
            kind="infeasible",
            raw=raw,
            reason=f"sentinel {value:g} means no optimal solution (ORLM/SIRL convention)",
        )
    if abs(value) > IMPLAUSIBLE_MAGNITUDE:
        return Answer(
            kind="number",
            value=value,
            raw=raw,
            flagged=True,
            reason=f"implausible magnitude {value:.3g}: probably an unbounded model's output",
            decimals=label_decimals(raw),
        )
    return Answer(kind="number", value=value, raw=raw, decimals=label_decimals(raw))


def unknown(raw: Any, reason: str, *, flagged: bool = True) -> Answer:
    """An answer that cannot be scored; it is excluded from accuracy."""
    return Answer(kind="unknown", raw=raw, flagged=flagged, reason=reason)


def parse_number_text(text: str) -> tuple[float, str] | None:
    """Read one number from label text such as ``"$1,234.5"`` or ``"35 units"``.

    Returns the value and a note on what was stripped (``""`` for a plain
    number), or None when the text is not exactly one number.  Commas are
    accepted only as thousands separators.
    """
    match = _LABEL_NUMBER_RE.match(text.strip())
    if match is None or (match["sign1"] and match["sign2"]):
        return None
    sign = match["sign1"] or match["sign2"] or ""
    value = float(sign + match["num"].replace(",", ""))
    stripped = " ".join(part for part in (match["cur"], match["unit"].strip()) if part)
    return value, (f"stripped {stripped!r}" if stripped else "")


def normalize_answer(raw: Any) -> Answer:
    """Normalise one stored answer of any encoding into an :class:`Answer`.

    Handles numbers, numeric strings (commas, ``$``, units), status words,
    ``"No Best Solution"``, sentinels, empty values, list strings
    (``"[18.0]"``), lists, an ORThought ``answer.json`` (``{"status", "obj"}``)
    and a results dict (see :func:`answer_from_results`).

    >>> normalize_answer("$1,200").value
    1200.0
    >>> normalize_answer("No Best Solution").kind
    'infeasible'
    """
    if raw is None:
        return unknown(raw, "no answer in the record", flagged=False)
    if isinstance(raw, bool):
        return unknown(raw, f"a boolean is not an objective value: {raw!r}")
    if isinstance(raw, int | float):
        return number(float(raw), raw)
    if isinstance(raw, Mapping):
        if "status" in raw or "obj" in raw:
            return answer_from_status_obj(raw)
        return answer_from_results(raw)
    if isinstance(raw, list | tuple):
        return answer_from_list(list(raw), raw)
    if isinstance(raw, str):
        return _from_text(raw)
    return unknown(raw, f"unsupported answer type {type(raw).__name__}")


def _from_text(raw: str) -> Answer:
    text = raw.strip()
    if not text:
        return unknown(raw, "empty answer")
    lowered = text.lower().rstrip(".!").strip()
    if lowered in _NO_OPTIMUM_WORDS:
        return Answer(kind="infeasible", raw=raw, reason=_NO_OPTIMUM_WORDS[lowered])
    if lowered in _MISSING_WORDS:
        return unknown(raw, f"missing answer written as {raw!r}")
    if text[0] in "[(" and text[-1] in "])":
        try:
            items = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return unknown(raw, f"unreadable list answer {raw!r}")
        if isinstance(items, list | tuple):
            return answer_from_list(list(items), raw)
    parsed = parse_number_text(text)
    if parsed is None:
        return unknown(raw, f"not one number: {raw!r}")
    value, note = parsed
    answer = number(value, raw)
    if answer.kind != "number" or answer.flagged or not note:
        return answer
    if "%" in text:
        # 12.5% may mean 12.5 or 0.125 depending on how the objective is stated.
        return answer.model_copy(update={"flagged": True, "reason": f"percentage label: {note}"})
    return answer.model_copy(update={"reason": note})


def answer_from_list(items: list[Any], raw: Any) -> Answer:
    """A list label (OptiMind ``"[18.0]"``, a CoE ``output`` list).

    One number gives that number.  Several numbers keep every one as a
    candidate (OptiMind counts a match with any element) and are flagged.
    ``[None]`` means the upstream gives no objective.  An empty list is
    read as "no objective": infeasible, flagged.
    """
    if not items:
        return Answer(
            kind="infeasible",
            raw=raw,
            flagged=True,
            reason="empty list label: read as no objective (infeasible)",
        )
    values: list[float] = []
    for item in items:
        if item is None:
            continue
        single = normalize_answer(item)
        if single.kind == "infeasible" and len(items) == 1:
            return single.model_copy(update={"raw": raw})
        if single.kind != "number" or single.value is None:
            return unknown(raw, f"list label holds a non-number: {item!r}")
        values.append(single.value)
    if not values:
        return unknown(raw, "the label's output is null: no objective given upstream")
    if len(values) == 1 and len(items) == 1:
        return number(values[0], raw)
    return Answer(
        kind="number",
        value=values[0],
        raw=raw,
        candidates=tuple(values),
        flagged=True,
        reason=f"list label with {len(items)} entries; any of them counts as a match",
    )


def answer_from_status_obj(raw: Mapping[str, Any]) -> Answer:
    """ORThought's ``answer.json``: ``{"status": "optimal", "obj": 700}``."""
    status = str(raw.get("status") or "").strip().lower()
    obj = raw.get("obj")
    plain = dict(raw)
    if status and status != "optimal":
        if status in _NO_OPTIMUM_WORDS:
            return Answer(kind="infeasible", raw=plain, reason=_NO_OPTIMUM_WORDS[status])
        return unknown(plain, f"unrecognised status {status!r}")
    if obj is None:
        return unknown(plain, "status is optimal but no objective is given")
    answer = normalize_answer(obj)
    return answer.model_copy(update={"raw": plain})


def answer_from_results(results: Mapping[str, Any]) -> Answer:
    """Pick the objective out of a ReSocratic ``results`` dict.

    The dict maps descriptions to values, e.g. ``{"Number of trucks": "10.0",
    "Total Profit": "395000.0"}``, and nothing marks which entry is the
    objective.  The data show that the objective is the *last* entry: the
    single-number copies of OptiBench made by SIRL and LLMOPT equal the last
    value rounded to 2 decimals for all 605 items.  So the last entry is
    taken.  When the last key has no objective word (total, maximum, minimum,
    optimal, ...) but another key has, the label is flagged; if exactly one
    other key has such a word, that key is taken instead (e.g. "The optimal
    number of fire stations" listed before the per-city decisions).
    """
    items = [(str(k), v) for k, v in results.items()]
    plain = dict(results)
    if not items:
        return unknown(plain, "empty results dict")
    key, value = items[-1]
    reason = ""
    if len(items) > 1 and not _OBJECTIVE_KEY_RE.search(key):
        marked = [(k, v) for k, v in items[:-1] if _OBJECTIVE_KEY_RE.search(k)]
        if len(marked) == 1:
            key, value = marked[0]
            reason = f"objective entry taken by its wording: {key!r} (not the last entry)"
        elif marked:
            reason = f"last entry {key!r} taken; {len(marked)} other entries also look like one"
    single = normalize_answer(value)
    if single.kind != "number":
        return single.model_copy(
            update={"raw": plain, "reason": f"{key!r}: {single.reason}", "flagged": True}
        )
    update: dict[str, Any] = {"raw": plain}
    if reason:
        update.update(flagged=True, reason=reason)
    return single.model_copy(update=update)


def answer_from_samples(samples: Any) -> Answer:
    """Chain-of-Experts ``sample.json``: ``[{"input": {...}, "output": [obj]}]``.

    Every sample must agree for the label to be one number; CoE scores a
    program by ``output == ground truth`` on each sample, and all benchmark
    folders hold exactly one sample.
    """
    if isinstance(samples, Mapping):
        samples = [samples]
    if not isinstance(samples, list) or not samples:
        return unknown(samples, "sample.json holds no samples")
    outputs = [s.get("output") if isinstance(s, Mapping) else None for s in samples]
    answers = [normalize_answer(o) for o in outputs]
    first = answers[0]
    if any(a.kind != first.kind or a.value != first.value for a in answers[1:]):
        return unknown(outputs, f"{len(samples)} samples with different outputs")
    return first.model_copy(update={"raw": outputs[0] if len(outputs) == 1 else outputs})


class Problem(BaseModel):
    """One benchmark problem: what the model is asked and what counts as right.

    ``id`` is stable across runs: the dataset's own id field where it has one,
    else the 0-based record index as a string (the folder name for
    per-problem folders; the hash key for NL4OPT competition files).
    ``metadata`` carries ``difficulty``, ``type``, ``source`` and similar
    labels used for breakdowns, plus references such as a reference model.
    ``data`` is the problem's data folder (the tables a formulation reads, as
    MIPLIB-NL's ``data/``), or None for a problem whose numbers are in its text;
    :attr:`data_dir` also reads the older ``metadata["data_dir"]``.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    dataset: str
    question: str
    answer: Answer
    metadata: dict[str, Any] = Field(default_factory=dict)
    data: str | None = None

    @property
    def data_dir(self) -> str | None:
        """The data folder: ``data``, else ``metadata["data_dir"]`` (loaders that predate it)."""
        if self.data:
            return self.data
        legacy = self.metadata.get("data_dir")
        return str(legacy) if legacy else None

    @property
    def missing_data(self) -> str:
        """Why the problem cannot be solved as published (its tables are absent), or ``""``.

        Set by loaders (``metadata["missing_data"]``) when the tables the text lists
        are not shipped, as MIPLIB-NL's ex1010-pi; an eval does not run such a problem.
        """
        return str(self.metadata.get("missing_data") or "")
