"""Numbers and labels as the report writes them: finite or not, three significant digits
(analysis/numbers.py: one rule for every table and sentence), outcome names in words, whether an
interval excludes no effect, the planted truth of an outcome, and the table of effects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from analysis.numbers import finite_number, interval, p_value_text, signed, significant
from analysis.results import Effect
from middlestep.report.context import RATIO_SCALES


def outcome_label(outcome: str) -> str:
    return outcome.replace("_", " ")


def null_value(effect: Effect) -> float:
    return 1.0 if effect.scale in RATIO_SCALES else 0.0


def is_detectable(effect: Effect) -> bool:
    """The 95% interval excludes no effect (0 for differences, 1 for ratios)."""
    low, high = effect.ci_low, effect.ci_high
    if finite(low) and finite(high):
        null = null_value(effect)
        return low > null or high < null
    return finite(effect.p_value) and effect.p_value < 0.05


def truth_for(truth: Mapping[str, Any] | None, outcome: str) -> dict[str, float]:
    """The planted effect and estimand of `outcome` from a truth mapping (may be empty)."""
    if not truth:
        return {}
    outcomes = truth.get("outcomes") if isinstance(truth.get("outcomes"), Mapping) else truth
    value = outcomes.get(outcome)
    if isinstance(value, Mapping):
        found = {
            key: float(value[key])
            for key in ("estimand", "planted", "effect", "planted_effect")
            if isinstance(value.get(key), int | float) and not isinstance(value.get(key), bool)
        }
        if "planted" not in found:
            for alias in ("effect", "planted_effect"):
                if alias in found:
                    found["planted"] = found[alias]
        return {key: found[key] for key in ("estimand", "planted") if key in found}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"estimand": float(value)}
    return {}


__all__ = ["interval", "p_value_text", "signed"]


def finite(value: Any) -> bool:
    return finite_number(value)


def num(value: float) -> str:
    """Three significant digits, written out (analysis/numbers.py)."""
    return significant(value)


def scale_label(effect: Effect) -> str:
    """The scale in words, with the unit when the estimator gives one (per officer-month)."""
    unit = effect.extras.get("unit")
    label = effect.scale.replace("_", " ")
    return f"{label} {unit}" if unit and str(unit) not in label else label


def effects_frame(
    effects: Sequence[Effect], truth: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    rows = []
    for effect in effects:
        row = {
            "outcome": effect.outcome,
            "estimator": effect.estimator,
            "scale": scale_label(effect),
            "estimate": effect.estimate,
            "std_error": effect.std_error,
            "ci_low": effect.ci_low,
            "ci_high": effect.ci_high,
            "p_value": effect.p_value,
            "n_units": effect.n_units,
            "n_obs": effect.n_obs,
        }
        if truth:
            planted = truth_for(truth, effect.outcome)
            row["truth_estimand"] = planted.get("estimand")
            row["truth_planted"] = planted.get("planted")
        if any("fisher_p_value" in e.extras for e in effects):
            row["fisher_p_value"] = effect.extras.get("fisher_p_value")
        rows.append(row)
    frame = pd.DataFrame(rows)
    draws = {e.extras.get("n_permutations") for e in effects if "fisher_p_value" in e.extras}
    if len(draws) == 1:  # the Fisher p-values' resolution (middlestep/report/view.py)
        frame.attrs["permutations"] = draws.pop()
    return frame
