"""The synthetic department's own export format (mapped by departments/synthetic.yaml).

The department names and codes things its own way: employee numbers, CAD nature codes,
Y/N flags, L1-L3 force levels, local timestamps as text (%m/%d/%Y %H:%M:%S in the CSV files,
%Y-%m-%d %H:%M:%S in the CAD's Parquet files). Nothing here is in canonical form, so the
mapping file does real work. The force file also carries a civilian name column the mapping
does not load.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from middlestep.synth.clock import format_days, format_timestamps, utc_to_local
from middlestep.synth.codes import (
    ALLEGATION_CODES,
    ARM_CODES,
    CALL_TYPE_CODES,
    CODEBOOK_VERSION_CODES,
    CURRICULUM_CODES,
    DISPOSITION_CODES,
    FINDING_CODES,
    FORCE_LEVEL_CODES,
    FORCE_TYPE_CODES,
    RACE_CODES,
    RANK_CODES,
    RESISTANCE_CODES,
    ROLE_CODES,
    SEX_CODES,
    STRATUM_GROUP_CODES,
    STRATUM_PERIOD_CODES,
)
from middlestep.synth.scenario import study_years

log = logging.getLogger(__name__)

TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"  # the department's CSV files
CAD_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # the CAD system's Parquet files
DATE_FORMAT = "%m/%d/%Y"

# the coding sheet's column for every SSO codebook item
SSO_COLUMNS = {
    "personal_conversation": "Q01_PERS_CONV",
    "repeated_commands": "Q02_REPEAT_CMD",
    "commands_issued": "Q03_NUM_CMDS",
    "empathy": "Q04_EMPATHY",
    "explained_reason": "Q05_EXPLAIN_RSN",
    "listened": "Q06_LISTENED",
    "respect": "Q07_RESPECT",
    "calm_tone": "Q08_CALM_TONE",
    "gave_choices": "Q09_CHOICES",
    "used_time_distance": "Q10_TIME_DIST",
    "threatened": "Q11_THREAT",
    "used_profanity": "Q12_PROFANITY",
    "civilian_resistance": "C01_RESIST",
    "civilian_demeanor": "C02_DEMEANOR",
    "civilian_intoxicated": "C03_INTOX",
    "civilian_mental_illness": "C04_MENTAL_ILL",
    "civilian_weapon": "C05_WEAPON",
    "arrest": "O01_ARREST",
    "force_used": "O02_FORCE",
    "injury": "O03_INJURY",
}
BINARY_CODES = {1: "Y", 0: "N"}

DICTIONARY_COLUMNS = {
    "NATURE_CODE",
    "PRIORITY",
    "SELF_INIT",
    "BEAT",
    "DISPO",
    "UNIT_ROLE",
    "EMP_NO",
}

FILES = {
    "officers": "personnel_roster.csv",
    "trial_assignments": "randomization.csv",
    "training_events": "training_log.csv",
    "calls": "cad_calls.parquet",
    "call_officers": "cad_units.parquet",
    "bwc_videos": "bwc_inventory.csv",
    "sso_codings": "sso_coding_sheet.csv",
    "force_reports": "response_to_resistance.csv",
    "complaints": "complaints.csv",
    "officer_units": "unit_history.csv",
}
UNIT_TYPE_CODES = {"patrol": "PTL"}


def _recode(values: pd.Series, codes: dict) -> pa.Array:
    """Canonical codes -> the department's codes (an unknown code is a bug: KeyError)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        dictionary = pa.array([codes[c] for c in values.cat.categories], type=pa.string())
        indices = pa.array(
            values.cat.codes.to_numpy().astype(np.int32), mask=values.isna().to_numpy()
        )
        return pa.DictionaryArray.from_arrays(indices, dictionary).dictionary_decode()
    return pa.array([codes[v] for v in values], type=pa.string())


def _flag(values: pd.Series) -> pa.Array:
    indices = pa.array(values.to_numpy(dtype=bool).astype(np.int8))
    return pa.DictionaryArray.from_arrays(indices, pa.array(["N", "Y"])).dictionary_decode()


