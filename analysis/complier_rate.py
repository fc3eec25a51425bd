"""The effect of completing the training on compliers, as a rate ratio on the compliers' own base.

`analysis.compliance.complier_force_effect` turns its 2SLS rate difference into a ratio by
dividing by the control arm's post-period rate, taken as known. But the compliers' untreated
rate is neither the control arm's rate (which mixes compliers with never-takers) nor known. With
a binary instrument (assignment, Z) and a binary treatment (trained by the month, D), both of
the compliers' mean potential outcomes are identified (Imbens & Rubin 1997; Abadie 2003's kappa
weights give the same with no covariates):

    E[Y(1) | complier] = (E[Y D | Z=1] - E[Y D | Z=0]) / (E[D | Z=1] - E[D | Z=0])
    E[Y(0) | complier] = (E[Y (1-D) | Z=0] - E[Y (1-D) | Z=1]) / (E[D | Z=1] - E[D | Z=0])

Here on the post-period officer-months (treatment arm trained, wait-list not yet), with
exposure-weighted means: a "mean of Y" is events per unit of exposure (per officer-month by
default, per call with `exposure="calls_attended"`), a "mean of D" the share of exposure in
trained months. The complier rate ratio is E[Y(1) | c] / E[Y(0) | c]; its numerator minus its
denominator is the Wald (2SLS) rate difference. Blocks: every officer is weighted by the inverse
of their arm's share of their block (1:1 blocks make every weight 2), so blocks of unequal split
are not confounded with the arm.

Interval: an officer bootstrap stratified by block x arm (the randomization's strata), so the
base is re-estimated in every draw; percentile interval of the log ratio, SE from the draws' SD
of the log ratio (`std_error_log`). Draws in which the compliers' untreated or treated rate is
not positive have no ratio; they are counted (`n_bootstrap_undefined`) and a share above 1% is
flagged in the notes. Assumptions: exclusion (assignment changes force only through training),
monotonicity (no officer is trained because of being on the wait-list), random assignment.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.force_ancova import post_period_panel
from analysis.inference import wald_p_value
from analysis.results import Effect, with_rules_out_note

DEFAULT_BOOTSTRAP = 2000
SUMS = ("events", "events_trained", "exposure", "exposure_trained")


def complier_rate_ratio(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    exposure: str | None = None,
    trained: str = "is_trained",
    block: str = "block_id",
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    **window,
) -> Effect:
    """The compliers' rate ratio of `outcome` with its officer-bootstrap interval (module
    docstring). `window`: the columns and dates of the comparison window, as
    `analysis.force_window.window_panel` takes them (cluster, arm, month, active, trial_start,
    control_start, pre_months)."""
    post, _, _, _ = post_period_panel(
        officer_months, outcome, exposure=exposure, block=block, carry=[trained], **window
    )
    officers = _officer_sums(post, trained)
    weighted = officers[list(SUMS)].to_numpy(float) * officers["weight"].to_numpy()[:, None]
    is_treated = officers["treated_arm"].to_numpy() == 1
    point = _complier_means(
        weighted[is_treated].sum(axis=0)[None, :], weighted[~is_treated].sum(axis=0)[None, :]
    )
    draws = _bootstrap_means(officers, weighted, is_treated, n_bootstrap, seed)
    treated_rate, untreated_rate, first_stage = (float(v[0]) for v in point)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_draws = np.log(draws[0] / draws[1])
    defined = (draws[0] > 0) & (draws[1] > 0)
    n_undefined = int((~defined).sum())
    scale_words = f"per {exposure}" if exposure else "per officer-month"
    control = officers[~is_treated]
    control_rate = float(control["events"].sum() / control["exposure"].sum())
    notes = [
        f"complier effect of completing the training on {outcome} {scale_words}: the "
        "compliers' trained rate over their untreated rate (IV decomposition, Abadie's kappa "
        "without covariates), post-period officer-months, officers weighted by 1 / their "
        "arm's share of their block",
        f"interval: {n_bootstrap} officer bootstrap draws within block x arm (the base "
        "re-estimated in each), percentile on the log scale",
    ]
    if n_undefined > 0.01 * n_bootstrap:
        notes.append(f"{n_undefined} bootstrap draws had a complier rate <= 0: left out")
    positive = treated_rate > 0 and untreated_rate > 0
    estimate = treated_rate / untreated_rate if positive else math.nan
    if math.isfinite(estimate) and defined.sum() > 1:
        log_se = float(np.std(log_draws[defined], ddof=1))
        low, high = np.exp(np.quantile(log_draws[defined], [0.025, 0.975]))
        p_value = wald_p_value(math.log(estimate), log_se)
    else:
        log_se = low = high = p_value = math.nan
        notes.append("a complier rate is not positive: no ratio")
    effect = Effect(
        outcome=outcome,
        estimator=f"complier rate ratio on the compliers' untreated base, {scale_words}",
        estimate=float(estimate),
        std_error=float(estimate * log_se),
        ci_low=float(low),
        ci_high=float(high),
        p_value=float(p_value),
        n_units=len(officers),
        n_obs=len(post),
        scale="rate_ratio",
        extras={
            "complier_rate_trained": treated_rate,
            "complier_rate_untreated": untreated_rate,
            "complier_rate_difference": treated_rate - untreated_rate,
            "first_stage": first_stage,
            "control_post_rate": control_rate,
            "rate_ratio_on_control_base": 1.0 + (treated_rate - untreated_rate) / control_rate,
            "std_error_log": log_se,
            "n_bootstrap": n_bootstrap,
            "n_bootstrap_undefined": n_undefined,
        },
        notes=tuple(notes),
    )
    return with_rules_out_note(effect)


def _officer_sums(post: pd.DataFrame, trained: str) -> pd.DataFrame:
    """One row per officer: post-period events and exposure, in trained months and in all, the
    arm, the block and the officer's inverse-probability weight."""
    is_trained = post[trained].fillna(False).astype(bool).to_numpy()
    frame = pd.DataFrame(
        {
            "cluster": post["cluster"].to_numpy(),
            "treated_arm": post["treated_arm"].to_numpy(),
            "block": post["block"].to_numpy(),
            "events": post["y"].to_numpy(float),
            "events_trained": post["y"].to_numpy(float) * is_trained,
            "exposure": post["exposure"].to_numpy(float),
            "exposure_trained": post["exposure"].to_numpy(float) * is_trained,
        }
    )
    officers = frame.groupby("cluster", sort=True).agg(
        treated_arm=("treated_arm", "first"),
        block=("block", "first"),
        **{name: (name, "sum") for name in SUMS},
    )
    block_size = officers.groupby("block")["treated_arm"].transform("size")
    arm_size = officers.groupby(["block", "treated_arm"])["treated_arm"].transform("size")
    officers["weight"] = block_size / arm_size
    return officers.reset_index()


