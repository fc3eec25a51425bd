"""The quality gate: Great Expectations on the marts, plus the integrity of the input batches.

The expectations live in ``middlestep/expectations/<mart>.yaml``, one list per mart. Each entry
names a Great Expectations class (snake or Camel case), its ``kwargs`` and ``meta.why``, and may
add:

* ``columns: [..]``: the same expectation once per column (the kwargs get ``column``);
* ``severity: warning``: a failure is recorded but does not fail the gate;
* ``frame: <name>``: validate a frame derived from the mart (``DERIVED_FRAMES``), for example the
  share of treated officers per trial;
* ``only_if: <name>``: evaluate only when the warehouse meets a condition (``CONDITIONS``, on
  the raw tables' row counts), for example "SSO codings were delivered".

``run_gate`` reads the marts and ``raw._batches`` / ``raw._rejects`` through a read-only
connection, runs one Great Expectations checkpoint (ephemeral context, a pandas data source, one
validation definition per mart or derived frame), checks that every batch adds up
(``rows_read = rows_loaded + rows_rejected``) and that no table lost more than a set share of its
rows, and says which analyses the data supports. A mart unchanged since the last passed gate
keeps that gate's verdicts, and a changed monthly mart is validated in its changed months
(``middlestep/gate_months.py``). ``record_gate`` stores the result in ``meta.gate_results``;
``latest_gate`` reads it back.

Great Expectations is imported inside the functions that need it: it takes seconds to import,
and a night that changed no mart does not need it.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from middlestep.gate_months import (
    MARTS_DDL,
    MONTHS_DDL,
    WHOLE_TABLE,
    Baseline,
    MartState,
    MonthScope,
    checks_version,
    fingerprint_mart,
    last_passed,
    record_mart,
    record_months,
)
from middlestep.gate_roster import roster_checks

EXPECTATIONS_DIR = Path(__file__).parent / "expectations"

# The marts the gate validates, in the order they are reported.
MARTS: tuple[str, ...] = (
    "dim_officers",
    "fct_officer_months",
    "fct_encounters",
    "fct_force_reports",
    "fct_calls",
    "rpt_sso_reliability",
)

# The marts `_analyses_supported` reads whole (fct_calls is read only in its changed months).
ANALYSED_MARTS: tuple[str, ...] = tuple(mart for mart in MARTS if mart != "fct_calls")

DEFAULT_MAX_REJECT_SHARE = 0.05

CRITICAL, WARNING = "critical", "warning"

# Pseudo-marts of the checks the gate runs itself, outside Great Expectations.
BATCHES, REJECTS = "raw._batches", "raw._rejects"

_SPEC_KEYS = {"expectation", "kwargs", "meta", "columns", "severity", "frame", "only_if"}

META_BUILDS_DDL = """
create table if not exists meta.builds (
    build_id text,
    plan_id text,
    built_at timestamp,
    model_versions_json text,
    batches_json text
)
"""

META_GATE_RESULTS_DDL = """
create table if not exists meta.gate_results (
    build_id text,
    checked_at timestamp,
    passed boolean,
    n_expectations integer,
    n_failed integer,
    result_json text
)
"""


# --------------------------------------------------------------------------------------------
# Expectation specs (the YAML files)
# --------------------------------------------------------------------------------------------


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
        return _column_of(self.kwargs)

    def describe(self) -> str:
        """The expectation with its arguments, e.g. ``expect_x(column=arm, value_set=[..])``."""
        return f"{self.expectation}({_format_kwargs(self.kwargs)})"


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
    columns = entry.get("columns")
    kwarg_sets = [{"column": column, **kwargs} for column in columns] if columns else [kwargs]
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


# --------------------------------------------------------------------------------------------
# Derived frames and conditions named in the YAML files
# --------------------------------------------------------------------------------------------


def _assigned_officers(dim_officers: pd.DataFrame) -> pd.DataFrame:
    """Officers with a trial arm."""
    return dim_officers[dim_officers["arm"].notna()].reset_index(drop=True)


def _arm_balance(dim_officers: pd.DataFrame) -> pd.DataFrame:
    """Per department x trial: officers assigned, treated, and the share treated."""
    assigned = _assigned_officers(dim_officers)
    columns = ["department_id", "trial_id", "n_assigned", "n_treatment", "share_treatment"]
    if assigned.empty:
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in columns}).astype(
            {"department_id": "object", "trial_id": "object"}
        )
    assigned = assigned.assign(
        trial_id=assigned["trial_id"].fillna("(no trial)"),
        is_treatment=(assigned["arm"] == "treatment").astype(int),
    )
    balance = (
        assigned.groupby(["department_id", "trial_id"], dropna=False)
        .agg(n_assigned=("officer_id", "size"), n_treatment=("is_treatment", "sum"))
        .reset_index()
    )
    balance["share_treatment"] = balance["n_treatment"] / balance["n_assigned"]
    return balance[columns]


def _trial_officers(dim_officers: pd.DataFrame) -> pd.DataFrame:
    """Officers in a trial or roll-out (an arm or a cohort): the officers analyses estimate on."""
    in_trial = dim_officers["trial_id"].notna() if "trial_id" in dim_officers else False
    return dim_officers[in_trial].reset_index(drop=True)


def _officers_outside_trials(dim_officers: pd.DataFrame) -> pd.DataFrame:
    """Officers on the roster but in no trial or roll-out: no estimate uses them."""
    in_trial = dim_officers["trial_id"].notna() if "trial_id" in dim_officers else False
    return dim_officers[~in_trial].reset_index(drop=True)


DERIVED_FRAMES: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "assigned_officers": _assigned_officers,
    "arm_balance": _arm_balance,
    "trial_officers": _trial_officers,
    "officers_outside_trials": _officers_outside_trials,
}


@dataclass(frozen=True)
class _WarehouseFacts:
    """What the gate read from the warehouse (the connection is closed by then)."""

    marts: dict[str, pd.DataFrame | None]  # the rows to validate (monthly: the changed months)
    analysed: dict[str, pd.DataFrame | None]  # ANALYSED_MARTS, whole
    batches: pd.DataFrame | None
    rejects_by_batch: pd.DataFrame | None
    rejects_summary: pd.DataFrame
    raw_rows: dict[str, int]  # raw table -> rows in the warehouse (missing table: absent)
    raw_rows_by_batch: pd.DataFrame  # table_name, batch_id, n_rows of the raw tables
    build_id: str | None
    conditions: dict[str, bool] = field(default_factory=dict)  # CONDITIONS -> met
    mart_states: dict[str, MartState] = field(default_factory=dict)  # the marts present
    month_scopes: dict[str, MonthScope] = field(default_factory=dict)  # monthly marts read
    baseline: Baseline | None = None  # the last passed gate, unless the gate runs in full


def _sso_delivered(raw_rows: Mapping[str, int]) -> bool:
    return raw_rows.get("sso_codings", 0) > 0


# Conditions read only the raw tables' row counts: their outcomes are known before the marts are
# read, and are part of a mart's checks version (gate_months).
CONDITIONS: dict[str, Callable[[Mapping[str, int]], bool]] = {
    "sso_delivered": _sso_delivered,
}


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one expectation or one integrity check of the batches."""

    mart: str  # the mart, a derived frame `mart.frame`, or raw._batches / raw._rejects
    expectation: str
    success: bool
    column: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    severity: str = CRITICAL
    observed: Any = None  # the observed value, or a text saying what was found
    unexpected_count: int | None = None
    element_count: int | None = None
    unexpected_sample: tuple = ()
    why: str = ""
    skipped: str | None = None  # why it was not evaluated
    scope: str | None = None  # the rows checked, when not all of them (gate_months)
    carried_from: str | None = None  # the build whose passed gate's verdict this is (unchanged)

    @property
    def is_failure(self) -> bool:
        """Failed and counts against the gate."""
        return not self.success and self.skipped is None and self.severity == CRITICAL

    @property
    def is_warning(self) -> bool:
        return not self.success and self.skipped is None and self.severity == WARNING

    def describe(self) -> str:
        """One line: mart, column, expectation and what was observed."""
        where = self.mart + (f", column {self.column}" if self.column else "")
        where += f" ({self.scope})" if self.scope else ""
        call = f"{self.expectation}({_format_kwargs(self.kwargs)})"
        if self.skipped:
            return f"{where}: {call} skipped ({self.skipped})"
        verdict = "passed" if self.success else "failed"
        text = f"{where}: {call} {verdict}"
        observed = self.observed_text()
        if observed:
            text += f": {observed}"
        if self.why and not self.success:
            text += f" (why it matters: {self.why})"
        return text

    def observed_text(self) -> str:
        if self.unexpected_count is not None:
            of = f" of {self.element_count}" if self.element_count is not None else ""
            text = f"{self.unexpected_count}{of} rows unexpected"
            if self.unexpected_sample:
                sample = ", ".join(
                    f"{value:.4g}" if isinstance(value, float) else repr(value)
                    for value in self.unexpected_sample[:5]
                )
                text += f", e.g. {sample}"
            return text
        if self.observed is None:
            return ""
        if isinstance(self.observed, float):
            return f"observed {self.observed:.4g}"
        if isinstance(self.observed, str):
            return self.observed
        return f"observed {self.observed}"

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "mart": self.mart,
                "column": self.column,
                "expectation": self.expectation,
                "kwargs": dict(self.kwargs),
                "severity": self.severity,
                "success": self.success,
                "skipped": self.skipped,
                "observed": self.observed,
                "unexpected_count": self.unexpected_count,
                "element_count": self.element_count,
                "unexpected_sample": list(self.unexpected_sample),
                "why": self.why,
                "scope": self.scope,
                "carried_from_build": self.carried_from,
                "text": self.describe(),
            }
        )


