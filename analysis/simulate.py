"""A small, fast simulator of the wait-list trial's marts, with planted effects and their estimands.

It produces the three frames the analysis modules read (`dim_officers`, `fct_officer_months`,
`fct_encounters`, with the mart column names of docs/contracts.md section 3) for one randomized
department, and the estimand of every planted effect: the value each estimator converges to on
data like these. It exists so that the estimators can be tested in seconds and checked for
coverage over hundreds of departments; the project's full generator (`middlestep.synth`) models
far more (calls, videos, double coding, ingest formats) and is used where it is available.

Planted effects, per item kind (all intent-to-treat effects scale with the compliance share):

* binary: an additive shift of the encounter's probability (`effect` = +0.08 is 8 points);
  officer-level heterogeneity is bounded so that no probability leaves (0, 1), and the
  estimand is `compliance * effect`.
* count: a multiplicative shift of the encounter's Poisson mean (`effect` = rate ratio);
  the ITT estimand is `compliance * effect + 1 - compliance`.
* rating: a shift of a normal latent score by `effect` latent SDs; the 1-5 rating is the latent
  score rounded and clipped, so the estimand (the difference in differences of mean ratings in
  units of the pooled pre-period SD) is computed from the normal distribution, not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

TRIAL_START_ON = date(2025, 1, 1)
CONTROL_START_ON = date(2026, 1, 1)
STUDY_MONTHS = pd.date_range("2024-01-01", "2026-12-01", freq="MS")


@dataclass(frozen=True)
class ItemSpec:
    """One codebook item: `baseline` is a probability (binary), a mean (count) or the latent
    mean on the 1-5 scale (rating); `effect` is in points, a rate ratio or latent SDs; `trend`
    is the change from pre to post common to both arms (same units as `effect`, for counts a
    rate ratio)."""

    kind: str
    baseline: float
    effect: float
    trend: float = 0.0


DEFAULT_ITEMS: dict[str, ItemSpec] = {
    "personal_conversation": ItemSpec("binary", 0.30, 0.08, trend=0.02),
    "repeated_commands": ItemSpec("binary", 0.40, -0.08, trend=-0.01),
    "explained_reason": ItemSpec("binary", 0.55, 0.0, trend=0.03),
    "commands_issued": ItemSpec("count", 2.5, 0.85, trend=1.05),
    "empathy": ItemSpec("rating", 2.8, 0.15, trend=0.05),
    "listened": ItemSpec("rating", 3.2, 0.0, trend=-0.05),
}


@dataclass(frozen=True)
class TrialScenario:
    """Parameters of one simulated department (defaults after specs/seed_study.md)."""

    n_officers: int = 300
    n_blocks: int = 10
    clips_per_officer_period: float = 1.0
    compliance: float = 1.0
    calls_per_month: float = 60.0
    force_per_call: float = 0.03 / 60.0
    force_rate_ratio: float = 1.0
    force_overdispersion: float = 1.0  # gamma shape of officers' force propensity
    complaints_per_call: float = 0.02 / 60.0
    complaints_rate_ratio: float = 1.0
    share_months_without_calls: float = 0.02
    binary_heterogeneity: float = 0.10  # officers' probabilities vary uniformly by +/- this
    count_heterogeneity: float = 2.0  # gamma shape of officers' count propensity
    rating_officer_sd: float = 0.5
    rating_encounter_sd: float = 0.8
    items: dict[str, ItemSpec] = field(default_factory=lambda: dict(DEFAULT_ITEMS))


@dataclass(frozen=True)
class SimulatedTrial:
    officers: pd.DataFrame
    officer_months: pd.DataFrame
    encounters: pd.DataFrame
    truth: dict[str, float]  # outcome -> estimand, on the estimator's scale


def simulate_trial(scenario: TrialScenario | None = None, seed: int = 0) -> SimulatedTrial:
    """Simulate one department's marts and return them with the estimand of each outcome."""
    scenario = scenario or TrialScenario()
    rng = np.random.default_rng(seed)
    officers = _simulate_officers(scenario, rng)
    officer_months = _simulate_officer_months(scenario, officers, rng)
    encounters = _simulate_encounters(scenario, officers, rng)
    return SimulatedTrial(
        officers=officers.drop(columns=["is_complier"]),
        officer_months=officer_months,
        encounters=encounters,
        truth=estimands(scenario),
    )


