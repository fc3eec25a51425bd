"""Coverage of the report's other estimators, on the same simulated departments as
`benchmarks.primary_coverage` (its `primary_records(..., open_box=True)` adds these rows):

* `complier_2sls`: the 2SLS complier effect of training received (`analysis.compliance`) on the
  planted binary and rating items and on force per call, against the generator's
  `estimand_if_trained` (the effect among officers trained, without the ITT's dilution); counts
  are left out (the 2SLS reports a mean difference, the truth a rate ratio);
* `nb_did`: the negative binomial (NB2) check of the force difference-in-differences
  (`analysis.force.force_effect`'s `nb_*` extras) against the force estimand;
* `summary_index_null`: the Anderson summary index (`analysis.multiplicity`) of the items without
  a planted effect, whose estimand is exactly 0 SD;
* `mediation_acme`: the encounter-level ACME of assignment on force in the encounter through a
  personal conversation (`analysis.mediation`). In the generator's default scenario a personal
  conversation has no effect on force in the encounter, so the ACME is 0; civilian resistance
  moves both (sequential ignorability does not hold), which is what a coverage below nominal
  would show.

Each row's `covered` is the estimator's own interval; `estimate` and `std_error` are on the scale of
that interval: the log scale for the NB ratio (its SE from the interval's width), the ratio itself
for the 2SLS complier ratio (a Wald interval of the ratio).
"""

from __future__ import annotations

import math

from analysis.compliance import complier_effect, complier_force_effect
from analysis.force import force_effect
from analysis.mediation import encounter_mediation
from analysis.multiplicity import summary_index_effect

COMPLIER_ITEMS = ("personal_conversation", "repeated_commands", "empathy")
MEDIATION_BOOTSTRAP = 200
Z = 1.959963984540054


def open_box_records(trial) -> list[dict]:
    """The rows of the module docstring for one department (`benchmarks.primary_coverage.Trial`)."""
    records = []
    if "first_trained_on" in trial.officers.columns:
        for item in COMPLIER_ITEMS:
            if item in trial.if_trained and trial.items.get(item) in ("binary", "rating"):
                effect = complier_effect(
                    trial.encounters, trial.officers, outcome=item, kind=trial.items[item]
                )
                records.append(
                    _interval_record(
                        effect.outcome, "complier_2sls", trial.if_trained[item], effect
                    )
                )
    if "is_trained" in trial.officer_months.columns and "force_reports" in trial.if_trained:
        effect = complier_force_effect(trial.officer_months)
        records.append(
            _interval_record(
                "force_reports", "complier_2sls", trial.if_trained["force_reports"], effect
            )
        )
    records.append(_nb_record(trial))
    null_items = [
        item
        for item, kind in trial.items.items()
        if kind in ("binary", "rating")
        and trial.truth.get(item) == 0.0
        and not item.startswith("civilian_")
        and item not in ("arrest", "force_used", "injury")
    ]
    if len(null_items) >= 2:
        try:
            effect = summary_index_effect(trial.encounters, null_items)
        except ValueError:  # an item constant in the control arm's pre period: as the report
            # does, the index is not estimated in this department (counted as not estimable)
            nan = math.nan
            records.append(
                _record("summary_index", "summary_index_null", 0.0, nan, nan, (nan, nan), nan)
            )
        else:
            records.append(_interval_record("summary_index", "summary_index_null", 0.0, effect))
    if {"personal_conversation", "force_used"} <= set(trial.encounters.columns):
        result = encounter_mediation(trial.encounters, n_bootstrap=MEDIATION_BOOTSTRAP)
        low, high = result.acme_ci
        records.append(
            _record(
                "force_used via personal_conversation",
                "mediation_acme",
                trial.acme_truth,
                result.acme,
                (high - low) / (2 * Z),
                (low, high),
                result.acme_p_value,
            )
        )
    return records


def _nb_record(trial) -> dict:
    effect = force_effect(trial.officer_months, outcome="force_reports")
    ratio = effect.extras.get("nb_rate_ratio", math.nan)
    low = effect.extras.get("nb_ci_low", math.nan)
    high = effect.extras.get("nb_ci_high", math.nan)
    log_se = (math.log(high) - math.log(low)) / (2 * Z) if low > 0 and high > 0 else math.nan
    return _record(
        "force_reports",
        "nb_did",
        trial.truth["force_reports"],
        math.log(ratio) if ratio > 0 else math.nan,
        log_se,
        (low, high),
        effect.extras.get("nb_p_value", math.nan),
        log_truth=True,
    )


def _interval_record(outcome: str, estimator: str, truth: float, effect) -> dict:
    # a ratio whose interval is Wald on the log scale; the 2SLS complier ratio's is linear
    ratio = effect.scale == "rate_ratio" and "std_error_log" in effect.extras
    if ratio:
        positive = effect.estimate > 0 and effect.ci_high > 0 and effect.ci_low > 0
        estimate = math.log(effect.estimate) if positive else math.nan
        std_error = effect.extras["std_error_log"] if positive else math.nan
    else:
        estimate, std_error = effect.estimate, effect.std_error
    return _record(
        outcome,
        estimator,
        truth,
        estimate,
        std_error,
        (effect.ci_low, effect.ci_high),
        effect.p_value,
        log_truth=ratio,
    )


def _record(
    outcome: str,
    estimator: str,
    truth: float,
    estimate: float,
    std_error: float,
    interval: tuple[float, float],
    p_value: float,
    *,
    log_truth: bool = False,
) -> dict:
    low, high = interval
    covered = low <= truth <= high
    return {
        "outcome": outcome,
        "estimator": estimator,
        "truth": truth,
        "estimate": estimate,
        "std_error": std_error,
        "covered": covered,
        "covered_cr1": covered,  # these estimators have one interval
        "rejected": p_value < 0.05,
        "fisher_rejected": math.nan,
        "estimable": math.isfinite(estimate) and math.isfinite(std_error),
        "log_truth": log_truth,
    }
