"""Intent-to-treat effects of the training on use of force (and complaints) per officer-month.

Data: `marts.fct_officer_months`, one row per officer x calendar month. The comparison window is
the wait-list design's: the `pre_months` months before the treatment arm's training month
("pre") against the months from it up to the control arm's training month ("post"), when only
the treatment arm is trained. The month that holds `trial_start` counts as post.

Model: Poisson regression (quasi-likelihood) of the monthly count on the arm, arm x post and
calendar-month fixed effects (which absorb post and any common trend or seasonality), with
log(exposure) as an offset, so the effect is a ratio of rates per call attended. Inference is
clustered by officer (the sandwich also covers overdispersion). Estimate = rate ratio
exp(arm x post); interval and p-value from the log-scale Wald test; `std_error` is the
delta-method SE of the ratio, the log-scale SE is `extras["std_error_log"]`. A negative binomial
(NB2, dispersion estimated) fit of the same model is reported in `extras` as a check.

Officer-months with no exposure (no calls attended, or exposure missing) have no place in a rate
model (log 0 is not an offset) and are dropped; how many, and how many events they held, is in
`extras` (`n_obs_zero_exposure`, `events_zero_exposure`). Months flagged inactive are dropped too.

Fast path. With calendar-month fixed effects and one arm x post term, the Poisson likelihood
depends on the data only through the arm x month cells, and its score equations separate: the
arm's log rate ratio in the pre months solves sum_t [Y1t - N_t E1t e^b / (E0t + E1t e^b)] = 0
(Y = events, E = calls, N = Y0t + Y1t, sums over pre months), the post months likewise give
b + d, and d is the DiD log rate ratio. Each is a one-dimensional monotone root, found by Newton
for all simulations at once; the officer-clustered sandwich is then assembled from the
officer-level score sums with statsmodels' small-sample factor G/(G-1) x (N-1)/(N-K). The
result equals `force_effect(..., negative_binomial=False)` to numerical precision
(tests/test_analysis_power.py checks it), at a thousandth of the cost. `analysis.power` simulates
through it, and the Fisher randomization test (`analysis.randomization`) uses its arm log ratios.
The module is over 400 lines for that reason: the fast path is the same model as the fit above it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from datetime import date

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import digamma, polygamma

from analysis.inference import cluster_codes, treatment_indicator, wald_interval, wald_p_value
from analysis.marts import study_dates
from analysis.memo import memoized
from analysis.results import Effect

ARM_POST = "treated_arm:post"
# Newton with exact derivatives converges in a handful of steps when the NB2 fit converges at
# all; a fit that has not by then is reported as not converged rather than iterated on
NB_MAX_ITERATIONS = 30


def force_effect(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    exposure: str | None = "calls_attended",
    cluster: str = "officer_id",
    arm: str = "arm",
    month: str = "month_start",
    active: str | None = "is_active",
    trial_start: date | None = None,
    control_start: date | None = None,
    pre_months: int = 12,
    negative_binomial: bool = True,
) -> Effect:
    """The arm x post rate ratio of `outcome` (force reports, complaints, ...) per `exposure`.

    `trial_start` / `control_start` default to the earliest `cohort_month` of the treatment /
    control arm in `officer_months`; without a control date the post window is 12 months.
    `exposure=None` models counts per officer-month without an offset.
    """
    trial_month, control_month = _window(officer_months, arm, trial_start, control_start)
    data, n_zero, events_zero = window_panel(
        officer_months,
        outcome,
        exposure=exposure,
        cluster=cluster,
        arm=arm,
        month=month,
        active=active,
        trial_start=trial_month,
        control_start=control_month,
        pre_months=pre_months,
    )
    return _rate_ratio_effect(
        data,
        outcome,
        exposure,
        trial_month,
        control_month,
        pre_months,
        n_zero,
        events_zero,
        negative_binomial,
    )


@memoized  # the window's panel, not all officer-months: later months leave the fit alone
def _rate_ratio_effect(
    data: pd.DataFrame,
    outcome: str,
    exposure: str | None,
    trial_month: pd.Timestamp,
    control_month: pd.Timestamp,
    pre_months: int,
    n_zero: int,
    events_zero: int,
    negative_binomial: bool,
) -> Effect:
    cells = data.groupby(["treated_arm", "post"])
    extras: dict = {
        "window_pre_start": str((trial_month - pd.DateOffset(months=pre_months)).date()),
        "window_post_start": str(trial_month.date()),
        "window_post_end": str((control_month - pd.DateOffset(months=1)).date()),
        "n_obs_zero_exposure": n_zero,
        "events_zero_exposure": events_zero,
    }
    names = {0.0: "control", 1.0: "treatment"}
    for (treated_arm, post), cell in cells:
        key = f"rate_{names[treated_arm]}_{'post' if post else 'pre'}"
        extras[key] = float(cell["y"].sum() / cell["exposure"].sum())
    notes = [
        "ITT: arm x post with calendar-month fixed effects, SE clustered by officer",
        "rates per unit of "
        + (exposure if exposure else "officer-month")
        + (
            f"; {n_zero} officer-months without exposure dropped ({events_zero} events)"
            if exposure
            else ""
        ),
    ]
    n_cells = len(cells)
    if n_cells < 4 or (cells["y"].sum() <= 0).any():
        nan = math.nan
        notes.append("a cell of arm x period has no events: the rate ratio is not estimable")
        return _effect(data, outcome, nan, nan, nan, nan, extras, notes)

    groups = cluster_codes(data["cluster"])
    params, std_errors = poisson_cluster_fit(data, groups)
    log_ratio, log_se = float(params[ARM_POST]), float(std_errors[ARM_POST])
    extras.update({"log_rate_ratio": log_ratio, "std_error_log": log_se})
    if negative_binomial:
        extras.update(_negative_binomial_check(data, groups, params))
    notes.append(
        "Poisson QMLE, log(exposure) offset; negative binomial (NB2) check in nb_* extras"
        if negative_binomial
        else "Poisson QMLE, log(exposure) offset"
    )
    return _effect(
        data, outcome, log_ratio, log_se, *_ratio_interval(log_ratio, log_se), extras, notes
    )


def window_panel(
    officer_months: pd.DataFrame,
    outcome: str,
    *,
    exposure: str | None = "calls_attended",
    cluster: str = "officer_id",
    arm: str = "arm",
    month: str = "month_start",
    active: str | None = "is_active",
    trial_start: date | None = None,
    control_start: date | None = None,
    pre_months: int = 12,
    carry: Sequence[str] = (),
) -> tuple[pd.DataFrame, int, int]:
    """The officer-months of the ITT window in model form (y, treated_arm, post, month, cluster,
    exposure), with the number of officer-months dropped for zero exposure and their events.
    The `carry` columns of `officer_months` come along unchanged, row for row, so a second
    variable of the same officer-months needs no second panel."""
    trial_month, control_month = _window(officer_months, arm, trial_start, control_start)
    return _panel(
        officer_months,
        outcome,
        exposure,
        cluster,
        arm,
        month,
        active,
        trial_month,
        control_month,
        pre_months,
        carry,
    )


def _window(
    officer_months: pd.DataFrame,
    arm: str,
    trial_start: date | None,
    control_start: date | None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    if trial_start is None:
        dates = study_dates(officer_months, arm=arm, cohort="cohort_month")
        trial_start = dates.trial_start_on
        control_start = control_start or dates.control_start_on
    trial_month = pd.Timestamp(trial_start).to_period("M").to_timestamp()
    if control_start is None:
        control_month = trial_month + pd.DateOffset(months=12)
    else:
        control_month = pd.Timestamp(control_start).to_period("M").to_timestamp()
    if control_month <= trial_month:
        raise ValueError("the control arm's training does not come after the treatment arm's")
    return trial_month, control_month


def _panel(
    officer_months: pd.DataFrame,
    outcome: str,
    exposure: str | None,
    cluster: str,
    arm: str,
    month: str,
    active: str | None,
    trial_month: pd.Timestamp,
    control_month: pd.Timestamp,
    pre_months: int,
    carry: Sequence[str] = (),
) -> tuple[pd.DataFrame, int, int]:
    needed = [outcome, cluster, arm, month] + ([exposure] if exposure else []) + list(carry)
    absent = [column for column in needed if column not in officer_months.columns]
    if absent:
        raise KeyError(f"officer-months have no column(s) {absent}")
    month_start = pd.to_datetime(officer_months[month])
    in_window = (month_start >= trial_month - pd.DateOffset(months=pre_months)) & (
        month_start < control_month
    )
    if active and active in officer_months.columns:
        in_window &= officer_months[active].fillna(False).astype(bool)
    window = officer_months.loc[in_window, list(dict.fromkeys(needed))]
    month_start = month_start[in_window]
    data = pd.DataFrame(
        {
            "y": pd.to_numeric(window[outcome], errors="coerce").astype(float),
            "treated_arm": treatment_indicator(window[arm]),
            "post": (month_start >= trial_month).astype(float),
            "month": month_labels(month_start),
            "cluster": window[cluster],
            "exposure": (
                pd.to_numeric(window[exposure], errors="coerce").astype(float) if exposure else 1.0
            ),
        }
    )
    for column in carry:
        if column in data.columns:
            raise ValueError(f"cannot carry {column!r}: the panel has a column of that name")
        data[column] = window[column]
    data = data.dropna(subset=["y", "treated_arm", "cluster"])
    without_exposure = ~(data["exposure"] > 0)
    n_zero = int(without_exposure.sum())
    events_zero = int(data.loc[without_exposure, "y"].sum())
    return data[~without_exposure].reset_index(drop=True), n_zero, events_zero


def poisson_cluster_fit(data: pd.DataFrame, groups: np.ndarray) -> tuple[pd.Series, pd.Series]:
    """(coefficients, standard errors) of the Poisson QMLE of `y` on `_design` with a
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
    design = _design(cells)
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


