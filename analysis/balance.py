"""Baseline balance of the randomized arms: the first table of a trial report.

One row per baseline covariate of the officers (tenure, age, sex and race shares), of their
pre-period officer-months (calls attended, force reports and complaints per officer-month, over
the `pre_months` months before the treatment arm's training) and, if encounters are given, of
their pre-period SSO codes (each officer's mean over the pre-period encounters; officers without
one are left out of that row).

Per covariate: n, mean and SD by arm, the standardized mean difference
(treatment - control) / sqrt((sd_t^2 + sd_c^2) / 2), and the p-value of the arm coefficient in a
regression of the covariate on the arm with randomization-block fixed effects (assignment is
random within blocks), heteroskedasticity-robust (HC2) standard errors. The last row is a joint
test: the F-test that no covariate predicts the arm (linear regression of the arm indicator on
all officer and pre-period covariates plus block fixed effects, HC2 covariance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis.inference import treatment_indicator
from analysis.marts import study_dates

OFFICER_NUMERIC = ("tenure_years_at_assignment", "age_at_assignment")
OFFICER_CATEGORICAL = ("sex", "race")
PRE_PERIOD_RATES = {
    "calls_attended": "calls_per_month_pre",
    "force_reports": "force_reports_per_officer_month_pre",
    "complaints": "complaints_per_officer_month_pre",
}
BALANCE_COLUMNS = [
    "covariate",
    "group",
    "n_treatment",
    "mean_treatment",
    "sd_treatment",
    "n_control",
    "mean_control",
    "sd_control",
    "smd",
    "p_value",
]


@dataclass(frozen=True)
class JointBalanceTest:
    """The F-test that the covariates jointly predict assignment (they should not)."""

    statistic: float
    df_num: int
    df_denom: int
    p_value: float
    n_officers: int
    covariates: tuple[str, ...]


def balance_table(
    officers: pd.DataFrame,
    officer_months: pd.DataFrame,
    arm: str = "arm",
    *,
    block: str = "block_id",
    encounters: pd.DataFrame | None = None,
    items: Sequence[str] = (),
    trial_start: date | None = None,
    pre_months: int = 12,
) -> pd.DataFrame:
    """The balance table (columns `BALANCE_COLUMNS`), one row per covariate plus a joint test."""
    covariates, groups = officer_covariates(
        officers,
        officer_months,
        arm=arm,
        block=block,
        encounters=encounters,
        items=items,
        trial_start=trial_start,
        pre_months=pre_months,
    )
    rows = [_covariate_row(covariates, name, groups[name]) for name in groups]
    joint = joint_balance_test(covariates, [n for n, g in groups.items() if g != "sso"])
    treated = covariates["treated_arm"] == 1
    rows.append(
        {
            "covariate": "joint F-test: arm on all officer and pre-period covariates",
            "group": "joint",
            "n_treatment": int(treated.sum()),
            "n_control": int((~treated).sum()),
            "p_value": joint.p_value,
        }
    )
    return pd.DataFrame(rows, columns=BALANCE_COLUMNS)


def officer_covariates(
    officers: pd.DataFrame,
    officer_months: pd.DataFrame,
    *,
    arm: str = "arm",
    block: str = "block_id",
    officer: str = "officer_id",
    month: str = "month_start",
    encounters: pd.DataFrame | None = None,
    items: Sequence[str] = (),
    trial_start: date | None = None,
    pre_months: int = 12,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per randomized officer: `treated_arm`, `block` and the baseline covariates, and
    covariate -> group ("officer", "pre-period", "sso") in table order."""
    in_trial = officers[arm].isin(["treatment", "control"])
    frame = pd.DataFrame(
        {
            "treated_arm": treatment_indicator(officers.loc[in_trial, arm]).to_numpy(),
            "block": (
                officers.loc[in_trial, block].astype("string").fillna("none").to_numpy()
                if block in officers.columns
                else "none"
            ),
        },
        index=pd.Index(officers.loc[in_trial, officer].to_numpy(), name=officer),
    )
    groups: dict[str, str] = {}
    for name in OFFICER_NUMERIC:
        if name in officers.columns:
            frame[name] = pd.to_numeric(officers.loc[in_trial, name], errors="coerce").to_numpy()
            groups[name] = "officer"
    for name in OFFICER_CATEGORICAL:
        if name in officers.columns:
            values = officers.loc[in_trial, name].astype("string").fillna("unknown")
            for level in sorted(values.unique()):
                share = f"{name}_{level}"
                frame[share] = (values == level).astype(float).to_numpy()
                groups[share] = "officer"

    if trial_start is None:
        trial_start = (
            study_dates(officers).trial_start_on
            if "cohort_on" in officers.columns
            else study_dates(officer_months, cohort="cohort_month").trial_start_on
        )
    trial_month = pd.Timestamp(trial_start).to_period("M").to_timestamp()
    month_start = pd.to_datetime(officer_months[month])
    is_pre = (month_start >= trial_month - pd.DateOffset(months=pre_months)) & (
        month_start < trial_month
    )
    if "is_active" in officer_months.columns:
        is_pre &= officer_months["is_active"].fillna(False).astype(bool)
    pre_months_frame = officer_months[is_pre]
    for column, name in PRE_PERIOD_RATES.items():
        if column in officer_months.columns:
            per_officer = pre_months_frame.groupby(officer)[column].mean()
            frame[name] = per_officer.reindex(frame.index).to_numpy()
            groups[name] = "pre-period"

    if encounters is not None and items:
        pre_encounters = encounters[encounters["study_period"] == "pre"]
        for item in items:
            per_officer = pd.to_numeric(pre_encounters[item], errors="coerce").groupby(
                pre_encounters[officer]
            )
            name = f"{item}_pre_mean"
            frame[name] = per_officer.mean().reindex(frame.index).to_numpy()
            groups[name] = "sso"
    return frame, groups


