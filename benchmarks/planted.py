"""Synthetic departments with planted effects, for checking the "open the black box" analyses.

`planted_department(overrides, seed)` runs the project's generator (`middlestep.synth`) under the
default scenario with `overrides` merged in, and returns the frames the analysis modules read
(encounters, officer-months, officers, built as the marts define them by
`benchmarks.coverage.generator_frames`) with the generator's truth. Scenarios used by the tests:

* `MEDIATION`: a personal conversation lowers the log odds of force in the encounter (force_used
  modifier), and training has no direct effect on force: the whole effect of training on
  force_used runs through communication (ADE = 0, ACME = the total effect).
* `NON_COMPLIANCE`: 35% of assigned officers never complete the training.
* `HETEROGENEITY`: training raises personal conversation by 8 points, and by 30 more with
  civilians showing signs of mental illness.
* `PLANTED`: all three at once (with 4,000 coded clips).
* `NULL`: no effect of training on anything.
"""

from __future__ import annotations

import copy
import functools
import json

import pandas as pd

from benchmarks.coverage import generator_frames

MEDIATION = {
    "videos": {"coded_clips": 3000},
    "sso_items": {
        "personal_conversation": {"effect": 0.25},
        "force_used": {"baseline": 0.15, "modifiers": {"personal_conversation": -1.5}},
    },
}
NON_COMPLIANCE = {"training": {"non_compliance": 0.35}, "videos": {"coded_clips": 2000}}
HETEROGENEITY = {
    "videos": {"coded_clips": 3000},
    "sso_items": {
        "civilian_mental_illness": {"baseline": 0.2},
        "personal_conversation": {"effect": 0.08, "effect_by": {"civilian_mental_illness": 0.3}},
    },
}
# all of the above in one department (one generator run for the fast tests)
PLANTED = {
    "training": {"non_compliance": 0.35},
    "videos": {"coded_clips": 4000},
    "sso_items": {
        "civilian_mental_illness": {"baseline": 0.2},
        "personal_conversation": {"effect": 0.2, "effect_by": {"civilian_mental_illness": 0.3}},
        "force_used": {"baseline": 0.15, "modifiers": {"personal_conversation": -1.5}},
    },
}
NULL = {
    "sso_items": {
        name: {"effect": 0.0} for name in ("personal_conversation", "repeated_commands", "empathy")
    }
    | {"commands_issued": {"rate_ratio": 1.0}},
    "force": {"rate_ratio": 1.0},
}


@functools.cache
def _scenario(overrides_json: str) -> dict:
    from middlestep.synth.scenario import load_scenario, merge_scenario, validate_scenario

    scenario = merge_scenario(load_scenario(), json.loads(overrides_json))
    validate_scenario(scenario)
    return scenario


def planted_department(
    overrides: dict | None = None, seed: int = 0, scale: float = 1.0, *, truth: bool = True
) -> dict:
    """{encounters, officer_months, officers, truth, simulated} of one synthetic department."""
    from middlestep.synth.generator import simulate_department
    from middlestep.synth.truth import compute_truth

    scenario = copy.deepcopy(_scenario(json.dumps(overrides or {}, sort_keys=True)))
    simulated = simulate_department(scenario, seed=seed, scale=scale)
    encounters, officer_months = generator_frames(simulated)
    officers = generator_officers(simulated)
    first_trained = officers.set_index("officer_id")["first_trained_on"]
    trained_month = first_trained.dt.to_period("M").dt.to_timestamp()
    officer_months["is_trained"] = officer_months["month_start"] >= officer_months[
        "officer_id"
    ].map(trained_month)
    encounters = encounters.merge(_call_types(simulated), on="video_id", how="left")
    return {
        "encounters": encounters,
        "officer_months": officer_months,
        "officers": officers,
        "truth": compute_truth(scenario, seed, scale) if truth else None,
        "simulated": simulated,
    }


def generator_officers(simulated) -> pd.DataFrame:
    """dim_officers' columns the analyses read: arm, block, first completed training date."""
    assignments = simulated.trial_assignments.assign(
        officer_id=lambda f: f["officer_id"].astype(str),
        arm=lambda f: f["arm"].astype(str),
        block_id=lambda f: f["block_id"].astype(str),
    )
    training = simulated.training_events
    completed = training[training["is_completed"]].assign(
        officer_id=lambda f: f["officer_id"].astype(str)
    )
    first = completed.groupby("officer_id")["attended_on"].min()
    officers = assignments[["officer_id", "arm", "block_id", "cohort_on"]].copy()
    officers["first_trained_on"] = officers["officer_id"].map(first)
    return officers


def _call_types(simulated) -> pd.DataFrame:
    videos = simulated.bwc_videos[["video_id", "call_id"]].astype(str)
    calls = simulated.calls[["call_id", "call_type"]].assign(
        call_id=lambda f: f["call_id"].astype(str), call_type=lambda f: f["call_type"].astype(str)
    )
    return videos.merge(calls, on="call_id", how="left")[["video_id", "call_type"]]


SCENARIOS = {
    "mediation": MEDIATION,
    "non_compliance": NON_COMPLIANCE,
    "heterogeneity": HETEROGENEITY,
    "planted": PLANTED,
    "null": NULL,
    "default": {},
}


@functools.cache
def cached_department(name: str, seed: int = 0, scale: float = 1.0) -> dict:
    """`planted_department(SCENARIOS[name], seed, scale)`, computed once per process (tests in
    several modules share it). Do not modify the frames it returns."""
    return planted_department(SCENARIOS[name], seed=seed, scale=scale)
