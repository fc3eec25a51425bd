"""Staggered roll-out effects of a gated build: the warehouse side of `analysis.rollout`.

`middlestep rollout` (:func:`rollout`) builds a department's balanced officer x month panel from
the marts (`middlestep.panel`) and estimates one effect; :func:`department_study` gives the
report's full set (every estimand x outcome x estimator, event studies, balance checks), and
:func:`waitlist_effects` reads a wait-list trial as a two-cohort roll-out. Like `analyze`, the
command refuses a build whose quality gate failed or never ran unless `allow_ungated` (then every
output is marked UNGATED), and a department whose gate says it has no roll-out to estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analysis.results import Effect
from middlestep.errors import PipelineError
from middlestep.gate import ROLLOUT_EFFECTS
from middlestep.jsonable import jsonable
from middlestep.mapping import load_mapping, mapping_path
from middlestep.snapshot import gated_snapshot
from middlestep.warehouse import Home
from middlestep.warehouse.readers import arms_and_cohorts

UNGATED_LABEL = "UNGATED: not for publication"

DEFAULT_PERMUTATIONS = 500


def default_sample(department_id: str) -> str:
    """The estimation sample a department's reports use by default: `defaults: sample` of its
    mapping file (departments/<department_id>.yaml; Chicago's is Roth & Sant'Anna's `main`),
    else the full panel (middlestep/panel.py SAMPLES)."""
    if not mapping_path(department_id).exists():
        return "full"
    return load_mapping(department_id).defaults.get("sample", "full")


@dataclass(frozen=True)
class RolloutResult:
    """One roll-out estimate of a department's build, with what it was computed on."""

    effect: Effect
    department_id: str
    sample: str
    build_id: str | None
    is_gated: bool

    @property
    def status(self) -> str:
        return "GATED: quality gate passed" if self.is_gated else UNGATED_LABEL

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                **self.effect.to_dict(),
                "department_id": self.department_id,
                "sample": self.sample,
                "build_id": self.build_id,
                "gated": self.is_gated,
                "status": self.status,
            }
        )

    def text(self) -> str:
        effect = self.effect
        fisher = effect.extras.get("fisher_p_value")
        lines = [] if self.is_gated else [UNGATED_LABEL, ""]
        lines += [
            f"{effect.estimator}: {effect.outcome}, {self.department_id} ({self.sample} sample, "
            f"build {self.build_id})",
            f"  estimate            {effect.estimate:+.6f} {effect.extras.get('unit', '')}",
            f"  std. error          {effect.std_error:.6f} (design-based)",
            f"  std. error (Neyman) {effect.extras.get('std_error_neyman', float('nan')):.6f}",
            f"  95% interval        [{effect.ci_low:+.6f}, {effect.ci_high:+.6f}]",
            f"  p-value (normal)    {effect.p_value:.4f}",
            "  Fisher p-value      "
            + (
                f"{fisher:.4f} ({effect.extras.get('n_permutations')} permutations, "
                f"{effect.extras.get('rng')} draws)"
                if fisher is not None
                else "not computed (--permutations 0)"
            ),
            f"  officers            {effect.n_units:,} ({effect.extras.get('n_cohorts')} cohorts, "
            f"{effect.extras.get('n_periods')} months)",
        ]
        lines += [f"  note: {note}" for note in effect.notes]
        return "\n".join(lines)


def supported(home: Home, department_id: str, gate: dict | None) -> dict[str, tuple[bool, str]]:
    """analysis -> (supported, reason) for the department: the gate's word, else the marts'."""
    rows = [
        row
        for row in (gate or {}).get("analyses") or []
        if row.get("department_id") == department_id
    ]
    if rows:
        return {
            row["analysis"]: (bool(row.get("supported")), row.get("reason") or "") for row in rows
        }
    arms, cohorts = arms_and_cohorts(home, department_id)
    trial = (arms >= 2, "" if arms >= 2 else "no officers assigned to two trial arms")
    return {
        "randomization balance": trial,
        ROLLOUT_EFFECTS: (cohorts >= 2, "" if cohorts >= 2 else "fewer than two roll-out cohorts"),
    }


