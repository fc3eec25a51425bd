"""Department mapping files: how a department's own export maps onto the raw contract.

The format is documented in docs/contracts.md. Loading a mapping checks it against the contract
up front, so a typo in a mapping is an error naming the mapping file, not a silent NULL column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from middlestep.contract import RAW_TABLES
from middlestep.warehouse import PROJECT_ROOT

DEPARTMENTS_DIR = PROJECT_ROOT / "departments"
DEFAULT_NULL_VALUES = ("", "NA", "N/A", "NULL")
# dates before this are rejected (an 1899 force report is a typo, not history); a department
# whose roster reaches further back sets `earliest_date` in its mapping
DEFAULT_EARLIEST_DATE = dt.date(1950, 1, 1)
NAME_PATTERN = re.compile(r"[a-z0-9_]+")
# what ingest does with lines repeating a key within a file (docs/contracts.md, section 1)
REPEATED_KEYS = ("reject", "first", "last", "aggregate")
# how `repeated_keys: aggregate` folds a field over the lines of one key
# (count_lines: the number of lines of the key, e.g. one per subject; it reads no column)
AGGREGATES = (
    "first", "last", "min", "max", "sum", "count", "count_distinct", "count_lines", "any", "all",
)  # fmt: skip


class MappingError(ValueError):
    """A mapping file that does not fit the contract."""


@dataclass(frozen=True)
class FieldMapping:
    field: str
    column: str | None = None  # source column; None for a constant
    constant: Any = None
    # strptime format for DATE/TIMESTAMP; several: the first that parses the value
    format: str | tuple[str, ...] | None = None
    values: dict[str, Any] | None = None
    # several source columns joined into one text value (a composite id), in this order
    columns: tuple[str, ...] | None = None
    separator: str = "|"
    aggregate: str = "first"  # over the lines of one key, with `repeated_keys: aggregate`
    # the value may be unknown (NULL): an empty cell, or no column at all ({unknown: true})
    allow_unknown: bool = False


@dataclass(frozen=True)
class TableMapping:
    table: str
    file: str
    format: str
    encoding: str
    delimiter: str
    null_values: tuple[str, ...]
    fields: tuple[FieldMapping, ...]
    extra_header_rows: int = 0  # csv: lines after the header that are not data (a 2nd header)
    repeated_keys: str = "reject"  # reject | first | last | aggregate (REPEATED_KEYS)
    # sha256 of the table's mapping section and the department settings that parse it: a batch
    # is a file's content under one mapping, so a changed mapping loads the same file again
    mapping_sha256: str = ""

    @property
    def source_columns(self) -> tuple[str, ...]:
        names = []
        for f in self.fields:
            names += list(f.columns) if f.columns else [f.column] if f.column is not None else []
        return tuple(names)


@dataclass(frozen=True)
class DepartmentMapping:
    department_id: str
    description: str
    timezone: str
    study_start_on: dt.date | None
    study_end_on: dt.date | None
    tables: tuple[TableMapping, ...] = field(default_factory=tuple)
    path: Path | None = None
    # the department's defaults for the commands, e.g. {"sample": "main"} (middlestep/rollout.py)
    defaults: dict[str, str] = field(default_factory=dict)
    earliest_date: dt.date = DEFAULT_EARLIEST_DATE


def mapping_path(name: str, departments_dir: Path = DEPARTMENTS_DIR) -> Path:
    if not NAME_PATTERN.fullmatch(name):
        raise MappingError(
            f"department name {name!r}: use lower-case letters, digits and _ only "
            f"(the mapping departments/NAME.yaml)"
        )
    return departments_dir / f"{name}.yaml"


def load_mapping(name_or_path: str | Path, departments_dir: Path = DEPARTMENTS_DIR):
    """A department's mapping by name (departments/NAME.yaml); a Path object may name a
    mapping file anywhere (tests, tools), a text never does."""
    if isinstance(name_or_path, Path) and name_or_path.suffix in (".yaml", ".yml"):
        path = name_or_path
    else:
        path = mapping_path(str(name_or_path), departments_dir)
    if not path.exists():
        known = sorted(p.stem for p in departments_dir.glob("*.yaml"))
        raise MappingError(f"no mapping {path} (known departments: {', '.join(known)})")
    document = yaml.safe_load(path.read_text()) or {}
    return parse_mapping(document, path)


def parse_mapping(document: dict, path: Path | None = None) -> DepartmentMapping:
    where = str(path) if path else "mapping"
    for required in ("department_id", "tables"):
        if required not in document:
            raise MappingError(f"{where}: missing top-level key '{required}'")
    department_id = str(document["department_id"])
    if not NAME_PATTERN.fullmatch(department_id):
        raise MappingError(f"{where}: department_id {department_id!r} must match [a-z0-9_]+")
    null_values = tuple(str(v) for v in document.get("null_values", DEFAULT_NULL_VALUES))
    study = document.get("study") or {}
    parse_settings = {
        key: document.get(key) for key in ("timezone", "null_values", "earliest_date")
    }
    tables = tuple(
        _parse_table(name, spec or {}, null_values, where, parse_settings)
        for name, spec in document["tables"].items()
    )
    return DepartmentMapping(
        department_id=department_id,
        description=str(document.get("description", "")),
        timezone=str(document.get("timezone", "UTC")),
        study_start_on=_as_date(study.get("start_on")),
        study_end_on=_as_date(study.get("end_on")),
        tables=tables,
        path=path,
        defaults={str(k): str(v) for k, v in (document.get("defaults") or {}).items()},
        earliest_date=_as_date(document.get("earliest_date")) or DEFAULT_EARLIEST_DATE,
    )


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _mapping_sha256(spec: dict, parse_settings: dict) -> str:
    text = json.dumps({"table": spec, **parse_settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _parse_table(
    name: str, spec: dict, null_values: tuple[str, ...], where: str, parse_settings: dict
) -> TableMapping:
    if name not in RAW_TABLES:
        raise MappingError(f"{where}: unknown table '{name}' (known: {', '.join(RAW_TABLES)})")
    contract = RAW_TABLES[name]
    if "file" not in spec:
        raise MappingError(f"{where}: table '{name}' does not say which file feeds it")
    fields = []
    for field_name, source in (spec.get("columns") or {}).items():
        if field_name not in contract.field_names:
            raise MappingError(f"{where}: table '{name}' has no canonical field '{field_name}'")
        field_where = f"{where}: {name}.{field_name}"
        parsed = _parse_field(field_name, source, field_where)
        if parsed.allow_unknown and contract.field(field_name).unknown_means is None:
            raise MappingError(
                f"{field_where}: the contract gives no meaning to an unknown {field_name}: "
                "map a column that holds it"
            )
        fields.append(parsed)
    mapped = {f.field for f in fields}
    missing = [f.name for f in contract.fields if f.required and f.name not in mapped]
    if missing:
        unknowable = [m for m in missing if contract.field(m).unknown_means]
        hint = (
            f" (if the export does not have it: `{unknowable[0]}: {{unknown: true}}`)"
            if unknowable
            else ""
        )
        raise MappingError(
            f"{where}: table '{name}' does not map required {', '.join(missing)}{hint}"
        )
    table_where = f"{where}: table '{name}'"
    file_name = _file_pattern(str(spec["file"]), table_where)
    _check_civilian_fields(contract, fields, table_where)
    default_format = "parquet" if file_name.endswith(".parquet") else "csv"
    file_format = str(spec.get("format", default_format))
    repeated_keys = str(spec.get("repeated_keys", "reject"))
    if repeated_keys not in REPEATED_KEYS:
        raise MappingError(
            f"{table_where}: repeated_keys {repeated_keys!r} (one of {', '.join(REPEATED_KEYS)})"
        )
    _check_aggregates(contract, fields, repeated_keys, table_where)
    extra_header_rows = spec.get("extra_header_rows", 0)
    if (
        not isinstance(extra_header_rows, int)
        or isinstance(extra_header_rows, bool)
        or (extra_header_rows < 0 or (extra_header_rows and file_format != "csv"))
    ):
        raise MappingError(
            f"{table_where}: extra_header_rows takes a whole number of lines, for a csv file"
        )
    return TableMapping(
        table=name,
        file=file_name,
        format=file_format,
        encoding=str(spec.get("encoding", "utf-8")),
        delimiter=str(spec.get("delimiter", ",")),
        null_values=tuple(str(v) for v in spec.get("null_values", null_values)),
        fields=tuple(fields),
        extra_header_rows=extra_header_rows,
        repeated_keys=repeated_keys,
        mapping_sha256=_mapping_sha256(spec, parse_settings),
    )


def _check_aggregates(contract, fields: list[FieldMapping], repeated_keys: str, where: str):
    """`aggregate` only under `repeated_keys: aggregate`, never on a key field; a count is an
    INTEGER field's."""
    for mapped in fields:
        if mapped.aggregate == "first":
            continue
        if repeated_keys != "aggregate":
            raise MappingError(
                f"{where}: {mapped.field} has aggregate {mapped.aggregate}, which needs "
                "`repeated_keys: aggregate` on the table"
            )
        if mapped.field in contract.key:
            raise MappingError(f"{where}: {mapped.field} is part of the key: it is not aggregated")
        kind = contract.field(mapped.field).type
        if mapped.aggregate in ("count", "count_distinct", "count_lines") and kind != "INTEGER":
            raise MappingError(f"{where}: {mapped.field} is {kind}: a count needs an INTEGER field")
        if mapped.aggregate in ("any", "all") and kind != "BOOLEAN":
            raise MappingError(f"{where}: {mapped.field} is {kind}: any/all need a yes/no field")
        if mapped.aggregate == "sum" and kind not in ("INTEGER", "DOUBLE"):
            raise MappingError(f"{where}: {mapped.field} is {kind}: sum needs a number field")


