"""The planted truth of a synthetic department: effects and the estimands the analysis targets.

For every SSO item and for force reports and complaints, ``truth.json`` holds the planted effect
(the scenario's parameter, for officers who completed the training) and the *estimand*: the
expected value of the intent-to-treat estimator on the coded data, comparing the 12 pre months
with the 12 post months (before the wait-list is trained), treatment arm against control:

* binary items, scale 'difference': the difference-in-differences of the share of encounters the
  primary coder coded 1 (probability points);
* ratings, scale 'sd': the difference-in-differences of the mean coded rating (the mean of an
  encounter's codings), divided by the SD of that encounter rating among pre-period encounters;
* counts, force reports and complaints, scale 'rate_ratio': exp of the difference-in-differences
  of log mean counts (per encounter; per call attended for force and complaints).

Where the estimand comes from. With randomized arms and no trend in the process, the three
untreated cells have the same expectation, so the difference-in-differences is the expected
change in the treatment arm's post cell. An encounter there is treated with probability
``dilution`` = c x s: c = 1 - non_compliance (assigned officers who complete the training) and s
= the share of post-period exposure that falls after the officer's class day (exact, from the
class schedule; calls are spread evenly over each month's days).

* Force and complaints (exact): rate ratio = 1 + dilution x (rate_ratio - 1).
* SSO items (Monte Carlo): ``monte_carlo_encounters`` encounters are drawn with the generator's
  own functions (middlestep/synth/encounters.py), each evaluated untreated and treated with the
  same random numbers; coder error is integrated out exactly (the expected code given the true
  state). Binary: dilution x mean(E[code | treated] - E[code | untreated]). Counts:
  1 + dilution x (mean E[code | treated] / mean E[code | untreated] - 1). Ratings: dilution x
  mean difference / SD, where SD^2 = Var(E[code | state]) + E[Var(code | state)] x (1 -
  double_coded_share / 2) (a double-coded encounter's rating is the mean of two codings). With
  common random numbers an item without an effect (direct or through an item it depends on) has
  an estimand of exactly 0 (or 1); the Monte-Carlo error of the others is below 1e-5 at the
  default size (checked against a second Monte-Carlo seed).

Each outcome also carries ``estimand_if_trained``: the same quantity without the dilution
(every treatment-arm officer trained on the first day of the post period), on the coded scale.

Not modelled in the estimands (each well under 1% of the effect): separations reweighting the
post period's days, and night-shift calls that spill past midnight on a class day.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from middlestep.contract import SSO_ITEMS
from middlestep.synth.clock import day_number
from middlestep.synth.encounters import (
    CodingErrors,
    draw_encounter_noise,
    draw_officer_effects,
    encounter_truth,
    expected_codes,
)
from middlestep.synth.scenario import as_date, scenario_for_json

SCALES = {"binary": "difference", "rating": "sd", "count": "rate_ratio"}


def post_exposure_share_after_training(scenario: dict) -> float:
    """s: the share of the post period's exposure (calls spread evenly over each month's days)
    on days after the officer's class day, averaged over the class days."""
    from middlestep.synth.study import session_days

    training = scenario["training"]
    first = day_number(as_date(training["treatment_cohort_on"]))
    stop = day_number(as_date(training["control_cohort_on"]))
    days = np.arange(first, stop)
    month_key = np.array([str(np.datetime64(int(d), "D"))[:7] for d in days])
    _, month_index, days_in_month = np.unique(month_key, return_inverse=True, return_counts=True)
    weight = 1.0 / days_in_month[month_index]
    weight = weight / weight.sum()
    classes = session_days(first, int(training["sessions_per_cohort"]))
    return float(np.mean([weight[days > class_day].sum() for class_day in classes]))


def dilution(scenario: dict) -> dict[str, float]:
    compliance = 1.0 - float(scenario["training"]["non_compliance"])
    share_after = post_exposure_share_after_training(scenario)
    return {
        "compliance": compliance,
        "post_exposure_share_after_training": share_after,
        "itt_dilution": compliance * share_after,
    }


MONTE_CARLO_CHUNK = 250_000


