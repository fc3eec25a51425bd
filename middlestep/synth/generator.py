"""The synthetic department: a Virginia-Beach-like de-escalation trial, simulated.

Data-generating process (every number is a parameter of the scenario, default_scenario.yaml):

1. Officers. ``n_trial`` patrol officers (times ``scale``) spread evenly over precinct x shift
   blocks, plus ``n_non_trial`` sergeants on the same shifts who are in no trial. Demographics,
   tenure and rank are drawn independently; each officer leaves the department after an
   exponential time (``separation_rate_per_year``) and is active until then.
2. Randomization. Within each block, half of the trial officers (a coin decides an odd one) are
   assigned to the immediate arm ('treatment', trained in ``treatment_cohort_on``'s month) and
   half to the wait-list ('control', trained a year later). Assignment is made on
   ``randomized_on``.
3. Training. Each assigned officer is a complier with probability 1 - ``non_compliance``;
   compliers still employed on the day of their class complete it (one session, Tuesdays and
   Thursdays of the cohort month). Some non-compliers have an incomplete record, the others
   none. An officer is *treated* on every shift day after the class day.
4. Calls. For every active officer-month, the officer is dispatched to (or starts) a Poisson
   number of calls with mean ``per_officer_month / (1 + E[backups])`` times a gamma officer
   multiplier and a shift multiplier; each call takes 0, 1 or 2 backup officers from the same
   precinct and shift, so the calls attended per officer-month average ``per_officer_month``.
   Times fall in the officer's shift; dispatch, travel and on-scene times follow the call's
   priority. Chains of times never touch 01:00-02:59 local on DST change days.
5. Force and complaints. Every call an officer attends produces a Poisson number of force
   reports with rate ``per_officer_month / calls per_officer_month`` times a gamma officer
   multiplier (overdispersion) times ``rate_ratio`` if the officer was treated that day; each
   report belongs to that call and officer. Complaints the same way, received after a lag,
   pending if received shortly before the export, else sustained with ``share_sustained``.
6. Body-worn-camera clips. From the trial officers' call attendances in the 12 pre months and
   the 12 post months (before the wait-list is trained) a sampling frame of
   (1 + ``uncoded_per_coded``) x the coded sample is drawn at random per period, and a random
   half of ``coded_clips`` (times ``scale``) per period is coded. Each coded clip is an
   encounter whose true state comes from middlestep/synth/encounters.py (officer random
   effects, civilian conditions, call type, treated flag); one coder (of ``n_coders``) codes
   it, a second, different coder codes ``double_coded_share`` of the clips, each with their
   own coder error.

The frames of a ``SimulatedDepartment`` are in the canonical raw contract's form
(middlestep/contract.py): canonical names and codes, timestamps in UTC. ``write_export``
(middlestep/synth/export.py) writes them in the department's own format, and
``compute_truth`` (middlestep/synth/truth.py) the planted effects and estimands.

Over 400 lines: the department is drawn in one seeded sequence (officers, assignment,
training, calls, videos, codings, force, complaints); splitting the sequence would scatter the
random streams a given seed must reproduce.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from middlestep.contract import SSO_ITEMS
from middlestep.synth.clock import (
    SECONDS_PER_DAY,
    avoid_dst_changes,
    date_of,
    day_number,
    fixed_ids,
    local_to_utc,
)
from middlestep.synth.encounters import (
    CodingErrors,
    code_encounters,
    draw_encounter_noise,
    draw_officer_effects,
    draw_true_counts,
    encounter_truth,
)
from middlestep.synth.scenario import as_date, month_starts, study_years, validate_scenario

log = logging.getLogger(__name__)

SEXES = ("male", "female", "unknown")
RACES = ("white", "black", "hispanic", "asian", "other")
RANKS = ("officer", "master_officer", "sergeant")
ROLES = ("primary", "backup")
DISPOSITIONS = ("report", "advised", "gone_on_arrival", "unfounded", "arrest", "citation")
DISPOSITION_SHARES = (0.30, 0.35, 0.10, 0.10, 0.08, 0.07)
TRAFFIC_DISPOSITION_SHARES = (0.0, 0.45, 0.0, 0.0, 0.05, 0.50)
BEAT_LETTERS = "ABCDE"
BEATS_PER_LETTER = 3
FORCE_TYPES_BY_LEVEL = (
    (("hands_on", 0.7), ("takedown", 0.3)),
    (("strike", 0.3), ("chemical_agent", 0.2), ("conducted_energy_device", 0.45), ("canine", 0.05)),
    (("impact_weapon", 0.6), ("firearm", 0.4)),
)
RESISTANCE = ("none", "passive", "active", "aggressive", "deadly")
RESISTANCE_BY_LEVEL = (
    (0.05, 0.30, 0.55, 0.10, 0.0),
    (0.0, 0.05, 0.50, 0.40, 0.05),
    (0.0, 0.0, 0.10, 0.60, 0.30),
)
ALLEGATIONS = (
    ("discourtesy", 0.35),
    ("improper_procedure", 0.30),
    ("excessive_force", 0.15),
    ("conduct_unbecoming", 0.12),
    ("bias", 0.08),
)
CLOSED_FINDINGS = ("not_sustained", "unfounded", "exonerated", "other")
CLOSED_FINDING_SHARES = (0.5, 0.25, 0.15, 0.10)
CURRICULUM = "de-escalation"
CODEBOOK_VERSION = "v1"
MAX_CHAIN_S = 5 * 3600  # received -> last cleared time of a call (bounded below)
STREAMS = (
    "officers",
    "assignment",
    "training",
    "calls",
    "backups",
    "force",
    "complaints",
    "videos",
    "encounters",
    "coding",
)


@dataclass
class SimulatedDepartment:
    """A synthetic department's tables in canonical raw-contract form (UTC timestamps)."""

    scenario: dict
    seed: int
    scale: float
    officers: pd.DataFrame
    trial_assignments: pd.DataFrame
    training_events: pd.DataFrame
    calls: pd.DataFrame
    call_officers: pd.DataFrame
    bwc_videos: pd.DataFrame
    sso_codings: pd.DataFrame
    force_reports: pd.DataFrame
    complaints: pd.DataFrame
    officer_units: pd.DataFrame = field(default_factory=pd.DataFrame)
    # not exported: the true state of every coded encounter and per-officer facts of the design
    encounters: pd.DataFrame = field(default_factory=pd.DataFrame)
    officer_facts: pd.DataFrame = field(default_factory=pd.DataFrame)

    TABLES = (
        "officers",
        "trial_assignments",
        "training_events",
        "calls",
        "call_officers",
        "bwc_videos",
        "sso_codings",
        "force_reports",
        "complaints",
        "officer_units",
    )

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in self.TABLES}


