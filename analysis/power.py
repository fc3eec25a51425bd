"""Power and minimum detectable effect (MDE) of the wait-list trial for a rare count outcome.

The question a department asks after a null on force: was the trial big enough to see an effect
at all? The answer here is by simulation through the estimator the analysis uses
(`analysis.force.force_effect`: Poisson QMLE of the monthly count on arm, arm x post and
calendar-month fixed effects, log(calls) offset, officer-clustered sandwich, 5% two-sided Wald
test), with the analytic approximation beside it.

Data-generating process of a simulated trial (every parameter estimated from the department's
own pre-period officer-months by `force_baseline`, or given):

* `n_officers` officers, half per arm; `n_months` months before the treatment arm's training
  and `n_months` after it (the wait-list design's pre and post periods);
* calls attended per officer-month ~ Poisson(calls_per_officer_month x c_i), c_i ~ Gamma with
  the department's between-officer variation of call volume;
* force reports per officer-month ~ Poisson(rate_per_call x calls x g_i x RR^(treated arm x
  post)), g_i ~ Gamma(1/dispersion, dispersion): officers differ in their propensity to use
  force (the NB2 overdispersion across officers), RR is the intent-to-treat rate ratio.

Fast path: `analysis.force_cells.poisson_did_month_fe` fits `force_effect`'s Poisson model of every
simulated trial at once from its arm x month cells (exactly, at a thousandth of the cost).

Analytic approximation (delta method). Let S_ap be the events of arm a in period p, with
expectation mu_ap = rate x exposure_ap x RR^(a x p) and officer multipliers g_i with variance
alpha. With month effects absorbing the common trend, log RR_hat ~ log(S_11/S_10) -
log(S_01/S_00), and

    Var(log S_a1 - log S_a0) = 1/mu_a1 + 1/mu_a0 + alpha x sum_i (w_i1 - w_i0)^2,

w_ip = officer i's share of arm a's exposure in period p (Var(S) = mu + alpha sum E_i^2 rate^2,
Cov(S_a1, S_a0) = alpha rate^2 RR sum E_i1 E_i0; divide by mu_a1 mu_a0). Hence

    Var(log RR_hat) ~ sum over the four arm x period cells of 1/mu_ap
                      + alpha x sum over arms and officers of (w_i1 - w_i0)^2.

The second term vanishes when each officer's share of the exposure is the same before and after
(the pre/post design compares every officer with themself, so a stable propensity to use force
cancels); with Poisson call counts it is about 2 alpha / calls per arm and period, negligible.
Overdispersion matters again if officers' propensities drift from month to month, or in a
post-only comparison (Var ~ 2/mu + 4 alpha / n_officers). Power = Phi(|log RR| / se - z) +
Phi(-|log RR| / se - z), z = 1.96; the MDE solves |log RR| = (z + z_0.8) x se(RR) for a
reduction (RR < 1). It ignores the finite-cluster downward bias of the sandwich, so it is a
little optimistic for small trials.

Over 400 lines: the baseline, the analytic and the simulated power and the sample-size table
are one derivation (above); the fast estimator it simulates through is in analysis/force_cells.py.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from analysis.force_cells import poisson_did_month_fe
from analysis.inference import treatment_indicator
from analysis.marts import study_dates
from analysis.memo import memoized

LOUISVILLE_RATE_RATIO = 0.72  # Engel et al. 2022: force -28% after ICAT
SIZE_TABLE_RATE_RATIOS = (LOUISVILLE_RATE_RATIO, 0.8, 0.9)
TARGET_POWER = 0.8
ALPHA = 0.05


@dataclass(frozen=True)
class ForceBaseline:
    """What a power calculation needs about a department's force counts before training."""

    outcome: str
    rate_per_officer_month: float
    rate_per_call: float
    calls_per_officer_month: float
    calls_officer_shape: float  # gamma shape of officers' call volume (inf = all alike)
    dispersion: float  # NB2 alpha across officers: variance of the officer multiplier
    n_officers: int
    n_months: int  # months per period (pre = post)
    n_events_pre: int
    source: str = "given"

    def to_dict(self) -> dict:
        return {k: _json(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class PowerResult:
    """Power to detect `rate_ratio` and the MDE at `target_power`, by simulation and analytic."""

    outcome: str
    baseline_rate: float  # events per officer-month before training
    baseline_rate_per_call: float
    dispersion: float
    n_officers: int
    n_months: int
    rate_ratio: float
    power: float
    power_mc_error: float
    mde_rate_ratio: float
    power_analytic: float
    mde_rate_ratio_analytic: float
    std_error_log_analytic: float
    n_simulations: int
    seed: int
    alpha: float = ALPHA
    target_power: float = TARGET_POWER
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        record = asdict(self)
        record["notes"] = list(self.notes)
        return {k: _json(v) for k, v in record.items()}

    def summary(self) -> str:
        width = 78
        lines = [
            f"Power of the ITT force analysis — {self.outcome}".center(width),
            "=" * width,
            f"baseline: {self.baseline_rate:.4g} per officer-month "
            f"({self.baseline_rate_per_call:.3g} per call), NB2 dispersion {self.dispersion:.3g}",
            f"trial: {self.n_officers} officers, {self.n_months} months before and after",
            "-" * width,
            f"{'':<34}{'simulation':>14}{'analytic':>14}",
            f"{f'power at rate ratio {self.rate_ratio:.3g}':<34}{self.power:>14.3f}"
            f"{self.power_analytic:>14.3f}",
            f"{'  (Monte Carlo error)':<34}{self.power_mc_error:>14.3f}",
            f"{f'MDE rate ratio ({self.target_power:.0%} power)':<34}"
            f"{self.mde_rate_ratio:>14.3f}{self.mde_rate_ratio_analytic:>14.3f}",
            "-" * width,
            f"{self.n_simulations} simulations (seed {self.seed}), {self.alpha:.0%} two-sided",
        ]
        lines += [f"note: {note}" for note in self.notes]
        lines.append("=" * width)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# --------------------------------------------------------------------------------------------
# the department's baseline


def force_baseline(
    officer_months: pd.DataFrame,
    *,
    outcome: str = "force_reports",
    exposure: str = "calls_attended",
    officer: str = "officer_id",
    arm: str = "arm",
    month: str = "month_start",
    active: str | None = "is_active",
    trial_start: date | None = None,
    pre_months: int = 12,
) -> ForceBaseline:
    """Baseline rates and overdispersion from the pre-period officer-months of the trial's
    officers (both arms: before training they are one population).

    The dispersion is the NB2 alpha of an intercept-only negative binomial fit of each officer's
    pre-period total with log(calls) as offset (a stable gamma multiplier per officer makes the
    totals exactly NB2); the call volume's between-officer gamma shape is from the variance of
    officers' mean calls per month net of the Poisson part.
    """
    if trial_start is None:
        trial_start = study_dates(officer_months, arm=arm, cohort="cohort_month").trial_start_on
    trial_month = pd.Timestamp(trial_start).to_period("M").to_timestamp()
    month_start = pd.to_datetime(officer_months[month])
    keep = (
        (month_start >= trial_month - pd.DateOffset(months=pre_months))
        & (month_start < trial_month)
        & treatment_indicator(officer_months[arm]).notna()
    )
    if active and active in officer_months.columns:
        keep &= officer_months[active].fillna(False).astype(bool)
    pre = officer_months.loc[keep, [officer, outcome, exposure]].copy()
    pre[outcome] = pd.to_numeric(pre[outcome], errors="coerce")
    pre[exposure] = pd.to_numeric(pre[exposure], errors="coerce")
    pre = pre.dropna()
    if pre.empty:
        raise ValueError("no pre-period officer-months to estimate a baseline from")
    per_officer = pre.groupby(officer).agg(
        events=(outcome, "sum"), calls=(exposure, "sum"), months=(exposure, "size")
    )
    per_officer = per_officer[per_officer["calls"] > 0]
    events, calls = float(pre[outcome].sum()), float(pre[exposure].sum())
    calls_per_month = calls / len(pre)
    officer_calls = per_officer["calls"] / per_officer["months"]
    excess = officer_calls.var(ddof=1) - (calls_per_month / per_officer["months"]).mean()
    cv2 = max(excess, 0.0) / calls_per_month**2
    return ForceBaseline(
        outcome=outcome,
        rate_per_officer_month=events / len(pre),
        rate_per_call=events / calls if calls > 0 else math.nan,
        calls_per_officer_month=calls_per_month,
        calls_officer_shape=1.0 / cv2 if cv2 > 0 else math.inf,
        dispersion=nb2_dispersion(per_officer["events"], per_officer["calls"]),
        n_officers=int(per_officer.shape[0]),
        n_months=int(pre_months),
        n_events_pre=int(events),
        source="pre-period officer-months",
    )


def nb2_dispersion(events: pd.Series, exposure: pd.Series) -> float:
    """NB2 alpha of intercept-only totals with a log-exposure offset (0 if not overdispersed)."""
    y = events.to_numpy(float)
    offset = np.log(exposure.to_numpy(float))
    if y.sum() == 0:
        return 0.0
    mean = y.sum() / exposure.sum()
    mu = mean * exposure.to_numpy(float)
    moment = float(((y - mu) ** 2 - y).sum() / (mu**2).sum())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = sm.NegativeBinomial(
                y, np.ones((len(y), 1)), offset=offset, loglike_method="nb2"
            ).fit(start_params=[math.log(mean), max(moment, 0.1)], disp=False, maxiter=200)
        alpha = float(fit.params[-1])
        if math.isfinite(alpha) and alpha > 1e-6:
            return alpha
    except (np.linalg.LinAlgError, ValueError):
        pass
    return max(moment, 0.0)


def given_baseline(
    rate_per_officer_month: float,
    *,
    dispersion: float = 1.0,
    calls_per_officer_month: float = 60.0,
    calls_officer_shape: float = 8.0,
    n_officers: int = 300,
    n_months: int = 12,
    outcome: str = "force_reports",
) -> ForceBaseline:
    """A baseline from parameters (no department data)."""
    return ForceBaseline(
        outcome=outcome,
        rate_per_officer_month=rate_per_officer_month,
        rate_per_call=rate_per_officer_month / calls_per_officer_month,
        calls_per_officer_month=calls_per_officer_month,
        calls_officer_shape=calls_officer_shape,
        dispersion=dispersion,
        n_officers=n_officers,
        n_months=n_months,
        n_events_pre=0,
    )


# --------------------------------------------------------------------------------------------
# analytic approximation


def analytic_std_error(
    baseline: ForceBaseline, rate_ratio: float, n_officers: int, n_months: int
) -> float:
    """se(log RR_hat) of the module docstring's formula, at expected exposures."""
    per_arm = n_officers / 2.0
    mu_control = per_arm * n_months * baseline.rate_per_officer_month
    variance = 3.0 / mu_control + 1.0 / (mu_control * rate_ratio)
    calls_per_arm_period = per_arm * n_months * baseline.calls_per_officer_month
    variance += baseline.dispersion * 2.0 * 2.0 / calls_per_arm_period  # 2 arms, E sum (dw)^2
    return math.sqrt(variance)


def analytic_power(
    baseline: ForceBaseline,
    rate_ratio: float,
    n_officers: int,
    n_months: int,
    alpha: float = ALPHA,
) -> float:
    se = analytic_std_error(baseline, rate_ratio, n_officers, n_months)
    z = stats.norm.ppf(1 - alpha / 2)
    shift = abs(math.log(rate_ratio)) / se
    return float(stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z))


def analytic_mde(
    baseline: ForceBaseline,
    n_officers: int,
    n_months: int,
    alpha: float = ALPHA,
    power: float = TARGET_POWER,
) -> float:
    """The rate ratio below 1 detected with `power` (ignoring the far tail's tiny rejection)."""
    multiplier = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    ratio = 0.5
    for _ in range(100):
        updated = math.exp(-multiplier * analytic_std_error(baseline, ratio, n_officers, n_months))
        if abs(updated - ratio) < 1e-10:
            break
        ratio = updated
    return ratio


def required_officers(
    baseline: ForceBaseline, rate_ratio: float, n_months: int, power: float = TARGET_POWER
) -> int:
    """Officers (both arms) for `power` at `rate_ratio` with `n_months` per period (analytic)."""
    return _smallest(lambda n: analytic_power(baseline, rate_ratio, n, n_months) >= power, 2)


def required_months(
    baseline: ForceBaseline, rate_ratio: float, n_officers: int, power: float = TARGET_POWER
) -> int:
    """Months per period for `power` at `rate_ratio` with `n_officers` (analytic)."""
    return _smallest(lambda m: analytic_power(baseline, rate_ratio, n_officers, m) >= power, 1)


def _smallest(condition, low: int) -> int:
    high = max(low, 1)
    while not condition(high):
        high *= 2
        if high > 10**8:
            return -1
    while low < high:
        middle = (low + high) // 2
        if condition(middle):
            high = middle
        else:
            low = middle + 1
    return high


# --------------------------------------------------------------------------------------------
# simulation through the analysis' estimator


@dataclass(frozen=True)
class SimulatedCounts:
    """Simulated trials: arrays of shape (simulations, officers, months)."""

    events: np.ndarray
    calls: np.ndarray
    treated_arm: np.ndarray  # (officers,)
    post: np.ndarray  # (months,)


def simulate_counts(
    baseline: ForceBaseline,
    rate_ratios: Sequence[float],
    *,
    n_officers: int,
    n_months: int,
    n_simulations: int,
    seed: int,
) -> dict[float, SimulatedCounts]:
    """Trials at every rate ratio from common random numbers: the treated-arm post events of
    the largest ratio are thinned for the smaller ones (so power curves are smooth)."""
    rng = np.random.default_rng(seed)
    n_total = 2 * n_months
    treated_arm = (np.arange(n_officers) % 2 == 0).astype(float)
    post = (np.arange(n_total) >= n_months).astype(float)
    shape_calls = baseline.calls_officer_shape
    size = (n_simulations, n_officers)
    call_factor = (
        rng.gamma(shape_calls, 1.0 / shape_calls, size) if math.isfinite(shape_calls) else 1.0
    )
    calls = rng.poisson(
        baseline.calls_per_officer_month * np.broadcast_to(call_factor, size)[..., None],
        (*size, n_total),
    ).astype(float)
    alpha = baseline.dispersion
    propensity = rng.gamma(1.0 / alpha, alpha, size) if alpha > 1e-9 else np.ones(size)
    top = max(max(rate_ratios), 1.0)
    treated_post = treated_arm[None, :, None] * post[None, None, :]
    mean = baseline.rate_per_call * calls * propensity[..., None]
    base = rng.poisson(mean * np.where(treated_post > 0, top, 1.0))
    # thinning: each treated-post event survives at ratio r with probability r / top
    uniforms_per_event = _event_uniforms(rng, base)
    result = {}
    for ratio in rate_ratios:
        kept = _thin(base, uniforms_per_event, ratio / top)
        events = np.where(treated_post > 0, kept, base).astype(float)
        result[float(ratio)] = SimulatedCounts(events, calls, treated_arm, post)
    return result


def _event_uniforms(rng: np.random.Generator, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    flat = counts.ravel()
    cell = np.repeat(np.arange(flat.size), flat)
    return cell, rng.random(cell.size)


def _thin(counts: np.ndarray, uniforms, keep_probability: float) -> np.ndarray:
    cell, u = uniforms
    kept = np.bincount(cell[u < keep_probability], minlength=counts.size)
    return kept.reshape(counts.shape)


@memoized
def simulated_power(
    baseline: ForceBaseline,
    rate_ratios: Sequence[float],
    *,
    n_officers: int,
    n_months: int,
    n_simulations: int = 200,
    seed: int = 0,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Rejection rate of the 5% two-sided Wald test at each rate ratio (common random numbers);
    a trial whose rate ratio is not estimable (a cell without events) counts as no rejection."""
    trials = simulate_counts(
        baseline,
        rate_ratios,
        n_officers=n_officers,
        n_months=n_months,
        n_simulations=n_simulations,
        seed=seed,
    )
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for ratio, trial in trials.items():
        log_ratio, std_error = poisson_did_month_fe(
            trial.events, trial.calls, trial.treated_arm, trial.post
        )
        rejected = np.abs(log_ratio) / std_error > z
        power = float(np.nan_to_num(rejected, nan=0.0).mean())
        rows.append(
            {
                "rate_ratio": ratio,
                "n_officers": n_officers,
                "n_months": n_months,
                "power": power,
                "power_mc_error": math.sqrt(power * (1 - power) / n_simulations),
                "power_analytic": analytic_power(baseline, ratio, n_officers, n_months, alpha),
                "share_not_estimable": float(np.isnan(log_ratio).mean()),
                "mean_std_error_log": float(np.nanmean(std_error)),
                "sd_log_rate_ratio": float(np.nanstd(log_ratio, ddof=1)),
            }
        )
    return pd.DataFrame(rows)


@memoized
def force_power(
    baseline: ForceBaseline,
    *,
    rate_ratio: float = LOUISVILLE_RATE_RATIO,
    n_officers: int | None = None,
    n_months: int | None = None,
    n_simulations: int = 200,
    seed: int = 0,
    alpha: float = ALPHA,
    target_power: float = TARGET_POWER,
) -> PowerResult:
    """Power at `rate_ratio` and the MDE (both by simulation and analytic) for a trial of
    `n_officers` x `n_months` (default: the department's own size)."""
    n_officers = int(n_officers or baseline.n_officers)
    n_months = int(n_months or baseline.n_months)
    mde_analytic = analytic_mde(baseline, n_officers, n_months, alpha, target_power)
    # a grid around the analytic MDE for the simulated one, and the asked ratio
    log_mde = math.log(mde_analytic)
    grid = sorted({float(np.exp(log_mde * f)) for f in (0.55, 0.7, 0.85, 1.0, 1.15, 1.3, 1.5)})
    table = simulated_power(
        baseline,
        [*grid, rate_ratio],
        n_officers=n_officers,
        n_months=n_months,
        n_simulations=n_simulations,
        seed=seed,
        alpha=alpha,
    )
    asked = table[np.isclose(table["rate_ratio"], rate_ratio)].iloc[0]
    reductions = table[table["rate_ratio"] < 1].sort_values("rate_ratio", ascending=False)
    mde = _interpolate_mde(reductions, target_power)
    notes = (
        "simulation through force_effect's estimator (Poisson QMLE, month FE, log-calls offset, "
        "officer-clustered SE); the analytic value is the delta-method approximation",
        "rate ratios are intent-to-treat: non-completion and training part-way into the post "
        "period dilute an effect among trained officers towards 1",
    )
    return PowerResult(
        outcome=baseline.outcome,
        baseline_rate=baseline.rate_per_officer_month,
        baseline_rate_per_call=baseline.rate_per_call,
        dispersion=baseline.dispersion,
        n_officers=n_officers,
        n_months=n_months,
        rate_ratio=float(rate_ratio),
        power=float(asked["power"]),
        power_mc_error=float(asked["power_mc_error"]),
        mde_rate_ratio=mde,
        power_analytic=analytic_power(baseline, rate_ratio, n_officers, n_months, alpha),
        mde_rate_ratio_analytic=mde_analytic,
        std_error_log_analytic=analytic_std_error(baseline, rate_ratio, n_officers, n_months),
        n_simulations=int(n_simulations),
        seed=int(seed),
        alpha=alpha,
        target_power=target_power,
        notes=notes,
    )


def _interpolate_mde(reductions: pd.DataFrame, target: float) -> float:
    """Log-linear interpolation of the ratio where simulated power crosses `target`."""
    ratios = reductions["rate_ratio"].to_numpy()
    power = np.maximum.accumulate(reductions["power"].to_numpy())  # monotone in the effect
    above = np.flatnonzero(power >= target)
    if len(above) == 0:
        return math.nan
    first = above[0]
    if first == 0:
        return float(ratios[0])
    low, high = power[first - 1], power[first]
    weight = (target - low) / (high - low) if high > low else 1.0
    log_ratio = (1 - weight) * math.log(ratios[first - 1]) + weight * math.log(ratios[first])
    return float(math.exp(log_ratio))


# --------------------------------------------------------------------------------------------
# tables and the plot


def sample_size_table(
    baseline: ForceBaseline,
    rate_ratios: Sequence[float] = SIZE_TABLE_RATE_RATIOS,
    *,
    n_officers: int | None = None,
    n_months: int | None = None,
    power: float = TARGET_POWER,
) -> pd.DataFrame:
    """Per rate ratio: the analytic power of this trial, the officers needed at its months and
    the months per period needed with its officers, for `power` (80%)."""
    n_officers = int(n_officers or baseline.n_officers)
    n_months = int(n_months or baseline.n_months)
    return pd.DataFrame(
        [
            {
                "rate_ratio": ratio,
                "change": f"{ratio - 1:+.0%}",
                "power_this_trial": analytic_power(baseline, ratio, n_officers, n_months),
                "officers_needed": required_officers(baseline, ratio, n_months, power),
                "at_months_per_period": n_months,
                "months_needed": required_months(baseline, ratio, n_officers, power),
                "with_officers": n_officers,
            }
            for ratio in rate_ratios
        ]
    )


def power_curve(
    baseline: ForceBaseline,
    sizes: Sequence[tuple[int, int]],
    rate_ratios: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Analytic power over rate ratios for trial sizes (officers, months per period)."""
    ratios = rate_ratios if rate_ratios is not None else np.round(np.linspace(0.4, 1.0, 25), 4)
    return pd.DataFrame(
        [
            {
                "n_officers": n,
                "n_months": m,
                "rate_ratio": float(r),
                "power_analytic": analytic_power(baseline, float(r), n, m),
            }
            for n, m in sizes
            for r in ratios
        ]
    )


def _json(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
