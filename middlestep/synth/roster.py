"""Steps 1-3 of the synthetic department (middlestep/synth/generator.py): the officers, their
randomization within precinct x shift blocks, and the training of the two arms."""

from __future__ import annotations

import numpy as np

from middlestep.synth.clock import date_of
from middlestep.synth.columns import categorical
from middlestep.synth.study import Study, session_days

SEXES = ("male", "female", "unknown")
RACES = ("white", "black", "hispanic", "asian", "other")
RANKS = ("officer", "master_officer", "sergeant")
CURRICULUM = "de-escalation"


def simulate_officers(scenario: dict, study: Study, rngs) -> dict:
    rng = rngs["officers"]
    spec = scenario["officers"]
    n, n_trial = study.n_officers, study.n_trial
    shift_names = list(spec["shifts"])
    n_precincts = int(spec["n_precincts"])
    n_blocks = n_precincts * len(shift_names)
    # trial officers evenly over blocks, sergeants evenly over blocks too
    block = np.concatenate(
        [
            rng.permutation(np.arange(n_trial) % n_blocks),
            rng.permutation(np.arange(n - n_trial) % n_blocks),
        ]
    )
    precinct, shift = block // len(shift_names), block % len(shift_names)
    employee_numbers = np.sort(10_000 + rng.choice(90_000, size=n, replace=False))
    employee_numbers = rng.permutation(employee_numbers)
    is_trial = np.arange(n) < n_trial
    tenure_years = np.maximum(rng.gamma(2.0, float(spec["tenure_years_mean"]) / 2.0, n), 1.0)
    tenure_years = np.minimum(tenure_years, 32.0)
    sergeant_extra = np.where(is_trial, 0.0, 5.0)
    tenure_days = np.round((tenure_years + sergeant_extra) * 365.25).astype(np.int64)
    appointed_day = study.start_day - tenure_days
    age_at_hire = 21 + rng.gamma(2.0, 2.5, n)
    hire_year = np.array([date_of(d).year for d in appointed_day])
    birth_year = hire_year - np.floor(age_at_hire).astype(np.int64)
    sex = categorical(
        rng,
        [
            1 - spec["share_female"] - spec["share_sex_unknown"],
            spec["share_female"],
            spec["share_sex_unknown"],
        ],
        n,
    )
    race_shares = [spec["race_shares"].get(r, 0.0) for r in RACES]
    race = categorical(rng, race_shares, n)
    master = (tenure_years >= 6) & (rng.random(n) < float(spec["share_master_officer"]))
    rank = np.where(is_trial, np.where(master, 1, 0), 2)
    years_to_separation = rng.exponential(1.0 / float(spec["separation_rate_per_year"]), n)
    separation_day = study.start_day + np.floor(years_to_separation * 365.25).astype(np.int64)
    separation_day = np.where(separation_day <= study.end_day, separation_day, -1)
    shift_hours = np.array([float(s["start_hour"]) for s in spec["shifts"].values()])
    shift_calls = np.array([float(s["call_multiplier"]) for s in spec["shifts"].values()])
    call_gamma = float(scenario["calls"]["officer_gamma_shape"])
    call_multiplier = rng.gamma(call_gamma, 1.0 / call_gamma, n) * shift_calls[shift]
    call_multiplier /= np.mean(shift_calls[shift]) if n else 1.0
    call_multiplier[~is_trial] *= float(spec["non_trial_call_multiplier"])
    force_gamma = float(scenario["force"]["officer_gamma_shape"])
    complaint_gamma = float(scenario["complaints"]["officer_gamma_shape"])
    return {
        "n": n,
        "employee_number": employee_numbers,
        "is_trial": is_trial,
        "precinct": precinct,
        "shift": shift,
        "shift_names": shift_names,
        "shift_start_s": (shift_hours * 3600).astype(np.int64)[shift],
        "block": block,
        "appointed_day": appointed_day,
        "birth_year": birth_year,
        "sex": sex,
        "race": race,
        "rank": rank,
        "separation_day": separation_day,
        # the last day a shift may start: two days before separation, or the window's last day
        "last_shift_day": np.where(separation_day >= 0, separation_day - 2, study.end_day),
        "call_multiplier": call_multiplier,
        "force_multiplier": rng.gamma(force_gamma, 1.0 / force_gamma, n),
        "complaint_multiplier": rng.gamma(complaint_gamma, 1.0 / complaint_gamma, n),
    }


def assign_arms(scenario: dict, study: Study, officers: dict, rng: np.random.Generator) -> None:
    n_trial = study.n_trial
    block = officers["block"][:n_trial]
    order = np.lexsort((rng.random(n_trial), block))
    sorted_block = block[order]
    first_of_block = np.searchsorted(sorted_block, sorted_block, side="left")
    rank_in_block = np.arange(n_trial) - first_of_block
    block_size = np.bincount(block, minlength=block.max() + 1)
    extra = rng.random(len(block_size)) < 0.5  # the odd officer of a block
    n_treated = block_size // 2 + (extra & (block_size % 2 == 1))
    arm = np.empty(n_trial, dtype=np.int64)
    arm[order] = np.where(rank_in_block < n_treated[sorted_block], 0, 1)  # 0 treatment, 1 control
    officers["arm"] = np.concatenate([arm, np.full(study.n_non_trial, -1)])


def train_arms(scenario: dict, study: Study, officers: dict, rng: np.random.Generator) -> dict:
    spec = scenario["training"]
    n, n_trial = officers["n"], study.n_trial
    n_sessions = int(spec["sessions_per_cohort"])
    sessions = {
        0: session_days(study.treatment_cohort_day, n_sessions),
        1: session_days(study.control_cohort_day, n_sessions),
    }
    arm = officers["arm"]
    is_complier = rng.random(n) >= float(spec["non_compliance"])
    session_index = rng.integers(0, n_sessions, n)
    has_partial_record = rng.random(n) < float(spec["share_noncompliers_with_incomplete_record"])
    partial_hours = np.round(rng.uniform(2.0, 10.0, n) * 2) / 2
    session_day = np.full(n, -1, dtype=np.int64)
    for arm_code, days in sessions.items():
        in_arm = arm == arm_code
        session_day[in_arm] = days[session_index[in_arm]]
    employed = (session_day >= 0) & (
        (officers["separation_day"] < 0) | (session_day < officers["separation_day"])
    )
    completed = employed & is_complier
    recorded = completed | (employed & ~is_complier & has_partial_record)
    # treated on shift days after the class day (never, if never trained)
    officers["trained_day"] = np.where(completed, session_day, np.iinfo(np.int64).max // 4)
    officers["is_complier"] = is_complier & (np.arange(n) < n_trial)
    officers["session_day"] = session_day
    index = np.flatnonzero(recorded)
    cohort_month = np.array([date_of(d).strftime("%y%m") for d in session_day[index]], dtype=object)
    session_ids = [
        f"DE{m}-{s + 1:02d}" for m, s in zip(cohort_month, session_index[index], strict=True)
    ]
    return {
        "officer": index,
        "session_id": session_ids,
        "attended_day": session_day[index],
        "is_completed": completed[index],
        "hours": np.where(completed[index], float(spec["hours"]), partial_hours[index]),
        "curriculum": CURRICULUM,
    }
