"""The Poisson difference in differences with calendar-month effects, fitted from arm x month
cells: the fast path of `analysis.force.force_effect`'s model.

With calendar-month fixed effects and one arm x post term, the Poisson likelihood depends on the
data only through the arm x month cells, and its score equations separate: the arm's log rate
ratio in the pre months solves sum_t [Y1t - N_t E1t e^b / (E0t + E1t e^b)] = 0 (Y = events,
E = calls, N = Y0t + Y1t, sums over pre months), the post months likewise give b + d, and d is
the DiD log rate ratio. Each is a one-dimensional monotone root, found by Newton for all
simulations at once; the officer-clustered sandwich is then assembled from the officer-level
score sums with statsmodels' small-sample factor G/(G-1) x (N-1)/(N-K). The result equals
`force_effect(..., negative_binomial=False)` to numerical precision (tests/test_analysis_power.py
checks it), at a thousandth of the cost. `analysis.power` simulates through it, and the Fisher
randomization test (`analysis.randomization`) uses its arm log ratios.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

ARM_POST = "treated_arm:post"


def poisson_cluster_fit(data: pd.DataFrame, groups: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """(coefficients, standard errors) of the Poisson QMLE of `y` on `month_fe_design` with a
    log(`exposure`) offset, the SEs clustered by `groups`: what statsmodels' GLM gives with
    `cov_type="cluster"` (its G/(G-1) (N-1)/(N-K) correction included), computed from the arm x
    month cells.

    Every regressor is constant within a cell, so the likelihood is that of the cells' totals:
    statsmodels fits a few dozen cell rows instead of every officer-month. The sandwich's meat
    needs each officer's score, which is the sum over the cells of the cell's regressors times
    the officer's residual in it; its bread is the cells' information matrix.
    """
    by_cell = data.groupby(["treated_arm", "post", "month"], sort=True)
    cells = by_cell[["y", "exposure"]].sum().reset_index()
    cell_of_row = by_cell.ngroup().to_numpy()
    design = month_fe_design(cells)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(
            cells["y"],
            design,
            family=sm.families.Poisson(),
            offset=np.log(cells["exposure"].to_numpy()),
        ).fit()
    x = design.to_numpy(float)
    mu = np.asarray(fit.mu, float)
    rate = mu / cells["exposure"].to_numpy(float)
    residual = data["y"].to_numpy(float) - data["exposure"].to_numpy(float) * rate[cell_of_row]
    n_groups = int(groups.max()) + 1
    by_group = np.zeros((n_groups, len(cells)))
    np.add.at(by_group, (groups, cell_of_row), residual)
    scores = by_group @ x  # one row per cluster
    bread = np.linalg.inv(x.T @ (x * mu[:, None]))
    n_obs, n_params = len(data), x.shape[1]
    correction = n_groups / (n_groups - 1.0) * (n_obs - 1.0) / (n_obs - n_params)
    covariance = correction * bread @ (scores.T @ scores) @ bread
    return fit.params, pd.Series(np.sqrt(np.diag(covariance)), index=design.columns)


def month_fe_design(data: pd.DataFrame) -> pd.DataFrame:
    """The regressors of the model: constant, arm, arm x post, calendar-month dummies."""
    months = pd.get_dummies(data["month"], prefix="month", drop_first=True, dtype=float)
    design = pd.DataFrame(
        {
            "const": 1.0,
            "treated_arm": data["treated_arm"],
            ARM_POST: data["treated_arm"] * data["post"],
        }
    )
    return pd.concat([design, months], axis=1)


def poisson_did_month_fe(
    events: np.ndarray, calls: np.ndarray, treated_arm: np.ndarray, post: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(log rate ratio, clustered SE) of `force_effect`'s model for every simulated trial.

    `events`, `calls`: (simulations, officers, months); officer-months without calls are left
    out as `force_effect` does. NaN where an arm x period cell has no events (not estimable).
    """
    events = np.asarray(events, float)
    calls = np.asarray(calls, float)
    if events.ndim == 2:
        log_ratio, std_error = poisson_did_month_fe(events[None], calls[None], treated_arm, post)
        return log_ratio[:1], std_error[:1]
    present = calls > 0
    events = np.where(present, events, 0.0)
    arm = np.asarray(treated_arm, float)
    is_post = np.asarray(post, float) > 0
    # arm x month cells
    y1 = np.einsum("kit,i->kt", events, arm)
    y0 = events.sum(axis=1) - y1
    e1 = np.einsum("kit,i->kt", calls * present, arm)
    e0 = (calls * present).sum(axis=1) - e1
    theta, estimable = arm_log_ratios(y0, y1, e0, e1, is_post)
    log_ratio = theta[:, 1] - theta[:, 0]

    # month effects given the arm effects
    theta_t = np.where(is_post[None, :], theta[:, 1:2], theta[:, 0:1])  # (k, t)
    total = y0 + y1
    with np.errstate(divide="ignore", invalid="ignore"):
        month_effect = np.log(total) - np.log(e0 + e1 * np.exp(theta_t))
    month_effect = np.where(total > 0, month_effect, -np.inf)
    rate = np.exp(month_effect[:, None, :] + arm[None, :, None] * theta_t[:, None, :])
    mu = calls * present * rate
    residual = np.where(present, events - mu, 0.0)

    n_months = events.shape[2]
    n_params = n_months + 2
    scores = np.concatenate(
        [
            residual,
            (arm[None, :] * residual.sum(axis=2))[..., None],
            (arm[None, :] * residual[:, :, is_post].sum(axis=2))[..., None],
        ],
        axis=2,
    )
    meat = np.einsum("kia,kib->kab", scores, scores)
    mu0 = mu.sum(axis=1) - np.einsum("kit,i->kt", mu, arm)
    mu1 = np.einsum("kit,i->kt", mu, arm)
    hessian = np.zeros((events.shape[0], n_params, n_params))
    index = np.arange(n_months)
    hessian[:, index, index] = mu0 + mu1
    hessian[:, index, n_months] = hessian[:, n_months, index] = mu1
    hessian[:, index, n_months + 1] = hessian[:, n_months + 1, index] = mu1 * is_post
    hessian[:, n_months, n_months] = mu1.sum(axis=1)
    hessian[:, n_months, n_months + 1] = hessian[:, n_months + 1, n_months] = mu1[:, is_post].sum(
        axis=1
    )
    hessian[:, n_months + 1, n_months + 1] = mu1[:, is_post].sum(axis=1)
    # months without any event carry no information (their effect is -inf): drop them
    empty = total <= 0
    hessian[:, index, index] = np.where(empty, 1.0, hessian[:, index, index])
    variance = np.full(events.shape[0], np.nan)
    n_obs = present.sum(axis=(1, 2))
    n_clusters = present.any(axis=2).sum(axis=1)
    for k in np.flatnonzero(estimable):
        bread = np.linalg.inv(hessian[k])
        variance[k] = (bread @ meat[k] @ bread)[n_months + 1, n_months + 1]
    correction = n_clusters / (n_clusters - 1.0) * (n_obs - 1.0) / (n_obs - n_params)
    std_error = np.sqrt(variance * correction)
    log_ratio = np.where(estimable, log_ratio, np.nan)
    return log_ratio, std_error


