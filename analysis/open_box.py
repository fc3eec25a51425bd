"""Open the black box: the analyses beyond the headline ITT estimates, for one department.

`open_box(marts, ...)` runs, on the marts of one department (each part guarded: a part the data
cannot support is skipped with a note, never failing the others):

1. power and the minimum detectable effect on force (`analysis.power`), with the officers and
   months a trial would need for the Louisville-size (-28%), -20% and -10% effects;
2. Fisher randomization p-values for the ITT estimates (`analysis.randomization`), added to the
   effects' extras;
3. Holm and Benjamini-Hochberg adjusted p-values across the communication items and the
   Anderson summary index (`analysis.multiplicity`);
4. the effect of completing the training on compliers, 2SLS (`analysis.compliance`);
5. mediation of training -> personal conversation -> force, at encounter and officer level
   (`analysis.mediation`);
6. reliability of every SSO item with bootstrap intervals (`analysis.reliability`), done by the
   caller before the ITT estimates since unreliable items are left out of them;
7. effects by kind of call and civilian (`analysis.heterogeneity`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.results import Effect

log = logging.getLogger(__name__)

MEDIATOR = "personal_conversation"
HETEROGENEITY_ITEMS = ("personal_conversation", "repeated_commands")


@dataclass(frozen=True)
class Settings:
    """Sizes of the simulation-based parts (defaults keep the analysis step to seconds)."""

    n_permutations: int = 500
    n_bootstrap: int = 200
    power_simulations: int = 200
    seed: int = 0
    # where estimates are memoized across runs (analysis/memo.py); None: no memo
    cache_dir: Path | None = None


@dataclass
class OpenBox:
    power: Any = None  # analysis.power.PowerResult
    power_baseline: Any = None
    sample_size: pd.DataFrame | None = None
    power_curve: pd.DataFrame | None = None
    power_simulated: pd.DataFrame | None = None
    multiple_outcomes: pd.DataFrame | None = None
    summary_index: Effect | None = None
    complier_effects: list[Effect] = field(default_factory=list)
    mediation: list = field(default_factory=list)
    heterogeneity: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame | None) -> list[dict]:
            if frame is None:
                return []
            return frame.astype(object).where(frame.notna(), None).to_dict("records")

        return {
            "power": self.power.to_dict() if self.power is not None else None,
            "power_baseline": (
                self.power_baseline.to_dict() if self.power_baseline is not None else None
            ),
            "sample_size": records(self.sample_size),
            "power_curve_simulated": records(self.power_simulated),
            "multiple_outcomes": records(self.multiple_outcomes),
            "summary_index": self.summary_index.to_dict() if self.summary_index else None,
            "complier_effects": [effect.to_dict() for effect in self.complier_effects],
            "mediation": [result.to_dict() for result in self.mediation],
            "heterogeneity": [result.to_dict() for result in self.heterogeneity],
            "notes": list(self.notes),
            "timings_s": {k: round(v, 2) for k, v in self.timings.items()},
        }


def _attempt(box: OpenBox, name: str, step: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    try:
        return step()
    except (ValueError, KeyError, LookupError, ZeroDivisionError, IndexError) as error:
        box.notes.append(f"{name} not estimated: {error}")
        log.info("open box: %s skipped (%s)", name, error)
        return None
    finally:
        box.timings[name] = time.perf_counter() - started


def add_fisher_p_values(
    effects: Sequence[Effect],
    marts,
    items: Mapping[str, str],
    settings: Settings,
) -> list[Effect]:
    """The effects with Fisher randomization p-values (communication items and force counts)."""
    from analysis.randomization import (
        encounter_permutation_test,
        force_permutation_test,
        with_fisher_p_value,
    )

    updated = []
    for effect in effects:
        try:
            if effect.outcome in items:
                _, p_value, _ = encounter_permutation_test(
                    marts.encounters,
                    outcome=effect.outcome,
                    kind=items[effect.outcome],
                    officers=marts.officers,
                    n_permutations=settings.n_permutations,
                    seed=settings.seed,
                )
            elif effect.scale == "rate_ratio" and effect.outcome in marts.officer_months:
                _, p_value, _ = force_permutation_test(
                    marts.officer_months,
                    outcome=effect.outcome,
                    officers=marts.officers,
                    n_permutations=settings.n_permutations,
                    seed=settings.seed,
                )
            else:
                updated.append(effect)
                continue
        except (ValueError, KeyError) as error:
            log.info("no Fisher p-value for %s: %s", effect.outcome, error)
            updated.append(effect)
            continue
        updated.append(with_fisher_p_value(effect, p_value, settings.n_permutations))
    return updated


def open_box(
    marts,
    communication_effects: Sequence[Effect],
    items: Mapping[str, str],
    *,
    settings: Settings | None = None,
    call_type_groups: Mapping[str, str] | None = None,
) -> OpenBox:
    """Parts 1, 3, 4, 5 and 7 of the module docstring for one department's marts; `items` are
    the confirmatory communication items (item -> kind) after the reliability exclusion."""
    from analysis.memo import memo_directory

    settings = settings or Settings()
    with memo_directory(settings.cache_dir):
        return _open_box(marts, communication_effects, items, settings, call_type_groups)


def _open_box(
    marts,
    communication_effects: Sequence[Effect],
    items: Mapping[str, str],
    settings: Settings,
    call_type_groups: Mapping[str, str] | None,
) -> OpenBox:
    from analysis.compliance import complier_effect, complier_force_effect
    from analysis.heterogeneity import heterogeneity_table
    from analysis.mediation import encounter_mediation, officer_mediation
    from analysis.multiplicity import (
        INDEX_NAME,
        adjusted_p_values,
        summary_index,
        summary_index_effect,
    )
    from analysis.power import (
        force_baseline,
        force_power,
        power_curve,
        sample_size_table,
        simulated_power,
    )

    box = OpenBox()
    encounters, months, officers = marts.encounters, marts.officer_months, marts.officers
    has_encounters = len(encounters) > 0

    # 1. power (memoized, like the estimates below: its baseline is the pre-period's)
    baseline = _attempt(box, "power baseline", lambda: force_baseline(months))
    if baseline is not None:
        box.power_baseline = baseline
        box.power = _attempt(
            box,
            "power",
            lambda: force_power(
                baseline, n_simulations=settings.power_simulations, seed=settings.seed
            ),
        )
        box.sample_size = _attempt(box, "sample size", lambda: sample_size_table(baseline))
        n, m = baseline.n_officers, baseline.n_months
        box.power_curve = _attempt(
            box, "power curve", lambda: power_curve(baseline, [(n, m), (2 * n, m), (4 * n, m)])
        )
        box.power_simulated = _attempt(
            box,
            "power curve (simulated)",
            lambda: simulated_power(
                baseline,
                [0.5, 0.6, 0.72, 0.8, 0.9, 1.0],
                n_officers=n,
                n_months=m,
                n_simulations=settings.power_simulations,
                seed=settings.seed + 1,
            ),
        )

    # 3. many outcomes
    if communication_effects:
        box.multiple_outcomes = adjusted_p_values(communication_effects)
    index_items = [item for item in items if item in encounters.columns]
    if has_encounters and len(index_items) >= 2:
        box.summary_index = _attempt(
            box, "summary index", lambda: summary_index_effect(encounters, index_items)
        )

    # 4. compliance
    if has_encounters and "first_trained_on" in officers.columns:
        for item, kind in items.items():
            effect = _attempt(
                box,
                f"complier effect {item}",
                lambda item=item, kind=kind: complier_effect(
                    encounters, officers, outcome=item, kind=kind
                ),
            )
            if effect is not None:
                box.complier_effects.append(effect)
    if "is_trained" in months.columns:
        for outcome in ("force_reports", "complaints"):
            effect = _attempt(
                box,
                f"complier effect {outcome}",
                lambda outcome=outcome: complier_force_effect(months, outcome=outcome),
            )
            if effect is not None:
                box.complier_effects.append(effect)

    # 5. mediation
    if has_encounters and MEDIATOR in encounters.columns:
        for step in (
            lambda: encounter_mediation(
                encounters, mediator=MEDIATOR, n_bootstrap=settings.n_bootstrap, seed=settings.seed
            ),
            lambda: officer_mediation(
                encounters,
                months,
                mediator=MEDIATOR,
                n_bootstrap=settings.n_bootstrap,
                seed=settings.seed,
            ),
        ):
            result = _attempt(box, "mediation", step)
            if result is not None:
                box.mediation.append(result)

    # 7. heterogeneity (the planted items and the summary index)
    if has_encounters:
        frame = encounters
        subgroup_items = {i: items[i] for i in HETEROGENEITY_ITEMS if i in items}
        if box.summary_index is not None:
            index = summary_index(encounters, index_items)
            frame = encounters.assign(**{INDEX_NAME: index.values})
            subgroup_items[INDEX_NAME] = "rating"
        results = _attempt(
            box,
            "heterogeneity",
            lambda: heterogeneity_table(frame, subgroup_items, call_type_groups=call_type_groups),
        )
        box.heterogeneity = results or []
        # the officers' baseline moderators (the plan's, all fixed before assignment)
        with_officers = _attempt(
            box,
            "officer baseline moderators",
            lambda: with_officer_moderators(frame, officers, months, _trial_start(marts)),
        )
        if with_officers is not None:
            frame, moderators = with_officers
            results = _attempt(
                box,
                "heterogeneity by officer baseline",
                lambda: heterogeneity_table(frame, subgroup_items, subgroups=moderators),
            )
            box.heterogeneity += results or []
    return box


def _trial_start(marts) -> Any:
    """The treatment arm's training date: the marts' study dates, else read off the officer-months'
    cohorts (frames from a simulator carry no study dates)."""
    from analysis.marts import study_dates

    dates = getattr(marts, "study_dates", None)
    if dates is None:
        dates = study_dates(marts.officer_months, arm="arm", cohort="cohort_month")
    return dates.trial_start_on


def with_officer_moderators(
    encounters: pd.DataFrame, officers: pd.DataFrame, months: pd.DataFrame, trial_start: Any
) -> tuple[pd.DataFrame, list[str]]:
    """The encounters with their officer's baseline moderator levels
    (`analysis.officer_moderators`; the pre-trial force rate ends at `trial_start`), and the
    moderators that have at least two levels."""
    from analysis.officer_moderators import officer_moderator_levels

    levels = officer_moderator_levels(officers, months, trial_start=trial_start)
    moderators = [name for name in levels.columns[1:] if levels[name].nunique() >= 2]
    frame = encounters.drop(columns=[c for c in moderators if c in encounters.columns])
    frame = frame.assign(officer_id=frame["officer_id"].astype(str)).merge(
        levels[["officer_id", *moderators]], on="officer_id", how="left"
    )
    return frame, moderators
