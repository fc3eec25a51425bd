"""Staggered roll-out effects of a department's officer x month panel (Roth & Sant'Anna 2023).

The panel is `middlestep.panel.balanced_panel`'s: one row per officer (`uid`) x month (`period`,
1 = the study window's first month) with the cohort `first_trained` (the period of the month the
officer's cohort was trained) and the outcomes `complaints`, `sustained`, `force` (the marts'
`complaints`, `sustained_complaints`, `force_reports`). Every estimate is a difference in mean
counts per officer-month (trained minus not-yet-trained), the scale of `analysis.staggered`.

* :func:`rollout_effect`: one estimate (an `Effect`; `std_error_neyman`, `fisher_p_value` and
  `n_permutations` among its extras).
* :func:`rollout_study`: what a report shows: the four estimands x the outcomes x two estimators
  (efficient and Callaway & Sant'Anna) with Fisher p-values, event studies with 95% intervals,
  and the pre-trend balance checks.
* :func:`waitlist_rollout_effects`: a wait-list trial (two cohorts: trained at once and a year
  later) read as a roll-out, for the report beside the Poisson difference-in-differences.

Over 400 lines: the study object, its tables and the wait-list reading share the estimators'
labels and result rows; split, each part would import the other's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from analysis.numbers import interval
from analysis.results import Effect
from analysis.staggered import balance_checks, staggered
from analysis.staggered.api import BalanceChecks

# CLI outcome name (the panel's column) -> the mart column it comes from, and a label
OUTCOMES: dict[str, str] = {
    "complaints": "complaints",
    "sustained": "sustained_complaints",
    "force": "force_reports",
}
OUTCOME_LABELS: dict[str, str] = {
    "complaints": "complaints",
    "sustained": "sustained complaints",
    "force": "force reports",
}
ESTIMANDS: tuple[str, ...] = ("simple", "cohort", "calendar", "eventstudy")
STUDY_ESTIMATORS: tuple[str, ...] = ("efficient", "cs")
DEFAULT_EVENT_TIMES: tuple[int, ...] = tuple(range(24))
UNIT = "per officer-month"

_COLUMNS = {"unit": "uid", "time": "period", "cohort": "first_trained"}


def outcome_column(outcome: str) -> str:
    """The panel column of an outcome: `force`, `complaints`, `sustained` or a mart name."""
    if outcome in OUTCOMES:
        return outcome
    by_mart = {mart: name for name, mart in OUTCOMES.items()}
    if outcome in by_mart:
        return by_mart[outcome]
    raise ValueError(f"unknown outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")


def estimation_frame(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel with a float cohort (the estimators' +Inf convention for never trained)."""
    frame = panel.loc[:, ["uid", "period", "first_trained", *OUTCOMES]].copy()
    cohort = pd.to_numeric(frame["first_trained"], errors="coerce").astype("float64")
    frame["first_trained"] = cohort.fillna(np.inf)
    frame["period"] = frame["period"].astype("int64")
    for outcome in OUTCOMES:
        frame[outcome] = frame[outcome].astype("float64")
    return frame


def rollout_effect(
    panel: pd.DataFrame,
    outcome: str,
    *,
    estimand: str = "simple",
    estimator: str = "efficient",
    event_time: int | None = None,
    permutations: int = 0,
    seed: int | None = 0,
    rng: str = "numpy",
    frame: pd.DataFrame | None = None,
) -> Effect:
    """One staggered roll-out estimate of `outcome` on `panel` (a difference per officer-month).

    The extras always carry `std_error_neyman`, `fisher_p_value` (None without permutations),
    `n_permutations`, `estimand`, `event_time` (event study) and `n_cohorts`.
    """
    column = outcome_column(outcome)
    if estimand == "eventstudy" and event_time is None:
        event_time = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        effect = staggered(
            estimation_frame(panel) if frame is None else frame,
            **_COLUMNS,
            outcome=column,
            estimand=estimand,
            estimator=estimator,
            event_time=event_time if estimand == "eventstudy" else None,
            permutations=permutations,
            seed=seed,
            rng=rng,
        )
    extras = {
        "fisher_p_value": None,
        "n_permutations": 0,
        **effect.extras,
        "estimator_key": estimator,
        "unit": UNIT,
    }
    if permutations > 0:
        extras["seed"] = None if rng == "r" else seed
    return replace(effect, extras=extras)


