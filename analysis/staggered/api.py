"""One-call estimators for staggered roll-outs (Roth & Sant'Anna 2023), like R's `staggered`.

`staggered(data, unit=..., time=..., cohort=..., outcome=..., estimand=..., estimator=...)`
returns an `Effect` (a list of them for several event times):

* estimator "efficient": the plug-in efficient estimator, theta_0 - beta* X with X the DiD
  pre-period contrast of the same cells (R: `staggered()`), or with the full vector of
  pre-period contrasts when `use_did_a0=False`;
* "cs": Callaway & Sant'Anna with not-yet-treated comparisons (R: `staggered_cs()`, beta = 1);
* "sa": Sun & Abraham, the last-treated cohort as the only comparison (R: `staggered_sa()`).

`std_error` is the refined design-based SE and `extras["std_error_neyman"]` the conservative
Neyman SE; the 95% interval and p-value use the design-based SE. With `permutations=B` a Fisher
randomization test permutes the cohort labels: `rng="r"` reproduces R's draws (seeds 1..B, R's
label order and chaining across event times), `rng="numpy"` draws from numpy with `seed`.

The balance checks of the pre-period contrasts (R's `balance_checks`) are in
analysis/staggered/balance.py, re-exported here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.inference import wald_interval, wald_p_value
from analysis.results import Effect
from analysis.staggered import estimator as core
from analysis.staggered.balance import RNGS, BalanceChecks, balance_checks
from analysis.staggered.panel import CohortPanel, cohort_summaries, prepare_panel
from analysis.staggered.permutation import PermutationStatistics, fisher_p_values
from analysis.staggered.rrng import r_permutations
from analysis.staggered.weights import (
    ESTIMANDS,
    Design,
    NoComparisonError,
    as_list,
    full_pre_period_contrasts,
    weight_matrices,
)

__all__ = ["ESTIMATORS", "BalanceChecks", "balance_checks", "staggered", "staggered_covariance"]

ESTIMATORS = {
    "efficient": "Roth & Sant'Anna efficient",
    "cs": "Callaway & Sant'Anna",
    "sa": "Sun & Abraham",
}


@dataclass(frozen=True)
class _Target:
    label: str
    event_time: int | None
    a_theta: np.ndarray
    a_zero: np.ndarray  # K x R x T


def staggered(
    data: pd.DataFrame,
    *,
    unit: str,
    time: str,
    cohort: str,
    outcome: str,
    estimand: str = "simple",
    estimator: str = "efficient",
    event_time: int | Sequence[int] | None = None,
    beta: float | Sequence[float] | None = None,
    use_did_a0: bool = True,
    permutations: int = 0,
    seed: int | None = None,
    rng: str = "numpy",
) -> Effect | list[Effect]:
    """Staggered-rollout estimate(s) of `outcome`; a list when `event_time` is a sequence.

    `cohort` is the first treated period (+Inf for never treated), on the scale of `time`.
    `beta` overrides the plug-in beta* of the efficient estimator (0 gives the difference in
    means). `permutations` > 0 adds `fisher_p_value`, `fisher_p_value_neyman` and
    `n_permutations` to the extras; with `rng="r"` the draws are R's and `seed` is unused
    (the package always uses seeds 1..B).
    """
    estimator, estimand, rng = estimator.lower(), estimand.lower(), rng.lower()
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; use one of {tuple(ESTIMATORS)}")
    if rng not in RNGS:
        raise ValueError(f"unknown rng {rng!r}; use one of {RNGS}")
    if estimator != "efficient" and (beta is not None or not use_did_a0):
        raise ValueError("`beta` and `use_did_a0` apply to the efficient estimator only")
    several = event_time is not None and not np.isscalar(event_time)
    if several and estimand != "eventstudy":
        raise ValueError("several event times need estimand='eventstudy'")
    panel = prepare_panel(
        data,
        unit=unit,
        time=time,
        cohort=cohort,
        outcome=outcome,
        drop_always_treated=estimator != "efficient",
    )
    if estimator != "efficient":
        beta = 1.0
        # the wrappers sort the data by unit before the core: R's labels are in unit-id order
        panel = _with_reference_order(panel, np.arange(panel.n_units))
    targets, notes = _targets(
        panel,
        estimand,
        event_time,
        last_treated_only=estimator == "sa",
        use_did_a0=use_did_a0,
        several=several,
    )
    notes = panel.notes + notes
    summaries = panel.summaries()
    results = []
    for target in targets:
        try:
            fit = core.estimate(
                summaries,
                target.a_theta,
                target.a_zero,
                cohorts=panel.cohorts,
                periods=panel.periods,
                beta=beta,
            )
            target_notes = notes
        except core.ZeroBetaError:
            fit = core.estimate(
                summaries,
                target.a_theta,
                target.a_zero,
                cohorts=panel.cohorts,
                periods=panel.periods,
                beta=0.0,
            )
            target_notes = notes + (
                "the plug-in beta is exactly 0 (R errors here): reported the difference in means",
            )
        results.append((target, fit, target_notes))

    fisher: list[tuple[float, float, int]] = []
    if permutations > 0:
        fisher = _fisher_tests(panel, [t for t, _, _ in results], beta, permutations, seed, rng)
    effects = [
        _effect(panel, outcome, estimator, target, fit, target_notes, beta)
        for target, fit, target_notes in results
    ]
    if fisher:
        effects = [
            _with_extras(
                effect,
                {
                    "fisher_p_value": p,
                    "fisher_p_value_neyman": p_neyman,
                    "n_permutations": n_valid,
                    "rng": rng,
                },
            )
            for effect, (p, p_neyman, n_valid) in zip(effects, fisher, strict=True)
        ]
    return effects if several else effects[0]


def staggered_covariance(
    data: pd.DataFrame,
    *,
    unit: str,
    time: str,
    cohort: str,
    outcome: str,
    event_time: Sequence[int],
    estimator: str = "efficient",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Joint (refined, Neyman) covariance matrices of event-study estimates (R's
    `return_full_vcv = TRUE`), indexed by event time; one common gMin for the refinement."""
    estimator = estimator.lower()
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; use one of {tuple(ESTIMATORS)}")
    panel = prepare_panel(
        data,
        unit=unit,
        time=time,
        cohort=cohort,
        outcome=outcome,
        drop_always_treated=estimator != "efficient",
    )
    targets, _ = _targets(
        panel,
        "eventstudy",
        event_time,
        last_treated_only=estimator == "sa",
        use_did_a0=True,
        several=True,
    )
    summaries = panel.summaries()
    fitted = []
    for target in targets:
        beta = None if estimator == "efficient" else 1.0
        fit = core.estimate(
            summaries,
            target.a_theta,
            target.a_zero,
            cohorts=panel.cohorts,
            periods=panel.periods,
            beta=beta,
        )
        fitted.append((target.a_theta, target.a_zero, fit.beta))
    vcv, vcv_neyman = core.joint_covariance(
        summaries, fitted, cohorts=panel.cohorts, periods=panel.periods
    )
    index = pd.Index([t.event_time for t in targets], name="event_time")
    return (
        pd.DataFrame(vcv, index=index, columns=index),
        pd.DataFrame(vcv_neyman, index=index, columns=index),
    )


