"""Design-based inference beside the primary (post-period ANCOVA) estimates.

Two checks a referee asks of every primary estimate, computed for the estimates `trial.py` has:

* `with_primary_fisher_tests`: each estimate with the conservative Fisher randomization p-value
  of its own statistic (`analysis.randomization_ancova`: arm re-drawn within the actual blocks;
  a re-randomization whose statistic is undefined counts as extreme, and how many there were is
  kept in `n_permutations_undefined`). The estimate itself is not changed.
* `block_cluster_tests`: the block-clustered robustness row of each estimate
  (`analysis.wild_bootstrap`): the linear version of the ANCOVA, clustered by block, with the wild
  cluster bootstrap p-value. It asks whether the officer-clustered inference survives outcomes
  correlated within a block (spillover between officers who work together).

Which test goes with which estimate is read from the estimate: an SSO item's outcome name (its
kind from `items`) or an officer-month count, per officer-month or per call attended (the
`per calls_attended` estimator). Both are memoized (analysis/memo.py): a night whose data did
not change re-uses them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import pandas as pd

from analysis.memo import memoized
from analysis.randomization import DEFAULT_PERMUTATIONS, FisherTest, with_fisher_test
from analysis.randomization_ancova import (
    ancova_permutation_test,
    force_ancova_permutation_test,
)
from analysis.results import Effect
from analysis.wild_bootstrap import (
    DEFAULT_DRAWS,
    WildBootstrapTest,
    block_wild_bootstrap_test,
    force_block_wild_bootstrap_test,
)

PER_CALL = "calls_attended"  # the exposure of the per-call (secondary) force scale


def exposure_of(effect: Effect) -> str | None:
    """The exposure an officer-month estimate was fitted per (None: per officer-month)."""
    return PER_CALL if f"per {PER_CALL}" in effect.estimator else None


def with_primary_fisher_tests(
    effects: Sequence[Effect],
    encounters: pd.DataFrame,
    officer_months: pd.DataFrame,
    officers: pd.DataFrame,
    items: Mapping[str, str],
    *,
    trial_start: date | None = None,
    control_start: date | None = None,
    n_permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> list[Effect]:
    """`effects` with the Fisher test of each in its extras (module docstring); an effect whose
    outcome is neither an SSO item nor in `officer_months` is returned as it was."""
    tested = []
    for effect in effects:
        test = None
        if effect.outcome in items and effect.outcome in encounters.columns:
            test = _sso_fisher_test(
                encounters,
                officers,
                effect.outcome,
                items[effect.outcome],
                n_permutations,
                seed,
            )
        elif effect.outcome in officer_months.columns:
            test = _force_fisher_test(
                officer_months,
                officers,
                effect.outcome,
                exposure_of(effect),
                trial_start,
                control_start,
                n_permutations,
                seed,
            )
        tested.append(with_fisher_test(effect, test) if test is not None else effect)
    return tested


def block_cluster_tests(
    effects: Sequence[Effect],
    encounters: pd.DataFrame,
    officer_months: pd.DataFrame,
    items: Mapping[str, str],
    *,
    trial_start: date | None = None,
    control_start: date | None = None,
    n_draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> list[WildBootstrapTest]:
    """The block-clustered wild bootstrap test of every per-officer-month or SSO estimate in
    `effects` (per-call estimates have none: the linear check is of the count per month)."""
    tests = []
    for effect in effects:
        if effect.outcome in items and effect.outcome in encounters.columns:
            tests.append(
                _sso_block_test(encounters, effect.outcome, items[effect.outcome], n_draws, seed)
            )
        elif effect.outcome in officer_months.columns and exposure_of(effect) is None:
            tests.append(
                _force_block_test(
                    officer_months, effect.outcome, trial_start, control_start, n_draws, seed
                )
            )
    return tests


def _assignment(officers: pd.DataFrame) -> pd.DataFrame:
    # only the columns the tests read: the memo key must not change with other roster columns
    return officers[[c for c in ("officer_id", "arm", "block_id") if c in officers.columns]]


@memoized
def _sso_fisher_test(
    encounters: pd.DataFrame,
    officers: pd.DataFrame,
    outcome: str,
    kind: str,
    n_permutations: int,
    seed: int,
) -> FisherTest:
    return ancova_permutation_test(
        encounters,
        outcome=outcome,
        kind=kind,
        officers=_assignment(officers),
        n_permutations=n_permutations,
        seed=seed,
    )


@memoized
def _force_fisher_test(
    officer_months: pd.DataFrame,
    officers: pd.DataFrame,
    outcome: str,
    exposure: str | None,
    trial_start: date | None,
    control_start: date | None,
    n_permutations: int,
    seed: int,
) -> FisherTest:
    return force_ancova_permutation_test(
        officer_months,
        outcome=outcome,
        exposure=exposure,
        officers=_assignment(officers),
        trial_start=trial_start,
        control_start=control_start,
        n_permutations=n_permutations,
        seed=seed,
    )


@memoized
def _sso_block_test(
    encounters: pd.DataFrame, outcome: str, kind: str, n_draws: int, seed: int
) -> WildBootstrapTest:
    return block_wild_bootstrap_test(
        encounters, outcome=outcome, kind=kind, n_draws=n_draws, seed=seed
    )


@memoized
def _force_block_test(
    officer_months: pd.DataFrame,
    outcome: str,
    trial_start: date | None,
    control_start: date | None,
    n_draws: int,
    seed: int,
) -> WildBootstrapTest:
    return force_block_wild_bootstrap_test(
        officer_months,
        outcome=outcome,
        trial_start=trial_start,
        control_start=control_start,
        n_draws=n_draws,
        seed=seed,
    )