def _plain(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    if isinstance(values.dtype, pd.ArrowDtype):
        return values.array.__arrow_array__()
    if isinstance(values.dtype, pd.CategoricalDtype):
        return _recode(values, {c: str(c) for c in values.cat.categories})
    return pa.array(values.to_numpy())


class _Clock:
    def __init__(self, years: tuple[int, int]):
        self.years = years

    def local(self, values: pd.Series, fmt: str = "mdy") -> pa.Array:
        utc = values.to_numpy(dtype="datetime64[s]")
        missing = np.isnat(utc)
        seconds = np.where(missing, 0, utc.astype(np.int64))
        local = np.where(missing, -1, utc_to_local(seconds, self.years))
        return format_timestamps(local, fmt)

    @staticmethod
    def date(values: pd.Series) -> pa.Array:
        days = values.to_numpy(dtype="datetime64[D]")
        missing = np.isnat(days)
        return format_days(np.where(missing, -1, days.astype(np.int64)))


def department_tables(sim) -> dict[str, pa.Table]:
    """The export files' contents (file name -> table), from the canonical frames."""
    clock = _Clock(study_years(sim.scenario))  # the study's years, for DST
    facts = sim.officer_facts.set_index(sim.officer_facts["officer_id"].astype(str))
    officers = sim.officers
    officer_keys = officers["officer_id"].astype(str)
    roster = pa.table(
        {
            "EMP_NO": _plain(officers["officer_id"]),
            "RANK": _recode(officers["rank"], RANK_CODES),
            "HIRE_DT": clock.date(officers["appointed_on"]),
            "SEP_DT": clock.date(officers["separated_on"]),
            "STATUS": pa.array(
                np.where(officers["separated_on"].isna(), "ACTIVE", "SEPARATED"), type=pa.string()
            ),
            "DOB_YR": _plain(officers["birth_year"]),
            "GENDER": _recode(officers["sex"], SEX_CODES),
            "RACE": _recode(officers["race"], RACE_CODES),
            "PRECINCT": _plain(officers["unit"]),
            "SHIFT": _plain(facts.loc[officer_keys, "shift"].reset_index(drop=True)),
        }
    )
    assignments = sim.trial_assignments
    randomization = pa.table(
        {
            "STUDY": _plain(assignments["trial_id"]),
            "EMP_NO": _plain(assignments["officer_id"]),
            "BLOCK": _plain(assignments["block_id"]),
            "GROUP": _recode(assignments["arm"], ARM_CODES),
            "SCHED_TRAIN_DT": clock.date(assignments["cohort_on"]),
            "RAND_DT": clock.date(assignments["assigned_on"]),
        }
    )
    training = sim.training_events
    training_log = pa.table(
        {
            "EMP_NO": _plain(training["officer_id"]),
            "CLASS_ID": _plain(training["session_id"]),
            "COURSE": _recode(training["curriculum"].astype(str), CURRICULUM_CODES),
            "CLASS_DT": clock.date(training["attended_on"]),
            "COMPLETED": _flag(training["is_completed"]),
            "CREDIT_HRS": _plain(training["hours"]),
        }
    )
    calls = sim.calls
    cad_calls = pa.table(
        {
            "CALL_NO": _plain(calls["call_id"]),
            "RECEIVED_TS": clock.local(calls["received_at"], "ymd"),
            "DISPATCH_TS": clock.local(calls["dispatched_at"], "ymd"),
            "ONSCENE_TS": clock.local(calls["arrived_at"], "ymd"),
            "CLEAR_TS": clock.local(calls["cleared_at"], "ymd"),
            "NATURE_CODE": _recode(calls["call_type"], CALL_TYPE_CODES),
            "PRIORITY": _plain(calls["priority"]),
            "SELF_INIT": _flag(calls["is_self_initiated"]),
            "BEAT": _plain(calls["beat"]),
            "DISPO": _recode(calls["disposition"], DISPOSITION_CODES),
        }
    )
    units = sim.call_officers
    cad_units = pa.table(
        {
            "CALL_NO": _plain(units["call_id"]),
            "EMP_NO": _plain(units["officer_id"]),
            "UNIT_ROLE": _recode(units["role"], ROLE_CODES),
            "ONSCENE_TS": clock.local(units["arrived_at"], "ymd"),
            "CLEAR_TS": clock.local(units["cleared_at"], "ymd"),
        }
    )
    videos = sim.bwc_videos
    inventory = pa.table(
        {
            "MEDIA_ID": _plain(videos["video_id"]),
            "EMP_NO": _plain(videos["officer_id"]),
            "CAD_NO": _plain(videos["call_id"]),
            "REC_START": clock.local(videos["started_at"]),
            "DURATION_SEC": pa.array(videos["duration_s"].round().astype(np.int64).to_numpy()),
            "SSO_SAMPLE": _flag(videos["is_sampled_for_coding"]),
            "STRATUM": _recode(videos["sampling_stratum"], stratum_codes()),
        }
    )
    codings = sim.sso_codings
    sheet_columns = {
        "SHEET_ID": _plain(codings["coding_id"]),
        "MEDIA_ID": _plain(codings["video_id"]),
        "CODER": _plain(codings["coder_id"]),
        "CODED_DT": clock.local(codings["coded_at"]),
        "FORM_VER": _recode(codings["codebook_version"], CODEBOOK_VERSION_CODES),
    }
    from middlestep.contract import SSO_ITEMS

    for item, column in SSO_COLUMNS.items():
        if SSO_ITEMS[item] == "binary":
            sheet_columns[column] = _recode(codings[item], BINARY_CODES)
        else:
            sheet_columns[column] = _plain(codings[item])
    sheet = pa.table(sheet_columns)
    force = sim.force_reports
    response_to_resistance = pa.table(
        {
            "RTR_NO": _plain(force["report_id"]),
            "EMP_NO": _plain(force["officer_id"]),
            "INCIDENT_DTTM": clock.local(force["occurred_at"]),
            "CAD_NO": _plain(force["call_id"]),
            "FORCE_TYPE": _recode(force["force_type"], FORCE_TYPE_CODES),
            "FORCE_LVL": _recode(force["force_level"], FORCE_LEVEL_CODES),
            "SUBJ_RESIST": _recode(force["subject_resistance"], RESISTANCE_CODES),
            "SUBJ_INJ": _flag(force["is_subject_injured"]),
            "OFF_INJ": _flag(force["is_officer_injured"]),
            "CIV_NO": _plain(force["subject_key"]),
            "SUBJ_NAME": _plain(force["subject_name"]),
        }
    )
    complaints = sim.complaints
    complaints_file = pa.table(
        {
            "IA_NO": _plain(complaints["complaint_id"]),
            "EMP_NO": _plain(complaints["officer_id"]),
            "INCIDENT_DTTM": clock.local(complaints["occurred_at"]),
            "RECEIVED_DTTM": clock.local(complaints["received_at"]),
            "ALLEGATION": _recode(complaints["allegation"], ALLEGATION_CODES),
            "FINDING": _recode(complaints["finding"], FINDING_CODES),
            "SUST_FLG": _flag(complaints["is_sustained"]),
        }
    )
    officer_units = sim.officer_units
    unit_history = pa.table(
        {
            "EMP_NO": _plain(officer_units["officer_id"]),
            "ASSIGNED_UNIT": _plain(officer_units["unit_id"]),
            "UNIT_KIND": _recode(officer_units["unit_type"], UNIT_TYPE_CODES),
            "UNIT_DESC": _plain(officer_units["unit_name"]),
            "FROM_DT": clock.date(officer_units["started_on"]),
            "TO_DT": clock.date(officer_units["ended_on"]),
        }
    )
    return {
        FILES["officers"]: roster,
        FILES["trial_assignments"]: randomization,
        FILES["training_events"]: training_log,
        FILES["calls"]: cad_calls,
        FILES["call_officers"]: cad_units,
        FILES["bwc_videos"]: inventory,
        FILES["sso_codings"]: sheet,
        FILES["force_reports"]: response_to_resistance,
        FILES["complaints"]: complaints_file,
        FILES["officer_units"]: unit_history,
    }


def stratum_codes() -> dict[str, str]:
    return {
        f"{period}_{group}": f"{period_code}-{group_code}"
        for period, period_code in STRATUM_PERIOD_CODES.items()
        for group, group_code in STRATUM_GROUP_CODES.items()
    }


def write_export(sim, out_dir: str | Path) -> list[Path]:
    """Write the department's export files into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, table in department_tables(sim).items():
        written.append(write_table(table, out_dir / file_name))
    return written


def write_table(table: pa.Table, path: Path) -> Path:
    """Write one export file the way the department's systems do (CSV, or the CAD's Parquet)."""
    log.info("synth: writing %s (%s rows)", path, table.num_rows)
    if path.suffix == ".parquet":
        # dictionary pages only for the code columns, not for ids and timestamps
        codes = [name for name in table.column_names if name in DICTIONARY_COLUMNS]
        pq.write_table(table, path, compression="snappy", use_dictionary=codes)
    else:
        options = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
        pa_csv.write_csv(table, path, write_options=options)
    return path
