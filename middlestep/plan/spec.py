"""The pre-registered analysis plan of a trial (`plans/<department>.yaml`) and its deviations.

A plan declares the outcome families (primary / secondary / exploratory, each with its
multiplicity method), the summary index's items, the primary estimator per outcome kind, the
covariates, the pre-treatment moderators allowed for subgroups and what an unreliable item does.
Its hash is taken over its parsed content (comments and layout do not count), so re-saving a plan
is not a change of plan.

Registration (`middlestep plan register`) records the hash, the date and the post-period
outcome data the warehouse held at that moment (`middlestep/plan/registry.py`). The binding plan
is the earliest registration made before any post-period outcome was loaded; every difference
between it and the plan used is a deviation, and the report lists each one with what had been
seen when it was made.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from middlestep.contract import SSO_ITEMS

PLANS_DIR = Path(__file__).resolve().parents[2] / "plans"

# Officer-month counts of marts.fct_officer_months that a plan may name as outcomes.
OFFICER_MONTH_OUTCOMES = (
    "force_reports",
    "force_reports_level_2_plus",
    "complaints",
    "sustained_complaints",
)
MULTIPLICITY_METHODS = ("holm", "fdr_bh", "none")
ROLES = ("confirmatory", "secondary", "exploratory")
# Fixed before assignment: officer baseline characteristics, the officer's pre-trial record and the
# dispatched call type. SSO items are coded in the encounter that training aims to change, so none
# of them may moderate.
PRE_TREATMENT_MODERATORS = (
    "call_type_group",
    "sex",
    "race",
    "rank",
    "tenure_years_at_assignment",
    "age_at_assignment",
    "unit_at_assignment",
    "unit_type_at_assignment",
    # force reports per active month before the trial began (analysis/officer_moderators.py)
    "pre_period_force_rate",
)
BELOW_THRESHOLD_RULES = ("flag_and_sensitivity",)
_DEPARTMENT_NAME = re.compile(r"^[a-z0-9_]+$")


class PlanError(ValueError):
    """A plan file that cannot be used: names the file and the field."""


@dataclass(frozen=True)
class Family:
    name: str
    role: str
    outcomes: tuple[str, ...]
    multiplicity: str


@dataclass(frozen=True)
class AnalysisPlan:
    department_id: str
    trial_id: str
    families: tuple[Family, ...]
    summary_index: tuple[str, ...]
    estimators: Mapping[str, Any]
    covariates: tuple[str, ...]
    moderators: tuple[str, ...]
    alpha_threshold: float
    below_threshold: str
    alpha: float
    content: Mapping[str, Any] = field(repr=False)
    source: str = ""

    @property
    def sha256(self) -> str:
        return content_hash(self.content)

    @property
    def primary(self) -> Family:
        return next(family for family in self.families if family.role == "confirmatory")

    def family_of(self, outcome: str) -> Family | None:
        return next((family for family in self.families if outcome in family.outcomes), None)

    def outcomes(self) -> tuple[str, ...]:
        return tuple(outcome for family in self.families for outcome in family.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "source": self.source, **self.content}


def content_hash(content: Mapping[str, Any]) -> str:
    """sha256 of the plan's content as canonical JSON (sorted keys, no layout)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def plan_path(department: str, plans_dir: Path = PLANS_DIR) -> Path:
    if not _DEPARTMENT_NAME.match(department):
        raise PlanError(f"department name {department!r}: use lower-case letters, digits and _")
    return plans_dir / f"{department}.yaml"


def load_plan(path: Path) -> AnalysisPlan:
    """The plan in `path`, validated; a PlanError names the file and the field at fault."""
    try:
        content = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise PlanError(f"{path}: cannot read the plan: {error}") from error
    return plan_from_content(content, source=str(Path(path).name))


