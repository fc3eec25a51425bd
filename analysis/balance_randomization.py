"""Joint balance of the randomized arms, tested by re-running the randomization.

The question of a balance table's last row: do the baseline covariates, taken together, differ
between the arms by more than the randomization itself would produce? A regression F test with
robust standard errors answers it badly when covariates are rare dummies (4 officers of one
category): its reference distribution is wrong, and it rejects far more often than its level.
Here the reference distribution is the randomization's own: assignment is re-drawn within the
actual blocks, each block keeping its number of treated officers, and the statistic recomputed.

Statistic (Hansen & Bowers 2008, "Covariate balance in simple, stratified and clustered
comparative studies", Statistical Science 23(2)): with x~ the covariates centred within their
block, d = sum over treated officers of x~ (the block-stratified treated-minus-expected sums);
under within-block randomization E[d] = 0 and

    Cov(d) = V = sum over blocks b of m_b (n_b - m_b) / (n_b (n_b - 1)) x~_b' x~_b

(n_b officers, m_b treated). The statistic is d' V^+ d (V^+ the pseudo-inverse: collinear or
constant covariates, such as the last level of a categorical, drop out, and `df` is the rank of
V). Its large-sample distribution is chi-square(df), reported as `p_value_chi2`; the test's
p-value is the randomization one, (1 + #{T_perm >= T_obs}) / (1 + n_permutations), valid for
any number of permutations and any covariates, rare dummies included.

Missing covariates (an officer without pre-period months has no pre-period rate): the value is
set to the covariate's mean and an indicator of missingness is added as a covariate, so no
officer is dropped; both are baseline facts, so the test stays exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from analysis.balance import officer_covariates
from analysis.randomization import block_permutations

DEFAULT_BALANCE_PERMUTATIONS = 2000


@dataclass(frozen=True)
class RandomizationBalanceTest:
    """The omnibus balance statistic and its randomization p-value."""

    statistic: float
    p_value: float
    n_permutations: int
    df: int
    p_value_chi2: float
    n_officers: int
    n_blocks: int
    covariates: tuple[str, ...]
    imputed: tuple[str, ...]  # covariates with missing values: mean-imputed plus an indicator

    def to_dict(self) -> dict:
        record = asdict(self)
        record["covariates"] = list(self.covariates)
        record["imputed"] = list(self.imputed)
        return record


def randomization_balance_test(
    covariates: pd.DataFrame,
    names: Sequence[str],
    *,
    treated: str = "treated_arm",
    block: str = "block",
    n_permutations: int = DEFAULT_BALANCE_PERMUTATIONS,
    seed: int = 0,
) -> RandomizationBalanceTest:
    """The joint balance test of `names` (module docstring).

    `covariates` has one row per randomized officer with the 0/1 `treated` column and the
    `block` column, as `analysis.balance.officer_covariates` returns it.
    """
    arms = pd.to_numeric(covariates[treated], errors="coerce")
    frame = covariates[arms.notna()]
    treated_arm = arms[arms.notna()].to_numpy(float)
    blocks = frame[block].astype("string").fillna("(none)").to_numpy()
    values, imputed = _imputed_covariates(frame, names)
    centred = _centred_within_blocks(values, blocks)
    precision, df = _precision(centred, treated_arm, blocks)
    observed = float(balance_statistics(treated_arm[None, :], centred, precision)[0])
    permuted = balance_statistics(
        block_permutations(treated_arm, blocks, n_permutations, seed), centred, precision
    )
    extreme = int((permuted >= observed - 1e-9 * max(1.0, abs(observed))).sum())
    return RandomizationBalanceTest(
        statistic=observed,
        p_value=(1.0 + extreme) / (1.0 + n_permutations),
        n_permutations=int(n_permutations),
        df=df,
        p_value_chi2=float(stats.chi2.sf(observed, df)) if df > 0 else math.nan,
        n_officers=len(treated_arm),
        n_blocks=int(pd.Series(blocks).nunique()),
        covariates=tuple(values.columns),
        imputed=tuple(imputed),
    )


def balance_statistics(arms: np.ndarray, centred: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """d' V^+ d for every row of `arms` (assignments x officers), all at once."""
    sums = arms @ centred
    return np.einsum("ij,jk,ik->i", sums, precision, sums)


def _imputed_covariates(frame: pd.DataFrame, names: Sequence[str]) -> tuple[pd.DataFrame, list]:
    values = frame[list(names)].apply(pd.to_numeric, errors="coerce").astype(float)
    imputed = [name for name in names if values[name].isna().any()]
    for name in imputed:
        missing = values[name].isna()
        if missing.all():
            values = values.drop(columns=name)
            continue
        values[name] = values[name].fillna(values[name].mean())
        values[f"{name}_missing"] = missing.astype(float)
    return values.reset_index(drop=True), imputed


def _centred_within_blocks(values: pd.DataFrame, blocks: np.ndarray) -> np.ndarray:
    block_means = values.groupby(blocks).transform("mean")
    return (values - block_means).to_numpy(float)


def _precision(
    centred: np.ndarray, treated_arm: np.ndarray, blocks: np.ndarray
) -> tuple[np.ndarray, int]:
    """V^+ and the rank of V (module docstring)."""
    covariance = np.zeros((centred.shape[1], centred.shape[1]))
    for name in pd.unique(blocks):
        members = blocks == name
        n_block, n_treated = int(members.sum()), float(treated_arm[members].sum())
        if n_block < 2:
            continue  # a block of one officer was not randomized against anyone
        weight = n_treated * (n_block - n_treated) / (n_block * (n_block - 1.0))
        covariance += weight * centred[members].T @ centred[members]
    scale = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    scale[scale == 0] = 1.0
    # scaled to unit diagonal so that the rank cut treats every covariate alike
    correlation = covariance / np.outer(scale, scale)
    eigenvalues, eigenvectors = np.linalg.eigh(correlation)
    kept = eigenvalues > 1e-9 * max(eigenvalues.max(), 1e-300)
    inverse = (eigenvectors[:, kept] / eigenvalues[kept]) @ eigenvectors[:, kept].T
    return inverse / np.outer(scale, scale), int(kept.sum())


def roster_balance_test(
    officers: pd.DataFrame,
    officer_months: pd.DataFrame,
    *,
    arm: str = "arm",
    block: str = "block_id",
    trial_start: date | None = None,
    pre_months: int = 12,
    n_permutations: int = DEFAULT_BALANCE_PERMUTATIONS,
    seed: int = 0,
) -> RandomizationBalanceTest:
    """`randomization_balance_test` of the balance table's officer and pre-period covariates
    (`analysis.balance.officer_covariates`; the SSO pre-period means are left out: many
    officers have no pre-period clip)."""
    covariates, groups = officer_covariates(
        officers,
        officer_months,
        arm=arm,
        block=block,
        trial_start=trial_start,
        pre_months=pre_months,
    )
    names = [name for name, group in groups.items() if group != "sso"]
    return randomization_balance_test(covariates, names, n_permutations=n_permutations, seed=seed)
