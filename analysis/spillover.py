"""How much the control arm worked beside trained officers: the room for spillover.

The ITT compares officers, but officers attend calls together. A control officer who shares
scenes with trained officers may pick up what they do (or be spared the situations they
de-escalate), which pulls the control arm towards the treatment arm and the ITT towards zero.
The first thing a referee asks is how often that could have happened: the share of the control
officers' post-period calls that a treatment-arm officer also attended.

Input: call x officer rows (`call_officers`: call_id, officer_id, arrived_at) and the officers'
arms. Output: the share over all the control arm's post-period attendances, its distribution
over control officers, and for comparison the same share for treatment-arm officers (how often
they worked beside another treatment-arm officer), which is what sharing at random would give.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd

from analysis.inference import CONTROL_ARM, TREATMENT_ARM


@dataclass(frozen=True)
class SpilloverExposure:
    """Shares of post-period call attendances shared with a treatment-arm officer."""

    share_control_with_treated: float  # over the control arm's attendances
    share_treatment_with_other_treated: float  # same for the treatment arm (another officer)
    control_officer_share_median: float
    control_officer_share_p90: float
    n_control_officers: int
    n_control_attendances: int
    window_start: str
    window_end: str

    def to_dict(self) -> dict:
        return asdict(self)


def spillover_exposure(
    call_officers: pd.DataFrame,
    officers: pd.DataFrame,
    *,
    start: date,
    end: date,
    call: str = "call_id",
    officer: str = "officer_id",
    arrived_at: str = "arrived_at",
    arm: str = "arm",
) -> SpilloverExposure:
    """The control arm's exposure to treatment-arm officers on shared calls between `start`
    (the treatment arm's training) and `end` (the day before the wait-list's), module
    docstring."""
    arms = officers.drop_duplicates(officer).set_index(officer)[arm].astype("object")
    arms.index = arms.index.astype(str)
    arrived = pd.to_datetime(call_officers[arrived_at])
    in_window = (arrived >= pd.Timestamp(start)) & (arrived < pd.Timestamp(end))
    rows = pd.DataFrame(
        {
            "call": call_officers.loc[in_window, call].astype(str).to_numpy(),
            "officer": call_officers.loc[in_window, officer].astype(str).to_numpy(),
        }
    ).drop_duplicates()
    rows["arm"] = rows["officer"].map(arms)
    rows = rows[rows["arm"].isin([TREATMENT_ARM, CONTROL_ARM])]
    is_treated = (rows["arm"] == TREATMENT_ARM).astype(int)
    treated_on_call = is_treated.groupby(rows["call"]).transform("sum")
    # treated officers on the call other than the row's own officer
    rows["with_treated"] = (treated_on_call - is_treated) > 0
    control = rows[rows["arm"] == CONTROL_ARM]
    treatment = rows[rows["arm"] == TREATMENT_ARM]
    per_officer = control.groupby("officer")["with_treated"].mean()
    return SpilloverExposure(
        share_control_with_treated=float(control["with_treated"].mean()),
        share_treatment_with_other_treated=float(treatment["with_treated"].mean()),
        control_officer_share_median=float(np.median(per_officer)) if len(per_officer) else 0.0,
        control_officer_share_p90=(
            float(np.quantile(per_officer, 0.9)) if len(per_officer) else 0.0
        ),
        n_control_officers=len(per_officer),
        n_control_attendances=len(control),
        window_start=str(pd.Timestamp(start).date()),
        window_end=str(pd.Timestamp(end).date()),
    )


# --- from the warehouse's aggregate (marts.fct_call_officers, summed in DuckDB) ------------------

# the columns of one row per officer x study period the warehouse layer aggregates
# (middlestep/warehouse/call_sharing.py): attendances, and those shared with another officer who
# was assigned to the treatment arm / trained before the call's day
SHARING_COLUMNS = (
    "officer_id",
    "arm",
    "study_period",
    "attendances",
    "with_treatment_arm",
    "with_trained",
)


@dataclass(frozen=True)
class SpilloverSummary:
    """The room for spillover in a wait-list trial, from call x officer rows aggregated per
    officer and period (module docstring): shares of attendances shared with another officer
    assigned to the treatment arm ('assigned') and with one trained by then ('trained')."""

    # the post period (the treatment arm trained, the wait-list not yet)
    share_control_with_assigned: float
    share_control_with_trained: float
    share_treatment_with_other_assigned: float
    control_officer_share_median: float  # per control officer, shared with a trained officer
    control_officer_share_p90: float
    n_control_officers: int
    n_control_attendances: int
    # the pre period (nobody trained): how much each control officer worked beside the
    # treatment arm before training, a baseline fact the low-exposure sensitivity splits on
    pre_share_control_with_assigned: float | None
    exposure_basis: str  # 'pre' or 'post': the period the low-exposure split was measured in
    low_exposure_threshold: float | None  # control officers at or below it are "low exposure"
    n_low_exposure_control_officers: int

    def to_dict(self) -> dict:
        return asdict(self)


def _share(numerator: pd.Series, denominator: pd.Series) -> float:
    total = float(denominator.sum())
    return float(numerator.sum()) / total if total else float("nan")


def spillover_summary(sharing: pd.DataFrame) -> SpilloverSummary:
    """The trial's spillover exposure from per officer x period counts (`SHARING_COLUMNS`)."""
    rows = sharing[sharing["arm"].isin([TREATMENT_ARM, CONTROL_ARM])]
    post = rows[rows["study_period"] == "post"]
    control = post[post["arm"] == CONTROL_ARM]
    treatment = post[post["arm"] == TREATMENT_ARM]
    attended = control[control["attendances"] > 0]
    per_officer = attended["with_trained"] / attended["attendances"]
    pre_control = rows[(rows["study_period"] == "pre") & (rows["arm"] == CONTROL_ARM)]
    exposure = low_exposure_split(sharing)
    return SpilloverSummary(
        share_control_with_assigned=_share(control["with_treatment_arm"], control["attendances"]),
        share_control_with_trained=_share(control["with_trained"], control["attendances"]),
        share_treatment_with_other_assigned=_share(
            treatment["with_treatment_arm"], treatment["attendances"]
        ),
        control_officer_share_median=float(np.median(per_officer)) if len(per_officer) else 0.0,
        control_officer_share_p90=(
            float(np.quantile(per_officer, 0.9)) if len(per_officer) else 0.0
        ),
        n_control_officers=int(attended["officer_id"].nunique()),
        n_control_attendances=int(control["attendances"].sum()),
        pre_share_control_with_assigned=(
            _share(pre_control["with_treatment_arm"], pre_control["attendances"])
            if pre_control["attendances"].sum() > 0
            else None
        ),
        exposure_basis=exposure.basis,
        low_exposure_threshold=exposure.threshold,
        n_low_exposure_control_officers=len(exposure.low_exposure_control),
    )