@dataclass(frozen=True)
class AnalysisSupport:
    """Whether a department's data supports one analysis, and if not, why not."""

    department_id: str
    analysis: str
    supported: bool
    reason: str = ""

    def describe(self) -> str:
        if self.supported:
            return f"{self.analysis}: supported"
        return f"{self.analysis}: not supported ({self.reason})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "department_id": self.department_id,
            "analysis": self.analysis,
            "supported": self.supported,
            "reason": self.reason,
            "text": self.describe(),
        }


@dataclass(frozen=True)
class GateResult:
    """The outcome of the gate for one build."""

    passed: bool
    build_id: str | None
    checked_at: datetime
    checks: tuple[CheckResult, ...]
    analyses: tuple[AnalysisSupport, ...] = ()
    rejects: tuple[Mapping[str, Any], ...] = ()  # department_id, table, file, reason, rows
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE
    month_scopes: tuple[MonthScope, ...] = ()  # the months of the monthly marts validated
    mart_states: tuple[MartState, ...] = ()  # each mart's fingerprint; whether it was carried

    @property
    def n_carried(self) -> int:
        """Checks whose verdict was carried over from a passed gate (their mart is unchanged)."""
        return sum(1 for check in self.checks if check.carried_from is not None)

    @property
    def n_expectations(self) -> int:
        """Checks evaluated (skipped ones not counted)."""
        return sum(1 for check in self.checks if check.skipped is None)

    @property
    def n_failed(self) -> int:
        return sum(1 for check in self.checks if check.is_failure)

    @property
    def failed_checks(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.is_failure)

    @property
    def warning_checks(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.is_warning)

    def failures(self) -> str:
        """The failed checks, one line each, naming mart, column, expectation and observation."""
        return "\n".join(check.describe() for check in self.failed_checks)

    def warnings(self) -> str:
        return "\n".join(check.describe() for check in self.warning_checks)

    def supports(self, analysis: str, department_id: str | None = None) -> bool:
        """True if every (or the given) department's data supports `analysis`."""
        matches = [
            support
            for support in self.analyses
            if support.analysis == analysis
            and (department_id is None or support.department_id == department_id)
        ]
        return bool(matches) and all(support.supported for support in matches)

    def rejects_frame(self) -> pd.DataFrame:
        columns = ["department_id", "table", "file", "reason", "rows"]
        return pd.DataFrame(list(self.rejects), columns=columns)

    def summary(self) -> str:
        status = "PASSED" if self.passed else "FAILED"
        carried = f" ({self.n_carried} carried over)" if self.n_carried else ""
        lines = [
            f"quality gate {status} for build {self.build_id or '(unknown)'} "
            f"at {self.checked_at:%Y-%m-%d %H:%M:%S} UTC: "
            f"{self.n_expectations} checks{carried}, {self.n_failed} failed, "
            f"{len(self.warning_checks)} warnings",
        ]
        lines += [f"  {mart}: {text}" for mart, text in self.validated().items()]
        if self.n_failed:
            lines += ["failures:"] + [f"  {line}" for line in self.failures().splitlines()]
        if self.warning_checks:
            lines += ["warnings:"] + [f"  {line}" for line in self.warnings().splitlines()]
        if self.analyses:
            lines.append("analyses the data supports:")
            lines += [
                f"  [{support.department_id}] {support.describe()}" for support in self.analyses
            ]
        return "\n".join(lines)

    def validated(self) -> dict[str, str]:
        """mart -> what of it this gate validated, or from which passed gate its verdicts come."""
        months = {scope.mart: scope.describe() for scope in self.month_scopes}
        return {
            state.mart: months[state.mart]
            if state.mart in months and state.carried_from is None
            else state.describe()
            for state in self.mart_states
        }

    def text(self) -> str:
        return self.summary()

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """The dict form the report and `meta.gate_results.result_json` use."""
        texts = self.validated()
        return jsonable(
            {
                "passed": self.passed,
                "build_id": self.build_id,
                "checked_at": self.checked_at.isoformat(),
                "n_expectations": self.n_expectations,
                "n_failed": self.n_failed,
                "n_warnings": len(self.warning_checks),
                "max_reject_share": self.max_reject_share,
                "failures": [check.describe() for check in self.failed_checks],
                "warnings": [check.describe() for check in self.warning_checks],
                "analyses": [support.to_dict() for support in self.analyses],
                "n_carried": self.n_carried,
                "marts": [
                    {
                        "mart": state.mart,
                        "carried_from_build": state.carried_from,
                        "text": texts[state.mart],
                    }
                    for state in self.mart_states
                ],
                "months_validated": [scope.to_dict() for scope in self.month_scopes],
                "rejects": [dict(row) for row in self.rejects],
                "checks": [check.to_dict() for check in self.checks],
            }
        )


