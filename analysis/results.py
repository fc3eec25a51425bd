"""Tidy result objects that every estimator returns.

They print like a statsmodels summary and serialise to JSON with the field names of the design
brief (`estimate`, `std_error`, `ci_low`, `ci_high`, `p_value`, `n_units`, plus extras).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.inference import wald_interval, wald_p_value

if TYPE_CHECKING:
    import pandas as pd


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


def clustered_effect(
    data: pd.DataFrame,
    *,
    outcome: str,
    estimator: str,
    estimate: float,
    std_error: float,
    scale: str,
    ci: tuple[float, float] | None = None,
    p_value: float | None = None,
    extras: dict[str, Any],
    notes: tuple[str, ...],
) -> Effect:
    """The Effect of an estimate fitted on `data` (one row per observation, the unit of
    inference in column "cluster"): Wald interval and p-value unless `ci` / `p_value` are given."""
    ci_low, ci_high = ci if ci is not None else wald_interval(estimate, std_error)
    return Effect(
        outcome=outcome,
        estimator=estimator,
        estimate=float(estimate),
        std_error=float(std_error),
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        p_value=float(wald_p_value(estimate, std_error) if p_value is None else p_value),
        n_units=int(data["cluster"].nunique()),
        n_obs=len(data),
        scale=scale,
        extras=extras,
        notes=notes,
    )


def rules_out_note(effect: Effect) -> str:
    """What the 95% interval excludes, in the estimate's own units: a null is informative only
    as far as it rules effects out."""
    low, high = effect.ci_low, effect.ci_high
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no interval: nothing is ruled out"
    if effect.scale == "rate_ratio":
        return (
            f"the 95% interval rules out rate ratios below {low:.3f} and above {high:.3f} "
            f"(changes below {100 * (low - 1):+.1f}% or above {100 * (high - 1):+.1f}%)"
        )
    unit, digits = {"percentage_points": ("percentage points", 1), "sd": ("SD", 2)}.get(
        effect.scale, ("", 3)
    )
    return (
        f"the 95% interval rules out effects below {low:+.{digits}f} and above "
        f"{high:+.{digits}f} {unit}".rstrip()
    )


def with_rules_out_note(effect: Effect) -> Effect:
    """The effect with `rules_out_note` appended to its notes."""
    return replace(effect, notes=effect.notes + (rules_out_note(effect),))


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