def joint_balance_test(covariates: pd.DataFrame, names: Sequence[str]) -> JointBalanceTest:
    """F-test of all `names` in a linear regression of `treated_arm` on them + block effects.

    Officers with a missing covariate are left out; covariates without variation and one level
    of each categorical (the shares add up to one) are dropped to keep the design full rank.
    """
    complete = covariates.dropna(subset=list(names))
    kept: list[str] = []
    for prefix in OFFICER_CATEGORICAL:
        levels = [n for n in names if n.startswith(prefix + "_")]
        if levels:
            reference = max(levels, key=lambda n: complete[n].sum())
            kept += [n for n in levels if n != reference]
    kept = [n for n in names if n in kept or not n.startswith(OFFICER_CATEGORICAL)]
    kept = [n for n in kept if complete[n].std(ddof=0) > 0]
    blocks = pd.get_dummies(complete["block"], prefix="block", drop_first=True, dtype=float)
    design = pd.concat([pd.Series(1.0, index=complete.index, name="const"), blocks], axis=1)
    design = pd.concat([design, complete[kept]], axis=1)
    fit = sm.OLS(complete["treated_arm"], design).fit(cov_type="HC2")
    restriction = np.zeros((len(kept), design.shape[1]))
    for row, name in enumerate(kept):
        restriction[row, design.columns.get_loc(name)] = 1.0
    test = fit.wald_test(restriction, use_f=True, scalar=True)
    return JointBalanceTest(
        statistic=float(test.statistic),
        df_num=int(test.df_num),
        df_denom=int(test.df_denom),
        p_value=float(test.pvalue),
        n_officers=len(complete),
        covariates=tuple(kept),
    )


def standardized_mean_difference(treatment: pd.Series, control: pd.Series) -> float:
    pooled_sd = np.sqrt((treatment.var(ddof=1) + control.var(ddof=1)) / 2.0)
    if not pooled_sd > 0:
        return float("nan")
    return float((treatment.mean() - control.mean()) / pooled_sd)


def _covariate_row(covariates: pd.DataFrame, name: str, group: str) -> dict:
    observed = covariates[["treated_arm", "block", name]].dropna()
    treatment = observed.loc[observed["treated_arm"] == 1, name]
    control = observed.loc[observed["treated_arm"] == 0, name]
    return {
        "covariate": name,
        "group": group,
        "n_treatment": len(treatment),
        "mean_treatment": treatment.mean(),
        "sd_treatment": treatment.std(ddof=1),
        "n_control": len(control),
        "mean_control": control.mean(),
        "sd_control": control.std(ddof=1),
        "smd": standardized_mean_difference(treatment, control),
        "p_value": _arm_p_value(observed, name),
    }


def _arm_p_value(observed: pd.DataFrame, name: str) -> float:
    """p-value of the arm in covariate ~ arm + block fixed effects (HC2)."""
    if observed[name].std(ddof=0) == 0 or observed["treated_arm"].nunique() < 2:
        return float("nan")
    blocks = pd.get_dummies(observed["block"], prefix="block", drop_first=True, dtype=float)
    design = pd.concat(
        [pd.Series(1.0, index=observed.index, name="const"), observed["treated_arm"], blocks],
        axis=1,
    )
    fit = sm.OLS(observed[name], design).fit(cov_type="HC2")
    return float(fit.pvalues["treated_arm"])
