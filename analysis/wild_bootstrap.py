"""Block-clustered robustness row: the wild cluster bootstrap of the linear post-period ANCOVA.

The primary inference clusters by officer, the unit of randomization. If training spills over
between officers who work the same precinct and shift (a block), officers' outcomes are
correlated within blocks, and officer-clustered SEs are too small. The robustness row clusters
by block instead. With about a dozen blocks the cluster-robust Wald test over-rejects, so its
p-value comes from the wild cluster bootstrap with the null imposed (WCR; Cameron, Gelbach &
Miller 2008, REStat 90(3)) and Webb's six-point weights, which suit few clusters (Webb 2023,
Canadian J. Econ. 56(3)).

Model: the linear version of the primary ANCOVA, least squares of the outcome on the arm and the
same regressors (SSO items: `analysis.ancova`'s, the binary item as a linear probability model
and the count as is; force and complaints: `analysis.force_ancova`'s, the officer-month count).
Statistic: the arm's t statistic with the CR1 block-clustered SE. Every bootstrap draw multiplies
the restricted model's residuals of a block by one weight; the p-value is the share of draws
whose |t| reaches the observed one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.ancova_data import design_frame, post_frame
from analysis.force_ancova import design_frame as force_design_frame
from analysis.force_ancova import post_period_panel
from analysis.inference import cluster_codes

DEFAULT_DRAWS = 4999
DRAW_BATCH = 500  # draws per matrix product: bounds the n x draws working matrix
WEBB_WEIGHTS = np.array(
    [-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)]
)


@dataclass(frozen=True)
class WildBootstrapTest:
    """The arm's linear ANCOVA coefficient, its block-clustered SE and the WCR p-value."""

    outcome: str
    estimate: float
    std_error: float  # CR1, clustered by block
    t_statistic: float
    p_value: float  # wild cluster bootstrap, null imposed, Webb weights
    n_clusters: int
    n_draws: int
    model: str

    def to_dict(self) -> dict:
        return asdict(self)


def block_wild_bootstrap_test(
    encounters: pd.DataFrame,
    *,
    outcome: str,
    kind: str,
    cluster: str = "officer_id",
    arm: str = "arm",
    period: str = "study_period",
    block: str = "block_id",
    n_draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> WildBootstrapTest:
    """The block-clustered robustness test of one SSO item's primary ANCOVA (module docstring;
    binary items on the probability scale, ratings in pre-period SD units)."""
    data, pre_sd, _ = post_frame(encounters, outcome, kind, cluster, arm, period, block)
    if kind == "rating":
        data = data.assign(y=data["y"] / pre_sd)
    design = design_frame(data)
    return _test(outcome, design, data["y"], data["block"], n_draws, seed, f"OLS ({kind})")


def force_block_wild_bootstrap_test(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    block: str = "block_id",
    n_draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    **window,
) -> WildBootstrapTest:
    """The block-clustered robustness test of the force (complaints) ANCOVA per officer-month:
    least squares of the count on the Poisson ANCOVA's regressors. `window`: the columns and
    dates of the comparison window, as `analysis.force_window.window_panel` takes them."""
    post, _, _, _ = post_period_panel(officer_months, outcome, block=block, **window)
    design = force_design_frame(post)
    return _test(outcome, design, post["y"], post["block"], n_draws, seed, "OLS (counts)")


def _test(
    outcome: str,
    design: pd.DataFrame,
    y: pd.Series,
    blocks: pd.Series,
    n_draws: int,
    seed: int,
    model: str,
) -> WildBootstrapTest:
    x = design.to_numpy(float)
    y = y.to_numpy(float)
    column = design.columns.get_loc("treated_arm")
    groups = cluster_codes(blocks)
    n_groups = int(groups.max()) + 1
    n, k = x.shape
    correction = n_groups / (n_groups - 1.0) * (n - 1.0) / (n - k)
    inverse = np.linalg.pinv(x.T @ x)
    # the arm's coefficient of any outcome vector z is arm_weights @ z
    arm_weights = x @ inverse[column]
    membership = np.zeros((n_groups, n))
    membership[groups, np.arange(n)] = 1.0

    def coefficients_and_errors(outcomes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        residual = outcomes - x @ (inverse @ (x.T @ outcomes))
        scores = membership @ (arm_weights[:, None] * residual)
        return arm_weights @ outcomes, np.sqrt(correction * (scores**2).sum(axis=0))

    estimate, std_error = (float(v[0]) for v in coefficients_and_errors(y[:, None]))
    observed = estimate / std_error
    restricted = np.delete(x, column, axis=1)
    fitted = restricted @ np.linalg.lstsq(restricted, y, rcond=None)[0]
    residual = y - fitted
    rng = np.random.default_rng(seed)
    reached = 0
    for start in range(0, n_draws, DRAW_BATCH):
        size = min(DRAW_BATCH, n_draws - start)
        weights = rng.choice(WEBB_WEIGHTS, size=(n_groups, size))
        draws = fitted[:, None] + residual[:, None] * weights[groups]
        coefficients, errors = coefficients_and_errors(draws)
        reached += int((np.abs(coefficients / errors) >= abs(observed) - 1e-12).sum())
    return WildBootstrapTest(
        outcome=outcome,
        estimate=estimate,
        std_error=std_error,
        t_statistic=observed,
        p_value=reached / n_draws,
        n_clusters=n_groups,
        n_draws=n_draws,
        model=model + ", block-clustered CR1, wild cluster bootstrap (WCR, Webb weights)",
    )
