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
