"""The encounter-generating process of the SSO codebook items, and how coders code it.

The same functions generate the coded clips of a synthetic department and the Monte-Carlo
population from which the planted estimands are computed (middlestep/synth/truth.py), so the
estimands are the expected values of the estimators on data generated exactly this way.

An encounter has an officer (with one random effect per item), a call type and a treated flag
(the officer completed the training before the day of the encounter). Items are generated in
the scenario's order, each from those above it:

* binary: p0 = expit(logit(baseline) + officer effect + modifiers), p = clip(p0 + treated *
  effect, 0.01, 0.99); the true value is 1 with probability p. A coder records the opposite of
  the truth with the item's error probability.
* rating: a latent score L = mean + officer effect + encounter noise + SD * (modifiers +
  treated * effect), SD = sqrt(officer_sd^2 + encounter_sd^2). A coder records
  round(L + N(0, noise_sd)) clipped to 1..5.
* count: the true count is Poisson(mean * exp(officer effect - officer_sd^2 / 2 + modifiers) *
  rate_ratio^treated). A coder is off by one (up or down, at least 0) with the item's error
  probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit, ndtr

RATING_LEVELS = np.arange(1, 6)


@dataclass(frozen=True)
class CodingErrors:
    binary_error_probability: float
    rating_noise_sd: float
    count_error_probability: float

    @classmethod
    def from_scenario(cls, scenario: dict) -> CodingErrors:
        coding = scenario["coding"]
        return cls(
            float(coding["binary_error_probability"]),
            float(coding["rating_noise_sd"]),
            float(coding["count_error_probability"]),
        )

    def for_item(self, spec: dict) -> float:
        """The item's error probability (binary, count) or noise SD (rating)."""
        if spec["kind"] == "binary":
            return float(spec.get("error_probability", self.binary_error_probability))
        if spec["kind"] == "count":
            return float(spec.get("error_probability", self.count_error_probability))
        return float(spec.get("noise_sd", self.rating_noise_sd))


def latent_sd(spec: dict) -> float:
    return float(np.hypot(spec["officer_sd"], spec["encounter_sd"]))


def draw_officer_effects(rng: np.random.Generator, n_officers: int, items: dict) -> dict:
    """One random effect per officer and item (logit, latent or log scale by item kind)."""
    return {
        name: rng.normal(0.0, float(spec["officer_sd"]), n_officers) for name, spec in items.items()
    }


def draw_encounter_noise(rng: np.random.Generator, n: int, items: dict) -> dict:
    """Per encounter and item: a uniform (binary: the true value is u < p) or a standard normal
    (rating: the encounter's deviation). Counts are drawn later, from their rate."""
    noise = {}
    for name, spec in items.items():
        if spec["kind"] == "binary":
            noise[name] = rng.random(n)
        elif spec["kind"] == "rating":
            noise[name] = rng.standard_normal(n)
    return noise


@dataclass
class EncounterTruth:
    """Per item: binary -> probability of a true 1 (``parameter``) and the true value;
    rating -> the latent score; count -> the Poisson rate."""

    parameter: dict[str, np.ndarray]
    realized: dict[str, np.ndarray]  # binary items: true 0/1; ratings: standardized latent


def encounter_truth(
    items: dict,
    officer_effects: dict[str, np.ndarray],
    call_type_names: list[str],
    call_type: np.ndarray,
    treated: np.ndarray,
    noise: dict[str, np.ndarray],
) -> EncounterTruth:
    """The true state of encounters. ``officer_effects`` are per encounter (already indexed by
    the encounter's officer), ``call_type`` indexes ``call_type_names``."""
    treated = np.asarray(treated, dtype=bool)
    parameter: dict[str, np.ndarray] = {}
    realized: dict[str, np.ndarray] = {}
    for name, spec in items.items():
        shift = np.zeros(len(treated))
        for other, coefficient in (spec.get("modifiers") or {}).items():
            shift = shift + float(coefficient) * realized[other]
        for type_name, coefficient in (spec.get("call_type_modifiers") or {}).items():
            shift = shift + float(coefficient) * (call_type == call_type_names.index(type_name))
        effect_by = np.zeros(len(treated))
        for other, coefficient in (spec.get("effect_by") or {}).items():
            effect_by = effect_by + float(coefficient) * realized[other]
        kind = spec["kind"]
        if kind == "binary":
            p0 = expit(logit(float(spec["baseline"])) + officer_effects[name] + shift)
            effect = (float(spec["effect"]) + effect_by) * treated
            p = np.clip(p0 + effect, 0.01, 0.99)
            parameter[name] = p
            realized[name] = (noise[name] < p).astype(np.float64)
        elif kind == "rating":
            sd = latent_sd(spec)
            effect = (float(spec["effect"]) + effect_by) * treated
            latent = (
                float(spec["mean"])
                + officer_effects[name]
                + float(spec["encounter_sd"]) * noise[name]
                + sd * (shift + effect)
            )
            parameter[name] = latent
            realized[name] = (latent - float(spec["mean"])) / sd
        else:
            sd = float(spec["officer_sd"])
            log_rate = np.log(float(spec["mean"])) + officer_effects[name] - sd * sd / 2 + shift
            log_rate = log_rate + (np.log(float(spec["rate_ratio"])) + effect_by) * treated
            parameter[name] = np.exp(log_rate)
    return EncounterTruth(parameter=parameter, realized=realized)