@dataclass(frozen=True)
class ExposureSplit:
    """Control officers at or below the median share of their calls shared with the treatment
    arm, measured before training where the data reaches back that far ('pre': a baseline fact,
    assignment had not changed anyone's conduct yet) and else in the post period ('post': a
    post-assignment quantity, which training itself may move)."""

    basis: str
    threshold: float | None
    low_exposure_control: frozenset[str]
    high_exposure_control: frozenset[str]


def low_exposure_split(sharing: pd.DataFrame) -> ExposureSplit:
    """Split the control arm at its median exposure (`ExposureSplit`). Control officers without
    an attendance in the basis period have no exposure and are in neither half."""
    control = sharing[sharing["arm"] == CONTROL_ARM]
    pre = control[(control["study_period"] == "pre") & (control["attendances"] > 0)]
    basis, rows, shared = "pre", pre, "with_treatment_arm"
    if pre.empty:
        post = control[(control["study_period"] == "post") & (control["attendances"] > 0)]
        basis, rows, shared = "post", post, "with_trained"
    if rows.empty:
        return ExposureSplit(basis, None, frozenset(), frozenset())
    share = (rows[shared] / rows["attendances"]).groupby(rows["officer_id"].astype(str)).mean()
    threshold = float(share.median())
    return ExposureSplit(
        basis,
        threshold,
        frozenset(share.index[share <= threshold]),
        frozenset(share.index[share > threshold]),
    )


def without_officers(
    frame: pd.DataFrame, officers: frozenset[str], officer: str = "officer_id"
) -> pd.DataFrame:
    """`frame` without the rows of `officers` (the high-exposure control officers of the
    sensitivity analysis), in the same row order."""
    return frame[~frame[officer].astype(str).isin(officers)].reset_index(drop=True)


def sharing_by_month(by_month: pd.DataFrame) -> pd.DataFrame:
    """Per calendar month and arm (columns month_start, arm, attendances, with_treatment_arm,
    with_trained): the shares of attendances shared with an assigned / a trained officer."""
    rows = by_month[by_month["arm"].isin([TREATMENT_ARM, CONTROL_ARM])].copy()
    attendances = rows["attendances"].where(rows["attendances"] > 0)
    rows["share_with_treatment_arm"] = rows["with_treatment_arm"] / attendances
    rows["share_with_trained"] = rows["with_trained"] / attendances
    return rows.sort_values(["month_start", "arm"]).reset_index(drop=True)