@functools.lru_cache(maxsize=8)
def _sso_moments(scenario_json: str) -> dict[str, dict[str, float]]:
    """Per item: mean expected code untreated / treated, and the pre-period SD of a rating.
    Computed in chunks so that memory stays small."""
    scenario = json.loads(scenario_json)
    items = scenario["sso_items"]
    spec = scenario["truth"]
    n_total = int(spec["monte_carlo_encounters"])
    rng = np.random.default_rng(int(spec["monte_carlo_seed"]))
    types = scenario["calls"]["types"]
    type_names = list(types)
    cumulative = np.cumsum([float(t["share"]) for t in types.values()])
    cumulative /= cumulative[-1]
    errors = CodingErrors.from_scenario(scenario)
    double_share = float(scenario["videos"]["double_coded_share"])
    sums = {name: np.zeros(5) for name in items}  # m0, m0^2, v0, m1, m1 - m0
    done = 0
    while done < n_total:
        n = min(MONTE_CARLO_CHUNK, n_total - done)
        call_type = np.minimum(
            np.searchsorted(cumulative, rng.random(n), side="right"), len(cumulative) - 1
        )
        effects = draw_officer_effects(rng, n, items)  # one officer per encounter
        noise = draw_encounter_noise(rng, n, items)
        moments = {
            treated: expected_codes(
                items,
                errors,
                encounter_truth(items, effects, type_names, call_type, np.full(n, treated), noise),
            )
            for treated in (False, True)
        }
        for name in items:
            mean0, variance0 = moments[False][name]
            mean1, _ = moments[True][name]
            sums[name] += [
                mean0.sum(),
                (mean0**2).sum(),
                variance0.sum(),
                mean1.sum(),
                (mean1 - mean0).sum(),
            ]
        done += n
    result = {}
    for name in items:
        m0, m0_squared, v0, m1, difference = sums[name] / n_total
        pre_variance = (m0_squared - m0**2) + v0 * (1 - double_share / 2)
        result[name] = {
            "untreated_mean": float(m0),
            "treated_mean": float(m1),
            "mean_difference": float(difference),
            "pre_sd": float(np.sqrt(max(pre_variance, 0.0))),
        }
    return result


def _planted(spec: dict) -> float:
    return float(spec["rate_ratio"] if spec["kind"] == "count" else spec["effect"])


def compute_truth(scenario: dict, seed: int, scale: float, sim=None) -> dict[str, Any]:
    """The planted effects and estimands of ``scenario`` (see the module docstring); with the
    simulated department ``sim``, also what was realised (row counts, compliance)."""
    factors = dilution(scenario)
    d = factors["itt_dilution"]
    # not sorted: the order of sso_items is their dependency order
    scenario_json = json.dumps(scenario_for_json(scenario))
    moments = _sso_moments(scenario_json)
    outcomes: dict[str, dict[str, Any]] = {}
    for name, spec in scenario["sso_items"].items():
        kind = SSO_ITEMS[name]
        m = moments[name]
        if kind == "binary":
            estimand = d * m["mean_difference"]
            complier = m["mean_difference"]
        elif kind == "rating":
            estimand = d * m["mean_difference"] / m["pre_sd"]
            complier = m["mean_difference"] / m["pre_sd"]
        else:
            ratio = m["treated_mean"] / m["untreated_mean"]
            estimand = 1.0 + d * (ratio - 1.0)
            complier = ratio
        outcomes[name] = {
            "source": "sso_codings",
            "item_kind": kind,
            "scale_of_estimand": SCALES[kind],
            "planted_effect": _planted(spec),
            "estimand": estimand,
            "estimand_if_trained": complier,
            "estimand_method": "monte_carlo",
            "untreated_mean_code": m["untreated_mean"],
            "pre_period_sd": m["pre_sd"] if kind == "rating" else None,
        }
    for name, source in (("force_reports", "force"), ("complaints", "complaints")):
        ratio = float(scenario[source]["rate_ratio"])
        outcomes[name] = {
            "source": name,
            "item_kind": "count",
            "scale_of_estimand": "rate_ratio",
            "planted_effect": ratio,
            "estimand": 1.0 + d * (ratio - 1.0),
            "estimand_if_trained": ratio,
            "estimand_method": "analytic",
            "per_officer_month": float(scenario[source]["per_officer_month"]),
        }
    planted = [
        name
        for name, outcome in outcomes.items()
        if outcome["planted_effect"]
        != (1.0 if outcome["scale_of_estimand"] == "rate_ratio" else 0.0)
    ]
    truth = {
        "seed": int(seed),
        "scale": float(scale),
        "scenario": scenario_for_json(scenario),
        "design": {
            "trial_id": str(scenario["study"]["trial_id"]),
            "pre_period": [
                str(as_date(scenario["study"]["start_on"])),
                str(as_date(scenario["training"]["treatment_cohort_on"]) - _one_day()),
            ],
            "post_period": [
                str(as_date(scenario["training"]["treatment_cohort_on"])),
                str(as_date(scenario["training"]["control_cohort_on"]) - _one_day()),
            ],
            "estimator": "intent-to-treat difference-in-differences, post vs pre, "
            "treatment vs control arm",
            **factors,
        },
        "planted_outcomes": planted,
        "outcomes": outcomes,
    }
    if sim is not None:
        truth["realized"] = _realized(sim)
    return truth


def _one_day():
    import datetime as dt

    return dt.timedelta(days=1)


def _realized(sim) -> dict[str, Any]:
    facts = sim.officer_facts
    trial = facts[facts["is_trial"]]
    treatment = trial[trial["arm"] == "treatment"]
    videos = sim.bwc_videos
    coded = videos[videos["is_sampled_for_coding"]]
    codings_per_video = sim.sso_codings.groupby("video_id", observed=True).size()
    return {
        "rows": {name: int(len(frame)) for name, frame in sim.tables().items()},
        "officers_in_trial": int(len(trial)),
        "treatment_arm_share_completed": float(treatment["trained_on"].notna().mean())
        if len(treatment)
        else None,
        "coded_clips": int(len(coded)),
        "double_coded_clips": int((codings_per_video >= 2).sum()),
    }