# --------------------------------------------------------------------------------------------
# Running the gate
# --------------------------------------------------------------------------------------------


def run_gate(
    warehouse: Path,
    build_id: str | None = None,
    *,
    max_reject_share: float = DEFAULT_MAX_REJECT_SHARE,
    expectations_dir: Path = EXPECTATIONS_DIR,
    full: bool = False,
) -> GateResult:
    """Check the marts and input batches of `warehouse`; nothing is written.

    `build_id` defaults to the latest build in `meta.builds` (None if there is none).
    `max_reject_share`: the gate fails if a table's rejected rows exceed this share of the
    rows read (per department and raw table); below it, rejects are a warning.
    A mart unchanged since the last passed gate keeps that gate's verdicts, and a monthly mart
    is validated in the months changed since (middlestep/gate_months.py); `full` validates all.
    """
    warehouse = Path(warehouse)
    if not warehouse.exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}")
    specs = load_expectations(expectations_dir)
    facts = _read_warehouse(warehouse, specs, expectations_dir, build_id, incremental=not full)
    checked_at = datetime.now(UTC)

    carried = _carried_verdicts(specs, facts)
    checks = _run_expectations(specs, facts, carried)
    checks += _batch_checks(facts, max_reject_share)
    checks += roster_checks(warehouse)  # middlestep/gate_roster.py: trial officers all loaded
    analyses = _analyses_supported(facts)
    rejects = tuple(
        {
            "department_id": row.department_id,
            "table": row.table_name,
            "file": row.source_file,
            "reason": row.reason,
            "rows": int(row.rows),
        }
        for row in facts.rejects_summary.itertuples(index=False)
    )
    return GateResult(
        passed=not any(check.is_failure for check in checks),
        build_id=facts.build_id,
        checked_at=checked_at,
        checks=tuple(checks),
        analyses=analyses,
        rejects=rejects,
        max_reject_share=max_reject_share,
        month_scopes=tuple(facts.month_scopes.values()),
        mart_states=tuple(
            replace(state, carried_from=facts.baseline.build_id) if mart in carried else state
            for mart, state in facts.mart_states.items()
        ),
    )