def event_study(
    frame: pd.DataFrame,
    outcome: str,
    estimator: str,
    event_times: Sequence[int] = DEFAULT_EVENT_TIMES,
) -> pd.DataFrame:
    """Event-study estimates of one outcome and estimator, one row per event time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        effects = staggered(
            frame,
            **_COLUMNS,
            outcome=outcome_column(outcome),
            estimand="eventstudy",
            estimator=estimator,
            event_time=list(event_times),
        )
    return pd.DataFrame(
        [
            {
                "outcome": outcome,
                "estimator": estimator,
                "event_time": effect.extras["event_time"],
                "estimate": effect.estimate,
                "std_error": effect.std_error,
                "std_error_neyman": effect.extras["std_error_neyman"],
                "ci_low": effect.ci_low,
                "ci_high": effect.ci_high,
                "p_value": effect.p_value,
            }
            for effect in effects
        ]
    )


@dataclass
class RolloutStudy:
    """The roll-out estimates of one department and sample (what the report shows)."""

    department_id: str
    sample: str
    sample_description: str
    n_units: int
    n_periods: int
    cohorts: tuple[float, ...]
    estimates: list[Effect]
    event_studies: pd.DataFrame
    balance: dict[str, BalanceChecks]
    permutations: int
    seed: int | None
    rng: str
    pre_means: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def headline_effects(self, estimand: str = "simple") -> list[Effect]:
        """The `estimand` estimates of every outcome and estimator, outcomes labelled."""
        return [
            replace(effect, outcome=OUTCOME_LABELS.get(effect.outcome, effect.outcome))
            for effect in self.estimates
            if effect.extras.get("estimand") == estimand
        ]

    def estimates_frame(self) -> pd.DataFrame:
        """One row per outcome x estimand; the estimators side by side."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for effect in self.estimates:
            estimand = effect.extras["estimand"]
            if estimand == "eventstudy":
                estimand = f"event study (e = {effect.extras.get('event_time', 0)})"
            row = rows.setdefault(
                (effect.outcome, estimand),
                {
                    "outcome": OUTCOME_LABELS.get(effect.outcome, effect.outcome),
                    "estimand": estimand,
                },
            )
            key = _short(effect.extras["estimator_key"])
            row[f"{key} estimate"] = effect.estimate
            row[f"{key} SE"] = effect.std_error
            row[f"{key} SE (Neyman)"] = effect.extras.get("std_error_neyman")
            row[f"{key} 95% CI"] = _ci(effect.ci_low, effect.ci_high)
            row[f"{key} Fisher p"] = effect.extras.get("fisher_p_value")
        return pd.DataFrame(list(rows.values()))

    def balance_frame(self) -> pd.DataFrame:
        """Per outcome: the joint Wald test of the pre-period contrasts."""
        return pd.DataFrame(
            [
                {
                    "outcome": OUTCOME_LABELS.get(outcome, outcome),
                    "contrasts": checks.wald_df,
                    "Wald chi2": checks.wald,
                    "p-value": checks.wald_p_value,
                    "largest |t|": float(np.nanmax(checks.table["t_stat"])),
                    "Fisher p (sup t)": checks.fisher_sup_t_p_value,
                    "officers": checks.n_units,
                }
                for outcome, checks in self.balance.items()
            ]
        )

    def balance_contrasts(self) -> pd.DataFrame:
        """The single-contrast rows of the balance checks (simple, cohort, calendar), by outcome."""
        frames = []
        for outcome, checks in self.balance.items():
            table = checks.table[checks.table["estimand"] != "eventstudy"]
            frames.append(table.assign(outcome=OUTCOME_LABELS.get(outcome, outcome)))
        if not frames:
            return pd.DataFrame()
        table = pd.concat(frames, ignore_index=True)
        columns = ["outcome", "contrast", "x_hat", "std_error", "t_stat", "p_value"]
        return table[[c for c in columns if c in table.columns]]

    def plot_title(self, outcome: str) -> str:
        """The title of an outcome's event-study plot (middlestep/report/plots.py)."""
        label = OUTCOME_LABELS.get(outcome, outcome)
        return f"{label} ({self.sample} sample, {self.n_units:,} officers)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "department_id": self.department_id,
            "sample": self.sample,
            "sample_description": self.sample_description,
            "n_units": self.n_units,
            "n_periods": self.n_periods,
            "n_cohorts": len(self.cohorts),
            "cohorts": [None if math.isinf(c) else c for c in self.cohorts],
            "unit": UNIT,
            "permutations": self.permutations,
            "seed": self.seed,
            "rng": self.rng,
            "pre_means": self.pre_means,
            "estimates": [effect.to_dict() for effect in self.estimates],
            "event_studies": _records(self.event_studies),
            "balance": {
                outcome: {**checks.to_dict(), "contrasts": _records(checks.table)}
                for outcome, checks in self.balance.items()
            },
            "notes": list(self.notes),
            "timings": self.timings,
        }