def is_rollout_only(home: Home, department_id: str, gate: dict | None) -> bool:
    """A roll-out without randomized arms (Chicago): the report is the roll-out's."""
    support = supported(home, department_id, gate)
    return (
        support.get(ROLLOUT_EFFECTS, (False, ""))[0]
        and not support.get("randomization balance", (False, ""))[0]
    )


def _require_rollout(home: Home, department_id: str, gate: dict | None) -> None:
    ok, reason = supported(home, department_id, gate).get(ROLLOUT_EFFECTS, (True, ""))
    if not ok:
        raise PipelineError(
            f"the data of {department_id} does not support staggered roll-out effects: {reason}"
        )


def _panel(home: Home, department_id: str, sample: str):
    from middlestep.panel import balanced_panel

    return balanced_panel(home.warehouse, department_id, sample)


def rollout(
    home: Home,
    department: str,
    *,
    outcome: str = "force",
    estimand: str = "simple",
    estimator: str = "efficient",
    sample: str | None = None,
    event_time: int | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    rng: str = "numpy",
    allow_ungated: bool = False,
) -> RolloutResult:
    """One staggered roll-out estimate of a department's gated build (`middlestep rollout`)."""
    from analysis.rollout import rollout_effect

    snapshot = gated_snapshot(home, department, allow_ungated=allow_ungated)
    build_id, gate, is_gated = snapshot.build_id, snapshot.gate, snapshot.is_gated
    _require_rollout(home, department, gate)
    sample = sample or default_sample(department)
    panel = _panel(home, department, sample)
    try:
        effect = rollout_effect(
            panel,
            outcome,
            estimand=estimand,
            estimator=estimator,
            event_time=event_time,
            permutations=permutations,
            seed=seed,
            rng=rng,
        )
    except ValueError as error:  # unknown names, an event time without comparison cohorts
        raise PipelineError(str(error)) from error
    extras = {**effect.extras, "sample": sample}
    if not is_gated:
        extras["status"] = UNGATED_LABEL
    effect = Effect(**{**effect.__dict__, "extras": extras})
    return RolloutResult(effect, department, sample, build_id, is_gated)


def department_study(
    home: Home,
    department_id: str,
    *,
    sample: str | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    rng: str = "numpy",
):
    """The report's roll-out estimates of a department (`analysis.rollout.RolloutStudy`).

    The caller has checked the gate (`middlestep.trial.analyze`)."""
    from analysis.rollout import rollout_study
    from middlestep.panel import SAMPLES

    sample = sample or default_sample(department_id)
    panel = _panel(home, department_id, sample)
    return rollout_study(
        panel,
        department_id=department_id,
        sample=sample,
        sample_description=SAMPLES[sample].description,
        permutations=permutations,
        seed=seed,
        rng=rng,
    )


# The wait-list trial read as a roll-out: every randomized officer serving when the window began
# (intent-to-treat: officers who leave keep their cohort, with zero events after leaving), and as
# a sensitivity analysis the officers still serving after the window (which conditions on
# retention, a post-assignment variable training may change).
WAITLIST_SAMPLE = "full-itt"
WAITLIST_RETAINED_SAMPLE = "full"


def waitlist_effects(
    home: Home,
    department_id: str,
    did_effects: list[Effect],
    *,
    permutations: int = 0,
    seed: int = 0,
) -> list[Effect]:
    """The wait-list trial's force and complaint effects by the staggered estimators (both arms
    are roll-out cohorts: trained at once and a year later): on `WAITLIST_SAMPLE`, then on
    `WAITLIST_RETAINED_SAMPLE` as a sensitivity analysis. Each effect's extras name its
    `sample` and whether it is `retained_only`."""
    from dataclasses import replace

    from analysis.rollout import waitlist_rollout_effects
    from middlestep.panel import SAMPLES

    effects = []
    for sample in (WAITLIST_SAMPLE, WAITLIST_RETAINED_SAMPLE):
        panel = _panel(home, department_id, sample)
        for effect in waitlist_rollout_effects(
            panel, did_effects, permutations=permutations, seed=seed
        ):
            retained_only = SAMPLES[sample].retained_only
            extras = {**effect.extras, "sample": sample, "retained_only": retained_only}
            effects.append(replace(effect, extras=extras))
    return effects
