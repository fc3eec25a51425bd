"""Scenarios of the synthetic department: the defaults, merged with a user's overrides."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from middlestep.contract import SSO_ITEMS
from middlestep.synth.codes import CALL_TYPE_CODES, STRATUM_GROUP_CODES

DEFAULT_SCENARIO_PATH = Path(__file__).with_name("default_scenario.yaml")

# Sections whose keys a user may extend (shift names are free text in the export).
_OPEN_SECTIONS = {("officers", "shifts")}
_ITEM_KEYS = {
    "binary": {
        "kind",
        "baseline",
        "officer_sd",
        "effect",
        "modifiers",
        "call_type_modifiers",
        "effect_by",
        "error_probability",
    },
    "rating": {
        "kind",
        "mean",
        "officer_sd",
        "encounter_sd",
        "effect",
        "modifiers",
        "call_type_modifiers",
        "effect_by",
        "noise_sd",
    },
    "count": {
        "kind",
        "mean",
        "officer_sd",
        "rate_ratio",
        "modifiers",
        "call_type_modifiers",
        "effect_by",
        "error_probability",
    },
}


class ScenarioError(ValueError):
    """A scenario that the generator cannot run."""


def load_scenario(path: str | Path | None = None) -> dict[str, Any]:
    """The default scenario, with the keys of the YAML file at ``path`` (if any) overriding it.

    A user file may set any subset of the keys; a key the default scenario does not have is an
    error (a typo would otherwise be ignored silently).
    """
    scenario = _read(DEFAULT_SCENARIO_PATH)
    if path is not None:
        overrides = _read(Path(path))
        scenario = merge_scenario(scenario, overrides)
    validate_scenario(scenario)
    return scenario


def merge_scenario(base: dict, overrides: dict, where: tuple[str, ...] = ()) -> dict:
    """A copy of ``base`` with ``overrides`` merged in, key by key (nested mappings recursively)."""
    merged = copy.deepcopy(base)
    for key, value in (overrides or {}).items():
        here = (*where, str(key))
        open_section = where in _OPEN_SECTIONS
        if key not in merged and not open_section and not _is_item_subkey(here):
            raise ScenarioError(f"unknown scenario key {'.'.join(here)}")
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_scenario(merged[key], value, here)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _is_item_subkey(here: tuple[str, ...]) -> bool:
    # sso_items.<item>.<key> may add optional keys (e.g. error_probability, effect_by), and
    # sso_items.<item>.modifiers.<other item> may add modifiers
    return len(here) >= 3 and here[0] == "sso_items"


def validate_scenario(scenario: dict) -> None:
    """Raise ScenarioError if the scenario cannot be simulated."""
    items = scenario["sso_items"]
    unknown = set(items) - set(SSO_ITEMS)
    if unknown:
        raise ScenarioError(f"sso_items not in the codebook: {', '.join(sorted(unknown))}")
    missing = set(SSO_ITEMS) - set(items)
    if missing:
        raise ScenarioError(f"sso_items missing from the scenario: {', '.join(sorted(missing))}")
    seen: list[str] = []
    for name, spec in items.items():
        kind = spec.get("kind")
        if kind != SSO_ITEMS[name]:
            raise ScenarioError(
                f"sso_items.{name}.kind is {kind!r}, the codebook says {SSO_ITEMS[name]}"
            )
        extra = set(spec) - _ITEM_KEYS[kind]
        if extra:
            raise ScenarioError(f"sso_items.{name}: unknown keys {', '.join(sorted(extra))}")
        for other in {**(spec.get("modifiers") or {}), **(spec.get("effect_by") or {})}:
            if other not in seen:
                raise ScenarioError(
                    f"sso_items.{name} depends on {other}, which must be listed above it"
                )
        for other in spec.get("effect_by") or {}:
            if items[other]["kind"] != "binary":
                raise ScenarioError(f"sso_items.{name}.effect_by: {other} is not a binary item")
        for call_type in spec.get("call_type_modifiers") or {}:
            if call_type not in scenario["calls"]["types"]:
                raise ScenarioError(f"sso_items.{name}: unknown call type {call_type}")
        seen.append(name)

    # the department's codes are fixed in departments/synthetic.yaml
    unknown_types = set(scenario["calls"]["types"]) - set(CALL_TYPE_CODES)
    if unknown_types:
        raise ScenarioError(
            "call types the department's mapping does not know: " + ", ".join(sorted(unknown_types))
        )
    groups = {spec["group"] for spec in scenario["calls"]["types"].values()}
    if groups - set(STRATUM_GROUP_CODES):
        raise ScenarioError(
            "call type groups must be among " + ", ".join(sorted(STRATUM_GROUP_CODES))
        )
    shares = [spec["share"] for spec in scenario["calls"]["types"].values()]
    if abs(sum(shares) - 1.0) > 1e-6:
        raise ScenarioError(f"calls.types shares sum to {sum(shares)}, not 1")
    backups = scenario["calls"]["backup_probabilities"]
    if len(backups) != 3 or abs(sum(backups) - 1.0) > 1e-6:
        raise ScenarioError("calls.backup_probabilities must be P(0), P(1), P(2) summing to 1")
    if not 0 <= scenario["training"]["non_compliance"] < 1:
        raise ScenarioError("training.non_compliance must be in [0, 1)")
    study = scenario["study"]
    if not (as_date(study["randomized_on"]) <= as_date(study["start_on"])):
        raise ScenarioError("study.randomized_on must not be after study.start_on")
    months = month_starts(scenario)
    treatment_on = as_date(scenario["training"]["treatment_cohort_on"])
    control_on = as_date(scenario["training"]["control_cohort_on"])
    if not (months[0] < treatment_on < control_on <= months[-1]):
        raise ScenarioError("the cohorts must be trained in order inside the study window")
    if treatment_on.day != 1 or control_on.day != 1:
        raise ScenarioError("cohort dates are months: use the first day of the month")


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def study_years(scenario: dict) -> tuple[int, int]:
    """The calendar years the study's clock must cover: a year either side of randomization and
    export (for the time-zone changes)."""
    study = scenario["study"]
    return as_date(study["randomized_on"]).year - 1, as_date(study["export_on"]).year + 1


def month_starts(scenario: dict) -> list[dt.date]:
    """The first day of every calendar month of the study window."""
    start = as_date(scenario["study"]["start_on"])
    end = as_date(scenario["study"]["end_on"])
    months = []
    current = dt.date(start.year, start.month, 1)
    while current <= end:
        months.append(current)
        current = dt.date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return months


def _read(path: Path) -> dict:
    if not path.exists():
        raise ScenarioError(f"no scenario file {path}")
    document = yaml.safe_load(path.read_text()) or {}
    if not isinstance(document, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping of keys to values")
    return document


def scenario_for_json(scenario: dict) -> dict:
    """The scenario with dates as ISO strings (for truth.json)."""
    if isinstance(scenario, dict):
        return {str(k): scenario_for_json(v) for k, v in scenario.items()}
    if isinstance(scenario, list):
        return [scenario_for_json(v) for v in scenario]
    if isinstance(scenario, dt.date):
        return scenario.isoformat()
    return scenario
