"""Staggered-rollout estimators of Roth & Sant'Anna (2023), reproducing the R package `staggered`.

See `analysis.staggered.api` for the estimators and `analysis.staggered.rrng` for R's random
number generator (used to reproduce the package's Fisher randomization draws).
"""

from analysis.staggered.api import (
    BalanceChecks,
    balance_checks,
    staggered,
    staggered_covariance,
)
from analysis.staggered.panel import CohortPanel, prepare_panel
from analysis.staggered.rrng import RRandom, r_permutations, r_sample

__all__ = [
    "BalanceChecks",
    "CohortPanel",
    "RRandom",
    "balance_checks",
    "prepare_panel",
    "r_permutations",
    "r_sample",
    "staggered",
    "staggered_covariance",
]
