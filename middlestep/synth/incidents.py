"""Step 5 of the synthetic department (middlestep/synth/generator.py): force reports and
complaints, drawn per call attended (an officer's gamma multiplier, times the rate ratio once
trained)."""

from __future__ import annotations

import numpy as np

from middlestep.synth.calls import is_treated
from middlestep.synth.clock import SECONDS_PER_DAY, fixed_ids
from middlestep.synth.columns import categorical, categorical_by_row

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


def _events_per_attendance(rng, scenario, kind, officers, attendance, multiplier_key):
    """The attendance row of every event of `kind` ("force", "complaints"): a Poisson count per
    call attended at the scenario's rate per call, times the officer's multiplier, times the
    rate ratio once the officer is trained."""
    spec = scenario[kind]
    rate = float(spec["per_officer_month"]) / float(scenario["calls"]["per_officer_month"])
    multiplier = officers[multiplier_key][attendance["officer"]]
    ratio = np.where(is_treated(officers, attendance), float(spec["rate_ratio"]), 1.0)
    counts = rng.poisson(rate * multiplier * ratio)
    return np.repeat(np.arange(len(counts)), counts)


def simulate_force(scenario, study, officers, attendance, rng) -> dict:
    spec = scenario["force"]
    row = _events_per_attendance(rng, scenario, "force", officers, attendance, "force_multiplier")
    n = len(row)
    span = attendance["cleared"][row] - attendance["arrived"][row]
    occurred = attendance["arrived"][row] + np.floor(rng.random(n) * span).astype(np.int64)
    order = np.lexsort((row, occurred))
    row, occurred = row[order], occurred[order]
    level = categorical(rng, spec["level_shares"], n)
    force_type_names = sorted(
        {name for level_types in FORCE_TYPES_BY_LEVEL for name, _ in level_types}
    )
    force_type = np.empty(n, dtype=np.int64)
    for lvl, level_types in enumerate(FORCE_TYPES_BY_LEVEL):
        at_level = level == lvl
        draw = categorical(rng, [share for _, share in level_types], int(at_level.sum()))
        force_type[at_level] = [force_type_names.index(level_types[i][0]) for i in draw]
    resistance = categorical_by_row(rng, np.array(RESISTANCE_BY_LEVEL), level)
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


def simulate_complaints(scenario, study, officers, attendance, rng) -> dict:
    spec = scenario["complaints"]
    row = _events_per_attendance(
        rng, scenario, "complaints", officers, attendance, "complaint_multiplier"
    )
    n = len(row)
    occurred = attendance["arrived"][row]
    lag_days = np.ceil(rng.exponential(float(spec["days_to_receipt_mean"]), n)).astype(np.int64)
    received_day = occurred // SECONDS_PER_DAY + lag_days
    received = received_day * SECONDS_PER_DAY + 8 * 3600 + rng.integers(0, 9 * 3600, n)
    allegation = categorical(rng, [share for _, share in ALLEGATIONS], n)
    near_export = study.export_day - received_day < int(spec["pending_within_days"])
    is_pending = near_export & (rng.random(n) < 0.8)
    is_sustained = ~is_pending & (rng.random(n) < float(spec["share_sustained"]))
    other = categorical(rng, CLOSED_FINDING_SHARES, n)
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
