"""Fisher randomization tests of the primary (post-period ANCOVA) ITT estimates.

The sharp null: assignment changed nobody's outcome. Under it the outcomes are fixed, and a
statistic built from them and from baseline facts only changes with the assignment, which is
re-drawn within the actual blocks (each block keeps its number of treated officers; the officer
is the unit permuted, `analysis.randomization.block_permutations`). Covariance adjustment
enters the way Rosenbaum (2002, "Covariance adjustment in randomized experiments and
observational studies", Statistical Science 17(3)) proposes: the outcome is first predicted
from the baseline regressors without the arm, and the statistic compares the arms' residuals,
so the test keeps the ANCOVA's precision and stays exact.

* SSO items (`ancova_permutation_test`): OLS of the post-period encounter's item on block
  dummies, the officer's pre-period mean and its missing indicator (the regressors of
  `analysis.ancova`); statistic = mean residual of the treatment arm's encounters minus the
  control arm's.
* Force, complaints (`force_ancova_permutation_test`): Poisson fit of the post-period
  officer-month counts on block and month effects and the officer's pre-period rate (the
  regressors of `analysis.force_ancova`, without the arm); statistic = log(observed / expected
  events) of the treatment arm minus that of the control arm: the ANCOVA's log rate ratio,
  standardized by the model's expectations. A re-randomization that leaves an arm without
  events has no statistic; it counts as extreme (`conservative_fisher_test`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from analysis.ancova_data import design_frame, post_frame
from analysis.force_ancova import design_frame as force_design_frame
from analysis.force_ancova import post_period_panel
from analysis.randomization import (
    DEFAULT_PERMUTATIONS,
    FisherTest,
    assignment_of,
    conservative_fisher_test,
    observed_and_permuted_arms,
)


def ancova_permutation_test(
    encounters: pd.DataFrame,
    *,
    outcome: str,
    kind: str,
    officers: pd.DataFrame | None = None,
    officer: str = "officer_id",
    arm: str = "arm",
    block: str = "block_id",
    period: str = "study_period",
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> FisherTest:
    """Fisher test of the sharp null for one SSO item's post-period ANCOVA (module docstring).

    `officers` (dim_officers) gives the randomized officers and their blocks; without it they
    are taken from `encounters`.
    """
    ids, treated, blocks = assignment_of(
        officers if officers is not None else encounters, officer, arm, block
    )
    data, _, _ = post_frame(encounters, outcome, kind, officer, arm, period, block)
    data = data[data["cluster"].astype(str).isin(ids)].reset_index(drop=True)
    baseline = design_frame(data).drop(columns="treated_arm")
    x, y = baseline.to_numpy(float), data["y"].to_numpy(float)
    residual = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
    position = ids.get_indexer(data["cluster"].astype(str))
    sums = np.bincount(position, weights=residual, minlength=len(ids))
    counts = np.bincount(position, minlength=len(ids)).astype(float)
    arms = observed_and_permuted_arms(treated, blocks, n_permutations, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = (arms @ sums) / (arms @ counts) - ((1 - arms) @ sums) / ((1 - arms) @ counts)
    return conservative_fisher_test(float(statistic[0]), statistic[1:])


def force_ancova_permutation_test(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    exposure: str | None = None,
    officers: pd.DataFrame | None = None,
    officer: str = "officer_id",
    arm: str = "arm",
    block: str = "block_id",
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    **window,
) -> FisherTest:
    """Fisher test of the sharp null for the force (complaints) Poisson ANCOVA (the window as
    `analysis.force_ancova.force_ancova_effect`'s: `window` takes the month, active,
    trial_start, control_start and pre_months of `analysis.force_window.window_panel`)."""
    post, _, _, _ = post_period_panel(
        officer_months, outcome, exposure=exposure, block=block, cluster=officer, arm=arm, **window
    )
    assigned = officers if officers is not None else officer_months
    ids, treated, blocks = assignment_of(assigned, officer, arm, block)
    post = post[post["cluster"].astype(str).isin(ids)].reset_index(drop=True)
    expected = _expected_events(post)
    position = ids.get_indexer(post["cluster"].astype(str))
    events = np.bincount(position, weights=post["y"].to_numpy(float), minlength=len(ids))
    expectation = np.bincount(position, weights=expected, minlength=len(ids))
    arms = observed_and_permuted_arms(treated, blocks, n_permutations, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.log((arms @ events) / (arms @ expectation)) - np.log(
            ((1 - arms) @ events) / ((1 - arms) @ expectation)
        )
    statistic = np.where(np.isfinite(statistic), statistic, np.nan)
    return conservative_fisher_test(float(statistic[0]), statistic[1:])


def _expected_events(post: pd.DataFrame) -> np.ndarray:
    """The Poisson fit's expected count of every post-period officer-month, without the arm.
    Blocks and months without events expect none (their effect's estimate is minus infinity)."""
    with_events = (post.groupby("block")["y"].transform("sum") > 0) & (
        post.groupby("month")["y"].transform("sum") > 0
    )
    expected = np.zeros(len(post))
    fitted = post[with_events]
    if fitted["y"].sum() > 0:
        design = force_design_frame(fitted).drop(columns="treated_arm")
        offset = np.log(fitted["exposure"].to_numpy(float))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.GLM(fitted["y"], design, family=sm.families.Poisson(), offset=offset).fit()
        expected[with_events.to_numpy()] = np.asarray(fit.mu, float)
    return expected
