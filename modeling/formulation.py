"""The five-element formulation document (spec v1) and how it is loaded.

A :class:`Formulation` is the typed form of the JSON/YAML document an LLM or
a person writes.  Loading checks the *shape* of the document (required keys,
types, spellings) and reports every problem with its location; the meaning
of the expressions is checked later by :func:`modeling.check`.

Lenient readings we accept on top of the spec (each one is unambiguous):
``min``/``max``/``minimise``/``maximise`` for the sense, ``int``/``bool``/
``real`` style type names, ``index`` given as one string, ``forall`` without
its leading ``for``, constraints given as a mapping name → definition, and
extra top-level keys such as ``units`` (kept, ignored).  Inside an element
only the spec's keys and a few annotations (``units``, ``note`` …) are
accepted: an unknown key there (``domain:`` for ``type:``) would change the
model silently, so it is a located error (:func:`unknown_key_issues`).
"""

from __future__ import annotations

import difflib
import json
import keyword
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from modeling.errors import FormulationError, Issue, did_you_mean

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FUNCTIONS = frozenset({"abs", "min", "max", "exp", "log", "sqrt", "sin", "cos"})
# Names that cannot be used for sets, parameters, variables or index names.
RESERVED = FUNCTIONS | {"sum", "for", "in", "if", "and", "or", "not"}

Sense = Literal["minimize", "maximize"]
VarType = Literal["continuous", "integer", "binary"]

_SENSES = {
    "min": "minimize",
    "minimize": "minimize",
    "minimise": "minimize",
    "minimization": "minimize",
    "max": "maximize",
    "maximize": "maximize",
    "maximise": "maximize",
    "maximization": "maximize",
}
_TYPES = {
    "continuous": "continuous",
    "real": "continuous",
    "float": "continuous",
    "integer": "integer",
    "int": "integer",
    "general": "integer",
    "binary": "binary",
    "bool": "binary",
    "boolean": "binary",
    "bin": "binary",
}