def month_labels(month_start: pd.Series) -> pd.Series:
    """'YYYY-MM' of every date (NaN for NaT), formatted once per distinct date: strftime row
    by row takes a second on a large department's officer-months."""
    codes, distinct = pd.factorize(month_start, use_na_sentinel=False)
    labels = pd.DatetimeIndex(distinct).strftime("%Y-%m").to_numpy(object)
    return pd.Series(labels[codes], index=month_start.index, dtype=object)


def _design(data: pd.DataFrame) -> pd.DataFrame:
    months = pd.get_dummies(data["month"], prefix="month", drop_first=True, dtype=float)
    design = pd.DataFrame(
        {
            "const": 1.0,
            "treated_arm": data["treated_arm"],
            ARM_POST: data["treated_arm"] * data["post"],
        }
    )
    return pd.concat([design, months], axis=1)


def _negative_binomial_check(
    data: pd.DataFrame, groups: np.ndarray, poisson_params: pd.Series
) -> dict[str, float]:
    # A month without a single event (the night's month, its force reports not filed yet) has
    # no finite fixed effect, so NB2 has no optimum; such a month says nothing about the other
    # coefficients, and is left out of the check.
    with_events = data.groupby("month")["y"].transform("sum").to_numpy() > 0
    months_left_out = int(data["month"].nunique() - data.loc[with_events, "month"].nunique())
    data, groups = data[with_events], groups[with_events]
    design = _design(data)
    offset = np.log(data["exposure"].to_numpy())
    model = _NegativeBinomial2(data["y"], design, offset=offset, loglike_method="nb2")
    start = np.append(poisson_params.reindex(design.columns).fillna(0.0).to_numpy(), 1.0)
    options = {"disp": False, "cov_type": "cluster", "cov_kwds": {"groups": groups}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = model.fit(
                start_params=start, method="newton", maxiter=NB_MAX_ITERATIONS, **options
            )
            fallback = {}
            if not (np.isfinite(fit.params).all() and np.isfinite(fit.bse[ARM_POST])):
                # Newton steps alpha itself and can step it below zero (sparse counts, alpha
                # far from the start): the likelihood is then NaN, yet statsmodels reports
                # convergence. BFGS works on log(alpha), which stays positive.
                fit = model.fit(start_params=start, method="bfgs", maxiter=500, **options)
                fallback = {"nb_method": "bfgs (Newton stepped alpha below zero)"}
        log_ratio, log_se = float(fit.params[ARM_POST]), float(fit.bse[ARM_POST])
        low, high = wald_interval(log_ratio, log_se)
        return {
            **fallback,
            "nb_rate_ratio": math.exp(log_ratio),
            "nb_ci_low": math.exp(low),
            "nb_ci_high": math.exp(high),
            "nb_p_value": wald_p_value(log_ratio, log_se),
            "nb_alpha": float(fit.params["alpha"]),
            "nb_converged": bool(fit.mle_retvals.get("converged", False)),
            "nb_months_without_events": months_left_out,
        }
    except (np.linalg.LinAlgError, ValueError) as error:
        return {"nb_rate_ratio": math.nan, "nb_error": str(error)}


class _NegativeBinomial2(sm.NegativeBinomial):
    """statsmodels' NB2 model with its derivatives in closed, vectorized form (same formulas):
    its `score_obs` differentiates the log-likelihood numerically, a complex-step pass per
    parameter, and its Hessian loops over parameter pairs; on a large department's panel those
    were most of the check's time."""

    def _alpha(self, params: np.ndarray) -> float:
        return np.exp(params[-1]) if self._transparams else params[-1]

    def score_obs(self, params):
        alpha = self._alpha(params)
        size = 1.0 / alpha
        y = self.endog
        mu = self.predict(params[:-1])
        dparams = self.exog * (size * (y - mu) / (mu + size))[:, None]
        dalpha = -(alpha**-2) * (
            digamma(y + size)
            - digamma(size)
            + np.log(size)
            - np.log(size + mu)
            - (y - mu) / (size + mu)
        )
        if self._transparams:
            dalpha = dalpha * alpha
        return np.column_stack([dparams, dalpha])

    def _hessian_nb2(self, params):
        alpha = self._alpha(params)
        size = 1.0 / alpha
        exog, y = self.exog, self.endog
        mu = self.predict(params[:-1])
        dim = exog.shape[1]
        hessian = np.empty((dim + 1, dim + 1))
        weight = size * mu * (size + y) / (mu + size) ** 2
        block = -(exog.T @ (exog * weight[:, None]))
        hessian[:-1, :-1] = np.tril(block) + np.tril(block, -1).T  # exactly symmetric
        cross = -(exog * (mu * (y - mu) * size**2 / (mu + size) ** 2)[:, None]).sum(axis=0)
        hessian[-1, :-1] = hessian[:-1, -1] = cross
        da1, da2 = -(alpha**-2), 2 * alpha**-3
        dalpha = da1 * (
            digamma(size + y) - digamma(size) + np.log(size / (size + mu)) - (y - mu) / (size + mu)
        )
        hessian[-1, -1] = (
            da2 * dalpha / da1
            + da1**2
            * (
                polygamma(1, size + y)
                - polygamma(1, size)
                + 1 / size
                - 1 / (size + mu)
                + (y - mu) / (mu + size) ** 2
            )
        ).sum()
        return hessian


def _ratio_interval(log_ratio: float, log_se: float) -> tuple[float, float]:
    low, high = wald_interval(log_ratio, log_se)
    return math.exp(low), math.exp(high)


def _effect(
    data: pd.DataFrame,
    outcome: str,
    log_ratio: float,
    log_se: float,
    ci_low: float,
    ci_high: float,
    extras: dict,
    notes: list[str],
) -> Effect:
    rate_ratio = math.exp(log_ratio) if math.isfinite(log_ratio) else math.nan
    return Effect(
        outcome=outcome,
        estimator="ITT diff-in-diff, Poisson QMLE with month FE",
        estimate=rate_ratio,
        std_error=rate_ratio * log_se,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=wald_p_value(log_ratio, log_se),
        n_units=int(data["cluster"].nunique()),
        n_obs=len(data),
        scale="rate_ratio",
        extras=extras,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# the fast path: the Poisson month-FE model from arm x month cells


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