def rollout_study(
    panel: pd.DataFrame,
    *,
    department_id: str,
    sample: str,
    sample_description: str = "",
    outcomes: Sequence[str] = tuple(OUTCOMES),
    estimators: Sequence[str] = STUDY_ESTIMATORS,
    event_times: Sequence[int] = DEFAULT_EVENT_TIMES,
    permutations: int = 500,
    seed: int | None = 0,
    rng: str = "numpy",
    balance_permutations: int = 0,
) -> RolloutStudy:
    """Every estimand x outcome x estimator (Fisher p-values with `permutations` draws), the
    event studies at `event_times` (event times without a comparison cohort are left out), and
    the pre-trend balance checks (the simple, cohort and calendar contrasts and the event-study
    contrasts at `event_times`; `balance_permutations` adds randomization p-values)."""
    import time

    frame = estimation_frame(panel)
    timings: dict[str, float] = {}
    notes: list[str] = []
    start = time.perf_counter()
    estimates = [
        rollout_effect(
            panel,
            outcome,
            estimand=estimand,
            estimator=estimator,
            event_time=0 if estimand == "eventstudy" else None,
            permutations=permutations,
            seed=seed,
            rng=rng,
            frame=frame,
        )
        for outcome in outcomes
        for estimand in ESTIMANDS
        for estimator in estimators
    ]
    timings["estimates"] = time.perf_counter() - start
    start = time.perf_counter()
    studies = []
    for outcome in outcomes:
        for estimator in estimators:
            studies.append(event_study(frame, outcome, estimator, event_times))
    event_studies = pd.concat(studies, ignore_index=True)
    missing = sorted(set(event_times) - set(event_studies["event_time"]))
    if missing:
        notes.append(
            "event times without a not-yet-trained comparison cohort were left out: "
            + ", ".join(str(e) for e in missing)
        )
    timings["event_studies"] = time.perf_counter() - start
    start = time.perf_counter()
    balance = {}
    for outcome in outcomes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            balance[outcome] = balance_checks(
                frame,
                **_COLUMNS,
                outcome=outcome_column(outcome),
                estimand=list(ESTIMANDS),
                event_time=sorted(set(event_studies["event_time"])),
                permutations=balance_permutations,
                seed=seed if seed is not None else 0,
                rng=rng,
            )
    timings["balance"] = time.perf_counter() - start
    cohorts = tuple(sorted(float(c) for c in frame["first_trained"].unique()))
    return RolloutStudy(
        department_id=department_id,
        sample=sample,
        sample_description=sample_description,
        n_units=int(frame["uid"].nunique()),
        n_periods=int(frame["period"].nunique()),
        cohorts=cohorts,
        estimates=estimates,
        event_studies=event_studies,
        balance=balance,
        permutations=permutations,
        seed=seed,
        rng=rng,
        pre_means=pre_training_means(panel, outcomes),
        notes=notes,
        timings=timings,
    )


def pre_training_means(panel: pd.DataFrame, outcomes: Sequence[str] = tuple(OUTCOMES)) -> dict:
    """Mean count per officer-month in the months before the first cohort's training (every
    officer untrained); `months` says how many months that is."""
    first = pd.to_numeric(panel["first_trained"], errors="coerce").min()
    before = panel[panel["period"] < first] if pd.notna(first) else panel.iloc[0:0]
    means: dict[str, Any] = {
        outcome: float(before[outcome].mean()) if len(before) else None for outcome in outcomes
    }
    means["months"] = int(before["period"].nunique())
    return means


