"""Fisher randomization tests: many relabelled cohort assignments, evaluated fast.

A permutation changes only which units form each cohort; the cohort sizes, A_theta and A_0 stay
fixed. So the per-unit projections Y_i A_theta,g' and Y_i A_0,g' (N x K) are computed once, and
a relabelling only selects, for every unit, the column of its new cohort. The cohort moments the
estimator needs are segment sums over the units sorted by their new label (a stable radix sort
of small integers): the means and quadratic forms a_g S_g a_g' of the point estimate and of the
Neyman variance, and for the refined variance the pre-period second moments M S_g M' and cross
moments M S_g A_theta,g', taken as sparse cohort-indicator products. All of it is vectorised over
a batch of permutations. Outcomes are centred at their period means first (the centring is
permutation-invariant and keeps the moment formulas well conditioned).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sparse

from analysis.staggered.estimator import DBL_MIN, symmetric_ginv_solve

BATCH_SIZE = 128
CANCELLATION_TOLERANCE = 1e-9  # relative; sums of n <= 1e5 products err by ~n * 2.2e-16


class PermutationStatistics:
    """Estimate, refined SE and Neyman SE of one target (DiD A_0) under relabelled cohorts."""

    def __init__(
        self,
        outcomes: np.ndarray,
        sizes: np.ndarray,
        a_theta: np.ndarray,
        a_zero: np.ndarray,
        *,
        beta: float | None,
        g_min_index: int | None,
        pre_periods: int,
        threads: int | None = None,
    ) -> None:
        self.threads = threads if threads is not None else min(os.cpu_count() or 1, 4)
        centre = outcomes.mean(axis=0)
        centred = outcomes - centre
        self.n_units, n_periods = outcomes.shape
        self.n_cohorts = len(sizes)
        self.sizes = sizes.astype(float)
        self.beta = beta
        self.theta_shift = float(a_theta.sum(axis=0) @ centre)
        self.zero_shift = float(a_zero.sum(axis=0) @ centre)
        self.theta_projection = (centred @ a_theta.T).ravel()
        self.zero_projection = (centred @ a_zero.T).ravel()
        self.position_cohort = np.repeat(np.arange(self.n_cohorts), sizes)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.m = pre_periods
        if self.m > 0:
            self.g_min = g_min_index
            first_unit = int(self.starts[g_min_index])
            self.plus_positions = np.arange(first_unit, self.n_units)
            self.plus_sizes = self.sizes[g_min_index:]
            pre = centred[:, : self.m]
            upper_rows, upper_cols = np.triu_indices(self.m)
            # position of (min(i, j), max(i, j)) in the upper-triangle list, for each (i, j)
            self.symmetric_index = np.zeros((self.m, self.m), dtype=np.int64)
            self.symmetric_index[upper_rows, upper_cols] = np.arange(len(upper_rows))
            self.symmetric_index[upper_cols, upper_rows] = np.arange(len(upper_rows))
            self.pre_moments = np.hstack([pre, pre[:, upper_rows] * pre[:, upper_cols]])
            self.pre = pre

    def evaluate(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(estimate, se, se_neyman) for each row of `labels` (permutations x units)."""
        labels = np.atleast_2d(labels)
        batches = [labels[s : s + BATCH_SIZE] for s in range(0, len(labels), BATCH_SIZE)]
        workers = min(self.threads, len(batches))
        if workers > 1:
            # the heavy steps (sparse products, LAPACK, ufuncs) release the GIL
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(self._batch, batches))
        else:
            results = [self._batch(batch) for batch in batches]
        return tuple(np.concatenate(parts) for parts in zip(*results, strict=True))

    def _segment_sums(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.starts, axis=1)

    def _batch(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_draws = labels.shape[0]
        order = np.argsort(labels.astype(np.int16), axis=1, kind="stable")
        flat = order * self.n_cohorts + self.position_cohort
        theta_values = self.theta_projection[flat]
        zero_values = self.zero_projection[flat]
        theta_means = self._segment_sums(theta_values) / self.sizes
        zero_means = self._segment_sums(zero_values) / self.sizes
        theta_values -= theta_means[:, self.position_cohort]
        zero_values -= zero_means[:, self.position_cohort]
        theta_0 = theta_means.sum(axis=1) + self.theta_shift
        pre_contrast = zero_means.sum(axis=1) + self.zero_shift
        weights = 1.0 / (self.sizes * (self.sizes - 1.0))
        valid = np.ones(n_draws, dtype=bool)
        if self.beta is None:
            v_x = self._segment_sums(zero_values * zero_values) @ weights
            c = self._segment_sums(zero_values * theta_values) @ weights
            zero_pivot = v_x * v_x <= DBL_MIN
            beta = np.where(zero_pivot, 0.0, c / np.where(zero_pivot, 1.0, v_x))
            valid = beta != 0.0  # R errors on an exactly-zero plug-in beta: the draw is dropped
        else:
            beta = np.full(n_draws, float(self.beta))
        combined = theta_values - beta[:, None] * zero_values
        variance = np.maximum(self._segment_sums(combined * combined) @ weights, 0.0)
        refined = variance
        if self.m > 0:
            refined = np.maximum(variance - self._adjustment(order, theta_values), 0.0)
        estimate = theta_0 - beta * pre_contrast
        estimate[~valid] = np.nan
        return estimate, np.sqrt(refined), np.sqrt(variance)

    def _adjustment(self, order: np.ndarray, theta_values: np.ndarray) -> np.ndarray:
        """b' S_pre-bar b / N for each draw (spec 7.2), from sparse cohort-indicator products."""
        n_draws, m = order.shape[0], self.m
        n_plus = len(self.plus_sizes)
        members = order[:, self.plus_positions]
        plus_starts = self.starts[self.g_min :] - self.starts[self.g_min]
        indptr = np.concatenate(
            [
                (np.arange(n_draws)[:, None] * len(self.plus_positions) + plus_starts).ravel(),
                [n_draws * len(self.plus_positions)],
            ]
        )
        shape = (n_draws * n_plus, self.n_units)
        indices = members.ravel()
        indicator = sparse.csr_matrix((np.ones(indices.size), indices, indptr), shape=shape)
        moments = (indicator @ self.pre_moments).reshape(n_draws, n_plus, -1)
        sums, products = moments[..., :m], moments[..., m:]
        weighted = sparse.csr_matrix(
            (theta_values[:, self.plus_positions].ravel(), indices, indptr), shape=shape
        )
        cross = (weighted @ self.pre).reshape(n_draws, n_plus, m)
        second = products[..., self.symmetric_index]
        sizes = self.plus_sizes[None, :, None, None]
        squared_means = sums[..., :, None] * (sums[..., None, :] / sizes)
        covariance = (second - squared_means) / (sizes - 1.0)
        # second - sum^2/n cancels: a period constant within a cohort (say, no sustained
        # complaint in a small cohort) leaves rounding noise, not the exact 0 of the direct
        # formula, and the pseudo-inverse would invert that noise. Entries at the rounding level
        # of the terms they came from are zero.
        magnitude = (np.abs(second) + np.abs(squared_means)) / (sizes - 1.0)
        covariance[np.abs(covariance) <= CANCELLATION_TOLERANCE * magnitude] = 0.0
        cross /= self.plus_sizes[None, :, None] - 1.0
        b = symmetric_ginv_solve(covariance, cross).sum(axis=1)
        pre_mean = covariance.mean(axis=1)
        return np.einsum("di,dij,dj->d", b, pre_mean, b) / self.n_units


def fisher_p_values(
    observed: tuple[float, float, float],
    permuted: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[float, float, int]:
    """Share of draws with |estimate / se| strictly above the observed one (no +1 correction).

    Draws that R would drop as errors (NaN estimate) are left out of the count; a 0/0 ratio
    anywhere makes the p-value NaN, as in R.
    """
    estimate, se, se_neyman = (np.asarray(x, dtype=float) for x in permuted)
    valid = ~np.isnan(estimate)
    p_values = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for observed_se, draw_se in ((observed[1], se), (observed[2], se_neyman)):
            observed_ratio = np.abs(np.float64(observed[0]) / np.float64(observed_se))
            ratios = np.abs(estimate[valid] / draw_se[valid])
            if np.isnan(observed_ratio) or np.isnan(ratios).any() or not valid.any():
                p_values.append(float("nan"))
            else:
                p_values.append(float(np.mean(observed_ratio < ratios)))
    return p_values[0], p_values[1], int(valid.sum())