def estimands(scenario: TrialScenario) -> dict[str, float]:
    """The ITT estimand of every outcome, on the scale its estimator reports."""
    compliance = scenario.compliance
    truth: dict[str, float] = {}
    for item, spec in scenario.items.items():
        if spec.kind == "binary":
            truth[item] = compliance * spec.effect
        elif spec.kind == "count":
            truth[item] = compliance * spec.effect + 1.0 - compliance
        elif spec.kind == "rating":
            truth[item] = _rating_estimand(scenario, spec)
        else:
            raise ValueError(f"unknown item kind {spec.kind!r} for {item}")
    truth["force_reports"] = compliance * scenario.force_rate_ratio + 1.0 - compliance
    truth["complaints"] = compliance * scenario.complaints_rate_ratio + 1.0 - compliance
    return truth


def _rating_estimand(scenario: TrialScenario, spec: ItemSpec) -> float:
    latent_sd = float(np.hypot(scenario.rating_officer_sd, scenario.rating_encounter_sd))
    pre_mean, pre_var = _rounded_rating_moments(spec.baseline, latent_sd)
    post_mean, _ = _rounded_rating_moments(spec.baseline + spec.trend * latent_sd, latent_sd)
    trained_mean, _ = _rounded_rating_moments(
        spec.baseline + (spec.trend + spec.effect) * latent_sd, latent_sd
    )
    itt_difference = scenario.compliance * (trained_mean - post_mean)
    return itt_difference / float(np.sqrt(pre_var))


def _rounded_rating_moments(mean: float, sd: float) -> tuple[float, float]:
    """Mean and variance of a N(mean, sd) score rounded to the nearest of 1..5."""
    cuts = stats.norm.cdf((np.array([1.5, 2.5, 3.5, 4.5]) - mean) / sd)
    probabilities = np.diff(np.concatenate([[0.0], cuts, [1.0]]))
    levels = np.arange(1, 6)
    first = float(probabilities @ levels)
    second = float(probabilities @ levels**2)
    return first, second - first**2


def _simulate_officers(scenario: TrialScenario, rng: np.random.Generator) -> pd.DataFrame:
    n = scenario.n_officers
    block = np.arange(n) % scenario.n_blocks
    arm = np.empty(n, dtype=object)
    for b in range(scenario.n_blocks):
        members = np.flatnonzero(block == b)
        shuffled = rng.permutation(members)
        half = len(members) // 2 + rng.integers(0, 2) * (len(members) % 2)
        arm[shuffled[:half]] = "treatment"
        arm[shuffled[half:]] = "control"
    tenure = rng.gamma(2.0, 4.0, size=n)
    is_treatment = arm == "treatment"
    cohort_on = np.where(is_treatment, TRIAL_START_ON, CONTROL_START_ON)
    return pd.DataFrame(
        {
            "department_id": "sim",
            "officer_id": [f"o{i:04d}" for i in range(n)],
            "trial_id": "deescalation",
            "block_id": [f"b{b:02d}" for b in block],
            "arm": arm,
            "cohort_on": cohort_on,
            "tenure_years_at_assignment": tenure,
            "age_at_assignment": 23.0 + tenure + rng.normal(0.0, 3.0, size=n),
            "sex": rng.choice(["male", "female"], size=n, p=[0.85, 0.15]),
            "race": rng.choice(
                ["white", "black", "hispanic", "asian"], size=n, p=[0.65, 0.15, 0.12, 0.08]
            ),
            "is_complier": is_treatment & (rng.random(n) < scenario.compliance),
        }
    )


