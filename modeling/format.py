"""How a number is written for a person: the one rule for reports, the CLI and chat."""

from __future__ import annotations

import math

MISSING = "-"
"""What an absent number (``None`` or NaN) is written as."""


def format_number(x: float | None, digits: int = 6) -> str:
    """A number as a person writes it: ``300``, ``2.5``, ``0.333333``, ``inf``; ``-`` if absent.

    Whole numbers (up to a relative 1e-9, below 1e15) lose their decimals, so a
    MILP's ``299.99999999997`` reads ``300``; other numbers keep ``digits``
    significant digits (the CLI's value tables ask for 10).

    >>> format_number(300.0), format_number(2 / 3), format_number(None), format_number(-math.inf)
    ('300', '0.666667', '-', '-inf')
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return MISSING
    x = float(x)
    if math.isnan(x):
        return MISSING
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    r = round(x)
    if abs(x - r) <= 1e-9 * max(1.0, abs(x)) and abs(r) < 1e15:
        return str(int(r))
    return f"{x:.{digits}g}"


__all__ = ["MISSING", "format_number"]
