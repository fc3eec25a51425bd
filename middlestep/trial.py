"""The trial's analysis of a build: which estimates a department's data gets, in which order,
and what is left out and why (the reliability policy: unreliable SSO items leave the confirmatory
set). The estimators themselves are in ``analysis/``; a roll-out department's go through
``middlestep/rollout.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from middlestep import descriptive, rollout, spillover
from middlestep.contract import SSO_ITEMS
from middlestep.errors import PipelineError
from middlestep.jsonable import jsonable
from middlestep.snapshot import BuildSnapshot
from middlestep.warehouse import Home
from middlestep.warehouse.marts import load_codings, load_marts
from middlestep.warehouse.readers import call_type_groups


@dataclass
class Analysis:
    department_id: str
    is_gated: bool
    build_id: str | None
    effects: list = field(default_factory=list)
    balance: Any = None
    reliability: Any = None
    notes: list[str] = field(default_factory=list)
    reliability_items: Any = None  # per item: alpha and kappa with bootstrap intervals
    excluded_items: list[str] = field(default_factory=list)  # unreliable, left out
    open_box: Any = None  # analysis.open_box.OpenBox
    # staggered roll-out estimators (middlestep/rollout.py): the whole study of a roll-out
    # department, and a wait-list trial's force/complaint effects read as a two-cohort roll-out
    rollout: Any = None  # analysis.rollout.RolloutStudy
    rollout_effects: list = field(default_factory=list)
    # the design's own estimators (issue: the analysis plan): post-period ANCOVA with block fixed
    # effects per plan outcome, force and complaints per call beside them, the randomization
    # balance test, the flow of officers and clips, and each SSO item's arm x period means
    primary_effects: list = field(default_factory=list)
    robustness_effects: list = field(default_factory=list)
    # the effect of completing training among compliers, on the compliers' own untreated rate
    complier_effects: list = field(default_factory=list)
    balance_test: Any = None  # analysis.balance_randomization.RandomizationBalanceTest
    consort: Any = None  # DataFrame: step x arm
    cell_means: Any = None  # DataFrame: outcome x arm x period
    # the block-clustered wild cluster bootstrap robustness row of each primary estimate
    block_cluster_tests: list = field(default_factory=list)
    # what the data cannot support yet, item by item: {"analysis": ..., "reason": ...}
    not_estimated: list[dict[str, str]] = field(default_factory=list)
    # a department without a trial: its force figures and trial planning (middlestep/descriptive)
    department: Any = None
    # the control arm's exposure to the treatment arm on shared calls (middlestep/spillover.py)
    spillover: Any = None

    def to_dict(self) -> dict[str, Any]:

        reliability = self.reliability_items
        return jsonable(
            {
                "department_id": self.department_id,
                "gated": self.is_gated,
                "build_id": self.build_id,
                "effects": [effect.to_dict() for effect in self.effects],
                "excluded_items": list(self.excluded_items),
                "reliability_items": (
                    reliability.astype(object).where(reliability.notna(), None).to_dict("records")
                    if reliability is not None
                    else []
                ),
                **(self.open_box.to_dict() if self.open_box is not None else {}),
                "rollout_effects": [effect.to_dict() for effect in self.rollout_effects],
                "rollout": self.rollout.to_dict() if self.rollout is not None else None,
                "primary_effects": [effect.to_dict() for effect in self.primary_effects],
                "robustness_effects": [effect.to_dict() for effect in self.robustness_effects],
                "complier_effects": [effect.to_dict() for effect in self.complier_effects],
                "balance_test": self.balance_test.to_dict() if self.balance_test else None,
                "block_cluster_tests": [test.to_dict() for test in self.block_cluster_tests],
                "not_estimated": self.not_estimated,
                "department_figures": self.department.to_dict() if self.department else None,
                "spillover": self.spillover.to_dict() if self.spillover else None,
                "notes": self.notes,
            }
        )

    def text(self) -> str:
        banner = [] if self.is_gated else ["UNGATED: not for publication", ""]
        blocks = [effect.summary() for effect in self.primary_effects]
        blocks += [effect.summary() for effect in self.effects]
        box = self.open_box
        if box is not None:
            if box.power is not None:
                blocks.append(box.power.summary())
            if box.summary_index is not None:
                blocks.append(box.summary_index.summary())
            blocks += [effect.summary() for effect in box.complier_effects]
            blocks += [result.summary() for result in box.mediation]
            blocks += [result.summary() for result in box.heterogeneity]
            if box.multiple_outcomes is not None:
                blocks.append(box.multiple_outcomes.to_string(index=False))
        blocks += [effect.summary() for effect in self.rollout_effects]
        if self.rollout is not None:
            blocks.append(self.rollout.estimates_frame().to_string(index=False))
        if self.excluded_items:
            blocks.append(
                "left out as unreliable (Krippendorff's alpha below the threshold): "
                + ", ".join(self.excluded_items)
            )
        if self.department is not None:
            blocks.append(self.department.text())
        blocks += [
            f"not estimated: {row['analysis']}: {row['reason']}" for row in self.not_estimated
        ]
        return "\n".join(banner + blocks + [f"note: {note}" for note in self.notes])


def analyze(
    home: Home,
    snapshot: BuildSnapshot,
    *,
    include_unreliable: bool = False,
    reliability_threshold: float = 0.667,
    settings: Any = None,
) -> Analysis:
    """The effect estimates of the snapshot's build for its department.

    Communication items whose Krippendorff's alpha (`marts.rpt_sso_reliability`) is below
    `reliability_threshold` are left out of the confirmatory estimates unless
    `include_unreliable`. Beside the ITT estimates: Fisher randomization p-values, power and the
    MDE for force, adjusted p-values and the summary index, complier (2SLS) effects, mediation
    and subgroup effects (analysis/open_box.py; `settings` sizes the simulations). Without
    `settings`, estimates are memoized under the home (`Home.analysis_cache`, analysis/memo.py):
    a nightly run refits only those whose data changed.
    """
    from analysis.memo import memo_directory, prune
    from analysis.open_box import Settings

    settings = settings or Settings(cache_dir=home.analysis_cache)
    with memo_directory(settings.cache_dir):
        analysis = _analyze(home, snapshot, include_unreliable, reliability_threshold, settings)
    prune(settings.cache_dir)
    return analysis


def _analyze(
    home: Home,
    snapshot: BuildSnapshot,
    include_unreliable: bool,
    reliability_threshold: float,
    settings: Any,
) -> Analysis:
    from analysis.balance import balance_table
    from analysis.communication import itt_effects
    from analysis.force import force_effect
    from analysis.open_box import add_fisher_p_values, open_box
    from analysis.reliability import item_reliability, unreliable_items

    department_id, gate = snapshot.department_id, snapshot.gate
    analysis = Analysis(department_id, snapshot.is_gated, snapshot.build_id)
    if rollout.is_rollout_only(home, department_id, gate):
        # a staggered roll-out without randomized arms (Chicago): its estimators only
        analysis.rollout = rollout.department_study(
            home, department_id, permutations=settings.n_permutations, seed=settings.seed
        )
        analysis.effects = analysis.rollout.headline_effects()
        analysis.notes += analysis.rollout.notes
        return analysis
    try:
        marts = load_marts(home.warehouse, department_id)
    except LookupError as error:  # no marts yet, or a department with no officers in them
        raise PipelineError(str(error)) from error
    no_trial = descriptive.why_no_trial(marts)
    if no_trial:  # force figures and trial planning from the department's own data
        analysis.not_estimated += descriptive.trial_not_estimated(gate, department_id, no_trial)
        analysis.department = descriptive.department_figures(
            home, marts, simulations=settings.power_simulations, seed=settings.seed
        )
        analysis.not_estimated += analysis.department.not_estimated
        analysis.notes.append(
            "no trial in the data: the department's force figures and trial planning only"
        )
        return analysis
    analysis.balance = _attempt(
        analysis, "balance table", lambda: balance_table(marts.officers, marts.officer_months)
    )
    waiting = _trial_not_yet_estimable(marts)
    if waiting:
        # early in a trial (a nightly run before post-training data): balance only, said so
        analysis.notes.append(waiting)
        analysis.not_estimated += [
            {"analysis": name, "reason": waiting} for name in descriptive.TRIAL_ANALYSES[1:]
        ]
        return analysis
    analysis.reliability = marts.sso_reliability
    items = _confirmatory_items(SSO_ITEMS)
    if len(marts.encounters):
        try:
            analysis.reliability_items = item_reliability(
                load_codings(home.warehouse, department_id),
                SSO_ITEMS,
                threshold=reliability_threshold,
                n_bootstrap=settings.n_bootstrap,
                seed=settings.seed,
            )
        except Exception as error:  # noqa: BLE001 - an intermediate model may be absent
            analysis.notes.append(f"per-coding reliability not computed: {error}")
        unreliable = [
            item
            for item in unreliable_items(marts.sso_reliability, reliability_threshold)
            if item in items
        ]
        if unreliable and include_unreliable:
            analysis.notes.append(
                "unreliable items kept in the confirmatory analysis (--include-unreliable): "
                + ", ".join(unreliable)
            )
        elif unreliable:
            analysis.excluded_items = unreliable
            items = {item: kind for item, kind in items.items() if item not in unreliable}
            analysis.notes.append(
                f"left out of the confirmatory analysis as unreliable (Krippendorff's alpha "
                f"below {reliability_threshold}): {', '.join(unreliable)}; "
                "pass --include-unreliable to keep them"
            )
        for item, kind in items.items():  # codings lag calls: an item may have no post cell yet
            effect = _attempt(
                analysis,
                f"communication effect: {item}",
                lambda item=item, kind=kind: itt_effects(marts.encounters, {item: kind})[0],
            )
            if effect is not None:
                analysis.effects.append(effect)
    else:
        analysis.notes.append("no SSO-coded encounters: communication effects not estimated")
        analysis.not_estimated.append(
            {"analysis": "communication effects", "reason": "no SSO-coded encounters"}
        )
    for outcome in ("force_reports", "complaints"):
        effect = _attempt(
            analysis,
            f"{outcome} effect",
            lambda outcome=outcome: force_effect(marts.officer_months, outcome=outcome),
        )
        if effect is not None:
            analysis.effects.append(effect)
    analysis.effects = add_fisher_p_values(analysis.effects, marts, items, settings)
    _design_estimates(analysis, marts, settings)
    analysis.spillover = _attempt(
        analysis,
        "spillover exposure",
        lambda: spillover.spillover_analysis(
            home.warehouse, marts, spillover.primary_outcomes(department_id), gate
        ),
    )
    communication = [effect for effect in analysis.effects if effect.outcome in items]
    analysis.open_box = open_box(
        marts, communication, items, settings=settings, call_type_groups=call_type_groups(home)
    )
    if rollout.supported(home, department_id, gate).get(rollout.ROLLOUT_EFFECTS, (False,))[0]:
        try:
            analysis.rollout_effects = rollout.waitlist_effects(
                home,
                department_id,
                analysis.effects,
                permutations=settings.n_permutations,
                seed=settings.seed,
            )
        except Exception as error:  # noqa: BLE001 - the trial's own estimates stand alone
            analysis.notes.append(f"staggered roll-out estimates not computed: {error}")
    return analysis


def _design_estimates(analysis: Analysis, marts: Any, settings: Any) -> None:
    """The estimators the randomization within blocks calls for (the analysis plan's primary):
    each attempted on its own, a failure a note rather than a lost report."""
    import pandas as pd

    from analysis.ancova import ancova_itt_effects
    from analysis.balance_randomization import roster_balance_test
    from analysis.complier_rate import complier_rate_ratio
    from analysis.consort import cell_means, consort_flow
    from analysis.force_ancova import force_ancova_effect
    from analysis.primary_inference import block_cluster_tests, with_primary_fisher_tests

    dates = marts.study_dates
    window = {"trial_start": dates.trial_start_on, "control_start": dates.control_start_on}
    steps = {
        # item by item: codings lag calls, so an item may have no post-period clip yet
        **{
            f"primary SSO estimate: {item}": lambda item=item, kind=kind: (
                analysis.primary_effects.extend(ancova_itt_effects(marts.encounters, {item: kind}))
            )
            for item, kind in (SSO_ITEMS if len(marts.encounters) else {}).items()
        },
        "primary force and complaint estimates": lambda: analysis.primary_effects.extend(
            force_ancova_effect(marts.officer_months, outcome=outcome, **window)
            for outcome in ("force_reports", "complaints")
        ),
        "per-call force and complaint estimates": lambda: analysis.robustness_effects.extend(
            force_ancova_effect(
                marts.officer_months, outcome=outcome, exposure="calls_attended", **window
            )
            for outcome in ("force_reports", "complaints")
        ),
        # after the estimates above: each gets the Fisher test of its own statistic
        "Fisher tests of the primary estimates": lambda: _replace_all(
            analysis,
            with_primary_fisher_tests,
            marts,
            n_permutations=settings.n_permutations,
            seed=settings.seed,
            **window,
        ),
        "block-clustered wild bootstrap": lambda: analysis.block_cluster_tests.extend(
            block_cluster_tests(
                analysis.primary_effects,
                marts.encounters,
                marts.officer_months,
                dict(SSO_ITEMS),
                seed=settings.seed,
                **window,
            )
        ),
        "complier force and complaint effects": lambda: analysis.complier_effects.extend(
            complier_rate_ratio(marts.officer_months, outcome=outcome, seed=settings.seed)
            for outcome in ("force_reports", "complaints")
        ),
        "randomization balance test": lambda: setattr(
            analysis,
            "balance_test",
            roster_balance_test(
                marts.officers,
                marts.officer_months,
                trial_start=dates.trial_start_on,
                seed=settings.seed,
            ),
        ),
        "flow of officers and clips": lambda: setattr(
            analysis,
            "consort",
            consort_flow(marts.officers, marts.officer_months, marts.encounters, **window),
        ),
        "arm x period means": lambda: setattr(
            analysis,
            "cell_means",
            pd.concat([cell_means(marts.encounters, item) for item in SSO_ITEMS])
            if len(marts.encounters)
            else None,
        ),
    }
    for name, step in steps.items():
        try:
            step()
        except Exception as error:  # noqa: BLE001 - one estimate's failure is said, not fatal
            analysis.notes.append(f"{name} not computed: {error}")
            analysis.not_estimated.append({"analysis": name, "reason": str(error)})


def _attempt(analysis: Analysis, name: str, step):
    """`step()`, or None with the reason in `not_estimated` when the data cannot support it."""
    try:
        return step()
    except descriptive.DATA_FAULTS as error:
        analysis.notes.append(f"{name} not estimated: {error}")
        analysis.not_estimated.append({"analysis": name, "reason": str(error)})
        return None


def _replace_all(analysis: Analysis, with_tests: Any, marts: Any, **options: Any) -> None:
    """The primary and robustness estimates, each with its Fisher test (`with_tests`)."""
    for name in ("primary_effects", "robustness_effects"):
        tested = with_tests(
            getattr(analysis, name),
            marts.encounters,
            marts.officer_months,
            marts.officers,
            dict(SSO_ITEMS),
            **options,
        )
        setattr(analysis, name, tested)


def _trial_not_yet_estimable(marts) -> str | None:
    """Why the trial's effects cannot be estimated yet, or None when they can.

    The difference-in-differences needs both arms observed before and after the immediate arm's
    training; a nightly run early in a trial has only the pre-period.
    """
    import pandas as pd

    trial_start = marts.study_dates.trial_start_on
    observed = marts.officer_months[marts.officer_months["calls_attended"] > 0]
    last_month = pd.to_datetime(observed["month_start"]).max() if len(observed) else None
    if last_month is None or pd.isna(last_month) or last_month < pd.Timestamp(trial_start):
        return (
            f"no calls observed since the trial started on {trial_start}: effects are estimated "
            "once the data reaches the post-training period"
        )
    return None


def _confirmatory_items(items: dict[str, str]) -> dict[str, str]:
    """The officer-behaviour items: the communication outcomes training aims to change."""
    civilian_or_outcome = ("civilian_", "arrest", "force_used", "injury")
    return {name: kind for name, kind in items.items() if not name.startswith(civilian_or_outcome)}
