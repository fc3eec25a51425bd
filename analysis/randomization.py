"""Randomization (permutation) inference for the intent-to-treat estimates.

Fisher's exact test of the sharp null that training changed nobody's outcome: under it the
outcomes are fixed and only the assignment is random, so re-running the randomization (arm
re-drawn within the actual blocks `block_id`, keeping each block's number of treated officers;
the officer is the unit permuted) gives the statistic's distribution. The p-value is
(1 + #{|T_perm| >= |T_obs|}) / (1 + n_permutations), which is valid for any number of
permutations; its Monte Carlo error is about sqrt(p (1 - p) / n_permutations).

Statistics (the estimators' point estimates, recomputed for every permutation):

* encounters: the difference in differences of the arm x period cell means (binary, rating:
  the saturated logit's and the OLS estimate are exactly this, up to the rating's pooled
  pre-period SD which permutation does not change) or of their logs (count: the Poisson rate
  ratio);
* officer-months: the Poisson-with-month-FE log rate ratio of `force_effect`, from the arm x
  month cells (analysis/force_cells.py `arm_log_ratios`).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pandas as pd

from analysis.force_cells import arm_log_ratios
from analysis.force_window import window_panel
from analysis.inference import treatment_indicator
from analysis.memo import memoized
from analysis.results import Effect

DEFAULT_PERMUTATIONS = 500


def block_permutations(
    treated_arm: np.ndarray, blocks: np.ndarray, n_permutations: int, seed: int
) -> np.ndarray:
    """(n_permutations, n_officers) re-randomized 0/1 arms: within every block the observed
    arm labels are shuffled, so each block keeps its number of treated officers.

    The result is read-only and shared between calls with equal arguments: every estimate of a
    department re-randomizes the same officers with the same seed (a dozen items, two counts).
    """
    treated_arm = np.asarray(treated_arm, float)
    codes, _ = pd.factorize(pd.Series(blocks).astype("string").fillna("(none)"))
    return _block_permutations(
        treated_arm.tobytes(), codes.astype(np.int64).tobytes(), int(n_permutations), int(seed)
    )


@functools.lru_cache(maxsize=2)  # an entry is n_permutations x n_officers floats
def _block_permutations(
    treated_bytes: bytes, code_bytes: bytes, n_permutations: int, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    treated_arm = np.frombuffer(treated_bytes, float)
    codes = np.frombuffer(code_bytes, np.int64)
    # one random key per officer and permutation; sorting within a block shuffles its labels
    keys = rng.random((n_permutations, len(treated_arm)))
    order = np.lexsort((keys, np.broadcast_to(codes, keys.shape)), axis=-1)
    # officers grouped by block in `order`, labels grouped by block in the same block order
    labels = treated_arm[np.argsort(codes, kind="stable")]
    permuted = np.empty_like(keys)
    np.put_along_axis(permuted, order, np.broadcast_to(labels, keys.shape), axis=1)
    permuted.flags.writeable = False  # shared by every caller
    return permuted


def observed_and_permuted_arms(
    treated_arm: np.ndarray, blocks: np.ndarray, n_permutations: int, seed: int
) -> np.ndarray:
    """(1 + n_permutations, n_officers) 0/1 arms: the observed assignment in the first row, the
    `block_permutations` below it, so a statistic computed row by row gives the observed value
    and its randomization distribution at once."""
    return np.vstack(
        [treated_arm[None, :], block_permutations(treated_arm, blocks, n_permutations, seed)]
    )


def fisher_p_value(observed: float, permuted: np.ndarray) -> float:
    """Two-sided permutation p-value; permutations whose statistic is undefined count as not
    extreme."""
    extreme = np.nan_to_num(np.abs(permuted) >= abs(observed) - 1e-12, nan=0.0)
    return float((1.0 + extreme.sum()) / (1.0 + len(permuted)))


def with_fisher_p_value(effect: Effect, p_value: float, n_permutations: int) -> Effect:
    """The effect with `fisher_p_value` and `n_permutations` in its extras."""
    extras = {**effect.extras, "fisher_p_value": p_value, "n_permutations": n_permutations}
    notes = effect.notes + (
        f"Fisher p-value: {n_permutations} re-randomizations of arm within blocks (officers)",
    )
    return dataclasses.replace(effect, extras=extras, notes=notes)


def assignment_of(
    officers: pd.DataFrame, officer: str, arm: str, block: str
) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    frame = officers[[officer, arm] + ([block] if block in officers.columns else [])]
    frame = frame.drop_duplicates(officer)
    treated = treatment_indicator(frame[arm])
    frame = frame[treated.notna()]
    blocks = frame[block].to_numpy() if block in frame.columns else np.zeros(len(frame))
    return (
        pd.Index(frame[officer].astype(str)),
        treatment_indicator(frame[arm]).to_numpy(),
        blocks,
    )


@memoized
def encounter_permutation_test(
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
) -> tuple[float, float, np.ndarray]:
    """(observed statistic, Fisher p-value, permuted statistics) of one SSO item's DiD.

    `officers` (dim_officers) gives the randomized officers and their blocks; without it they
    are taken from `encounters` (then officers without coded encounters are not permuted, a
    slightly different but still valid randomization distribution).
    """
    ids, treated, blocks = assignment_of(
        officers if officers is not None else encounters, officer, arm, block
    )
    y = pd.to_numeric(encounters[outcome], errors="coerce")
    post = encounters[period].astype("object").map({"pre": 0, "post": 1})
    keep = y.notna() & post.notna() & encounters[officer].astype(str).isin(ids)
    position = ids.get_indexer(encounters.loc[keep, officer].astype(str))
    y, post = y[keep].to_numpy(float), post[keep].to_numpy(int)
    sums = np.zeros((len(ids), 2))
    counts = np.zeros((len(ids), 2))
    np.add.at(sums, (position, post), y)
    np.add.at(counts, (position, post), 1.0)
    arms = observed_and_permuted_arms(treated, blocks, n_permutations, seed)
    statistic = _cell_did(arms, sums, counts, log=kind == "count")
    return float(statistic[0]), fisher_p_value(statistic[0], statistic[1:]), statistic[1:]


def _cell_did(arms: np.ndarray, sums: np.ndarray, counts: np.ndarray, *, log: bool) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        treated_mean = (arms @ sums) / (arms @ counts)
        control_mean = ((1 - arms) @ sums) / ((1 - arms) @ counts)
        if log:
            treated_mean, control_mean = np.log(treated_mean), np.log(control_mean)
        did = (treated_mean[:, 1] - treated_mean[:, 0]) - (control_mean[:, 1] - control_mean[:, 0])
    return np.where(np.isfinite(did), did, np.nan)


def force_permutation_test(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    exposure: str | None = "calls_attended",
    officers: pd.DataFrame | None = None,
    officer: str = "officer_id",
    arm: str = "arm",
    block: str = "block_id",
    month: str = "month_start",
    active: str | None = "is_active",
    pre_months: int = 12,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> tuple[float, float, np.ndarray]:
    """(observed log rate ratio, Fisher p-value, permuted log rate ratios) of `force_effect`."""
    data, _, _ = window_panel(
        officer_months,
        outcome,
        exposure=exposure,
        cluster=officer,
        arm=arm,
        month=month,
        active=active,
        pre_months=pre_months,
    )
    assigned = officers if officers is not None else officer_months
    # only what `assignment_of` reads: the memo key must not change with other columns
    assigned = assigned[[c for c in (officer, arm, block) if c in assigned.columns]]
    return _force_permutations(data, assigned, officer, arm, block, n_permutations, seed)


@memoized  # the window's panel, not all officer-months: later months leave the test alone
def _force_permutations(
    data: pd.DataFrame,
    assigned: pd.DataFrame,
    officer: str,
    arm: str,
    block: str,
    n_permutations: int,
    seed: int,
) -> tuple[float, float, np.ndarray]:
    ids, treated, blocks = assignment_of(assigned, officer, arm, block)
    data = data[data["cluster"].astype(str).isin(ids)]
    month_index, month_names = pd.factorize(data["month"], sort=True)
    position = ids.get_indexer(data["cluster"].astype(str))
    events = np.zeros((len(ids), len(month_names)))
    exposure_matrix = np.zeros_like(events)
    np.add.at(events, (position, month_index), data["y"].to_numpy(float))
    np.add.at(exposure_matrix, (position, month_index), data["exposure"].to_numpy(float))
    is_post = data.groupby("month")["post"].first().reindex(month_names).to_numpy() > 0
    arms = observed_and_permuted_arms(treated, blocks, n_permutations, seed)
    y1, e1 = arms @ events, arms @ exposure_matrix
    y0, e0 = events.sum(axis=0) - y1, exposure_matrix.sum(axis=0) - e1
    theta, estimable = arm_log_ratios(y0, y1, e0, e1, is_post)
    statistic = np.where(estimable, theta[:, 1] - theta[:, 0], np.nan)
    observed = float(statistic[0])
    if not math.isfinite(observed):
        return math.nan, math.nan, statistic[1:]
    return observed, fisher_p_value(observed, statistic[1:]), statistic[1:]


@dataclasses.dataclass(frozen=True)
class FisherTest:
    """A Fisher randomization test whose undefined draws count against the null's rejection."""

    statistic: float
    p_value: float
    n_permutations: int
    n_undefined: int  # re-randomizations whose statistic could not be computed