def plan_from_content(content: Any, *, source: str = "") -> AnalysisPlan:
    where = source or "plan"
    if not isinstance(content, Mapping):
        raise PlanError(f"{where}: a plan is a mapping of fields")
    content = json.loads(json.dumps(content, default=str))  # dates etc. as their text
    for required in ("department_id", "trial_id", "families", "estimators"):
        if required not in content:
            raise PlanError(f"{where}: field {required!r} is missing")
    families = _families(content["families"], where)
    known = set(SSO_ITEMS)
    index = tuple(content.get("summary_index") or ())
    for item in index:
        if item not in known:
            raise PlanError(f"{where}: summary_index: {item!r} is not an SSO codebook item")
    moderators = tuple(content.get("moderators") or ())
    for moderator in moderators:
        if moderator not in PRE_TREATMENT_MODERATORS:
            raise PlanError(
                f"{where}: moderators: {moderator!r} is not a pre-treatment variable (allowed: "
                f"{', '.join(PRE_TREATMENT_MODERATORS)}); conditioning on a variable that "
                "assignment may change biases the subgroup effects"
            )
    reliability = content.get("reliability") or {}
    rule = reliability.get("below_threshold", "flag_and_sensitivity")
    if rule not in BELOW_THRESHOLD_RULES:
        raise PlanError(
            f"{where}: reliability.below_threshold: {rule!r} (allowed: "
            f"{', '.join(BELOW_THRESHOLD_RULES)}); an item never leaves its family on its data"
        )
    threshold = _fraction(reliability.get("alpha_threshold", 0.667), where, "alpha_threshold")
    return AnalysisPlan(
        department_id=str(content["department_id"]),
        trial_id=str(content["trial_id"]),
        families=families,
        summary_index=index,
        estimators=dict(content["estimators"]),
        covariates=tuple(content.get("covariates") or ()),
        moderators=moderators,
        alpha_threshold=threshold,
        below_threshold=rule,
        alpha=_fraction(content.get("alpha", 0.05), where, "alpha"),
        content=content,
        source=source,
    )