def _targets(
    panel: CohortPanel,
    estimand: str,
    event_time,
    *,
    last_treated_only: bool,
    use_did_a0: bool,
    several: bool,
) -> tuple[list[_Target], tuple[str, ...]]:
    if estimand not in ESTIMANDS:
        raise ValueError(f"unknown estimand {estimand!r}; use one of {ESTIMANDS}")
    design = Design(panel.cohorts, panel.sizes, panel.periods)
    full_a_zero = None if use_did_a0 else full_pre_period_contrasts(design)
    event_times: list[int | None] = [None]
    if estimand == "eventstudy":
        if event_time is None:
            raise ValueError("estimand='eventstudy' needs `event_time`")
        event_times = [int(e) for e in as_list(event_time)]
    targets, notes = [], []
    for e in event_times:
        try:
            a_theta, a_zero = weight_matrices(design, estimand, e, last_treated_only)
        except NoComparisonError as error:
            if not several:
                raise
            notes.append(_warn(f"skipped event time {e}: {error}"))
            continue
        a_zero = a_zero[:, None, :] if full_a_zero is None else full_a_zero
        label = estimand if e is None else f"event time {e}"
        targets.append(_Target(label, e, a_theta, a_zero))
    if not targets:
        raise NoComparisonError("none of the event times has a cohort comparison")
    return targets, tuple(notes)