def _streams(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(STREAMS, children, strict=True)
    }


def _categorical(rng: np.random.Generator, shares, n: int) -> np.ndarray:
    cumulative = np.cumsum(np.asarray(shares, dtype=float))
    cumulative /= cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, rng.random(n), side="right"), len(cumulative) - 1)


def _categorical_by_row(rng: np.random.Generator, share_rows: np.ndarray, row: np.ndarray):
    """One categorical draw per element, from the share row ``share_rows[row]``."""
    cumulative = np.cumsum(share_rows, axis=1)
    cumulative = cumulative / cumulative[:, -1:]
    u = rng.random(len(row))
    drawn = np.zeros(len(row), dtype=np.int64)
    for which, bounds in enumerate(cumulative):
        at = row == which
        drawn[at] = np.searchsorted(bounds[:-1], u[at], side="right")
    return drawn


def _text(values) -> pd.Series:
    """A text column (Arrow-backed, so millions of ids cost little)."""
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array(values, type=pa.string())
    return pd.Series(pd.arrays.ArrowExtensionArray(values))


def _timestamps(utc_s: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(utc_s, dtype="int64").astype("datetime64[s]"))


def _dates(days: np.ndarray) -> pd.Series:
    """Dates (day numbers; negative = missing) as datetime64 at midnight, NaT if missing."""
    days = np.asarray(days, dtype="int64")
    values = days.astype("datetime64[D]").astype("datetime64[s]")
    values[days < 0] = np.datetime64("NaT")
    return pd.Series(values)


def _codes(codes: np.ndarray, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=list(categories))


class _Study:
    """Day numbers and sizes of the scenario."""

    def __init__(self, scenario: dict, scale: float):
        study, training = scenario["study"], scenario["training"]
        self.start_day = day_number(as_date(study["start_on"]))
        self.end_day = day_number(as_date(study["end_on"]))  # inclusive
        self.randomized_day = day_number(as_date(study["randomized_on"]))
        self.export_day = day_number(as_date(study["export_on"]))
        self.treatment_cohort_day = day_number(as_date(training["treatment_cohort_on"]))
        self.control_cohort_day = day_number(as_date(training["control_cohort_on"]))
        self.month_start_days = np.array([day_number(m) for m in month_starts(scenario)])
        self.month_days = np.diff(np.append(self.month_start_days, self.end_day + 1))
        self.years = study_years(scenario)
        self.n_trial = max(int(round(scenario["officers"]["n_trial"] * scale)), 2)
        self.n_non_trial = int(round(scenario["officers"]["n_non_trial"] * scale))
        self.n_officers = self.n_trial + self.n_non_trial


def session_days(cohort_day: int, n_sessions: int) -> np.ndarray:
    """Class days of a cohort: Tuesdays and Thursdays from the 6th day of the cohort month."""
    days, day = [], cohort_day + 5
    while len(days) < n_sessions:
        if date_of(day).weekday() in (1, 3):
            days.append(day)
        day += 1
    return np.array(days, dtype=np.int64)


