"""Tidy result objects that every estimator returns.

They print like a statsmodels summary and serialise to JSON with the field names of the design
brief (`estimate`, `std_error`, `ci_low`, `ci_high`, `p_value`, `n_units`, plus extras).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Effect:
    """One effect estimate.

    `scale` says what `estimate` measures: "difference" (percentage points or rating points),
    "sd" (standard deviations), "rate_ratio" / "odds_ratio" (the interval is on the ratio scale),
    or "mean_difference". `extras` carries estimator-specific numbers (for example
    `std_error_neyman`, `fisher_p_value`, `n_permutations`) and is flattened into the JSON.
    """

    outcome: str
    estimator: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    n_units: int
    n_obs: int | None = None
    scale: str = "difference"
    extras: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        extras = record.pop("extras")
        record["notes"] = list(self.notes)
        record.update(extras)
        return {key: json_number(value) for key, value in record.items()}

    def summary(self) -> str:
        width = 78
        lines = [
            f"{self.estimator} — {self.outcome}".center(width),
            "=" * width,
            f"{'':<14}{'estimate':>12}{'std err':>12}{'p-value':>10}{'[0.025':>12}{'0.975]':>12}",
            "-" * width,
            f"{self.scale:<14}{self.estimate:>12.4f}{self.std_error:>12.4f}{self.p_value:>10.3f}"
            f"{self.ci_low:>12.4f}{self.ci_high:>12.4f}",
            "-" * width,
            f"units (clusters): {self.n_units}"
            + (f"    observations: {self.n_obs}" if self.n_obs is not None else ""),
        ]
        lines += [f"{key}: {_format(value)}" for key, value in self.extras.items()]
        lines += [f"note: {note}" for note in self.notes]
        lines.append("=" * width)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _format(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def json_number(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_value(value: Any) -> Any:
    """`json_number`, and numpy scalars as Python numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