def draw_true_counts(rng: np.random.Generator, truth: EncounterTruth, items: dict) -> dict:
    """The true value of every count item (Poisson from its rate)."""
    return {
        name: rng.poisson(truth.parameter[name])
        for name, spec in items.items()
        if spec["kind"] == "count"
    }


def code_encounters(
    rng: np.random.Generator,
    items: dict,
    errors: CodingErrors,
    truth: EncounterTruth,
    true_counts: dict[str, np.ndarray],
    encounter_of_coding: np.ndarray,
) -> dict[str, np.ndarray]:
    """The codes of every coding (row) of the encounters ``encounter_of_coding`` points to:
    each coding draws its own coder error."""
    n = len(encounter_of_coding)
    codes: dict[str, np.ndarray] = {}
    for name, spec in items.items():
        error = errors.for_item(spec)
        if spec["kind"] == "binary":
            true_value = truth.realized[name][encounter_of_coding].astype(np.int64)
            flipped = rng.random(n) < error
            codes[name] = np.where(flipped, 1 - true_value, true_value)
        elif spec["kind"] == "rating":
            latent = truth.parameter[name][encounter_of_coding]
            seen = latent + rng.normal(0.0, error, n)
            codes[name] = np.clip(np.floor(seen + 0.5), 1, 5).astype(np.int64)
        else:
            true_value = true_counts[name][encounter_of_coding]
            off = (rng.random(n) < error) * rng.choice(np.array([-1, 1]), n)
            codes[name] = np.maximum(true_value + off, 0).astype(np.int64)
    return codes


def expected_codes(
    items: dict, errors: CodingErrors, truth: EncounterTruth
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per item, the mean and variance of one coding given the encounter's true state
    (exact: the coder error is integrated out)."""
    moments = {}
    for name, spec in items.items():
        error = errors.for_item(spec)
        value = truth.parameter[name]
        if spec["kind"] == "binary":
            mean = error + (1 - 2 * error) * value
            variance = mean * (1 - mean)
        elif spec["kind"] == "rating":
            mean, variance = _rating_moments(value, error)
        else:
            # a true count y: the coder records y - 1, y or y + 1, never below 0
            p_zero = np.exp(-value)
            mean = value + error / 2 * p_zero
            # E[(y + e)^2] = E[y^2] + error; the clipped -1 at y = 0 contributes -error/2 * 1
            second = value + value**2 + error - error / 2 * p_zero
            variance = second - mean**2
        moments[name] = (mean, variance)
    return moments


_RATING_GRID = np.linspace(-4.0, 10.0, 14_001)  # latent scores; step 0.001


def _rating_moments_exact(latent: np.ndarray, noise_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of round(latent + N(0, noise_sd)) clipped to 1..5."""
    # P(code <= k) = Phi((k + 0.5 - L) / sd) for k = 1..4
    below = np.stack([ndtr((k + 0.5 - latent) / noise_sd) for k in range(1, 5)])
    edges = np.concatenate([np.zeros((1, len(latent))), below, np.ones((1, len(latent)))])
    probabilities = np.diff(edges, axis=0)
    mean = (RATING_LEVELS[:, None] * probabilities).sum(axis=0)
    variance = (RATING_LEVELS[:, None] ** 2 * probabilities).sum(axis=0) - mean**2
    return mean, variance


def _rating_moments(latent: np.ndarray, noise_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """As _rating_moments_exact, interpolated on a fine grid (error < 1e-6; fast for millions)."""
    grid_mean, grid_variance = _rating_moments_exact(_RATING_GRID, noise_sd)
    step = _RATING_GRID[1] - _RATING_GRID[0]
    position = np.clip((latent - _RATING_GRID[0]) / step, 0, len(_RATING_GRID) - 1.000001)
    index = position.astype(np.int64)
    fraction = position - index

    def interpolate(values):
        return values[index] * (1 - fraction) + values[index + 1] * fraction

    return interpolate(grid_mean), interpolate(grid_variance)