def waitlist_rollout_effects(
    panel: pd.DataFrame,
    did_effects: Sequence[Effect] = (),
    *,
    outcomes: Sequence[str] = ("force", "complaints"),
    estimators: Sequence[str] = STUDY_ESTIMATORS,
    permutations: int = 0,
    seed: int | None = 0,
) -> list[Effect]:
    """The simple staggered estimates of a wait-list trial read as a two-cohort roll-out.

    Each effect's extras carry the pre-training mean per officer-month (`pre_mean`), the estimate
    relative to it (`relative_change`: comparable in size, not in definition, with a rate ratio
    minus 1), and the difference-in-differences rate ratio of the same outcome, if given.
    """
    frame = estimation_frame(panel)
    means = pre_training_means(panel, outcomes)
    did = {effect.outcome: effect for effect in did_effects}
    effects = []
    for outcome in outcomes:
        did_effect = did.get(OUTCOMES[outcome])
        for estimator in estimators:
            effect = rollout_effect(
                panel,
                outcome,
                estimator=estimator,
                permutations=permutations,
                seed=seed,
                frame=frame,
            )
            pre_mean = means.get(outcome)
            extras = {
                **effect.extras,
                "pre_mean": pre_mean,
                "relative_change": (effect.estimate / pre_mean if pre_mean else None),
            }
            if did_effect is not None:
                extras["did_rate_ratio"] = did_effect.estimate
                extras["did_ci_low"] = did_effect.ci_low
                extras["did_ci_high"] = did_effect.ci_high
            effects.append(replace(effect, outcome=OUTCOMES[outcome], extras=extras))
    return effects


def waitlist_comparison_frame(
    rollout_effects: Sequence[Effect], did_effects: Sequence[Effect]
) -> pd.DataFrame:
    """Staggered estimates next to the DiD rate ratio of the same outcome, one row each; the
    `sample` column names each staggered estimate's panel (its extras' `sample`), a sample that
    keeps only retained officers marked as the sensitivity analysis it is."""
    rows = []
    outcomes = list(dict.fromkeys(effect.outcome for effect in rollout_effects))
    for outcome in outcomes:
        for effect in rollout_effects:
            if effect.outcome != outcome:
                continue
            sample = effect.extras.get("sample")
            if sample and effect.extras.get("retained_only"):
                sample = f"{sample} (retained only: sensitivity)"
            rows.append(
                {
                    "outcome": outcome.replace("_", " "),
                    "estimator": effect.estimator,
                    "sample": sample,
                    "scale": f"difference {UNIT}",
                    "estimate": effect.estimate,
                    "95% CI": _ci(effect.ci_low, effect.ci_high),
                    "SE (Neyman)": effect.extras.get("std_error_neyman"),
                    "relative change": effect.extras.get("relative_change"),
                    "Fisher p": effect.extras.get("fisher_p_value"),
                    "officers": effect.n_units,
                }
            )
        for effect in did_effects:
            if effect.outcome == outcome:
                rows.append(
                    {
                        "outcome": outcome.replace("_", " "),
                        "estimator": effect.estimator,
                        "sample": "randomized officers, active months",
                        "scale": effect.scale.replace("_", " "),
                        "estimate": effect.estimate,
                        "95% CI": _ci(effect.ci_low, effect.ci_high),
                        "SE (Neyman)": None,
                        "relative change": effect.estimate - 1.0
                        if effect.scale == "rate_ratio"
                        else None,
                        "Fisher p": effect.extras.get("fisher_p_value"),
                        "officers": effect.n_units,
                    }
                )
    return pd.DataFrame(rows)


def _short(estimator: str) -> str:
    return {"efficient": "efficient", "cs": "CS", "sa": "SA"}.get(estimator, estimator)


def _ci(low: Any, high: Any) -> str:
    """An interval as the report writes it (analysis/numbers.py)."""
    return interval(low, high)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict(orient="records")
