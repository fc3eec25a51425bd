"""The expectation specs: ``expectations/<mart>.yaml`` of the project (beside ``models/``, where
an analyst adds a mart's model and its expectations together), one list per mart, read into
:class:`ExpectationSpec` (see the package docstring for the keys an entry may carry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from middlestep.codebook import expand_columns
from middlestep.gate.frames import CONDITIONS, DERIVED_FRAMES
from middlestep.warehouse import PROJECT_ROOT

# Found the way SQLMesh's models are (middlestep.build runs SQLMesh on PROJECT_ROOT): the
# project directory of the installed package (`pip install -e .`, as the Makefile does).
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

# The marts the gate validates, in the order they are reported.
MARTS: tuple[str, ...] = (
    "dim_officers",
    "fct_officer_months",
    "fct_encounters",
    "fct_force_reports",
    "fct_calls",
    "fct_call_officers",
    "rpt_sso_reliability",
)

CRITICAL, WARNING = "critical", "warning"

_SPEC_KEYS = {"expectation", "kwargs", "meta", "columns", "severity", "frame", "only_if"}


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation of a mart's YAML file, after expanding ``columns``."""

    mart: str
    expectation: str  # snake case, e.g. expect_column_values_to_not_be_null
    kwargs: Mapping[str, Any]
    why: str = ""
    severity: str = CRITICAL
    frame: str | None = None
    only_if: str | None = None

    @property
    def target(self) -> str:
        """What the expectation validates: the mart, or a frame derived from it."""
        return f"{self.mart}.{self.frame}" if self.frame else self.mart

    @property
    def column(self) -> str | None:
        return column_of(self.kwargs)

    def describe(self) -> str:
        """The expectation with its arguments, e.g. ``expect_x(column=arm, value_set=[..])``."""
        return f"{self.expectation}({format_kwargs(self.kwargs)})"


def snake_case(name: str) -> str:
    """``ExpectColumnValuesToBeInSet`` -> ``expect_column_values_to_be_in_set``."""
    if "_" in name or name.islower():
        return name.lower()
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index > 0:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def camel_case(name: str) -> str:
    """``expect_column_values_to_be_in_set`` -> ``ExpectColumnValuesToBeInSet``."""
    if "_" not in name and name[:1].isupper():
        return name
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def load_expectations(
    directory: Path = EXPECTATIONS_DIR,
) -> dict[str, tuple[ExpectationSpec, ...]]:
    """Read every ``<mart>.yaml`` of ``directory``: mart -> its expectation specs."""
    if not Path(directory).is_dir():
        raise FileNotFoundError(
            f"no expectations directory at {directory}: the gate reads expectations/<mart>.yaml "
            "beside the project's models/"
        )
    specs: dict[str, tuple[ExpectationSpec, ...]] = {}
    for path in sorted(directory.glob("*.yaml")):
        entries = yaml.safe_load(path.read_text()) or []
        if not isinstance(entries, list):
            raise ValueError(f"{path}: expected a list of expectations")
        specs[path.stem] = tuple(
            spec
            for number, entry in enumerate(entries, start=1)
            for spec in _expand_entry(path.stem, entry, f"{path.name} entry {number}")
        )
    return specs


def _expand_entry(mart: str, entry: Any, where: str) -> list[ExpectationSpec]:
    if not isinstance(entry, dict) or "expectation" not in entry:
        raise ValueError(f"{where}: needs an `expectation` key")
    unknown = set(entry) - _SPEC_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    severity = str(entry.get("severity", CRITICAL)).lower()
    if severity not in (CRITICAL, WARNING):
        raise ValueError(f"{where}: severity must be {CRITICAL} or {WARNING}")
    frame = entry.get("frame")
    if frame is not None and frame not in DERIVED_FRAMES:
        raise ValueError(f"{where}: unknown frame {frame!r} (known: {sorted(DERIVED_FRAMES)})")
    only_if = entry.get("only_if")
    if only_if is not None and only_if not in CONDITIONS:
        raise ValueError(f"{where}: unknown condition {only_if!r} (known: {sorted(CONDITIONS)})")
    kwargs = dict(entry.get("kwargs") or {})
    meta = entry.get("meta") or {}
    why = " ".join(str(meta.get("why", "")).split())
    try:
        kwarg_sets = expand_columns(entry.get("columns"), kwargs)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
    return [
        ExpectationSpec(
            mart=mart,
            expectation=snake_case(str(entry["expectation"])),
            kwargs=kwarg_set,
            why=why,
            severity=severity,
            frame=frame,
            only_if=only_if,
        )
        for kwarg_set in kwarg_sets
    ]


def column_of(kwargs: Mapping[str, Any]) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs and "column_B" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(str(name) for name in kwargs["column_list"])
    return None


def format_kwargs(kwargs: Mapping[str, Any]) -> str:
    parts = []
    for key, value in kwargs.items():
        if isinstance(value, list | tuple) and len(value) > 6:
            shown = ", ".join(str(item) for item in list(value)[:6])
            parts.append(f"{key}=[{shown}, ... ({len(value)} in all)]")
        elif isinstance(value, list | tuple):
            parts.append(f"{key}=[{', '.join(str(item) for item in value)}]")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)