def _families(raw: Any, where: str) -> tuple[Family, ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise PlanError(f"{where}: families: a mapping of family name -> outcomes")
    known = set(SSO_ITEMS) | set(OFFICER_MONTH_OUTCOMES)
    seen: dict[str, str] = {}
    families = []
    for name, spec in raw.items():
        spec = spec or {}
        role = spec.get("role")
        if role not in ROLES:
            raise PlanError(f"{where}: families.{name}.role: {role!r} (one of {', '.join(ROLES)})")
        method = spec.get("multiplicity", "none")
        if method not in MULTIPLICITY_METHODS:
            raise PlanError(
                f"{where}: families.{name}.multiplicity: {method!r} "
                f"(one of {', '.join(MULTIPLICITY_METHODS)})"
            )
        outcomes = tuple(spec.get("outcomes") or ())
        if not outcomes:
            raise PlanError(f"{where}: families.{name}.outcomes: at least one outcome")
        for outcome in outcomes:
            if outcome not in known:
                raise PlanError(
                    f"{where}: families.{name}.outcomes: {outcome!r} is neither an SSO codebook "
                    f"item nor an officer-month count ({', '.join(OFFICER_MONTH_OUTCOMES)})"
                )
            if outcome in seen:
                raise PlanError(
                    f"{where}: families.{name}.outcomes: {outcome!r} is already in family "
                    f"{seen[outcome]!r}: an outcome belongs to one family"
                )
            seen[outcome] = name
        families.append(Family(str(name), role, outcomes, method))
    if sum(family.role == "confirmatory" for family in families) != 1:
        raise PlanError(f"{where}: families: exactly one family has role confirmatory")
    return tuple(families)


def _fraction(value: Any, where: str, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not 0 < number < 1:
        raise PlanError(f"{where}: {name}: {value!r} is not a number between 0 and 1")
    return number


# --------------------------------------------------------------------------------------------
# registrations and deviations


@dataclass(frozen=True)
class Registration:
    """One `middlestep plan register`: the plan's content and what the warehouse held then."""

    department_id: str
    trial_id: str
    sha256: str
    content: Mapping[str, Any]
    registered_at: str
    post_period_outcomes_seen: int  # post-period coded encounters + force/complaint records

    @property
    def before_outcomes(self) -> bool:
        return self.post_period_outcomes_seen == 0


@dataclass(frozen=True)
class Deviation:
    field: str
    registered: Any
    used: Any
    after_outcomes: bool  # the change was made once post-period outcomes had been loaded

    def text(self) -> str:
        if self.field == "registration":
            return f"the plan was registered only {self.used}, not before them"
        when = (
            "changed after post-period outcomes had been loaded"
            if self.after_outcomes
            else "changed before any post-period outcome was loaded"
        )
        return (
            f"{self.field}: registered {_short(self.registered)}, used {_short(self.used)} ({when})"
        )


@dataclass(frozen=True)
class PlanStatus:
    """What the report says of the plan: the plan used, its registration, its deviations."""

    plan: AnalysisPlan
    binding: Registration | None
    deviations: tuple[Deviation, ...]
    notes: tuple[str, ...] = ()

    @property
    def is_registered(self) -> bool:
        return self.binding is not None

    def to_dict(self) -> dict[str, Any]:
        binding = self.binding
        return {
            "sha256": self.plan.sha256,
            "source": self.plan.source,
            "trial_id": self.plan.trial_id,
            "registered": binding is not None,
            "registered_sha256": binding.sha256 if binding else None,
            "registered_at": binding.registered_at if binding else None,
            "registered_before_outcomes": binding.before_outcomes if binding else None,
            "post_period_outcomes_seen_at_registration": (
                binding.post_period_outcomes_seen if binding else None
            ),
            "families": [
                {
                    "name": family.name,
                    "role": family.role,
                    "outcomes": list(family.outcomes),
                    "multiplicity": family.multiplicity,
                }
                for family in self.plan.families
            ],
            "summary_index": list(self.plan.summary_index),
            "moderators": list(self.plan.moderators),
            "alpha_threshold": self.plan.alpha_threshold,
            "deviations": [deviation.text() for deviation in self.deviations],
            "notes": list(self.notes),
        }


def plan_status(
    plan: AnalysisPlan, registrations: Sequence[Registration], *, outcomes_seen_now: int
) -> PlanStatus:
    """The plan used against its binding registration.

    The binding registration is the earliest one made before any post-period outcome was loaded,
    else the earliest of all (itself then a deviation: registered after outcomes were seen). A
    plan used that differs from the binding one deviates field by field; the change counts as made
    after outcomes when outcomes are loaded now and no registration before them holds it.
    """
    ours = [r for r in registrations if r.trial_id == plan.trial_id]
    ours.sort(key=lambda registration: registration.registered_at)
    if not ours:
        note = (
            "the analysis plan was not registered: register it before post-period outcomes "
            "arrive (`middlestep plan register`)"
        )
        if outcomes_seen_now:
            note += f"; {outcomes_seen_now} post-period outcome records are already loaded"
        return PlanStatus(plan, None, (), (note,))
    before = [registration for registration in ours if registration.before_outcomes]
    binding = before[0] if before else ours[0]
    deviations: list[Deviation] = []
    notes: list[str] = []
    if not binding.before_outcomes:
        deviations.append(
            Deviation(
                "registration",
                "before post-period outcomes",
                f"after {binding.post_period_outcomes_seen} post-period outcome records had "
                "been loaded",
                after_outcomes=True,
            )
        )
    if plan.sha256 != binding.sha256:
        registered_same = any(r.sha256 == plan.sha256 and r.before_outcomes for r in ours)
        after = not registered_same and (outcomes_seen_now > 0 or not binding.before_outcomes)
        for name in sorted(set(binding.content) | set(plan.content)):
            old, new = binding.content.get(name), plan.content.get(name)
            deviations += _field_deviations(name, old, new, after)
        if registered_same:
            notes.append("the plan used was re-registered before post-period outcomes arrived")
    return PlanStatus(plan, binding, tuple(deviations), tuple(notes))


def _field_deviations(name: str, old: Any, new: Any, after: bool) -> list[Deviation]:
    if old == new:
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return [
            deviation
            for key in sorted(set(old) | set(new))
            for deviation in _field_deviations(f"{name}.{key}", old.get(key), new.get(key), after)
        ]
    return [Deviation(name, old, new, after)]


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value)