def simulate_department(scenario: dict, seed: int, scale: float = 1.0) -> SimulatedDepartment:
    """Simulate a department under ``scenario`` (see the module docstring). Deterministic in
    (scenario, seed, scale). ``scale`` multiplies the officers and the coded clips."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    validate_scenario(scenario)
    study = _Study(scenario, scale)
    rngs = _streams(seed)
    log.info("synth: %s officers (seed %s, scale %s)", study.n_officers, seed, scale)
    officers = _simulate_officers(scenario, study, rngs)
    _assign(scenario, study, officers, rngs["assignment"])
    training = _train(scenario, study, officers, rngs["training"])
    log.info("synth: calls")
    calls, attendance = _simulate_calls(scenario, study, officers, rngs)
    log.info("synth: %s calls, %s attendances", len(calls["received"]), len(attendance["call"]))
    force = _simulate_force(scenario, study, officers, attendance, rngs["force"])
    complaints = _simulate_complaints(scenario, study, officers, attendance, rngs["complaints"])
    log.info("synth: videos and SSO codings")
    videos, codings, encounters = _simulate_videos(
        scenario, study, officers, calls, attendance, rngs
    )
    log.info("synth: assembling the canonical tables")
    return _assemble(
        scenario,
        seed,
        scale,
        study,
        officers,
        training,
        calls,
        attendance,
        force,
        complaints,
        videos,
        codings,
        encounters,
    )


# --- 1. officers ---------------------------------------------------------------------------


def _simulate_officers(scenario: dict, study: _Study, rngs) -> dict:
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
    sex = _categorical(
        rng,
        [
            1 - spec["share_female"] - spec["share_sex_unknown"],
            spec["share_female"],
            spec["share_sex_unknown"],
        ],
        n,
    )
    race_shares = [spec["race_shares"].get(r, 0.0) for r in RACES]
    race = _categorical(rng, race_shares, n)
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


# --- 2. randomization and 3. training ------------------------------------------------------


def _assign(scenario: dict, study: _Study, officers: dict, rng: np.random.Generator) -> None:
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


def _train(scenario: dict, study: _Study, officers: dict, rng: np.random.Generator) -> dict:
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


# --- 4. calls ------------------------------------------------------------------------------


def _simulate_calls(scenario: dict, study: _Study, officers: dict, rngs) -> tuple[dict, dict]:
    rng = rngs["calls"]
    spec = scenario["calls"]
    types = spec["types"]
    type_names = list(types)
    backups_p = np.asarray(spec["backup_probabilities"], dtype=float)
    mean_officers = 1.0 + backups_p[1] + 2 * backups_p[2]
    primary_rate = float(spec["per_officer_month"]) / mean_officers
    n, n_months = officers["n"], len(study.month_start_days)
    # active days of every officer-month (officers are all on the roster from the start)
    last_day = officers["last_shift_day"][:, None]
    month_first = study.month_start_days[None, :]
    active_days = np.clip(last_day - month_first + 1, 0, study.month_days[None, :])
    expected = (
        primary_rate
        * officers["call_multiplier"][:, None]
        * active_days
        / study.month_days[None, :]
    )
    n_primary = rng.poisson(expected).ravel()
    officer = np.repeat(np.repeat(np.arange(n), n_months), n_primary)
    month = np.repeat(np.tile(np.arange(n_months), n), n_primary)
    offset = np.floor(
        rng.random(len(officer))
        * active_days.ravel()[np.repeat(np.arange(n * n_months), n_primary)]
    )
    work_day = study.month_start_days[month] + offset.astype(np.int64)
    received = (
        work_day * SECONDS_PER_DAY
        + officers["shift_start_s"][officer]
        + rng.integers(0, 8 * 3600, len(officer))
    )
    window_end_s = (study.end_day + 1) * SECONDS_PER_DAY
    received = np.where(received >= window_end_s, received - SECONDS_PER_DAY, received)
    received = avoid_dst_changes(received, MAX_CHAIN_S, study.years)
    order = np.argsort(received * n + officer, kind="stable")
    officer, work_day, received = officer[order], work_day[order], received[order]
    n_calls = len(received)

    call_type = _categorical(rng, [t["share"] for t in types.values()], n_calls)
    self_share = np.array([float(t["self_initiated"]) for t in types.values()])
    is_self = rng.random(n_calls) < self_share[call_type]
    priority = np.array([int(t["priority"]) for t in types.values()])[call_type]
    dispatch_mean = np.array([0, 2, 4, 8, 15, 20, 20, 20, 20, 20])[priority] * 60.0
    # seconds: dispatch delay by priority (at most 30 min), travel (at most 45 min), on scene
    # (2 min to 3 h); together at most MAX_CHAIN_S
    dispatch_delay = np.minimum(rng.exponential(dispatch_mean), 1800).astype(np.int64)
    dispatch_delay[is_self] = 0
    travel = np.minimum(rng.exponential(7 * 60.0, n_calls), 2700).astype(np.int64)
    travel[is_self] = 0
    median_s = float(spec["on_scene_minutes_median"]) * 60
    on_scene = rng.lognormal(np.log(median_s), 0.7, n_calls)
    on_scene = np.clip(on_scene, 120, 3 * 3600).astype(np.int64)
    dispatched = received + dispatch_delay
    arrived = dispatched + travel
    cleared = arrived + on_scene
    traffic = np.array([name in ("traffic_stop",) for name in type_names])
    disposition_rows = np.array([DISPOSITION_SHARES, TRAFFIC_DISPOSITION_SHARES])
    disposition = _categorical_by_row(rng, disposition_rows, traffic[call_type].astype(np.int64))
    beats_per_precinct = len(BEAT_LETTERS) * BEATS_PER_LETTER
    beat = officers["precinct"][officer] * beats_per_precinct
    beat = beat + rng.integers(0, beats_per_precinct, n_calls)
    year = np.array([date_of(d).year % 100 for d in range(study.start_day - 1, study.end_day + 2)])
    call_year = year[received // SECONDS_PER_DAY - (study.start_day - 1)]
    first_of_year = np.searchsorted(call_year, call_year, side="left")
    call_number = call_year * 10_000_000 + (np.arange(n_calls) - first_of_year + 1)
    calls = {
        "call_id": fixed_ids("P", call_number, 9),
        "received": received,
        "dispatched": dispatched,
        "arrived": arrived,
        "cleared": cleared,
        "work_day": work_day,
        "type": call_type,
        "type_names": type_names,
        "group_names": sorted({t["group"] for t in types.values()}),
        "priority": priority,
        "is_self": is_self,
        "beat": beat,
        "disposition": disposition,
    }
    group_of_type = [calls["group_names"].index(t["group"]) for t in types.values()]
    calls["group"] = np.array(group_of_type)[call_type]
    attendance = _attendance(officers, calls, officer, backups_p, rngs["backups"])
    return calls, attendance


def _attendance(officers: dict, calls: dict, primary: np.ndarray, backups_p, rng) -> dict:
    """Who attended each call: the primary officer and 0-2 backups from the same pool."""
    n_calls = len(primary)
    pool = officers["block"]  # precinct x shift
    members = np.argsort(pool, kind="stable")
    pool_start = np.searchsorted(pool[members], np.arange(pool.max() + 1), side="left")
    pool_size = np.bincount(pool, minlength=pool.max() + 1)
    position = np.empty(officers["n"], dtype=np.int64)
    position[members] = np.arange(officers["n"]) - pool_start[pool[members]]
    n_backups = _categorical(rng, backups_p, n_calls)
    size = pool_size[pool[primary]]
    chosen = []
    for slot in (1, 2):
        draw = np.floor(rng.random(n_calls) * np.maximum(size - 1, 1)).astype(np.int64)
        draw = draw + (draw >= position[primary])
        candidate = members[np.minimum(pool_start[pool[primary]] + draw, officers["n"] - 1)]
        keep = (n_backups >= slot) & (size > 1)
        keep &= calls["received"] < (officers["last_shift_day"][candidate] + 1) * SECONDS_PER_DAY
        if slot == 2:
            keep &= candidate != chosen[0][1]
        chosen.append((keep, candidate))
    # rows ordered by call, then primary, first backup, second backup (no sort needed)
    (keep_1, backup_1), (keep_2, backup_2) = chosen
    per_call = 1 + keep_1.astype(np.int64) + keep_2
    first_row = np.cumsum(per_call) - per_call
    n_rows = int(per_call.sum())
    call = np.repeat(np.arange(n_calls), per_call)
    officer = np.empty(n_rows, dtype=np.int64)
    role = np.ones(n_rows, dtype=np.int64)
    officer[first_row] = primary
    role[first_row] = 0
    officer[first_row[keep_1] + 1] = backup_1[keep_1]
    officer[first_row[keep_2] + 1 + keep_1[keep_2]] = backup_2[keep_2]
    # backups arrive after the primary and leave no later than the call clears
    arrived_call, cleared_call = calls["arrived"][call], calls["cleared"][call]
    on_scene = cleared_call - arrived_call
    delay = np.minimum(rng.exponential(240.0, len(call)), 0.8 * on_scene).astype(np.int64)
    arrived = np.where(role == 0, arrived_call, arrived_call + delay)
    stay = ((cleared_call - arrived) * rng.uniform(0.4, 1.0, len(call))).astype(np.int64)
    cleared = np.where(role == 0, cleared_call, arrived + stay)
    return {
        "call": call,
        "officer": officer,
        "role": role,
        "arrived": arrived,
        "cleared": cleared,
        "work_day": calls["work_day"][call],
    }


def _treated(officers: dict, attendance: dict) -> np.ndarray:
    """Was the officer trained before the shift day of this attendance?"""
    return attendance["work_day"] > officers["trained_day"][attendance["officer"]]


# --- 5. force and complaints ---------------------------------------------------------------


def _events_per_attendance(rng, officers, attendance, spec, calls_per_month, multiplier_key):
    rate = float(spec["per_officer_month"]) / calls_per_month
    multiplier = officers[multiplier_key][attendance["officer"]]
    ratio = np.where(_treated(officers, attendance), float(spec["rate_ratio"]), 1.0)
    counts = rng.poisson(rate * multiplier * ratio)
    return np.repeat(np.arange(len(counts)), counts)


def _simulate_force(scenario, study, officers, attendance, rng) -> dict:
    spec = scenario["force"]
    row = _events_per_attendance(
        rng,
        officers,
        attendance,
        spec,
        float(scenario["calls"]["per_officer_month"]),
        "force_multiplier",
    )
    n = len(row)
    span = attendance["cleared"][row] - attendance["arrived"][row]
    occurred = attendance["arrived"][row] + np.floor(rng.random(n) * span).astype(np.int64)
    order = np.lexsort((row, occurred))
    row, occurred = row[order], occurred[order]
    level = _categorical(rng, spec["level_shares"], n)
    force_type_names = sorted(
        {name for level_types in FORCE_TYPES_BY_LEVEL for name, _ in level_types}
    )
    force_type = np.empty(n, dtype=np.int64)
    for lvl, level_types in enumerate(FORCE_TYPES_BY_LEVEL):
        at_level = level == lvl
        draw = _categorical(rng, [share for _, share in level_types], int(at_level.sum()))
        force_type[at_level] = [force_type_names.index(level_types[i][0]) for i in draw]
    resistance = _categorical_by_row(rng, np.array(RESISTANCE_BY_LEVEL), level)
    subject_injured = rng.random(n) < np.asarray(spec["subject_injury_by_level"])[level]
    officer_injured = rng.random(n) < float(spec["officer_injury"])
    # civilians: some appear in more than one report
    is_repeat = rng.random(n) < float(spec["repeat_subject_share"])
    first_time = np.flatnonzero(~is_repeat)
    earlier = np.searchsorted(first_time, np.arange(n), side="left")
    is_repeat &= earlier > 0
    civilian = np.arange(n)
    pick = np.floor(rng.random(n) * np.maximum(earlier, 1)).astype(np.int64)
    civilian[is_repeat] = first_time[pick[is_repeat]]
    distinct = np.unique(civilian)
    record_numbers = 100_000 + rng.choice(900_000, size=len(distinct), replace=False)
    name_numbers = rng.choice(1_000_000, size=len(distinct), replace=False)
    slot = np.searchsorted(distinct, civilian)
    return {
        "report_id": fixed_ids("UOF-", np.arange(1, n + 1), 6),
        "attendance": row,
        "occurred": occurred,
        "level": level + 1,
        "force_type": force_type,
        "force_type_names": force_type_names,
        "resistance": resistance,
        "subject_injured": subject_injured,
        "officer_injured": officer_injured,
        "subject_key": fixed_ids("CIV-", record_numbers[slot], 6),
        "subject_name": fixed_ids("CIVILIAN-", name_numbers[slot], 6),
    }


def _simulate_complaints(scenario, study, officers, attendance, rng) -> dict:
    spec = scenario["complaints"]
    row = _events_per_attendance(
        rng,
        officers,
        attendance,
        spec,
        float(scenario["calls"]["per_officer_month"]),
        "complaint_multiplier",
    )
    n = len(row)
    occurred = attendance["arrived"][row]
    lag_days = np.ceil(rng.exponential(float(spec["days_to_receipt_mean"]), n)).astype(np.int64)
    received_day = occurred // SECONDS_PER_DAY + lag_days
    received = received_day * SECONDS_PER_DAY + 8 * 3600 + rng.integers(0, 9 * 3600, n)
    allegation = _categorical(rng, [share for _, share in ALLEGATIONS], n)
    near_export = study.export_day - received_day < int(spec["pending_within_days"])
    is_pending = near_export & (rng.random(n) < 0.8)
    is_sustained = ~is_pending & (rng.random(n) < float(spec["share_sustained"]))
    other = _categorical(rng, CLOSED_FINDING_SHARES, n)
    findings = ("sustained", *CLOSED_FINDINGS, "pending")
    finding = np.where(is_pending, len(findings) - 1, np.where(is_sustained, 0, other + 1))
    keep = received_day <= study.export_day  # not yet received when the export was pulled
    order = np.lexsort((row[keep], occurred[keep]))
    select = np.flatnonzero(keep)[order]
    return {
        "complaint_id": fixed_ids("IA-", np.arange(1, len(select) + 1), 6),
        "attendance": row[select],
        "occurred": occurred[select],
        "received": received[select],
        "allegation": allegation[select],
        "allegation_names": [name for name, _ in ALLEGATIONS],
        "finding": finding[select],
        "finding_names": list(findings),
    }


# --- 6. videos and SSO codings -------------------------------------------------------------


def _simulate_videos(scenario, study, officers, calls, attendance, rngs):
    rng = rngs["videos"]
    spec = scenario["videos"]
    n_coded = max(
        int(round(float(spec["coded_clips"]) * study.n_trial / scenario["officers"]["n_trial"])), 2
    )
    n_per_period = {0: n_coded // 2, 1: n_coded - n_coded // 2}
    arrival_day = attendance["arrived"] // SECONDS_PER_DAY
    is_trial = officers["is_trial"][attendance["officer"]]
    periods = {
        0: (study.start_day, study.treatment_cohort_day),
        1: (study.treatment_cohort_day, study.control_cohort_day),
    }
    frame_rows, frame_period, frame_coded = [], [], []
    for period, (first, stop) in periods.items():
        eligible = np.flatnonzero(is_trial & (arrival_day >= first) & (arrival_day < stop))
        size = min(n_per_period[period] * (1 + int(spec["uncoded_per_coded"])), len(eligible))
        chosen = rng.choice(eligible, size=size, replace=False)
        frame_rows.append(chosen)
        frame_period.append(np.full(size, period))
        frame_coded.append(np.arange(size) < n_per_period[period])
    row = np.concatenate(frame_rows)
    period = np.concatenate(frame_period)
    is_coded = np.concatenate(frame_coded)
    n_videos = len(row)
    started = attendance["arrived"][row] - rng.integers(30, 90, n_videos)
    duration = (attendance["cleared"][row] - started + rng.integers(0, 60, n_videos)).astype(float)
    order = np.lexsort((row, started))
    row, period, is_coded, started, duration = (
        row[order],
        period[order],
        is_coded[order],
        started[order],
        duration[order],
    )
    media_numbers = np.sort(10**7 + rng.choice(9 * 10**7, size=n_videos, replace=False))
    videos = {
        "video_id": fixed_ids("AXN", media_numbers, 8),
        "attendance": row,
        "period": period,
        "is_coded": is_coded,
        "started": started,
        "duration": duration,
        "stratum": period * len(calls["group_names"]) + calls["group"][attendance["call"][row]],
        "stratum_names": [f"{p}_{g}" for p in ("pre", "post") for g in calls["group_names"]],
    }
    codings, encounters = _code_videos(scenario, study, officers, calls, attendance, videos, rngs)
    return videos, codings, encounters


def _code_videos(scenario, study, officers, calls, attendance, videos, rngs):
    items = scenario["sso_items"]
    coded = np.flatnonzero(videos["is_coded"])
    row = videos["attendance"][coded]
    officer = attendance["officer"][row]
    effects = draw_officer_effects(rngs["encounters"], officers["n"], items)
    noise = draw_encounter_noise(rngs["encounters"], len(coded), items)
    treated = _treated(officers, {k: v[row] for k, v in attendance.items()})
    truth = encounter_truth(
        items,
        {name: values[officer] for name, values in effects.items()},
        calls["type_names"],
        calls["type"][attendance["call"][row]],
        treated,
        noise,
    )
    true_counts = draw_true_counts(rngs["encounters"], truth, items)

    rng = rngs["coding"]
    spec = scenario["videos"]
    n_coded, n_coders = len(coded), int(spec["n_coders"])
    n_double = int(round(float(spec["double_coded_share"]) * n_coded))
    doubles = np.sort(rng.choice(n_coded, size=n_double, replace=False))
    first_coder = rng.integers(0, n_coders, n_coded)
    second_coder = (first_coder[doubles] + 1 + rng.integers(0, n_coders - 1, n_double)) % n_coders
    video_day = videos["started"][coded] // SECONDS_PER_DAY
    first_day = video_day + 30 + rng.integers(0, 150, n_coded)
    second_day = first_day[doubles] + 1 + rng.integers(0, 60, n_double)
    encounter = np.concatenate([np.arange(n_coded), doubles])
    coder = np.concatenate([first_coder, second_coder])
    coded_day = np.concatenate([first_day, second_day])
    coded_at = coded_day * SECONDS_PER_DAY + 9 * 3600 + rng.integers(0, 8 * 3600, len(encounter))
    order = np.lexsort((encounter, coded_at))
    encounter, coder, coded_at = encounter[order], coder[order], coded_at[order]
    codes = code_encounters(
        rng, items, CodingErrors.from_scenario(scenario), truth, true_counts, encounter
    )
    codings = {
        "coding_id": fixed_ids("SSO-", np.arange(1, len(encounter) + 1), 6),
        "video": coded[encounter],
        "coder": coder,
        "coded_at": coded_at,
        "codes": codes,
    }
    true_values = {}
    for name, spec_item in items.items():
        if spec_item["kind"] == "binary":
            true_values[f"true_{name}"] = truth.realized[name].astype(np.int64)
        elif spec_item["kind"] == "rating":
            true_values[f"true_{name}"] = truth.parameter[name]
        else:
            true_values[f"true_{name}"] = true_counts[name]
    encounters = {"video": coded, "is_treated": treated, "true": true_values}
    return codings, encounters


# --- assembly ------------------------------------------------------------------------------


def _assemble(
    scenario,
    seed,
    scale,
    study,
    officers,
    training,
    calls,
    attendance,
    force,
    complaints,
    videos,
    codings,
    encounters,
) -> SimulatedDepartment:
    years = study.years
    officer_id = np.array([str(e) for e in officers["employee_number"]], dtype=object)
    ids = pa.array(officer_id, type=pa.string())
    shift_names = officers["shift_names"]
    precinct_names = [f"P{p + 1}" for p in range(int(scenario["officers"]["n_precincts"]))]
    unit = np.array(precinct_names, dtype=object)[officers["precinct"]]

    def officer_text(index):
        return _text(ids.take(pa.array(np.asarray(index, dtype=np.int64))))

    officers_frame = pd.DataFrame(
        {
            "officer_id": _text(ids),
            "appointed_on": _dates(officers["appointed_day"]),
            "separated_on": _dates(officers["separation_day"]),
            "birth_year": officers["birth_year"].astype(np.int64),
            "sex": _codes(officers["sex"], SEXES),
            "race": _codes(officers["race"], RACES),
            "rank": _codes(officers["rank"], RANKS),
            "unit": _text(unit),
        }
    )
    # every officer serves in one precinct's patrol from appointment to separation
    officer_units = pd.DataFrame(
        {
            "officer_id": _text(ids),
            "unit_id": _text(unit),
            "unit_type": _text(np.full(len(unit), "patrol", dtype=object)),
            "unit_name": _text(np.array([f"Precinct {u[1:]}" for u in unit], dtype=object)),
            "started_on": officers_frame["appointed_on"],
            "ended_on": officers_frame["separated_on"],
        }
    )
    trial = np.flatnonzero(officers["is_trial"])
    arm = officers["arm"][trial]
    block_names = [f"{p}-{s}" for p in precinct_names for s in shift_names]
    assignments = pd.DataFrame(
        {
            "trial_id": _text(
                np.full(len(trial), str(scenario["study"]["trial_id"]), dtype=object)
            ),
            "officer_id": officer_text(trial),
            "block_id": _codes(officers["block"][trial], block_names),
            "arm": _codes(arm, ("treatment", "control")),
            "cohort_on": _dates(
                np.where(arm == 0, study.treatment_cohort_day, study.control_cohort_day)
            ),
            "assigned_on": _dates(np.full(len(trial), study.randomized_day)),
        }
    )
    training_frame = pd.DataFrame(
        {
            "officer_id": officer_text(training["officer"]),
            "session_id": _text(np.array(training["session_id"], dtype=object)),
            "curriculum": _text(
                np.full(len(training["officer"]), training["curriculum"], dtype=object)
            ),
            "attended_on": _dates(training["attended_day"]),
            "is_completed": training["is_completed"].astype(bool),
            "hours": training["hours"].astype(float),
        }
    ).sort_values(["attended_on", "officer_id"], kind="stable", ignore_index=True)

    beat_names = [
        f"{p + 1}{letter}{k + 1}"
        for p in range(len(precinct_names))
        for letter in BEAT_LETTERS
        for k in range(BEATS_PER_LETTER)
    ]
    calls_frame = pd.DataFrame(
        {
            "call_id": _text(calls["call_id"]),
            "received_at": _timestamps(local_to_utc(calls["received"], years)),
            "dispatched_at": _timestamps(local_to_utc(calls["dispatched"], years)),
            "arrived_at": _timestamps(local_to_utc(calls["arrived"], years)),
            "cleared_at": _timestamps(local_to_utc(calls["cleared"], years)),
            "call_type": _codes(calls["type"], calls["type_names"]),
            "priority": calls["priority"].astype(np.int64),
            "is_self_initiated": calls["is_self"],
            "beat": _codes(calls["beat"], beat_names),
            "disposition": _codes(calls["disposition"], DISPOSITIONS),
        }
    )
    call_ids = calls["call_id"]
    attendance_call_id = call_ids.take(pa.array(attendance["call"]))
    call_officers = pd.DataFrame(
        {
            "call_id": _text(attendance_call_id),
            "officer_id": officer_text(attendance["officer"]),
            "role": _codes(attendance["role"], ROLES),
            "arrived_at": _timestamps(local_to_utc(attendance["arrived"], years)),
            "cleared_at": _timestamps(local_to_utc(attendance["cleared"], years)),
        }
    )
    video_rows = videos["attendance"]
    bwc_videos = pd.DataFrame(
        {
            "video_id": _text(videos["video_id"]),
            "officer_id": officer_text(attendance["officer"][video_rows]),
            "call_id": _text(call_ids.take(pa.array(attendance["call"][video_rows]))),
            "started_at": _timestamps(local_to_utc(videos["started"], years)),
            "duration_s": videos["duration"],
            "is_sampled_for_coding": videos["is_coded"].astype(bool),
            "sampling_stratum": _codes(videos["stratum"], videos["stratum_names"]),
        }
    )
    n_coders = int(scenario["videos"]["n_coders"])
    sso_codings = pd.DataFrame(
        {
            "coding_id": _text(codings["coding_id"]),
            "video_id": _text(videos["video_id"].take(pa.array(codings["video"]))),
            "coder_id": _codes(codings["coder"], [f"C{c + 1:02d}" for c in range(n_coders)]),
            "coded_at": _timestamps(local_to_utc(codings["coded_at"], years)),
            "codebook_version": CODEBOOK_VERSION,
            **{item: codings["codes"][item].astype(np.int64) for item in SSO_ITEMS},
        }
    )
    force_rows = force["attendance"]
    force_reports = pd.DataFrame(
        {
            "report_id": _text(force["report_id"]),
            "officer_id": officer_text(attendance["officer"][force_rows]),
            "occurred_at": _timestamps(local_to_utc(force["occurred"], years)),
            "call_id": _text(call_ids.take(pa.array(attendance["call"][force_rows]))),
            "force_type": _codes(force["force_type"], force["force_type_names"]),
            "force_level": force["level"].astype(np.int64),
            "subject_resistance": _codes(force["resistance"], RESISTANCE),
            "is_subject_injured": force["subject_injured"],
            "is_officer_injured": force["officer_injured"],
            "subject_key": _text(force["subject_key"]),
            # not in the contract: the export carries it, the mapping must not load it
            "subject_name": _text(force["subject_name"]),
        }
    )
    complaint_rows = complaints["attendance"]
    complaints_frame = pd.DataFrame(
        {
            "complaint_id": _text(complaints["complaint_id"]),
            "officer_id": officer_text(attendance["officer"][complaint_rows]),
            "occurred_at": _timestamps(local_to_utc(complaints["occurred"], years)),
            "received_at": _timestamps(local_to_utc(complaints["received"], years)),
            "allegation": _codes(complaints["allegation"], complaints["allegation_names"]),
            "finding": _codes(complaints["finding"], complaints["finding_names"]),
            "is_sustained": complaints["finding"] == 0,
        }
    )
    video_of_encounter = encounters["video"]
    encounter_rows = videos["attendance"][video_of_encounter]
    encounter_frame = pd.DataFrame(
        {
            "video_id": _text(videos["video_id"].take(pa.array(video_of_encounter))),
            "officer_id": officer_text(attendance["officer"][encounter_rows]),
            "arm": _codes(
                officers["arm"][attendance["officer"][encounter_rows]], ("treatment", "control")
            ),
            "period": _codes(videos["period"][video_of_encounter], ("pre", "post")),
            "is_treated": encounters["is_treated"],
            **encounters["true"],
        }
    )
    no_day = np.iinfo(np.int64).max // 4
    officer_facts = pd.DataFrame(
        {
            "officer_id": _text(ids),
            "shift": _codes(officers["shift"], shift_names),
            "block_id": _codes(officers["block"], block_names),
            "is_trial": officers["is_trial"],
            "arm": pd.Categorical.from_codes(officers["arm"], categories=["treatment", "control"]),
            "is_complier": officers["is_complier"],
            "trained_on": _dates(
                np.where(officers["trained_day"] == no_day, -1, officers["trained_day"])
            ),
            "call_multiplier": officers["call_multiplier"],
            "force_multiplier": officers["force_multiplier"],
        }
    )
    return SimulatedDepartment(
        scenario=scenario,
        seed=seed,
        scale=scale,
        officers=officers_frame,
        trial_assignments=assignments,
        training_events=training_frame,
        calls=calls_frame,
        call_officers=call_officers,
        bwc_videos=bwc_videos,
        sso_codings=sso_codings,
        force_reports=force_reports,
        complaints=complaints_frame,
        officer_units=officer_units,
        encounters=encounter_frame,
        officer_facts=officer_facts,
    )