def _fisher_tests(
    panel: CohortPanel,
    targets: list[_Target],
    beta,
    permutations: int,
    seed: int | None,
    rng: str,
) -> list[tuple[float, float, int]]:
    """Fisher p-values of each target; R's event times chain their reference labels."""
    if rng == "r":
        draws = r_permutations(np.arange(1, permutations + 1), panel.n_units)
    else:
        generator = np.random.default_rng(seed)
        draws = np.stack([generator.permutation(panel.n_units) for _ in range(permutations)])
    labels = panel.labels
    results = []
    for target in targets:
        reference = labels[panel.reference_order].astype(np.int16)  # K < 2^15 cohorts
        relabelled = reference[draws]
        statistics = _statistics(panel, target, beta)
        observed = tuple(float(x[0]) for x in statistics(panel.labels[None, :]))
        results.append(fisher_p_values(observed, statistics(relabelled)))
        if rng == "r":
            labels = relabelled[-1]
    return results


def _statistics(panel: CohortPanel, target: _Target, beta):
    """A function from label vectors (draws x units) to (estimate, se, se_neyman) arrays."""
    if target.a_zero.shape[1] == 1 and (beta is None or np.size(beta) == 1):
        g_min = core.first_targeted_cohort(target.a_theta)
        engine = PermutationStatistics(
            panel.outcomes,
            panel.sizes,
            target.a_theta,
            target.a_zero[:, 0, :],
            beta=None if beta is None else float(np.ravel(beta)[0]),
            g_min_index=g_min,
            pre_periods=core.pre_period_count(panel.cohorts, panel.periods, g_min),
        )
        return engine.evaluate
    return lambda draws: _slow_statistics(panel, target, beta, draws)


def _slow_statistics(panel: CohortPanel, target: _Target, beta, draws: np.ndarray):
    """Recompute every cohort summary per draw (the full A_0, or as a reference)."""
    results = np.full((len(draws), 3), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s, labels in enumerate(draws):
            summaries = cohort_summaries(panel.outcomes, labels, len(panel.cohorts))
            try:
                fit = core.estimate(
                    summaries,
                    target.a_theta,
                    target.a_zero,
                    cohorts=panel.cohorts,
                    periods=panel.periods,
                    beta=beta,
                )
            except core.ZeroBetaError:
                continue
            results[s] = fit.estimate, fit.std_error, fit.std_error_neyman
    return results[:, 0], results[:, 1], results[:, 2]


def _effect(panel, outcome, estimator, target, fit, notes, beta) -> Effect:
    ci_low, ci_high = wald_interval(fit.estimate, fit.std_error)
    name = ESTIMATORS[estimator]
    if estimator == "efficient" and beta is not None:
        name = "Roth & Sant'Anna, fixed beta"
    extras = {
        "estimand": "eventstudy" if target.event_time is not None else target.label,
        "std_error_neyman": fit.std_error_neyman,
        "beta": float(fit.beta[0]) if fit.beta.size == 1 else fit.beta.tolist(),
        "n_cohorts": len(panel.cohorts),
        "n_periods": len(panel.periods),
    }
    if target.event_time is not None:
        extras["event_time"] = target.event_time
    return Effect(
        outcome=outcome,
        estimator=f"{name} ({target.label})",
        estimate=fit.estimate,
        std_error=fit.std_error,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=wald_p_value(fit.estimate, fit.std_error),
        n_units=panel.n_units,
        n_obs=panel.n_units * len(panel.periods),
        extras=extras,
        notes=tuple(notes),
    )


def _with_extras(effect: Effect, extras: dict) -> Effect:
    return Effect(**{**effect.__dict__, "extras": {**effect.extras, **extras}})


def _with_reference_order(panel: CohortPanel, order: np.ndarray) -> CohortPanel:
    return CohortPanel(**{**panel.__dict__, "reference_order": order})


def _warn(message: str) -> str:
    warnings.warn(message, UserWarning, stacklevel=3)
    return message