def as_number(value: Any) -> float | None:
    """The number a value stands for, or None.

    Numbers are numbers; a string that reads as a number (``"1e6"``, which
    YAML 1.1 loaders return as a string) is that number.  Booleans and NaN
    are not; an integer too large for a float is infinite.
    """
    if isinstance(value, bool):
        return None
    number: float
    if isinstance(value, int):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf if value > 0 else -math.inf
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            number = float(text)
        except (ValueError, OverflowError):
            return None
    else:
        return None
    return None if math.isnan(number) else number


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class IndexedParameter(_Doc):
    """An indexed parameter: ``{index, values | rows | table, default?}``.

    ``table`` names a file of the problem's data folder (spec v1.1); ``layout``
    (``long`` or ``wide``), ``keys``, ``value``, ``header`` and ``sheet`` say
    how to read it (:mod:`modeling.tables`).
    """

    index: list[str]
    values: Any = None
    rows: list[list[Any]] | None = None
    default: float | None = None
    description: str | None = None
    table: str | None = None
    layout: Literal["long", "wide"] | None = None
    keys: list[str | int] | str | int | None = None
    value: str | int | None = None
    header: bool | None = None
    sheet: str | int | None = None

    @field_validator("index", mode="before")
    @classmethod
    def _one_index(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("default", mode="before")
    @classmethod
    def _numeric_default(cls, v: Any) -> Any:
        if v is None:
            return None
        number = as_number(v)
        if number is None:
            raise ValueError("default must be a number (not NaN)")
        return number


class VariableDef(_Doc):
    """A decision variable (scalar when ``index`` is empty)."""

    index: list[str] = Field(default_factory=list)
    type: VarType = "continuous"
    lower: float | str | None = 0.0
    upper: float | str | None = None
    description: str | None = None

    @field_validator("index", mode="before")
    @classmethod
    def _one_index(cls, v: Any) -> Any:
        if v is None:
            return []
        return [v] if isinstance(v, str) else v

    @field_validator("type", mode="before")
    @classmethod
    def _type_spelling(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in _TYPES:
            return _TYPES[v.strip().lower()]
        return v

    @field_validator("lower", "upper", mode="before")
    @classmethod
    def _bound(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("a bound is a number, null or a parameter name")
        if isinstance(v, float) and math.isnan(v):
            raise ValueError("a bound cannot be NaN; write a number or null")
        if isinstance(v, str):
            number = as_number(v)
            if number is not None and not NAME_RE.match(v.strip()):
                return number
            if v.strip().lower() in {"inf", "+inf", "infinity"}:
                return math.inf
            if v.strip().lower() in {"-inf", "-infinity"}:
                return -math.inf
            return v.strip()
        return v


class Objective(_Doc):
    """``{sense, expression, description?}``."""

    sense: Sense
    expression: str
    description: str | None = None

    @field_validator("sense", mode="before")
    @classmethod
    def _sense_spelling(cls, v: Any) -> Any:
        if isinstance(v, str) and v.strip().lower() in _SENSES:
            return _SENSES[v.strip().lower()]
        return v

    @field_validator("expression", mode="before")
    @classmethod
    def _number_expression(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


class Constraint(_Doc):
    """``{name, expression, forall?, description?}``."""

    name: str
    expression: str
    forall: str | None = None
    description: str | None = None

    @field_validator("forall", mode="before")
    @classmethod
    def _forall_prefix(cls, v: Any) -> Any:
        if isinstance(v, str):
            text = v.strip()
            if not text:
                return None
            if not text.startswith("for ") and not text.startswith("for("):
                text = "for " + text
            return text
        return v


class Assumption(_Doc):
    """A stated assumption (spec v1.2): what the text left out and what the model assumed.

    ``parameters`` names the sets, parameters or variables the assumption
    affects, so a person (chat) or a report (evals) can tell which numbers of
    the model rest on it rather than on the problem text.
    """

    text: str
    parameters: list[str] = Field(default_factory=list)

    @field_validator("text", mode="before")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        if isinstance(v, str):
            if not v.strip():
                raise ValueError(
                    "must not be empty: say what the text left out and what is assumed"
                )
            return v.strip()
        return v

    @field_validator("parameters", mode="before")
    @classmethod
    def _one_name(cls, v: Any) -> Any:
        if v is None:
            return []
        return [v] if isinstance(v, str) else v


class Formulation(_Doc):
    """A five-element formulation: sets, parameters, variables, objective, constraints.

    ``assumptions`` (spec v1.2) lists what the problem text left out and what
    the model assumed instead; it does not change the model.
    """

    name: str | None = None
    description: str | None = None
    sets: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, VariableDef]
    objective: Objective
    constraints: list[Constraint] = Field(default_factory=list)
    assumptions: list[Assumption] = Field(default_factory=list)
    _data_dir: Path | None = PrivateAttr(default=None)

    @property
    def data_dir(self) -> Path | None:
        """The folder the document's tables are read from (None: no tables can be read)."""
        return self._data_dir

    def with_data(self, folder: str | Path | None) -> Formulation:
        """A copy whose tables are read from ``folder`` (the problem's data folder)."""
        out = self.model_copy()
        out._data_dir = None if folder is None else Path(folder)
        return out

    @field_validator("sets", "parameters", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return {} if v is None else v

    @field_validator("assumptions", mode="before")
    @classmethod
    def _no_assumptions(cls, v: Any) -> Any:
        return [] if v is None else v

    @field_validator("constraints", mode="before")
    @classmethod
    def _constraints_mapping(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, Mapping):
            out = []
            for key, body in v.items():
                if isinstance(body, str):
                    out.append({"name": key, "expression": body})
                elif isinstance(body, Mapping):
                    out.append({"name": key, **body})
                else:
                    out.append(body)
            return out
        return v

    def to_dict(self) -> dict[str, Any]:
        """The document as plain JSON-ready data (``None`` and an empty assumption list left out)."""
        out = self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
        if not self.assumptions:
            out.pop("assumptions", None)
        return out

    def to_yaml(self) -> str:
        """The document as YAML, keys in the spec's order."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


def _loc(parts: tuple[Any, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _pydantic_issues(exc: ValidationError) -> list[Issue]:
    issues = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        location = _loc(loc)
        kind = err["type"]
        if kind == "missing":
            msg, hint = "is required", ""
            if loc and loc[-1] == "variables":
                hint = "declare the decision variables, e.g. {x: {type: continuous}}"
            elif loc and loc[-1] == "objective":
                hint = "add {sense: minimize|maximize, expression: '...'}"
        elif kind == "literal_error" and loc and loc[-1] == "sense":
            msg, hint = "must be 'minimize' or 'maximize'", ""
        elif kind == "literal_error" and loc and loc[-1] == "type":
            msg, hint = "must be 'continuous', 'integer' or 'binary'", ""
        elif kind in ("string_type", "dict_type", "list_type", "model_type"):
            expected = {
                "string_type": "a string",
                "dict_type": "a mapping",
                "list_type": "a list",
                "model_type": "a mapping",
            }[kind]
            msg, hint = f"must be {expected}", ""
            if loc and loc[0] == "assumptions" and kind in ("model_type", "list_type"):
                hint = "write assumptions: [{text: '...', parameters: [names it affects]}]"
        elif kind == "extra_forbidden":
            msg, hint = "is not a known key", ""
        elif err["msg"] == "Keys should be strings":
            msg, hint = (
                "has a key that is not a name (a number, true/false or null)",
                "write keys as names",
            )
            # pydantic locates it at the offending key, which is no name: give the section
            head = loc[0] if loc else ""
            location = head if head in ("sets", "parameters", "variables") else "document"
        else:
            msg, hint = err["msg"].removeprefix("Value error, "), ""
        if location.startswith("["):  # a non-name key at the top: the document itself
            location = ""
        issues.append(Issue(location or "document", msg, hint, code="schema"))
    return issues


class _Duplicate(Exception):
    """A key written twice in one mapping (raised while reading, located afterwards)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key written twice in one mapping.

    Plain YAML keeps the last value silently, so two ``constraints:`` blocks
    would become a different model with no warning.  Keys brought in by a
    ``<<`` merge may be overridden, as YAML intends.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise _Duplicate(str(key))
                seen.add(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
        return super().construct_mapping(node, deep=deep)


def _no_duplicate_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _duplicate_issue(text: str, key: str, origin: str) -> Issue:
    """Where a duplicated key is, with the lines of both copies when they can be found."""
    found = _find_duplicate(text, key)
    if found is not None:
        path, marks = found
        (l1, c1), (l2, c2) = marks
        shown = f"lines {l1} and {l2}" if l1 != l2 else f"line {l1}, columns {c1} and {c2}"
        return Issue(
            path,
            f"'{key}' is written twice in the same mapping ({shown}); "
            "only the last one would be kept",
            f"merge the two '{key}' entries into one",
            code="duplicate",
        )
    return Issue(
        origin,
        f"the key '{key}' is written twice in the same mapping; only one would be kept",
        f"merge the two '{key}' entries into one",
        code="duplicate",
    )


def _find_duplicate(text: str, key: str) -> tuple[str, list[tuple[int, int]]] | None:
    """The path of the duplicated key and the (line, column) of both copies."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    stack: list[tuple[Any, tuple[Any, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            marks: dict[str, tuple[int, int]] = {}
            for k_node, v_node in node.value:
                name = str(getattr(k_node, "value", ""))
                here = (k_node.start_mark.line + 1, k_node.start_mark.column + 1)
                if name == key and name in marks:
                    return _loc((*path, name)), [marks[name], here]
                marks.setdefault(name, here)
                stack.append((v_node, (*path, name)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, (*path, k)) for k, v in enumerate(node.value))
    return None


def _read_text(text: str, origin: str = "document") -> Any:
    try:
        return _read_text_inner(text, origin)
    except _Duplicate as dup:
        raise FormulationError([_duplicate_issue(text, dup.key, origin)]) from None
    except RecursionError:
        raise FormulationError(
            [
                Issue(
                    origin,
                    "is nested too deeply",
                    "a formulation needs only a few levels",
                    code="syntax",
                )
            ]
        ) from None


def _read_text_inner(text: str, origin: str) -> Any:
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_no_duplicate_pairs)
        except json.JSONDecodeError as exc:
            # YAML is a superset of JSON for most documents; try it before failing.
            try:
                return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
            except yaml.YAMLError:
                raise FormulationError(
                    [
                        Issue(
                            origin,
                            f"is not valid JSON: {exc.msg} at line {exc.lineno}",
                            "fix the JSON syntax",
                            code="syntax",
                        )
                    ]
                ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.constructor.ConstructorError as exc:
        raise FormulationError(
            [
                Issue(
                    origin,
                    f"uses a YAML tag that is not allowed ({exc.problem})",
                    "write plain YAML: mappings, lists, strings and numbers",
                    code="syntax",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FormulationError(
            [
                Issue(
                    origin,
                    f"is not valid YAML/JSON: {problem}{where}",
                    "fix the syntax",
                    code="syntax",
                )
            ]
        ) from None


def load(
    source: Formulation | Mapping[str, Any] | str | Path, data: str | Path | None = None
) -> Formulation:
    """Load a formulation from a dict, a JSON/YAML string or a file path.

    ``data`` is the problem's data folder, where the tables the document
    names are read from (:meth:`Formulation.with_data`).

    Raises :class:`FormulationError` listing every shape problem at once.
    Names and expressions are checked by :func:`modeling.check`.

    >>> f = load({"variables": {"x": {}}, "objective": {"sense": "min", "expression": "x"}})
    >>> f.objective.sense
    'minimize'
    """
    f, keys = load_checked(source)
    if keys:
        raise FormulationError(keys)
    return f if data is None else f.with_data(data)


def load_checked(
    source: Formulation | Mapping[str, Any] | str | Path,
) -> tuple[Formulation, list[Issue]]:
    """The document and its unknown-key issues (:func:`unknown_key_issues`), not raised.

    :func:`load` refuses a document with an unknown key; the compiler reads it
    on with this, so that one report also lists the names, data and
    expressions that are wrong.  Shape errors raise :class:`FormulationError`
    (with the unknown keys and the expression errors found).
    """
    keys: list[Issue] = []
    return _load(source, keys), keys


def _load(source: Formulation | Mapping[str, Any] | str | Path, keys: list[Issue]) -> Formulation:
    """``source`` as a Formulation; its unknown-key issues are appended to ``keys``."""
    if isinstance(source, Formulation):
        return source
    data: Any
    if isinstance(source, Path):
        data = _read_text(source.read_text(encoding="utf-8"), origin=str(source))
    elif isinstance(source, str):
        if "\n" not in source and len(source) < 4096 and not source.lstrip().startswith("{"):
            candidate = Path(source)
            try:
                is_file = candidate.is_file()
            except OSError:
                is_file = False
            if is_file:
                return _load(candidate, keys)
        data = _read_text(source)
    else:
        data = source
    if not isinstance(data, Mapping):
        raise FormulationError(
            [
                Issue(
                    "document",
                    "must be a mapping with variables and objective",
                    "write a JSON object or a YAML mapping",
                    code="schema",
                )
            ]
        )
    # A document wrapped as {"formulation": {...}} (as our samples are) is accepted.
    if "variables" not in data and isinstance(data.get("formulation"), Mapping):
        data = data["formulation"]
    keys.extend(unknown_key_issues(data))
    try:
        f = Formulation.model_validate(dict(data))
    except ValidationError as exc:
        issues = keys + _pydantic_issues(exc)
        raise FormulationError(issues + _expression_issues(data, issues)) from None
    except RecursionError:
        raise FormulationError(
            [
                Issue(
                    "document",
                    "is nested too deeply",
                    "a formulation needs only a few levels",
                    code="schema",
                )
            ]
        ) from None
    return f


_SECTIONS = frozenset({"sets", "parameters", "variables"})

TOP_KEYS = frozenset(
    {
        "name",
        "description",
        "sets",
        "parameters",
        "variables",
        "objective",
        "constraints",
        "assumptions",
    }
)
"""The keys of a document (spec § Document)."""

_ANNOTATION_ORDER = ("description", "units", "unit", "note", "notes", "comment")
ANNOTATIONS = frozenset(_ANNOTATION_ORDER)
"""Keys any set, parameter, variable, objective, constraint or assumption may carry: kept, ignored."""

ELEMENT_KEYS: dict[str, frozenset[str]] = {
    "set": frozenset({"from", "to", "elements", "table", "header", "sheet", "column", "columns"})
    | {"column_labels"},
    "parameter": frozenset({"index", "values", "rows", "default", "table", "layout", "keys"})
    | {"value", "header", "sheet"},
    "variable": frozenset({"index", "type", "lower", "upper"}),
    "objective": frozenset({"sense", "expression", "name"}),
    "constraint": frozenset({"name", "expression", "forall"}),
    "assumption": frozenset({"text", "parameters"}),
}
"""The keys each element of a document has (spec), annotations aside."""

_TOP_SYNONYMS = {
    "vars": "variables",
    "decision_variables": "variables",
    "params": "parameters",
    "data": "parameters",
    "subject_to": "constraints",
    "st": "constraints",
    "s.t.": "constraints",
    "such_that": "constraints",
    "objective_function": "objective",
}
# Words other modeling languages use for a key of ours: the hint names our key.
_SYNONYMS: dict[str, dict[str, str]] = {
    "variable": {
        "domain": "write type: continuous, integer or binary (and lower/upper for bounds)",
        "vtype": "did you mean 'type'?",
        "kind": "did you mean 'type'?",
        "var_type": "did you mean 'type'?",
        "integer": "write type: integer",
        "lb": "did you mean 'lower'?",
        "ub": "did you mean 'upper'?",
        "min": "did you mean 'lower'?",
        "max": "did you mean 'upper'?",
        "lower_bound": "did you mean 'lower'?",
        "upper_bound": "did you mean 'upper'?",
        "bounds": "write lower: L and upper: U",
        "indices": "did you mean 'index'?",
        "indexes": "did you mean 'index'?",
        "over": "did you mean 'index'?",
        "sets": "did you mean 'index'?",
    },
    "constraint": {
        "expr": "did you mean 'expression'?",
        "relation": "did you mean 'expression'?",
        "constraint": "did you mean 'expression'?",
        "for": "did you mean 'forall'?",
        "for_all": "did you mean 'forall'?",
        "over": "did you mean 'forall'? write forall: 'for i in I'",
        "index": "write forall: 'for i in I' for one constraint per element",
        "indices": "write forall: 'for i in I' for one constraint per element",
    },
    "objective": {
        "expr": "did you mean 'expression'?",
        "function": "did you mean 'expression'?",
        "type": "did you mean 'sense'?",
        "direction": "did you mean 'sense'?",
        "goal": "did you mean 'sense'?",
    },
    "parameter": {
        "data": "did you mean 'values'?",
        "indices": "did you mean 'index'?",
        "indexes": "did you mean 'index'?",
        "over": "did you mean 'index'?",
    },
    "set": {
        "start": "did you mean 'from'?",
        "end": "did you mean 'to'?",
        "stop": "did you mean 'to'?",
    },
    "assumption": {
        "parameter": "did you mean 'parameters'?",
        "affects": "did you mean 'parameters'?",
        "names": "did you mean 'parameters'?",
        "assumption": "did you mean 'text'?",
    },
}


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: "a constraint", "an assumption"."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _key_issue(kind: str, key: str, where: str) -> Issue:
    """The issue for ``key`` in an element of ``kind``, with the key it was likely meant to be.

    A key that differs from one of ours only in case (``Description``,
    ``Expression``) is named outright; otherwise a synonym from another
    modeling language, then a close spelling of a key or an annotation, then
    the element's keys and the annotations every element may carry.
    """
    known = ELEMENT_KEYS[kind]
    allowed = sorted(known) + sorted(ANNOTATIONS - known)
    same = next((k for k in allowed if k.lower() == key.lower()), None)
    hint = (
        (f"did you mean '{same}'?" if same else "")
        or _SYNONYMS.get(kind, {}).get(key.lower())
        or did_you_mean(key, known)
        or did_you_mean(key, ANNOTATIONS)
        or f"{_a(kind)} has the keys {', '.join(sorted(known))} and may carry the "
        f"annotations {', '.join(_ANNOTATION_ORDER)}"
    )
    return Issue(where, f"'{key}' is not a key of {_a(kind)}", hint, code="schema")


def unknown_key_issues(data: Mapping[str, Any]) -> list[Issue]:
    """Keys the spec does not define where they could change the model's meaning.

    Inside a set, parameter, variable, the objective, a constraint or an
    assumption, a key is one of the spec's keys or an annotation
    (:data:`ANNOTATIONS`); anything else (``domain:`` for ``type:``, ``lb:``
    for ``lower:``) would be silently ignored, so it is an error at its
    location with a hint.  At the top level extra keys (``units``, ``id``,
    ``source``) are kept and ignored, except one that looks like a misspelt
    spec key (``constraint:``, ``params:``): that would drop a whole section.
    A set or parameter mapping with none of its keys is left to the data
    checks, which say what a set or a parameter looks like.

    >>> [str(i) for i in unknown_key_issues({"variables": {"x": {"domain": "integer"}}})]
    ["variables.x.domain: 'domain' is not a key of a variable (write type: continuous, integer or binary (and lower/upper for bounds))"]
    """
    issues: list[Issue] = []
    for key in data:
        text = str(key)
        if text in TOP_KEYS or text == "formulation":
            continue
        meant = _TOP_SYNONYMS.get(text.lower()) or next(
            iter(difflib.get_close_matches(text, sorted(TOP_KEYS), n=1, cutoff=0.75)), None
        )
        if meant is not None:
            issues.append(
                Issue(
                    text,
                    f"'{text}' is not a key of a formulation and would be ignored",
                    f"did you mean '{meant}'?",
                    code="schema",
                )
            )

    def element(kind: str, body: Any, where: str, skip_foreign: bool = False) -> None:
        if not isinstance(body, Mapping):
            return
        known = ELEMENT_KEYS[kind]
        if skip_foreign and not any(str(k) in known for k in body):
            return
        for key in body:
            if str(key) not in known and str(key) not in ANNOTATIONS:
                issues.append(_key_issue(kind, str(key), f"{where}.{key}"))

    for section, kind in (("sets", "set"), ("parameters", "parameter"), ("variables", "variable")):
        members = data.get(section)
        if isinstance(members, Mapping):
            for name, body in members.items():
                element(kind, body, f"{section}.{name}", skip_foreign=kind != "variable")
    element("objective", data.get("objective"), "objective")
    constraints = data.get("constraints")
    if isinstance(constraints, list):
        for k, c in enumerate(constraints):
            element("constraint", c, f"constraints[{k}]")
    elif isinstance(constraints, Mapping):
        for k, c in enumerate(constraints.values()):
            element("constraint", c, f"constraints[{k}]")
    assumptions = data.get("assumptions")
    if isinstance(assumptions, list):
        for k, a in enumerate(assumptions):
            element("assumption", a, f"assumptions[{k}]")
    return issues


def _expression_issues(data: Mapping[str, Any], shape: list[Issue]) -> list[Issue]:
    """Expression problems of a document with shape errors, so one report has both.

    Expressions under a location already reported (say a constraint that is
    not a mapping) are left to that report.
    """
    from modeling.expressions import raw_expression_issues  # imports this module

    try:
        found = raw_expression_issues(data)
    except RecursionError:
        return []
    reported = {i.location for i in shape}
    # a section or a member that is not a mapping declares no (usable) names: only
    # syntax and values are checked then; a bad field (variables.x.type) keeps x known
    names_known = not any(
        r == "document" or (r.split(".")[0].split("[")[0] in _SECTIONS and r.count(".") < 2)
        for r in reported
    )
    return [
        i
        for i in found
        if not any(i.location == r or i.location.startswith(r + ".") for r in reported)
        and (names_known or i.code not in ("undefined", "index", "shadow", "constant"))
    ]


def check_names(f: Formulation) -> list[Issue]:
    """Naming rules of the spec: identifiers, uniqueness, reserved words."""
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    for kind, names in (
        ("sets", f.sets),
        ("parameters", f.parameters),
        ("variables", f.variables),
    ):
        for name in names:
            loc = f"{kind}.{name}"
            if not NAME_RE.match(name):
                issues.append(
                    Issue(
                        loc,
                        f"'{name}' is not a valid name",
                        "use letters, digits and _, not starting with a digit",
                        code="name",
                    )
                )
            elif keyword.iskeyword(name) or name in RESERVED:
                issues.append(
                    Issue(
                        loc,
                        f"'{name}' is a reserved word",
                        f"rename it, e.g. '{name}_'",
                        code="name",
                    )
                )
            if name in seen:
                issues.append(
                    Issue(
                        loc,
                        f"'{name}' is already defined in {seen[name]}",
                        "names must be unique across sets, parameters and variables",
                        code="duplicate",
                    )
                )
            else:
                seen[name] = kind
    cnames: dict[str, int] = {}
    for k, c in enumerate(f.constraints):
        loc = f"constraints[{k}].name"
        if not NAME_RE.match(c.name):
            issues.append(
                Issue(
                    loc, f"'{c.name}' is not a valid name", "use letters, digits and _", code="name"
                )
            )
        if c.name in cnames:
            issues.append(
                Issue(
                    loc,
                    f"constraint name '{c.name}' is used twice "
                    f"(also constraints[{cnames[c.name]}])",
                    "give each constraint its own name",
                    code="duplicate",
                )
            )
        else:
            cnames[c.name] = k
    issues.extend(check_assumptions(f))
    return issues


def check_assumptions(f: Formulation) -> list[Issue]:
    """Every name an assumption cites is a set, parameter or variable of the document.

    >>> f = load({"parameters": {"capacity": 5}, "variables": {"x": {}},
    ...           "objective": {"sense": "max", "expression": "x"},
    ...           "assumptions": [{"text": "capacity assumed", "parameters": ["capcity"]}]})
    >>> print(check_assumptions(f)[0])
    assumptions[0].parameters[0]: 'capcity' is not a set, parameter or variable (did you mean 'capacity'?)
    """
    known = [*f.sets, *f.parameters, *f.variables]
    issues: list[Issue] = []
    for k, a in enumerate(f.assumptions):
        for j, name in enumerate(a.parameters):
            if name not in known:
                issues.append(
                    Issue(
                        f"assumptions[{k}].parameters[{j}]",
                        f"'{name}' is not a set, parameter or variable",
                        did_you_mean(name, known)
                        or "name the sets, parameters or variables the assumption affects",
                        code="undefined",
                    )
                )
    return issues
