"""Power of a department's force outcome (`middlestep power`): the trial's own, from its
pre-period officer-months, or, in a warehouse without a trial, a wait-list trial planned on the
department's last year (analysis/planning.py), or one from given parameters.
"""

from __future__ import annotations

from middlestep import descriptive
from middlestep.errors import PipelineError
from middlestep.snapshot import gate_of_latest_build
from middlestep.warehouse import Home
from middlestep.warehouse.marts import load_marts
from middlestep.warehouse.readers import only_department


def power(
    home: Home | None,
    department: str | None = None,
    *,
    rate_ratio: float = 0.72,
    n_officers: int | None = None,
    n_months: int | None = None,
    n_simulations: int = 200,
    seed: int = 0,
    baseline_rate: float | None = None,
    dispersion: float | None = None,
    allow_ungated: bool = False,
):
    """(PowerResult, sample-size table) for a department's force outcome, from its own
    pre-period officer-months (a gated build) or, with `baseline_rate`, from parameters."""
    from analysis.power import force_baseline, force_power, given_baseline, sample_size_table

    if baseline_rate is not None:
        baseline = given_baseline(
            baseline_rate,
            dispersion=1.0 if dispersion is None else dispersion,
            n_officers=n_officers or 300,
            n_months=n_months or 12,
        )
    else:
        if home is None:
            raise PipelineError("no warehouse: give --baseline-rate or a --home with a build")
        identity, gate = gate_of_latest_build(home)
        if identity is None:
            raise PipelineError("no build: run `middlestep build` first (or give --baseline-rate)")
        if not (gate and gate.get("passed")) and not allow_ungated:
            raise PipelineError(
                f"the quality gate did not pass for build {identity.build_id}: run "
                "`middlestep check` (or pass --allow-ungated)"
            )
        department_id = department or only_department(home)
        try:
            marts = load_marts(home.warehouse, department_id)
        except LookupError as error:
            raise PipelineError(str(error)) from error
        if descriptive.why_no_trial(marts):  # plan a wait-list trial on its own data
            return _planned_power(
                marts, rate_ratio, n_officers, n_months, n_simulations, seed, dispersion
            )
        try:
            baseline = force_baseline(marts.officer_months)
        except ValueError as error:
            raise PipelineError(f"no force baseline for {department_id}: {error}") from error
        if dispersion is not None:
            import dataclasses

            baseline = dataclasses.replace(baseline, dispersion=dispersion)
    result = force_power(
        baseline,
        rate_ratio=rate_ratio,
        n_officers=n_officers,
        n_months=n_months,
        n_simulations=n_simulations,
        seed=seed,
    )
    table = sample_size_table(baseline, n_officers=result.n_officers, n_months=result.n_months)
    return result, table


def _planned_power(marts, rate_ratio, n_officers, n_months, n_simulations, seed, dispersion):
    """`power` of a department without a trial: a wait-list trial planned on its last year."""
    import dataclasses

    from analysis.planning import planning_baseline, waitlist_power_result

    try:
        baseline = planning_baseline(marts.officer_months, marts.officers)
        if dispersion is not None:
            baseline = dataclasses.replace(baseline, dispersion=dispersion)
        return waitlist_power_result(
            baseline,
            rate_ratio=rate_ratio,
            n_officers=n_officers,
            n_months=n_months,
            n_simulations=n_simulations,
            seed=seed,
        )
    except ValueError as error:
        raise PipelineError(f"no force baseline for {marts.department_id}: {error}") from error