def _complier_means(treated_sums: np.ndarray, control_sums: np.ndarray) -> np.ndarray:
    """(trained rate, untreated rate, first stage) of the compliers, one column per draw, from
    each arm's weighted sums (columns in `SUMS` order)."""
    events, events_trained, exposure, exposure_trained = range(4)

    def mean(sums: np.ndarray, column: int) -> np.ndarray:
        return sums[:, column] / sums[:, exposure]

    first_stage = mean(treated_sums, exposure_trained) - mean(control_sums, exposure_trained)
    trained_rate = (mean(treated_sums, events_trained) - mean(control_sums, events_trained)) / (
        first_stage
    )
    untreated_events_treated = mean(treated_sums, events) - mean(treated_sums, events_trained)
    untreated_events_control = mean(control_sums, events) - mean(control_sums, events_trained)
    untreated_rate = (untreated_events_control - untreated_events_treated) / first_stage
    return np.vstack([trained_rate, untreated_rate, first_stage])


def _bootstrap_means(
    officers: pd.DataFrame,
    weighted: np.ndarray,
    is_treated: np.ndarray,
    n_bootstrap: int,
    seed: int,
) -> np.ndarray:
    """`_complier_means` of `n_bootstrap` officer resamples within block x arm."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((n_bootstrap, len(officers)))
    strata = officers.groupby(["block", "treated_arm"]).indices
    for members in strata.values():
        size = len(members)
        counts[:, members] = rng.multinomial(size, np.full(size, 1.0 / size), size=n_bootstrap)
    treated_sums = counts[:, is_treated] @ weighted[is_treated]
    control_sums = counts[:, ~is_treated] @ weighted[~is_treated]
    return _complier_means(treated_sums, control_sums)
