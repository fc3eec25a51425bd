"""The frames and conditions an expectation may name: ``frame:`` validates a frame derived from
the mart (``DERIVED_FRAMES``), ``only_if:`` evaluates only when the warehouse meets a condition
(``CONDITIONS``, on the raw tables' row counts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd


def _assigned_officers(dim_officers: pd.DataFrame) -> pd.DataFrame:
    """Officers with a trial arm."""
    return dim_officers[dim_officers["arm"].notna()].reset_index(drop=True)


def _arm_balance(dim_officers: pd.DataFrame) -> pd.DataFrame:
    """Per department x trial: officers assigned, treated, and the share treated."""
    assigned = _assigned_officers(dim_officers)
    columns = ["department_id", "trial_id", "n_assigned", "n_treatment", "share_treatment"]
    if assigned.empty:
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in columns}).astype(
            {"department_id": "object", "trial_id": "object"}
        )
    assigned = assigned.assign(
        trial_id=assigned["trial_id"].fillna("(no trial)"),
        is_treatment=(assigned["arm"] == "treatment").astype(int),
    )
    balance = (
        assigned.groupby(["department_id", "trial_id"], dropna=False)
        .agg(n_assigned=("officer_id", "size"), n_treatment=("is_treatment", "sum"))
        .reset_index()
    )
    balance["share_treatment"] = balance["n_treatment"] / balance["n_assigned"]
    return balance[columns]


def _trial_officers(dim_officers: pd.DataFrame) -> pd.DataFrame:
    """Officers in a trial or roll-out (an arm or a cohort): the officers analyses estimate on."""
    in_trial = dim_officers["trial_id"].notna() if "trial_id" in dim_officers else False
    return dim_officers[in_trial].reset_index(drop=True)


def _officers_outside_trials(dim_officers: pd.DataFrame) -> pd.DataFrame:
    """Officers on the roster but in no trial or roll-out: no estimate uses them."""
    in_trial = dim_officers["trial_id"].notna() if "trial_id" in dim_officers else False
    return dim_officers[~in_trial].reset_index(drop=True)


DERIVED_FRAMES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "assigned_officers": _assigned_officers,
    "arm_balance": _arm_balance,
    "trial_officers": _trial_officers,
    "officers_outside_trials": _officers_outside_trials,
}


def _sso_delivered(raw_rows: Mapping[str, int]) -> bool:
    return raw_rows.get("sso_codings", 0) > 0


# Conditions read only the raw tables' row counts: their outcomes are known before the marts are
# read, and are part of a mart's checks version (gate/months.py).
CONDITIONS: dict[str, Callable[[Mapping[str, int]], bool]] = {
    "sso_delivered": _sso_delivered,
}
