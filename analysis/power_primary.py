"""The primary force estimator of simulated trials, fitted on all of them at once.

`analysis.force_ancova.force_ancova_effect` is the Poisson ANCOVA of the post-period
officer-month count on the arm, calendar-month effects and the officer's log pre-period rate,
clustered by officer (CR2). On a balanced panel (every officer serves every month, as in the
trials of `analysis.power_simulation.simulate_counts`) it equals a Poisson regression of each
officer's post-period total on the arm and the covariate: with every officer in every month, the
month effects' score equations fix their sum and leave the arm's and the covariate's equations
those of the totals; each officer's score is their total residual times their regressors, so
the officer-clustered sandwich is the officer-level one, and CR2 is HC2 on the officers' rows
(tests/test_power_primary.py checks all three, trial by trial).

With turnover (`serving`: officers leave mid-trial, analysis/trial_simulation.py) the months
served enter as the exposure of each period (offset and covariate denominator), which is the
officer-month model when the calendar months have equal effects, as in those simulations.
Officers without a month served before or after training are left out (the primary keeps the
first with a missing indicator; in the simulated trials they are the few who leave in the first
month).
"""

from __future__ import annotations

import numpy as np

from analysis.force_ancova import PRE_EVENTS_OFFSET

NEWTON_STEPS = 30
N_PARAMS = 3  # intercept, arm, log pre-period rate


def ancova_log_ratios(
    events: np.ndarray,
    treated_arm: np.ndarray,
    post: np.ndarray,
    serving: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(log rate ratio, officer-clustered CR2 SE) per simulated trial. `events` and `serving`
    (1 in a month served; default every month): (trials, officers, months); `post`: (months,),
    1 after the treatment arm's training. NaN where an arm has no post-period event (the primary
    reports it as not estimable)."""
    events = np.asarray(events, float)
    if events.ndim == 2:
        events = events[None]
    is_post = np.asarray(post, float) > 0
    serving = np.ones_like(events) if serving is None else np.asarray(serving, float)
    serving = np.broadcast_to(serving, events.shape)
    arm = np.broadcast_to(np.asarray(treated_arm, float), events.shape[:2])
    totals = (events * serving)[:, :, is_post].sum(axis=2)
    post_months = serving[:, :, is_post].sum(axis=2)
    pre_months = serving[:, :, ~is_post].sum(axis=2)
    pre = (events * serving)[:, :, ~is_post].sum(axis=2)
    kept = (post_months > 0) & (pre_months > 0)
    weight = kept.astype(float)  # 0 leaves an officer out of every sum below
    covariate = np.log((pre + PRE_EVENTS_OFFSET) / np.where(kept, pre_months, 1.0))
    offset = np.log(np.where(kept, post_months, 1.0))
    x = np.stack([np.ones_like(totals), arm, np.where(kept, covariate, 0.0)], axis=2)
    beta = np.zeros((len(totals), N_PARAMS))
    beta[:, 0] = np.log(np.maximum((totals * weight).sum(1) / (post_months * weight).sum(1), 1e-9))
    for _ in range(NEWTON_STEPS):
        mu = np.exp(np.einsum("kip,kp->ki", x, beta) + offset) * weight
        gradient = np.einsum("kip,ki->kp", x, (totals - mu) * weight)
        step = np.linalg.solve(_information(x, mu), gradient[..., None])[..., 0]
        beta = beta + step
        if np.max(np.abs(np.nan_to_num(step))) < 1e-10:
            break
    mu = np.exp(np.einsum("kip,kp->ki", x, beta) + offset) * weight
    bread = np.linalg.inv(_information(x, mu))
    leverage = np.einsum("kip,kpq,kiq,ki->ki", x, bread, x, mu)
    scaled = (totals - mu) * weight / np.sqrt(np.clip(1 - leverage, 1e-12, None))
    meat = np.einsum("kip,ki,kiq->kpq", x, scaled**2, x)
    std_error = np.sqrt((bread @ meat @ bread)[:, 1, 1])
    arm_events = np.stack([(totals * weight * (arm == a)).sum(axis=1) for a in (0.0, 1.0)], axis=1)
    estimable = (arm_events > 0).all(axis=1)
    return np.where(estimable, beta[:, 1], np.nan), np.where(estimable, std_error, np.nan)


def _information(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    return np.einsum("kip,ki,kiq->kpq", x, mu, x) + 1e-12 * np.eye(N_PARAMS)
