"""Mediation: does the change in communication carry through to less force?

The middle step of the trial's theory: training -> communication (the mediator M, e.g. a
personal conversation) -> force (the outcome Y). With linear models (Baron-Kenny / the linear
structural equations of Imai, Keele & Yamamoto 2010, Statistical Science 25(1)):

    M = a + b'W + beta2 T + xi2'X + e2          (mediator model)
    Y = c + d'W + beta3 T + gamma M + xi3'X + e3 (outcome model)
    Y = f + g'W + beta1 T + xi1'X + e1          (total effect)

the average causal mediation effect ACME = beta2 x gamma (the effect of T on Y through M), the
average direct effect ADE = beta3, the total effect beta1 = ACME + ADE. Intervals: percentile
bootstrap resampling officers (the unit of randomization; every encounter of a drawn officer
comes along), `n_bootstrap` draws, seeded; a draw that does not identify the effects (no treated
officer drawn) is left out.

Two levels:

* encounters (`encounter_mediation`): T = arm x post (W = arm, post: the DiD), M and Y the SSO
  codes of the encounter (binary items enter as 0/1, so the effects are in probability points:
  linear probability models), X = the civilian's state, which training does not change
  (resistance, intoxication, mental illness, weapon) and which drives both communication and
  force: without them the mediator-outcome relation is confounded.
* officers (`officer_mediation`): T = arm, M = the officer's mean of the mediator over coded
  post-period encounters, Y = force reports per 100 calls in the post period, X = the officer's
  pre-period force rate. One or two clips per officer measure M with much error, which biases
  gamma (and so the ACME) towards zero: read it as a lower bound on the mediated share.

Assumption (sequential ignorability): given X (and the design variables W), (1) assignment is
independent of potential mediators and outcomes, which randomization guarantees, and (2) the
mediator is as good as randomly assigned among encounters with the same treatment and X: no
unmeasured encounter feature moves both communication and force. (2) is not guaranteed by
randomization and cannot be tested. The sensitivity analysis of Imai, Keele & Yamamoto (2010,
Theorem 2) asks how strong a violation would have to be: if the errors of the mediator and
outcome models correlate with rho (rho = 0 under the assumption),

    ACME(rho) = beta2 sigma1 / sigma2 x (rho~ - rho sqrt((1 - rho~^2) / (1 - rho^2))),

sigma1, sigma2 the SDs of e1 and e2, rho~ = corr(e1, e2); the ACME is zero at rho = rho~.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.force_window import window_panel
from analysis.inference import bootstrap_counts, cluster_codes, treatment_indicator
from analysis.mediation_result import SEQUENTIAL_IGNORABILITY, MediationResult
from analysis.memo import memoized

# Coded in the same encounter that training aims to change: possible mediators themselves, so
# they are never conditioned on by default (conditioning on a post-treatment variable biases the
# direct and indirect effects); a caller may still pass them for a sensitivity analysis.
CIVILIAN_COVARIATES = (
    "civilian_resistance",
    "civilian_intoxicated",
    "civilian_mental_illness",
    "civilian_weapon",
)
DEFAULT_BOOTSTRAP = 200

__all__ = [  # the result class stays importable from here
    "CIVILIAN_COVARIATES",
    "SEQUENTIAL_IGNORABILITY",
    "MediationResult",
    "encounter_mediation",
    "linear_mediation",
    "officer_mediation",
]


def linear_mediation(
    data: pd.DataFrame,
    *,
    treatment: str,
    mediator: str,
    outcome: str,
    controls: Sequence[str] = (),
    cluster: str = "cluster",
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: str = "",
    notes: Sequence[str] = (),
    rho_grid: Sequence[float] | None = None,
    labels: tuple[str, str] | None = None,
) -> MediationResult:
    """ACME / ADE / total of `treatment` on `outcome` through `mediator` (module docstring);
    `controls` enter every model (design variables and pre-treatment covariates); `labels`
    names the mediator and outcome in the result (default: the column names)."""
    frame = data[[treatment, mediator, outcome, cluster, *controls]].dropna()
    base = np.column_stack([np.ones(len(frame)), frame[list(controls)].to_numpy(float)])
    t = frame[treatment].to_numpy(float)
    m = frame[mediator].to_numpy(float)
    y = frame[outcome].to_numpy(float)
    groups = cluster_codes(frame[cluster])
    point = _fit(base, t, m, y)

    draws = _bootstrap_draws(base, t, m, y, groups, n_bootstrap, seed)
    intervals = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    acme_draws = draws[:, 0][np.isfinite(draws[:, 0])]
    p_acme = (
        min(1.0, 2 * min((acme_draws <= 0).mean(), (acme_draws >= 0).mean()))
        if len(acme_draws)
        else math.nan
    )
    rho = np.asarray(rho_grid if rho_grid is not None else np.round(np.linspace(-0.9, 0.9, 37), 3))
    sensitivity = pd.DataFrame({"rho": rho, "acme": _acme_at_rho(point, rho)})
    total = point["total"]
    mediator_label, outcome_label = labels or (mediator, outcome)
    return MediationResult(
        level=level,
        mediator=mediator_label,
        outcome=outcome_label,
        acme=point["acme"],
        acme_ci=(float(intervals[0, 0]), float(intervals[1, 0])),
        ade=point["ade"],
        ade_ci=(float(intervals[0, 1]), float(intervals[1, 1])),
        total=total,
        total_ci=(float(intervals[0, 2]), float(intervals[1, 2])),
        # a share of a total effect that may be zero means nothing: only when its interval
        # excludes zero
        proportion_mediated=(
            point["acme"] / total
            if total != 0 and not intervals[0, 2] <= 0.0 <= intervals[1, 2]
            else math.nan
        ),
        acme_p_value=float(p_acme),
        rho_at_zero_acme=point["rho_tilde"],
        sensitivity=sensitivity,
        n_units=int(groups.max() + 1),
        n_obs=len(frame),
        n_bootstrap=n_bootstrap,
        covariates=tuple(controls),
        notes=tuple(notes),
    )


def _fit(base: np.ndarray, t: np.ndarray, m: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The three OLS fits: beta2, gamma, beta3, beta1, and the residual SDs and correlation."""
    with_t = np.column_stack([base, t])
    mediator_params, *_ = np.linalg.lstsq(with_t, m, rcond=None)
    total_params, *_ = np.linalg.lstsq(with_t, y, rcond=None)
    outcome_params, *_ = np.linalg.lstsq(np.column_stack([with_t, m]), y, rcond=None)
    e2 = m - with_t @ mediator_params
    e1 = y - with_t @ total_params
    beta2, gamma, beta3 = mediator_params[-1], outcome_params[-1], outcome_params[-2]
    sigma1, sigma2 = float(np.std(e1)), float(np.std(e2))
    rho_tilde = float(np.corrcoef(e1, e2)[0, 1]) if sigma1 > 0 and sigma2 > 0 else math.nan
    return {
        "acme": float(beta2 * gamma),
        "ade": float(beta3),
        "total": float(total_params[-1]),
        "beta2": float(beta2),
        "gamma": float(gamma),
        "sigma1": sigma1,
        "sigma2": sigma2,
        "rho_tilde": rho_tilde,
    }


