"""Step 4 of the synthetic department (middlestep/synth/generator.py): the calls for service and
who attended them (a primary officer and 0-2 backups from the same precinct and shift)."""

from __future__ import annotations

import numpy as np

from middlestep.synth.clock import SECONDS_PER_DAY, avoid_dst_changes, date_of, fixed_ids
from middlestep.synth.columns import categorical, categorical_by_row
from middlestep.synth.study import Study

ROLES = ("primary", "backup")
DISPOSITIONS = ("report", "advised", "gone_on_arrival", "unfounded", "arrest", "citation")
DISPOSITION_SHARES = (0.30, 0.35, 0.10, 0.10, 0.08, 0.07)
TRAFFIC_DISPOSITION_SHARES = (0.0, 0.45, 0.0, 0.0, 0.05, 0.50)
BEAT_LETTERS = "ABCDE"
BEATS_PER_LETTER = 3
MAX_CHAIN_S = 5 * 3600  # received -> last cleared time of a call (bounded below)


def simulate_calls(scenario: dict, study: Study, officers: dict, rngs) -> tuple[dict, dict]:
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

    call_type = categorical(rng, [t["share"] for t in types.values()], n_calls)
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
    disposition = categorical_by_row(rng, disposition_rows, traffic[call_type].astype(np.int64))
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
    attendance = draw_attendance(officers, calls, officer, backups_p, rngs["backups"])
    return calls, attendance


def draw_attendance(officers: dict, calls: dict, primary: np.ndarray, backups_p, rng) -> dict:
    """Who attended each call: the primary officer and 0-2 backups from the same pool."""
    n_calls = len(primary)
    pool = officers["block"]  # precinct x shift
    members = np.argsort(pool, kind="stable")
    pool_start = np.searchsorted(pool[members], np.arange(pool.max() + 1), side="left")
    pool_size = np.bincount(pool, minlength=pool.max() + 1)
    position = np.empty(officers["n"], dtype=np.int64)
    position[members] = np.arange(officers["n"]) - pool_start[pool[members]]
    n_backups = categorical(rng, backups_p, n_calls)
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


def is_treated(officers: dict, attendance: dict) -> np.ndarray:
    """Was the officer trained before the shift day of this attendance?"""
    return attendance["work_day"] > officers["trained_day"][attendance["officer"]]