def _parse_field(name: str, source: Any, where: str) -> FieldMapping:
    if isinstance(source, str):
        return FieldMapping(field=name, column=source)
    if not isinstance(source, dict):
        raise MappingError(f"{where}: expected a column name or a mapping, got {source!r}")
    aggregate = str(source.get("aggregate", "first"))
    if aggregate not in AGGREGATES:
        raise MappingError(f"{where}: aggregate {aggregate!r} (one of {', '.join(AGGREGATES)})")
    allow_unknown = source.get("allow_unknown", False) is True
    if aggregate == "count_lines":
        if set(source) != {"aggregate"}:
            raise MappingError(f"{where}: `{{aggregate: count_lines}}` reads no column")
        return FieldMapping(field=name, aggregate=aggregate)
    if source.get("unknown") is not None:
        if source.get("unknown") is not True or set(source) != {"unknown"}:
            raise MappingError(f"{where}: write `{{unknown: true}}` alone for a value not exported")
        return FieldMapping(field=name, allow_unknown=True)
    if "value" in source:
        return FieldMapping(field=name, constant=source["value"])
    if "columns" in source:
        columns = source["columns"]
        if not isinstance(columns, list) or not columns:
            raise MappingError(f"{where}: 'columns' needs a list of source columns")
        extra = sorted(set(source) - {"columns", "separator", "aggregate", "format"})
        if extra:
            raise MappingError(f"{where}: 'columns' joins text; it takes no {', '.join(extra)}")
        return FieldMapping(
            field=name,
            columns=tuple(str(c) for c in columns),
            separator=str(source.get("separator", "|")),
            aggregate=aggregate,
            format=_parse_format(source.get("format"), where),
        )
    if "column" not in source:
        raise MappingError(f"{where}: needs 'column', 'columns', 'value' or 'unknown'")
    values = source.get("values")
    if values and any(isinstance(code, bool) for code in values):
        # YAML reads unquoted yes/no/on/off as booleans, not as the department's codes
        raise MappingError(f"{where}: quote the codes in 'values' (yes/no/on/off read as booleans)")
    return FieldMapping(
        field=name,
        column=str(source["column"]),
        format=_parse_format(source.get("format"), where),
        values={str(k): v for k, v in values.items()} if values else None,
        aggregate=aggregate,
        allow_unknown=allow_unknown,
    )