def _read_warehouse(
    warehouse: Path,
    specs: Mapping[str, tuple[ExpectationSpec, ...]],
    expectations_dir: Path,
    build_id: str | None,
    *,
    incremental: bool,
) -> _WarehouseFacts:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        existing = {
            (schema, name)
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        batches = (
            con.execute(
                "select batch_id, department_id, table_name, source_file, rows_read, "
                "rows_loaded, rows_rejected from raw._batches order by batch_id"
            ).df()
            if ("raw", "_batches") in existing
            else None
        )
        has_rejects = ("raw", "_rejects") in existing
        rejects_by_batch = (
            con.execute(
                "select batch_id, count(*) as n_rejects from raw._rejects group by batch_id"
            ).df()
            if has_rejects
            else None
        )
        rejects_summary = (
            con.execute(
                "select department_id, table_name, source_file, reason, count(*) as rows "
                "from raw._rejects group by all order by department_id, table_name, "
                "source_file, rows desc, reason"
            ).df()
            if has_rejects
            else pd.DataFrame(
                columns=["department_id", "table_name", "source_file", "reason", "rows"]
            )
        )
        raw_tables = sorted(
            name for schema, name in existing if schema == "raw" and not name.startswith("_")
        )
        raw_rows = {
            name: int(con.execute(f'select count(*) from raw."{name}"').fetchone()[0])
            for name in raw_tables
        }
        batched = [
            name
            for name in raw_tables
            if con.execute(
                "select count(*) from information_schema.columns where table_schema = 'raw' "
                "and table_name = ? and column_name = '_batch_id'",
                [name],
            ).fetchone()[0]
        ]
        raw_rows_by_batch = pd.DataFrame(
            [
                (name, batch_id, int(n_rows))
                for name in batched
                for batch_id, n_rows in con.execute(
                    f'select _batch_id, count(*) from raw."{name}" group by 1'
                ).fetchall()
            ],
            columns=["table_name", "batch_id", "n_rows"],
        )
        if build_id is None and ("meta", "builds") in existing:
            latest = con.execute(
                "select build_id from meta.builds order by built_at desc nulls last limit 1"
            ).fetchone()
            build_id = latest[0] if latest else None

        conditions = {name: condition(raw_rows) for name, condition in CONDITIONS.items()}
        baseline = last_passed(con) if incremental else None
        states: dict[str, MartState] = {}
        scopes: dict[str, MonthScope] = {}
        for mart, mart_specs in specs.items():
            if ("marts", mart) not in existing:
                continue
            met = {spec.only_if: conditions[spec.only_if] for spec in mart_specs if spec.only_if}
            version = checks_version(expectations_dir / f"{mart}.yaml", met)
            states[mart], scope = fingerprint_mart(con, mart, version, baseline)
            if scope is not None:
                scopes[mart] = scope

        def read(mart: str, where: str = "true") -> pd.DataFrame | None:
            if ("marts", mart) not in existing:
                return None
            return con.execute(f'select * from marts."{mart}" where {where}').df()

        def rows_to_validate(mart: str) -> pd.DataFrame | None:
            scope = scopes.get(mart)
            if scope is not None and not scope.is_full:
                return read(mart, scope.where())
            return analysed[mart] if mart in analysed else read(mart)

        analysed = {mart: read(mart) for mart in ANALYSED_MARTS}
        frames = {mart: rows_to_validate(mart) for mart in specs}
    finally:
        con.close()
    return _WarehouseFacts(
        marts=frames,
        analysed=analysed,
        batches=batches,
        rejects_by_batch=rejects_by_batch,
        rejects_summary=rejects_summary,
        raw_rows=raw_rows,
        raw_rows_by_batch=raw_rows_by_batch,
        build_id=build_id,
        conditions=conditions,
        mart_states=states,
        month_scopes=scopes,
        baseline=baseline,
    )


def _carried_verdicts(
    specs: Mapping[str, tuple[ExpectationSpec, ...]], facts: _WarehouseFacts
) -> dict[str, list[CheckResult]]:
    """mart -> the verdicts the last passed gate recorded for the expectations it runs, for each
    mart unchanged since (the same fingerprint and checks version) whose verdicts are all there."""
    baseline = facts.baseline
    if baseline is None:
        return {}
    recorded = {_check_key(check): check for check in baseline.checks if not check.get("skipped")}
    carried: dict[str, list[CheckResult]] = {}
    for mart, mart_specs in specs.items():
        state = facts.mart_states.get(mart)
        if state is None or baseline.marts.get(mart) != (state.fingerprint, state.checks_version):
            continue
        keys = [
            _check_key(
                {
                    "mart": spec.target,
                    "expectation": spec.expectation,
                    "severity": spec.severity,
                    "kwargs": spec.kwargs,
                }
            )
            for spec in mart_specs
            if _runs(spec, facts)
        ]
        if all(key in recorded for key in keys):
            carried[mart] = [_carried_check(recorded[key], baseline.build_id) for key in keys]
    return carried


def _check_key(check: Mapping[str, Any]) -> str:
    """The expectation a check (as `CheckResult.to_dict` records it) is the verdict of."""
    names = ("mart", "expectation", "severity", "kwargs")
    return json.dumps(jsonable({name: check.get(name) for name in names}), sort_keys=True)


def _carried_check(recorded: Mapping[str, Any], build_id: str | None) -> CheckResult:
    """A recorded check (`CheckResult.to_dict`) as the verdict of an unchanged mart."""
    names = {item.name for item in fields(CheckResult)}
    values = {name: value for name, value in recorded.items() if name in names}
    values["unexpected_sample"] = tuple(values.get("unexpected_sample") or ())
    values["scope"] = f"unchanged since the passed gate of build {build_id}"
    return CheckResult(**values, carried_from=build_id)


def _runs(spec: ExpectationSpec, facts: _WarehouseFacts) -> bool:
    return spec.only_if is None or facts.conditions[spec.only_if]


def _run_expectations(
    specs: Mapping[str, tuple[ExpectationSpec, ...]],
    facts: _WarehouseFacts,
    carried: Mapping[str, list[CheckResult]],
) -> list[CheckResult]:
    """Run the expectations of the marts not `carried` through one Great Expectations
    checkpoint (none if every mart is carried: Great Expectations is not even imported)."""
    checks: list[CheckResult] = []
    runnable: dict[str, list[tuple[int, ExpectationSpec]]] = {}
    frames: dict[str, pd.DataFrame] = {}
    ordered: list[ExpectationSpec] = []
    for mart, mart_specs in specs.items():
        frame = facts.marts.get(mart)
        if frame is None:
            checks.append(
                CheckResult(
                    mart=mart,
                    expectation="mart_exists",
                    success=False,
                    observed=f"marts.{mart} is not in the warehouse",
                    why="every mart of the analysis contract is built, empty if need be",
                )
            )
            continue
        checks += [
            _skipped(spec, f"condition {spec.only_if} not met")
            for spec in mart_specs
            if not _runs(spec, facts)
        ]
        if mart in carried:
            checks += carried[mart]
            continue
        scope = facts.month_scopes.get(mart)
        in_months = scope is not None and not scope.is_full
        for spec in mart_specs:
            if not _runs(spec, facts):
                continue
            if in_months and spec.expectation in WHOLE_TABLE:
                checks.append(_whole_table_check(spec, scope.n_rows))
                continue
            if spec.target not in frames:
                frames[spec.target] = (
                    DERIVED_FRAMES[spec.frame](frame) if spec.frame else frame
                ).reset_index(drop=True)
            runnable.setdefault(spec.target, []).append((len(ordered), spec))
            ordered.append(spec)
    if ordered:
        results = _run_checkpoint(runnable, frames)
        for index in range(len(ordered)):
            check = results[index]
            scope = facts.month_scopes.get(check.mart)
            if scope is not None and not scope.is_full:
                check = replace(check, scope=f"{len(scope.validated)} changed months")
            checks.append(check)
    return _sort_checks(checks, specs)


def _whole_table_check(spec: ExpectationSpec, n_rows: int) -> CheckResult:
    """A table-level expectation (gate_months.WHOLE_TABLE: the row count) of a mart validated in
    some months only, on the whole mart."""
    unsupported = set(spec.kwargs) - {"min_value", "max_value"}
    if unsupported:
        raise ValueError(f"{spec.mart}: {spec.expectation} on the whole mart: {unsupported}")
    low, high = spec.kwargs.get("min_value"), spec.kwargs.get("max_value")
    return CheckResult(
        mart=spec.target,
        expectation=spec.expectation,
        success=(low is None or n_rows >= low) and (high is None or n_rows <= high),
        kwargs=spec.kwargs,
        severity=spec.severity,
        observed=n_rows,
        why=spec.why,
        scope="whole mart",
    )


def _sort_checks(
    checks: list[CheckResult], specs: Mapping[str, tuple[ExpectationSpec, ...]]
) -> list[CheckResult]:
    order = {mart: position for position, mart in enumerate(specs)}
    return sorted(checks, key=lambda check: order.get(check.mart.split(".")[0], len(order)))


def _skipped(spec: ExpectationSpec, reason: str) -> CheckResult:
    return CheckResult(
        mart=spec.target,
        expectation=spec.expectation,
        success=True,
        column=spec.column,
        kwargs=spec.kwargs,
        severity=spec.severity,
        why=spec.why,
        skipped=reason,
    )


def _run_checkpoint(
    runnable: Mapping[str, list[tuple[int, ExpectationSpec]]],
    frames: Mapping[str, pd.DataFrame],
) -> dict[int, CheckResult]:
    """One checkpoint, one validation definition per target frame; results by spec index.

    A pandas dataframe asset takes its frame from the checkpoint's batch parameters, which are
    shared by every validation definition of a checkpoint; so each frame is written to a
    parquet file in a private temporary directory and read by its own parquet asset.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    data_source = context.data_sources.add_pandas("middlestep_marts")
    results: dict[int, CheckResult] = {}
    with tempfile.TemporaryDirectory(prefix="middlestep-gate-") as tmp:
        validation_definitions = []
        for target, indexed_specs in runnable.items():
            path = Path(tmp) / f"{target}.parquet"
            _parquet_safe(frames[target]).to_parquet(path, index=False)
            asset = data_source.add_parquet_asset(name=target, path=path)
            batch_definition = asset.add_batch_definition_whole_dataframe(target)
            suite = gx.ExpectationSuite(name=target)
            for index, spec in indexed_specs:
                suite.add_expectation(_build_expectation(spec, index))
            suite = context.suites.add(suite)
            validation_definitions.append(
                context.validation_definitions.add(
                    gx.ValidationDefinition(name=target, data=batch_definition, suite=suite)
                )
            )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name="middlestep_gate",
                validation_definitions=validation_definitions,
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
            )
        )
        checkpoint_result = checkpoint.run()

    specs_by_index = {index: spec for specs in runnable.values() for index, spec in specs}
    for validation_result in checkpoint_result.run_results.values():
        for expectation_result in validation_result.results:
            meta = expectation_result.expectation_config.meta or {}
            index = int(meta["gate_index"])
            results[index] = _check_from_ge(specs_by_index[index], expectation_result)
    for index, spec in specs_by_index.items():  # defensive: every spec gets a result
        if index not in results:
            results[index] = CheckResult(
                mart=spec.target,
                expectation=spec.expectation,
                success=False,
                column=spec.column,
                kwargs=spec.kwargs,
                severity=spec.severity,
                observed="Great Expectations returned no result",
                why=spec.why,
            )
    return results


def _build_expectation(spec: ExpectationSpec, index: int):
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    class_name = camel_case(spec.expectation)
    expectation_class = getattr(gxe, class_name, None)
    if expectation_class is None:
        raise ValueError(f"{spec.mart}: unknown Great Expectations expectation {class_name}")
    return expectation_class(
        **dict(spec.kwargs),
        meta={"why": spec.why, "gate_index": index},
        severity=FailureSeverity.WARNING if spec.severity == WARNING else FailureSeverity.CRITICAL,
    )


def _check_from_ge(spec: ExpectationSpec, expectation_result: Any) -> CheckResult:
    result = dict(expectation_result.result or {})
    exception = dict(expectation_result.exception_info or {})
    observed: Any = result.get("observed_value")
    if exception.get("raised_exception"):
        message = str(exception.get("exception_message") or "error").splitlines()[0]
        observed = f"could not be evaluated: {message}"
    column = spec.column
    if spec.expectation == "expect_table_columns_to_match_set" and not exception.get(
        "raised_exception"
    ):
        missing = (result.get("details") or {}).get("mismatched", {}).get("missing") or []
        observed = f"missing columns: {', '.join(missing)}" if missing else "all columns present"
        column = ", ".join(missing) or None
    unexpected = result.get("unexpected_count")
    sample = tuple(jsonable(value) for value in (result.get("partial_unexpected_list") or []))
    return CheckResult(
        mart=spec.target,
        expectation=spec.expectation,
        success=bool(expectation_result.success),
        column=column,
        kwargs=spec.kwargs,
        severity=spec.severity,
        observed=jsonable(observed),
        unexpected_count=None if unexpected is None else int(unexpected),
        element_count=None if unexpected is None else _int_or_none(result.get("element_count")),
        unexpected_sample=sample,
        why=spec.why,
    )


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns pyarrow cannot write (DuckDB decimals, mixed objects) as floats or text."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if column.dtype != object:
            continue
        values = column.dropna()
        if values.empty:
            continue
        if all(isinstance(value, Decimal) for value in values):
            out[name] = column.map(lambda value: None if value is None else float(value))
        elif len({type(value) for value in values}) > 1:
            out[name] = column.map(lambda value: None if value is None else str(value))
    return out


def _batch_checks(facts: _WarehouseFacts, max_reject_share: float) -> list[CheckResult]:
    """Every batch adds up, rejects are recorded, and no table lost too many rows."""
    if facts.batches is None:
        return [
            CheckResult(
                mart=BATCHES,
                expectation="batches_recorded",
                success=False,
                observed="raw._batches is not in the warehouse",
                why="every number must trace back to the input files it came from",
            )
        ]
    batches = facts.batches
    checks: list[CheckResult] = []
    why_add_up = "nothing is dropped silently: every row read is loaded or rejected"
    rule = "rows_read = rows_loaded + rows_rejected"
    broken = batches[batches["rows_read"] != batches["rows_loaded"] + batches["rows_rejected"]]
    for row in broken.itertuples(index=False):
        checks.append(
            CheckResult(
                mart=BATCHES,
                expectation="batch_rows_add_up",
                success=False,
                column="rows_read",
                kwargs={"rule": rule},
                observed=(
                    f"batch {row.batch_id} ({row.table_name}, {row.source_file}): "
                    f"read {row.rows_read} but loaded {row.rows_loaded} + "
                    f"rejected {row.rows_rejected} = {row.rows_loaded + row.rows_rejected}"
                ),
                why=why_add_up,
            )
        )
    if broken.empty:
        checks.append(
            CheckResult(
                mart=BATCHES,
                expectation="batch_rows_add_up",
                success=True,
                column="rows_read",
                kwargs={"rule": rule},
                observed=f"{len(batches)} batches add up",
                why=why_add_up,
            )
        )

    if facts.rejects_by_batch is not None:
        recorded = batches.merge(facts.rejects_by_batch, on="batch_id", how="left")
        recorded["n_rejects"] = recorded["n_rejects"].fillna(0).astype(int)
        mismatched = recorded[recorded["n_rejects"] != recorded["rows_rejected"]]
        why = "raw._rejects holds one row per rejected line, so every reject can be looked up"
        for row in mismatched.itertuples(index=False):
            checks.append(
                CheckResult(
                    mart=REJECTS,
                    expectation="rejects_recorded_per_batch",
                    success=False,
                    column="batch_id",
                    observed=(
                        f"batch {row.batch_id} ({row.table_name}, {row.source_file}) says "
                        f"{row.rows_rejected} rows rejected, raw._rejects holds {row.n_rejects}"
                    ),
                    why=why,
                )
            )
        if mismatched.empty:
            checks.append(
                CheckResult(
                    mart=REJECTS,
                    expectation="rejects_recorded_per_batch",
                    success=True,
                    column="batch_id",
                    observed="every rejected row is in raw._rejects",
                    why=why,
                )
            )

    checks += _loaded_rows_checks(facts)

    per_table = (
        batches.groupby(["department_id", "table_name"], dropna=False)[
            ["rows_read", "rows_rejected"]
        ]
        .sum()
        .reset_index()
    )
    for row in per_table.itertuples(index=False):
        share = row.rows_rejected / row.rows_read if row.rows_read else 0.0
        over = share > max_reject_share
        checks.append(
            CheckResult(
                mart=REJECTS,
                expectation="reject_share_at_most",
                success=row.rows_rejected == 0,
                column=f"{row.department_id}/{row.table_name}",
                kwargs={"max_share": max_reject_share},
                severity=CRITICAL if over else WARNING,
                observed=(
                    f"{row.rows_rejected} of {row.rows_read} rows of {row.table_name} "
                    f"rejected ({share:.1%})"
                ),
                why=(
                    f"more than {max_reject_share:.0%} rejected means the mapping or the export "
                    "is broken, and estimates would rest on a biased subset"
                    if over
                    else "rejected rows are missing from every estimate; see the rejects table"
                ),
            )
        )
    return checks


def _loaded_rows_checks(facts: _WarehouseFacts) -> list[CheckResult]:
    """Each batch's rows_loaded are in its raw table, and every raw row belongs to a batch."""
    batches = facts.batches
    held = facts.raw_rows_by_batch
    why = "every number must trace back to the input file (batch) it came from"
    checks: list[CheckResult] = []
    merged = batches.merge(held, on=["table_name", "batch_id"], how="left")
    merged["n_rows"] = pd.to_numeric(merged["n_rows"]).fillna(0).astype(int)
    for row in merged[merged["n_rows"] != merged["rows_loaded"]].itertuples(index=False):
        where = (
            f"raw.{row.table_name} holds {row.n_rows}"
            if row.table_name in facts.raw_rows
            else f"raw.{row.table_name} does not exist"
        )
        checks.append(
            CheckResult(
                mart=BATCHES,
                expectation="batch_rows_loaded_are_in_raw",
                success=False,
                column="rows_loaded",
                observed=(
                    f"batch {row.batch_id} ({row.table_name}, {row.source_file}) says "
                    f"{row.rows_loaded} rows loaded, {where}"
                ),
                why=why,
            )
        )
    known = set(zip(batches["table_name"], batches["batch_id"], strict=True))
    is_orphan = pd.Series(
        [
            (name, batch_id) not in known
            for name, batch_id in zip(held["table_name"], held["batch_id"], strict=True)
        ],
        index=held.index,
        dtype=bool,
    )
    orphans = held[is_orphan]
    for name, rows in orphans.groupby("table_name"):
        checks.append(
            CheckResult(
                mart=f"raw.{name}",
                expectation="rows_belong_to_a_batch",
                success=False,
                column="_batch_id",
                observed=(
                    f"{int(rows['n_rows'].sum())} rows of batches not in raw._batches "
                    f"(_batch_id {', '.join(str(b) for b in sorted(rows['batch_id'], key=str))})"
                ),
                why=why,
            )
        )
    if not checks:
        checks.append(
            CheckResult(
                mart=BATCHES,
                expectation="batch_rows_loaded_are_in_raw",
                success=True,
                column="rows_loaded",
                observed="every batch's rows are in its raw table, every raw row has its batch",
                why=why,
            )
        )
    return checks


# --------------------------------------------------------------------------------------------
# Which analyses the data supports
# --------------------------------------------------------------------------------------------

COMMUNICATION_EFFECTS = "communication effects"
FORCE_EFFECTS = "force effects"
COMPLAINT_EFFECTS = "complaint effects"
RANDOMIZATION_BALANCE = "randomization balance"
ROLLOUT_EFFECTS = "staggered roll-out effects"
SSO_RELIABILITY = "SSO reliability"

ANALYSES: tuple[str, ...] = (
    RANDOMIZATION_BALANCE,
    COMMUNICATION_EFFECTS,
    FORCE_EFFECTS,
    COMPLAINT_EFFECTS,
    ROLLOUT_EFFECTS,
    SSO_RELIABILITY,
)


def _rows_of(frame: pd.DataFrame | None, department_id: str) -> pd.DataFrame:
    if frame is None or frame.empty or "department_id" not in frame.columns:
        return pd.DataFrame()
    return frame[frame["department_id"] == department_id]


def _delivered(facts: _WarehouseFacts, department_id: str, table: str) -> bool:
    batches = facts.batches
    if batches is None or batches.empty:
        return False
    rows = batches[(batches["department_id"] == department_id) & (batches["table_name"] == table)]
    return bool(rows["rows_loaded"].sum() > 0)


def _support(department_id: str, analysis: str, reason: str | None) -> AnalysisSupport:
    """`reason` is why the analysis is not supported; None if it is."""
    return AnalysisSupport(department_id, analysis, reason is None, reason or "")


def _analyses_supported(facts: _WarehouseFacts) -> tuple[AnalysisSupport, ...]:
    departments: set[str] = set()
    for frame in facts.analysed.values():
        if frame is not None and "department_id" in frame.columns:
            departments.update(frame["department_id"].dropna().astype(str))
    supports: list[AnalysisSupport] = []
    for department_id in sorted(departments):
        officers = _rows_of(facts.analysed.get("dim_officers"), department_id)
        months = _rows_of(facts.analysed.get("fct_officer_months"), department_id)
        encounters = _rows_of(facts.analysed.get("fct_encounters"), department_id)
        force = _rows_of(facts.analysed.get("fct_force_reports"), department_id)
        reliability = _rows_of(facts.analysed.get("rpt_sso_reliability"), department_id)

        def column(frame: pd.DataFrame, name: str) -> pd.Series:
            return frame[name] if name in frame.columns else pd.Series(dtype=object)

        n_assigned = int(column(officers, "arm").notna().sum())
        arms = set(column(officers, "arm").dropna())
        assigned_months = int(column(months, "arm").notna().sum())
        assigned_encounters = (
            encounters[column(encounters, "arm").notna()] if not encounters.empty else encounters
        )
        post_encounters = int((column(assigned_encounters, "study_period") == "post").sum())
        n_cohorts = column(officers, "cohort_month").dropna().nunique()
        double_coded = column(reliability, "n_double_coded").fillna(0)

        support = partial(_support, department_id)

        trial_reason = (
            "no officers assigned to a trial arm"
            if n_assigned == 0
            else "only one arm assigned"
            if len(arms) < 2
            else None
        )
        supports.append(support(RANDOMIZATION_BALANCE, trial_reason))
        # force and complaint effects: by arm (wait-list trial) or by cohort (staggered roll-out)
        rollout_months = int(column(months, "cohort_period").notna().sum())
        outcome_reason = (
            None
            if trial_reason is None or n_cohorts >= 2
            else "no officers assigned to a trial arm or to two or more roll-out cohorts"
        )
        outcome_months = assigned_months if trial_reason is None else rollout_months
        supports.append(
            support(
                COMMUNICATION_EFFECTS,
                trial_reason
                or (
                    "no coded encounters"
                    if encounters.empty
                    else "no coded encounters of officers in a trial arm"
                    if len(assigned_encounters) == 0
                    else "no coded encounters in the post period"
                    if post_encounters == 0
                    else None
                ),
            )
        )
        force_delivered = _delivered(facts, department_id, "force_reports") or not force.empty
        supports.append(
            support(
                FORCE_EFFECTS,
                outcome_reason
                or (
                    "no officer-months"
                    if months.empty
                    else "no officer-months of officers in a trial arm or roll-out cohort"
                    if outcome_months == 0
                    else "no force reports delivered"
                    if not force_delivered
                    else None
                ),
            )
        )
        complaints_delivered = _delivered(facts, department_id, "complaints") or bool(
            column(months, "complaints").fillna(0).sum() > 0
        )
        supports.append(
            support(
                COMPLAINT_EFFECTS,
                outcome_reason
                or (
                    "no officer-months of officers in a trial arm or roll-out cohort"
                    if outcome_months == 0
                    else "no complaints delivered"
                    if not complaints_delivered
                    else None
                ),
            )
        )
        supports.append(
            support(
                ROLLOUT_EFFECTS,
                "fewer than two roll-out cohorts"
                if n_cohorts < 2
                else "no officer-months"
                if months.empty
                else None,
            )
        )
        supports.append(
            support(
                SSO_RELIABILITY,
                None if bool((double_coded > 0).any()) else "no double-coded videos",
            )
        )
    return tuple(supports)


# --------------------------------------------------------------------------------------------
# Recording and reading gate results
# --------------------------------------------------------------------------------------------


def ensure_meta_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema `meta` with `meta.builds`, `meta.gate_results`, `meta.gate_months` and
    `meta.gate_marts` if they are missing."""
    con.execute("create schema if not exists meta")
    con.execute(META_BUILDS_DDL)
    con.execute(META_GATE_RESULTS_DDL)
    con.execute(MONTHS_DDL)
    con.execute(MARTS_DDL)


def record_gate(warehouse: Path, result: GateResult) -> None:
    """Append `result` to `meta.gate_results` (read-write connection, closed after)."""
    con = duckdb.connect(str(warehouse))
    try:
        ensure_meta_tables(con)
        checked_at = result.checked_at.astimezone(UTC).replace(tzinfo=None)
        con.execute(
            "insert into meta.gate_results (build_id, checked_at, passed, n_expectations, "
            "n_failed, result_json) values (?, ?, ?, ?, ?, ?)",
            [
                result.build_id,
                checked_at,
                result.passed,
                result.n_expectations,
                result.n_failed,
                json.dumps(result.to_dict()),
            ],
        )
        for scope in result.month_scopes:
            record_months(con, checked_at, result.build_id, scope)
        for state in result.mart_states:
            record_mart(con, checked_at, result.build_id, state)
    finally:
        con.close()


def latest_gate(warehouse: Path, build_id: str | None = None) -> dict[str, Any] | None:
    """The most recent gate result (of `build_id` if given) as a dict, or None if there is none.

    The dict is `GateResult.to_dict()` as recorded; `passed`, `build_id`, `checked_at`,
    `n_expectations` and `n_failed` come from the table's columns.
    """
    warehouse = Path(warehouse)
    if not warehouse.exists():
        return None
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'meta' and table_name = 'gate_results'"
        ).fetchone()[0]
        if not exists:
            return None
        query = (
            "select build_id, checked_at, passed, n_expectations, n_failed, result_json "
            "from meta.gate_results"
        )
        parameters: list[Any] = []
        if build_id is not None:
            query += " where build_id = ?"
            parameters.append(build_id)
        row = con.execute(query + " order by checked_at desc limit 1", parameters).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    recorded = json.loads(row[5]) if row[5] else {}
    checked_at = row[1].replace(tzinfo=UTC) if isinstance(row[1], datetime) else row[1]
    recorded.update(
        {
            "build_id": row[0],
            "checked_at": checked_at.isoformat() if checked_at is not None else None,
            "passed": bool(row[2]),
            "n_expectations": row[3],
            "n_failed": row[4],
        }
    )
    return recorded


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _column_of(kwargs: Mapping[str, Any]) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs and "column_B" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(str(name) for name in kwargs["column_list"])
    return None


def _format_kwargs(kwargs: Mapping[str, Any]) -> str:
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


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars, dates and decimals converted, NaN as None."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(item) for item in value]
    if isinstance(value, bool | str) or value is None:
        return value
    if value is pd.NaT:
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return jsonable(value.item())
    return str(value)
