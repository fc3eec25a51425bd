"""Pre-trend balance checks of a staggered roll-out (R `staggered`'s `balance_checks`): the DiD
pre-period contrasts X of the chosen estimands, each tested against zero, jointly by a Wald test,
and optionally by Fisher randomization tests of the cohort labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.staggered import estimator as core
from analysis.staggered.panel import CohortPanel, cohort_summaries, prepare_panel
from analysis.staggered.rrng import RRandom, r_permutations
from analysis.staggered.weights import Design, as_list, weight_matrices

RNGS = ("numpy", "r")
BALANCE_FAMILIES = ("simple", "cohort", "calendar", "eventstudy")


@dataclass(frozen=True)
class BalanceChecks:
    """Pre-trend balance checks: one row per pre-period contrast X, and the joint Wald test.

    `table` has columns contrast, estimand, event_time, x_hat, std_error, t_stat (|X / se|),
    p_value and, with permutations, fisher_p_value. `fisher_sup_t_p_value` is the
    randomization p-value of the largest |t| across rows.
    """

    table: pd.DataFrame
    wald: float
    wald_df: int
    wald_p_value: float
    n_units: int
    covariance: pd.DataFrame
    fisher_sup_t_p_value: float | None = None
    n_permutations: int | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "contrasts": self.table.replace({np.nan: None}).to_dict(orient="records"),
            "wald": self.wald,
            "wald_df": self.wald_df,
            "wald_p_value": self.wald_p_value,
            "n_units": self.n_units,
            "fisher_sup_t_p_value": self.fisher_sup_t_p_value,
            "n_permutations": self.n_permutations,
            "notes": list(self.notes),
        }


def balance_checks(
    data: pd.DataFrame,
    *,
    unit: str,
    time: str,
    cohort: str,
    outcome: str,
    estimand: str | Sequence[str] = "all",
    event_time: int | Sequence[int] | None = None,
    last_treated_only: bool = False,
    permutations: int = 0,
    seed: int | None = None,
    rng: str = "numpy",
) -> BalanceChecks:
    """Tests that the DiD pre-period contrasts X of the chosen estimands are zero (R's
    `balance_checks`): per contrast a z-test with the Neyman SE, jointly a Wald test with
    df = number of contrasts, and optionally randomization p-values.

    With `rng="r"` the draws follow the package: `set.seed(seed)`, m = floor(rexp(1, 1/500)),
    draw s uses `set.seed(s * m)` and the permutations compound.
    """
    rng = rng.lower()
    if rng not in RNGS:
        raise ValueError(f"unknown rng {rng!r}; use one of {RNGS}")
    families = list(BALANCE_FAMILIES) if estimand == "all" else as_list(estimand)
    families = [family.lower() for family in families]
    for family in families:
        if family not in BALANCE_FAMILIES:
            raise ValueError(f"unknown estimand {family!r}")
    panel = prepare_panel(data, unit=unit, time=time, cohort=cohort, outcome=outcome)
    design = Design(panel.cohorts, panel.sizes, panel.periods)
    prefix = "all_" if estimand == "all" else ""
    rows: list[tuple[str, str, int | None, np.ndarray]] = []
    for family in families:
        if family == "eventstudy":
            if event_time is None:
                raise ValueError("the event-study estimand needs an event time")
            for e in as_list(event_time):
                _, a_zero = weight_matrices(design, family, int(e), last_treated_only)
                rows.append((f"{prefix}ES{int(e)}", family, int(e), a_zero))
        else:
            _, a_zero = weight_matrices(design, family, None, last_treated_only)
            rows.append((f"{prefix}{family}", family, None, a_zero))
    a_zero = np.stack([row[3] for row in rows], axis=1)  # K x R x T
    x_hat, v_x = _pre_contrasts(panel.outcomes, panel.labels, a_zero)
    se = np.sqrt(np.diag(v_x))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_stat = np.abs(x_hat / se)
    wald = float(x_hat @ core.ginv(v_x) @ x_hat)
    df = len(rows)
    table = pd.DataFrame(
        {
            "contrast": [row[0] for row in rows],
            "estimand": [row[1] for row in rows],
            "event_time": pd.array([row[2] for row in rows], dtype="Int64"),
            "x_hat": x_hat,
            "std_error": se,
            "t_stat": t_stat,
            "p_value": 2.0 * stats.norm.sf(t_stat),
        }
    )
    sup_p = n_valid = None
    if permutations > 0:
        draws = _balance_draws(panel, permutations, seed, rng)
        permuted_t = np.empty((permutations, df))
        for s in range(permutations):
            x_s, v_s = _pre_contrasts(panel.outcomes, draws[s], a_zero)
            with np.errstate(divide="ignore", invalid="ignore"):
                permuted_t[s] = np.abs(x_s / np.sqrt(np.diag(v_s)))
        table["fisher_p_value"] = (permuted_t > t_stat).mean(axis=0)
        sup_p = float((permuted_t.max(axis=1) > t_stat.max()).mean())
        n_valid = permutations
    covariance = pd.DataFrame(v_x, index=table["contrast"], columns=table["contrast"])
    return BalanceChecks(
        table=table,
        wald=wald,
        wald_df=df,
        wald_p_value=float(stats.chi2.sf(wald, df)),
        n_units=panel.n_units,
        covariance=covariance,
        fisher_sup_t_p_value=sup_p,
        n_permutations=n_valid,
        notes=panel.notes,
    )


def _pre_contrasts(
    outcomes: np.ndarray, labels: np.ndarray, a_zero: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """X = sum_g A_0,g mean_g and V_X = sum_g A_0,g S_g A_0,g' / N_g."""
    summaries = cohort_summaries(outcomes, labels, a_zero.shape[0])
    x_hat = np.einsum("krt,kt->r", a_zero, summaries.means)
    zero_s = np.einsum("krt,kts->krs", a_zero, summaries.covariances)
    v_x = np.einsum("krs,kqs,k->rq", zero_s, a_zero, 1.0 / summaries.sizes)
    return x_hat, v_x


def _balance_draws(panel: CohortPanel, permutations: int, seed: int | None, rng: str):
    """Label vectors of the balance-check FRT (compounding permutations, as in R)."""
    if rng == "numpy":
        generator = np.random.default_rng(seed)
        return np.stack([generator.permutation(panel.labels) for _ in range(permutations)])
    if seed is None:
        raise ValueError("rng='r' needs a seed (R's draws would depend on the session's state)")
    multiplier = math.floor(RRandom(seed).rexp(1.0 / 500.0))
    seeds = multiplier * np.arange(1, permutations + 1)
    if seeds.max() > 2**31 - 1:
        raise ValueError("seed multiples exceed R's integer range")
    labels = panel.labels.copy()
    draws = np.empty((permutations, panel.n_units), dtype=labels.dtype)
    for s, permutation in enumerate(r_permutations(seeds, panel.n_units)):
        labels = labels[permutation]
        draws[s] = labels
    return draws