def _parse_format(value: Any, where: str) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise MappingError(f"{where}: format takes a strptime format or a list of them")


def _file_pattern(pattern: str, where: str) -> str:
    """A glob inside the export directory: relative, no '..', no drive or home."""
    parts = Path(pattern).parts
    if not pattern or Path(pattern).is_absolute() or pattern.startswith("~") or ".." in parts:
        raise MappingError(
            f"{where}: file {pattern!r} must be a pattern inside the export directory "
            "(relative, without '..')"
        )
    return pattern


def _check_civilian_fields(contract, fields: list[FieldMapping], where: str) -> None:
    """A civilian identifier comes from one column of its own, hashed before it is loaded:
    no value map, format, composite or constant, and no other field reads that column."""
    for mapped in fields:
        if not contract.field(mapped.field).is_civilian_identifier:
            continue
        if mapped.column is None or mapped.values or mapped.format:
            raise MappingError(
                f"{where}: {mapped.field} is a civilian identifier: map it from one column, "
                "without values, format or columns"
            )
        # a count of the (hashed) identifiers reveals none of them
        others = [
            other.field
            for other in fields
            if other is not mapped
            and other.aggregate not in ("count", "count_distinct")
            and mapped.column in ((other.column,) + tuple(other.columns or ()))
        ]
        if others:
            raise MappingError(
                f"{where}: column {mapped.column} holds a civilian identifier and cannot also "
                f"feed {', '.join(others)}"
            )
