"""The synthetic department's tables: the drawn arrays of every step assembled into the canonical
raw contract's frames (middlestep/contract.py: canonical names and codes, timestamps in UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from middlestep.contract import SSO_ITEMS
from middlestep.synth.calls import BEAT_LETTERS, BEATS_PER_LETTER, DISPOSITIONS, ROLES
from middlestep.synth.clock import local_to_utc
from middlestep.synth.columns import code_column, date_column, text_column, timestamp_column
from middlestep.synth.incidents import RESISTANCE
from middlestep.synth.roster import RACES, RANKS, SEXES

CODEBOOK_VERSION = "v1"


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


def assemble(
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
        return text_column(ids.take(pa.array(np.asarray(index, dtype=np.int64))))

    officers_frame = pd.DataFrame(
        {
            "officer_id": text_column(ids),
            "appointed_on": date_column(officers["appointed_day"]),
            "separated_on": date_column(officers["separation_day"]),
            "birth_year": officers["birth_year"].astype(np.int64),
            "sex": code_column(officers["sex"], SEXES),
            "race": code_column(officers["race"], RACES),
            "rank": code_column(officers["rank"], RANKS),
            "unit": text_column(unit),
        }
    )
    # every officer serves in one precinct's patrol from appointment to separation
    officer_units = pd.DataFrame(
        {
            "officer_id": text_column(ids),
            "unit_id": text_column(unit),
            "unit_type": text_column(np.full(len(unit), "patrol", dtype=object)),
            "unit_name": text_column(np.array([f"Precinct {u[1:]}" for u in unit], dtype=object)),
            "started_on": officers_frame["appointed_on"],
            "ended_on": officers_frame["separated_on"],
        }
    )
    trial = np.flatnonzero(officers["is_trial"])
    arm = officers["arm"][trial]
    block_names = [f"{p}-{s}" for p in precinct_names for s in shift_names]
    assignments = pd.DataFrame(
        {
            "trial_id": text_column(
                np.full(len(trial), str(scenario["study"]["trial_id"]), dtype=object)
            ),
            "officer_id": officer_text(trial),
            "block_id": code_column(officers["block"][trial], block_names),
            "arm": code_column(arm, ("treatment", "control")),
            "cohort_on": date_column(
                np.where(arm == 0, study.treatment_cohort_day, study.control_cohort_day)
            ),
            "assigned_on": date_column(np.full(len(trial), study.randomized_day)),
        }
    )
    training_frame = pd.DataFrame(
        {
            "officer_id": officer_text(training["officer"]),
            "session_id": text_column(np.array(training["session_id"], dtype=object)),
            "curriculum": text_column(
                np.full(len(training["officer"]), training["curriculum"], dtype=object)
            ),
            "attended_on": date_column(training["attended_day"]),
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
            "call_id": text_column(calls["call_id"]),
            "received_at": timestamp_column(local_to_utc(calls["received"], years)),
            "dispatched_at": timestamp_column(local_to_utc(calls["dispatched"], years)),
            "arrived_at": timestamp_column(local_to_utc(calls["arrived"], years)),
            "cleared_at": timestamp_column(local_to_utc(calls["cleared"], years)),
            "call_type": code_column(calls["type"], calls["type_names"]),
            "priority": calls["priority"].astype(np.int64),
            "is_self_initiated": calls["is_self"],
            "beat": code_column(calls["beat"], beat_names),
            "disposition": code_column(calls["disposition"], DISPOSITIONS),
        }
    )
    call_ids = calls["call_id"]
    attendance_call_id = call_ids.take(pa.array(attendance["call"]))
    call_officers = pd.DataFrame(
        {
            "call_id": text_column(attendance_call_id),
            "officer_id": officer_text(attendance["officer"]),
            "role": code_column(attendance["role"], ROLES),
            "arrived_at": timestamp_column(local_to_utc(attendance["arrived"], years)),
            "cleared_at": timestamp_column(local_to_utc(attendance["cleared"], years)),
        }
    )
    video_rows = videos["attendance"]
    bwc_videos = pd.DataFrame(
        {
            "video_id": text_column(videos["video_id"]),
            "officer_id": officer_text(attendance["officer"][video_rows]),
            "call_id": text_column(call_ids.take(pa.array(attendance["call"][video_rows]))),
            "started_at": timestamp_column(local_to_utc(videos["started"], years)),
            "duration_s": videos["duration"],
            "is_sampled_for_coding": videos["is_coded"].astype(bool),
            "sampling_stratum": code_column(videos["stratum"], videos["stratum_names"]),
        }
    )
    n_coders = int(scenario["videos"]["n_coders"])
    sso_codings = pd.DataFrame(
        {
            "coding_id": text_column(codings["coding_id"]),
            "video_id": text_column(videos["video_id"].take(pa.array(codings["video"]))),
            "coder_id": code_column(codings["coder"], [f"C{c + 1:02d}" for c in range(n_coders)]),
            "coded_at": timestamp_column(local_to_utc(codings["coded_at"], years)),
            "codebook_version": CODEBOOK_VERSION,
            **{item: codings["codes"][item].astype(np.int64) for item in SSO_ITEMS},
        }
    )
    force_rows = force["attendance"]
    force_reports = pd.DataFrame(
        {
            "report_id": text_column(force["report_id"]),
            "officer_id": officer_text(attendance["officer"][force_rows]),
            "occurred_at": timestamp_column(local_to_utc(force["occurred"], years)),
            "call_id": text_column(call_ids.take(pa.array(attendance["call"][force_rows]))),
            "force_type": code_column(force["force_type"], force["force_type_names"]),
            "force_level": force["level"].astype(np.int64),
            "subject_resistance": code_column(force["resistance"], RESISTANCE),
            "is_subject_injured": force["subject_injured"],
            "is_officer_injured": force["officer_injured"],
            "subject_key": text_column(force["subject_key"]),
            # not in the contract: the export carries it, the mapping must not load it
            "subject_name": text_column(force["subject_name"]),
        }
    )
    complaint_rows = complaints["attendance"]
    complaints_frame = pd.DataFrame(
        {
            "complaint_id": text_column(complaints["complaint_id"]),
            "officer_id": officer_text(attendance["officer"][complaint_rows]),
            "occurred_at": timestamp_column(local_to_utc(complaints["occurred"], years)),
            "received_at": timestamp_column(local_to_utc(complaints["received"], years)),
            "allegation": code_column(complaints["allegation"], complaints["allegation_names"]),
            "finding": code_column(complaints["finding"], complaints["finding_names"]),
            "is_sustained": complaints["finding"] == 0,
        }
    )
    video_of_encounter = encounters["video"]
    encounter_rows = videos["attendance"][video_of_encounter]
    encounter_frame = pd.DataFrame(
        {
            "video_id": text_column(videos["video_id"].take(pa.array(video_of_encounter))),
            "officer_id": officer_text(attendance["officer"][encounter_rows]),
            "arm": code_column(
                officers["arm"][attendance["officer"][encounter_rows]], ("treatment", "control")
            ),
            "period": code_column(videos["period"][video_of_encounter], ("pre", "post")),
            "is_treated": encounters["is_treated"],
            **encounters["true"],
        }
    )
    no_day = np.iinfo(np.int64).max // 4
    officer_facts = pd.DataFrame(
        {
            "officer_id": text_column(ids),
            "shift": code_column(officers["shift"], shift_names),
            "block_id": code_column(officers["block"], block_names),
            "is_trial": officers["is_trial"],
            "arm": pd.Categorical.from_codes(officers["arm"], categories=["treatment", "control"]),
            "is_complier": officers["is_complier"],
            "trained_on": date_column(
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
