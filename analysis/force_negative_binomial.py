"""The negative binomial (NB2) check of `analysis.force.force_effect`'s Poisson model.

The same regressors (arm, arm x post, calendar-month effects) and log(exposure) offset, with the
dispersion estimated and the SEs clustered by officer; reported in the `nb_*` extras of the
Poisson estimate. The NB2 model carries its derivatives in closed form (`NegativeBinomial2`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import digamma, polygamma

from analysis.force_cells import ARM_POST, month_fe_design
from analysis.inference import ratio_from_log_scale

# Newton with exact derivatives converges in a handful of steps when the NB2 fit converges at
# all; a fit that has not by then is reported as not converged rather than iterated on
NB_MAX_ITERATIONS = 30


def negative_binomial_check(
    data: pd.DataFrame, groups: np.ndarray, poisson_params: pd.Series
) -> dict[str, float]:
    """The `nb_*` extras: the NB2 fit's rate ratio, interval, p-value and dispersion."""
    # A month without a single event (the night's month, its force reports not filed yet) has
    # no finite fixed effect, so NB2 has no optimum; such a month says nothing about the other
    # coefficients, and is left out of the check.
    with_events = data.groupby("month")["y"].transform("sum").to_numpy() > 0
    months_left_out = int(data["month"].nunique() - data.loc[with_events, "month"].nunique())
    data, groups = data[with_events], groups[with_events]
    design = month_fe_design(data)
    offset = np.log(data["exposure"].to_numpy())
    model = NegativeBinomial2(data["y"], design, offset=offset, loglike_method="nb2")
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
        rate_ratio, _, (low, high), p_value = ratio_from_log_scale(log_ratio, log_se)
        return {
            **fallback,
            "nb_rate_ratio": rate_ratio,
            "nb_ci_low": low,
            "nb_ci_high": high,
            "nb_p_value": p_value,
            "nb_alpha": float(fit.params["alpha"]),
            "nb_converged": bool(fit.mle_retvals.get("converged", False)),
            "nb_months_without_events": months_left_out,
        }
    except (np.linalg.LinAlgError, ValueError) as error:
        return {"nb_rate_ratio": math.nan, "nb_error": str(error)}


class NegativeBinomial2(sm.NegativeBinomial):
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