def arm_log_ratios(
    y0: np.ndarray, y1: np.ndarray, e0: np.ndarray, e1: np.ndarray, is_post: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The Poisson-with-month-FE log rate ratio of arm 1 vs arm 0 in the pre months (column 0)
    and the post months (column 1), from arm x month cells (events y, exposure e) of shape
    (trials, months); the DiD log rate ratio is column 1 - column 0. Also whether every arm x
    period cell has events (else the ratio is not estimable)."""
    theta = np.empty((y0.shape[0], 2))
    estimable = np.ones(y0.shape[0], bool)
    for period, months in enumerate((~is_post, is_post)):
        theta[:, period], ok = _arm_log_ratio(
            y0[:, months], y1[:, months], e0[:, months], e1[:, months]
        )
        estimable &= ok
    return theta, estimable


def _arm_log_ratio(y0, y1, e0, e1) -> tuple[np.ndarray, np.ndarray]:
    """Root of sum_t [y1 - (y0 + y1) e1 exp(b) / (e0 + e1 exp(b))] = 0, per simulation."""
    ok = (y1.sum(axis=1) > 0) & (y0.sum(axis=1) > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.log(y1.sum(axis=1) / e1.sum(axis=1)) - np.log(y0.sum(axis=1) / e0.sum(axis=1))
    b = np.where(ok, b, 0.0)
    total = y0 + y1
    for _ in range(50):
        ratio = np.exp(b)[:, None]
        denominator = e0 + e1 * ratio
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(denominator > 0, e1 * ratio / denominator, 0.0)
        score = (y1 - total * share).sum(axis=1)
        slope = (total * share * (1 - share)).sum(axis=1)
        step = np.where(slope > 0, score / np.where(slope > 0, slope, 1.0), 0.0)
        b = b + np.clip(step, -2.0, 2.0)
        if np.all(np.abs(step) < 1e-12):
            break
    return b, ok