def conservative_fisher_test(observed: float, permuted: np.ndarray) -> FisherTest:
    """Two-sided permutation p-value in which a permutation whose statistic is undefined (NaN:
    a fit that fails, an arm without events) counts as extreme: the p-value can only be too
    large, never too small, whatever made the draw undefined. An undefined observed statistic
    gives a NaN p-value."""
    permuted = np.asarray(permuted, float)
    undefined = ~np.isfinite(permuted)
    if not math.isfinite(observed):
        return FisherTest(math.nan, math.nan, len(permuted), int(undefined.sum()))
    extreme = undefined | (np.abs(np.where(undefined, 0.0, permuted)) >= abs(observed) - 1e-12)
    return FisherTest(
        statistic=float(observed),
        p_value=float((1.0 + extreme.sum()) / (1.0 + len(permuted))),
        n_permutations=len(permuted),
        n_undefined=int(undefined.sum()),
    )


def with_fisher_test(effect: Effect, test: FisherTest) -> Effect:
    """The effect with `fisher_p_value`, `n_permutations` and `n_permutations_undefined` in its
    extras, and a note saying how the undefined draws were counted."""
    extras = {
        **effect.extras,
        "fisher_p_value": test.p_value,
        "n_permutations": test.n_permutations,
        "n_permutations_undefined": test.n_undefined,
    }
    note = (
        f"Fisher p-value: {test.n_permutations} re-randomizations of arm within blocks "
        f"(officers); {test.n_undefined} with an undefined statistic, counted as extreme"
    )
    return dataclasses.replace(effect, extras=extras, notes=effect.notes + (note,))
