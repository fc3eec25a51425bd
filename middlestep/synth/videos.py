"""Step 6 of the synthetic department (middlestep/synth/generator.py): the body-worn-camera clips
sampled from the trial officers' call attendances, and their SSO codings."""

from __future__ import annotations

import numpy as np

from middlestep.synth.calls import is_treated
from middlestep.synth.clock import SECONDS_PER_DAY, fixed_ids
from middlestep.synth.encounters import (
    CodingErrors,
    code_encounters,
    draw_encounter_noise,
    draw_officer_effects,
    draw_true_counts,
    encounter_truth,
)


def simulate_videos(scenario, study, officers, calls, attendance, rngs):
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
    codings, encounters = code_videos(scenario, study, officers, calls, attendance, videos, rngs)
    return videos, codings, encounters


def code_videos(scenario, study, officers, calls, attendance, videos, rngs):
    items = scenario["sso_items"]
    coded = np.flatnonzero(videos["is_coded"])
    row = videos["attendance"][coded]
    officer = attendance["officer"][row]
    effects = draw_officer_effects(rngs["encounters"], officers["n"], items)
    noise = draw_encounter_noise(rngs["encounters"], len(coded), items)
    treated = is_treated(officers, {k: v[row] for k, v in attendance.items()})
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
