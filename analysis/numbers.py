"""Numbers as text, one rule for every table, sentence and summary: three significant digits
written out (never an exponent: 0.0000551, not 5.51e-05), whole numbers whole (1006, 48,053:
thousands separators from 10,000 up, so a year stays 2024), p-values to three decimals and, for
a permutation p-value, no smaller than one over the number of draws can show ("< 0.01" from 100
draws, never "0.000").
"""

from __future__ import annotations

import math
from typing import Any


def finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def significant(value: Any, digits: int = 3) -> str:
    """`value` to `digits` significant digits, trailing zeros dropped; "n/a" if not a number."""
    if not finite_number(value):
        return "n/a"
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return _whole(int(value))
    exponent = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - exponent, 0)
    rounded = round(float(value), decimals)
    if abs(rounded) >= 1000 or decimals == 0:
        return _whole(round(rounded))
    text = f"{rounded:.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


def _whole(value: int) -> str:
    return f"{value:,}" if abs(value) >= 10_000 else str(value)


def signed(value: Any, digits: int = 3) -> str:
    """As `significant`, with a + on positive numbers (an effect's direction)."""
    text = significant(value, digits)
    return f"+{text}" if finite_number(value) and value > 0 and text != "0" else text


def p_value_text(p: Any, draws: int | None = None) -> str:
    """A p-value: three decimals (two when the third is 0), "< 0.001" below; with `draws` (a
    permutation p-value) a value below 1 / draws is "< 1/draws": the re-draws cannot resolve a
    smaller one."""
    if not finite_number(p):
        return "n/a"
    if draws and p < 1.0 / draws:
        return f"< {significant(1.0 / draws)}"
    if p < 0.001:
        return "< 0.001"
    text = f"{p:.3f}"
    return text[:-1] if text.endswith("0") else text  # 0.17, not 0.170; 0.30 and 0.049 kept


def interval(low: Any, high: Any, digits: int = 3) -> str:
    """A confidence interval, "low to high"."""
    return f"{significant(low, digits)} to {significant(high, digits)}"