def _bootstrap_draws(
    base: np.ndarray,
    t: np.ndarray,
    m: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_bootstrap: int,
    seed: int,
) -> np.ndarray:
    """ACME, ADE and total of each officer-bootstrap draw (NaN where a draw does not identify
    them, e.g. no treated officer drawn). A draw that takes officer g c_g times fits the OLS
    models of all rows weighted by c_g, so each draw's normal equations are its counts times
    per-officer cross products: one matrix product for all draws (a refit of the resampled
    rows per draw took seconds on a large department)."""
    counts = bootstrap_counts(np.random.default_rng(seed), int(groups.max() + 1), n_bootstrap)
    columns = np.column_stack([base, t, m, y])
    cross = np.zeros((counts.shape[1], columns.shape[1], columns.shape[1]))
    np.add.at(cross, groups, columns[:, :, None] * columns[:, None, :])
    moments = np.einsum("bg,gij->bij", counts, cross)
    n_with_t = base.shape[1] + 1  # the regressors of the mediator and total models: base, T
    m_column, y_column = n_with_t, n_with_t + 1
    # a draw that loses a regressor (no treated officer drawn, a covariate constant in it) does
    # not identify the effects; least squares gives the point fit's minimum-norm answer to a
    # regressor constant in all rows
    full_rank = np.linalg.matrix_rank(cross.sum(axis=0)[: m_column + 1, : m_column + 1])
    draws = np.full((n_bootstrap, 3), np.nan)
    for b, moment in enumerate(moments):
        with_t, with_m = moment[:n_with_t, :n_with_t], moment[: m_column + 1, : m_column + 1]
        if np.linalg.matrix_rank(with_m) < full_rank:
            continue
        beta2 = _solve(with_t, moment[:n_with_t, m_column])[-1]
        total = _solve(with_t, moment[:n_with_t, y_column])[-1]
        *_, beta3, gamma = _solve(with_m, moment[: m_column + 1, y_column])
        draws[b] = beta2 * gamma, beta3, total
    return draws


