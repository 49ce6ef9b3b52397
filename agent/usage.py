"""Token usage and its cost in USD, with an editable price table.

Prices are looked up in this order: :func:`register_price` calls, then the file
named by ``OPTIWISE_PRICES`` (TOML or JSON), then the built-in table below. A
model found nowhere costs 0 and its usage says ``cost_known=False``, so a report
can print "cost unknown" instead of a misleading $0.00.

Price file format (USD per 1M tokens)::

    # prices.toml                         // prices.json
    [my-local-llama]                      {"my-local-llama": {"input": 0, "output": 0},
    input = 0.0                            "gpt-4o": [2.5, 10.0]}
    output = 0.0
"""

from __future__ import annotations

import json
import os
import re
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_PRICES",
    "Price",
    "Usage",
    "cost_usd",
    "load_prices",
    "price_for",
    "register_price",
]


@dataclass(frozen=True)
class Price:
    """USD per one million input (prompt) and output (completion) tokens."""

    input_per_m: float
    output_per_m: float


# List prices as of 2025 (USD per 1M tokens, standard tier, no cached-input
# discount). Edit as needed, or override without editing code through
# register_price() or an OPTIWISE_PRICES file.
DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o1": Price(15.00, 60.00),
    "o3": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    # DeepSeek's V3.2 price (Sept 2025; same for both). Before: chat 0.27/1.10, reasoner 0.55/2.19.
    "deepseek-chat": Price(0.28, 0.42),
    "deepseek-reasoner": Price(0.28, 0.42),
}

_lock = threading.Lock()
_registered: dict[str, Price] = {}
_file_prices: dict[str, dict[str, Price]] = {}  # path -> prices, loaded once per path
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


def _normalize(model: str) -> str:
    name = model.strip().lower().rsplit("/", 1)[-1]  # "openai/gpt-4o" -> "gpt-4o"
    return name.removesuffix(":latest")


def register_price(model: str, input_per_m: float, output_per_m: float) -> None:
    """Set the price of ``model`` (USD per 1M tokens); wins over files and built-ins."""
    if input_per_m < 0 or output_per_m < 0:
        raise ValueError(f"prices must be nonnegative, got {input_per_m}, {output_per_m}")
    with _lock:
        _registered[_normalize(model)] = Price(float(input_per_m), float(output_per_m))


def _parse_price(model: str, value: Any, source: str) -> Price:
    if isinstance(value, Mapping) and {"input", "output"} <= set(value):
        return Price(float(value["input"]), float(value["output"]))
    if isinstance(value, list | tuple) and len(value) == 2:
        return Price(float(value[0]), float(value[1]))
    raise ValueError(
        f"{source}: price of {model!r} must be {{input = ..., output = ...}} or [input, output], "
        f"got {value!r}"
    )


def load_prices(path: str | Path) -> dict[str, Price]:
    """Read a price file (``.toml`` or ``.json``): model -> {input, output} per 1M tokens.

    An optional top-level ``prices`` table is unwrapped, so the prices can live in
    a larger config file.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    if isinstance(data, Mapping) and isinstance(data.get("prices"), Mapping):
        data = data["prices"]
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a table of model -> price")
    return {_normalize(k): _parse_price(k, v, str(path)) for k, v in data.items()}


def _env_prices() -> Mapping[str, Price]:
    path = os.environ.get("OPTIWISE_PRICES")
    if not path:
        return {}
    with _lock:
        cached = _file_prices.get(path)
    if cached is None:
        cached = load_prices(path)
        with _lock:
            _file_prices[path] = cached
    return cached


def price_for(model: str) -> Price | None:
    """The price of ``model``, or None if unknown.

    Provider prefixes (``openai/gpt-4o``), ``:latest`` and dated snapshot suffixes
    (``gpt-4o-2024-08-06``, ``o3-mini-0131``) are ignored when looking it up.
    """
    name = _normalize(model)
    undated = _DATE_SUFFIX.sub("", name)
    env = _env_prices()
    for table in (_registered, env, DEFAULT_PRICES):
        for key in (name, undated):
            if key in table:
                return table[key]
    return None


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> tuple[float, bool]:
    """Cost in USD and whether the price was known (0.0, False for unknown models)."""
    price = price_for(model)
    if price is None:
        return 0.0, False
    cost = (prompt_tokens * price.input_per_m + completion_tokens * price.output_per_m) / 1e6
    return cost, True


@dataclass(frozen=True)
class Usage:
    """Tokens and money spent by one or more LLM calls; add them with ``+`` or ``sum()``.

    ``calls`` counts requests answered (cache hits included); ``cached_calls`` counts
    those answered from the response cache, which spend no tokens and cost nothing.
    ``cost_known`` is False if any call used a model missing from the price table.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    cached_calls: int = 0
    cost_known: bool = True

    @property
    def total(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def for_call(cls, model: str, prompt_tokens: int, completion_tokens: int) -> Usage:
        """Usage of one billed call, priced from the table."""
        cost, known = cost_usd(model, prompt_tokens, completion_tokens)
        return cls(prompt_tokens, completion_tokens, cost, calls=1, cost_known=known)

    @classmethod
    def cached_call(cls) -> Usage:
        """Usage of one call answered from the cache: nothing spent."""
        return cls(calls=1, cached_calls=1)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
            calls=self.calls + other.calls,
            cached_calls=self.cached_calls + other.cached_calls,
            cost_known=self.cost_known and other.cost_known,
        )

    def __radd__(self, other: object) -> Usage:
        # Lets sum(usages) start from the integer 0.
        if other == 0:
            return self
        if isinstance(other, Usage):
            return other + self
        return NotImplemented

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, including ``total``."""
        return {**asdict(self), "total": self.total}