def _simulate_officer_months(
    scenario: TrialScenario, officers: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    n, n_months = len(officers), len(STUDY_MONTHS)
    panel = officers.loc[
        np.repeat(np.arange(n), n_months), ["department_id", "officer_id", "arm", "block_id"]
    ].reset_index(drop=True)
    month = np.tile(STUDY_MONTHS.values, n)
    panel["month_start"] = month
    panel["period"] = np.tile(np.arange(1, n_months + 1), n)
    is_post = (month >= np.datetime64(TRIAL_START_ON)) & (month < np.datetime64(CONTROL_START_ON))
    is_trained = np.repeat(officers["is_complier"].to_numpy(), n_months) & is_post
    panel["cohort_month"] = np.repeat(pd.to_datetime(officers["cohort_on"]).to_numpy(), n_months)

    calls_factor = np.repeat(rng.gamma(10.0, 0.1, size=n), n_months)
    seasonal = 1.0 + 0.1 * np.sin(2 * np.pi * (panel["period"].to_numpy() % 12) / 12)
    without_calls = rng.random(n * n_months) < scenario.share_months_without_calls
    calls = rng.poisson(scenario.calls_per_month * calls_factor * seasonal)
    calls = np.where(without_calls, 0, calls)
    panel["calls_attended"] = calls

    shape = scenario.force_overdispersion
    force_propensity = np.repeat(rng.gamma(shape, 1.0 / shape, size=n), n_months)
    force_mean = (
        calls
        * scenario.force_per_call
        * force_propensity
        * seasonal
        * np.where(is_trained, scenario.force_rate_ratio, 1.0)
    )
    panel["force_reports"] = rng.poisson(force_mean)
    complaint_mean = (
        calls
        * scenario.complaints_per_call
        * np.repeat(rng.gamma(2.0, 0.5, size=n), n_months)
        * np.where(is_trained, scenario.complaints_rate_ratio, 1.0)
    )
    panel["complaints"] = rng.poisson(complaint_mean)
    panel["is_trained"] = is_trained
    panel["is_active"] = True
    return panel


def _simulate_encounters(
    scenario: TrialScenario, officers: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    periods = ("pre", "post", "late")
    n = len(officers)
    clips = rng.poisson(scenario.clips_per_officer_period, size=(n, len(periods)))
    officer_index = np.repeat(np.repeat(np.arange(n), len(periods)), clips.ravel())
    period_index = np.repeat(np.tile(np.arange(len(periods)), n), clips.ravel())
    study_period = np.array(periods)[period_index]
    is_post = study_period == "post"
    # the late period (both arms trained) is simulated as trained for everyone
    is_trained = (officers["is_complier"].to_numpy()[officer_index] & is_post) | (
        study_period == "late"
    )
    trend_applies = study_period != "pre"
    encounters = officers.loc[
        officer_index, ["department_id", "officer_id", "trial_id", "arm", "block_id"]
    ].reset_index(drop=True)
    encounters.insert(1, "video_id", [f"v{i:06d}" for i in range(len(officer_index))])
    encounters["study_period"] = study_period
    encounters["is_post"] = is_post

    latent_sd = float(np.hypot(scenario.rating_officer_sd, scenario.rating_encounter_sd))
    for item, spec in scenario.items.items():
        if spec.kind == "binary":
            officer_shift = rng.uniform(
                -scenario.binary_heterogeneity, scenario.binary_heterogeneity, size=n
            )
            probability = (
                spec.baseline
                + officer_shift[officer_index]
                + spec.trend * trend_applies
                + spec.effect * is_trained
            )
            if probability.min() < 0 or probability.max() > 1:
                raise ValueError(f"item {item}: probabilities leave (0, 1); narrow the spec")
            encounters[item] = (rng.random(len(officer_index)) < probability).astype(int)
        elif spec.kind == "count":
            shape = scenario.count_heterogeneity
            propensity = rng.gamma(shape, 1.0 / shape, size=n)[officer_index]
            mean = (
                spec.baseline
                * propensity
                * np.where(trend_applies, spec.trend, 1.0)
                * np.where(is_trained, spec.effect, 1.0)
            )
            encounters[item] = rng.poisson(mean)
        elif spec.kind == "rating":
            officer_shift = rng.normal(0.0, scenario.rating_officer_sd, size=n)[officer_index]
            latent = (
                spec.baseline
                + officer_shift
                + rng.normal(0.0, scenario.rating_encounter_sd, size=len(officer_index))
                + latent_sd * (spec.trend * trend_applies + spec.effect * is_trained)
            )
            encounters[item] = np.clip(np.rint(latent), 1, 5).astype(float)
        else:
            raise ValueError(f"unknown item kind {spec.kind!r} for {item}")
    return encounters