def _solve(normal_matrix: np.ndarray, moments: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(normal_matrix, moments, rcond=None)[0]


def _acme_at_rho(point: dict[str, float], rho: np.ndarray) -> np.ndarray:
    """Imai, Keele & Yamamoto (2010) Theorem 2 for linear mediator and outcome models."""
    rho_tilde = point["rho_tilde"]
    scale = point["beta2"] * point["sigma1"] / point["sigma2"]
    return scale * (rho_tilde - rho * np.sqrt((1 - rho_tilde**2) / (1 - rho**2)))


@memoized
def encounter_mediation(
    encounters: pd.DataFrame,
    *,
    mediator: str = "personal_conversation",
    outcome: str = "force_used",
    covariates: Sequence[str] = (),
    cluster: str = "officer_id",
    arm: str = "arm",
    period: str = "study_period",
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> MediationResult:
    """Encounter-level mediation of arm x post on `outcome` through `mediator` (module
    docstring): pre and post encounters of both arms, officer bootstrap; no civilian covariate
    unless passed (they are post-treatment: `CIVILIAN_COVARIATES`)."""
    covariates = [c for c in covariates if c in encounters.columns and c not in (mediator, outcome)]
    data = pd.DataFrame(
        {
            "treated_arm": treatment_indicator(encounters[arm]),
            "post": encounters[period].astype("object").map({"pre": 0.0, "post": 1.0}),
            "m": pd.to_numeric(encounters[mediator], errors="coerce"),
            "y": pd.to_numeric(encounters[outcome], errors="coerce"),
            "cluster": encounters[cluster],
            **{c: pd.to_numeric(encounters[c], errors="coerce") for c in covariates},
        }
    )
    data["t"] = data["treated_arm"] * data["post"]
    return linear_mediation(
        data,
        treatment="t",
        mediator="m",
        outcome="y",
        controls=["treated_arm", "post", *covariates],
        n_bootstrap=n_bootstrap,
        seed=seed,
        level="encounters",
        notes=(
            "treatment: arm x post (DiD, arm and post as regressors); linear models (probability "
            "points for binary items); intervals: percentile bootstrap over officers",
        ),
        labels=(mediator, outcome),
    )


def officer_mediation(
    encounters: pd.DataFrame,
    officer_months: pd.DataFrame,
    *,
    mediator: str = "personal_conversation",
    outcome: str = "force_reports",
    exposure: str = "calls_attended",
    officer: str = "officer_id",
    arm: str = "arm",
    period: str = "study_period",
    month: str = "month_start",
    active: str | None = "is_active",
    pre_months: int = 12,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> MediationResult:
    """Officer-level mediation of the arm on post-period force per 100 calls through the
    officer's mean post-period `mediator` (module docstring)."""
    panel, _, _ = window_panel(
        officer_months,
        outcome,
        exposure=exposure,
        cluster=officer,
        arm=arm,
        month=month,
        active=active,
        pre_months=pre_months,
    )
    arms = officer_months.drop_duplicates(officer).set_index(officer)[arm]
    return _officer_mediation_on_panel(
        panel, encounters, arms, mediator, outcome, officer, period, n_bootstrap, seed
    )


@memoized  # the window's panel, not all officer-months: later months leave the fit alone
def _officer_mediation_on_panel(
    panel: pd.DataFrame,
    encounters: pd.DataFrame,
    arms: pd.Series,
    mediator: str,
    outcome: str,
    officer: str,
    period: str,
    n_bootstrap: int,
    seed: int,
) -> MediationResult:
    rates = panel.groupby(["cluster", "post"])[["y", "exposure"]].sum()
    rate = (100 * rates["y"] / rates["exposure"]).unstack("post")
    post_encounters = encounters[encounters[period].astype("object") == "post"]
    mediator_mean = pd.to_numeric(post_encounters[mediator], errors="coerce").groupby(
        post_encounters[officer]
    )
    data = pd.DataFrame(
        {
            "t": treatment_indicator(arms),
            "m": mediator_mean.mean(),
            "y": rate.get(1.0),
            "force_rate_pre": rate.get(0.0),
        }
    )
    data["cluster"] = data.index
    return linear_mediation(
        data,
        treatment="t",
        mediator="m",
        outcome="y",
        controls=["force_rate_pre"],
        n_bootstrap=n_bootstrap,
        seed=seed,
        level="officers",
        notes=(
            "treatment: arm; mediator: the officer's mean over coded post-period encounters; "
            "outcome: post-period force reports per 100 calls; control: pre-period rate",
            "few clips per officer measure the mediator with error: the ACME is biased towards 0",
        ),
        labels=(mediator, f"{outcome}_per_100_calls"),
    )
