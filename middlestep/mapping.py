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

from middlestep import mapping_keys as keys
from middlestep.contract import RAW_TABLES
from middlestep.mapping_keys import MappingError
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


def mapping_path(name: str, departments_dir: Path | None = None) -> Path:
    if not NAME_PATTERN.fullmatch(name):
        raise MappingError(
            f"department name {name!r}: use lower-case letters, digits and _ only "
            f"(the mapping departments/NAME.yaml)"
        )
    return (departments_dir or DEPARTMENTS_DIR) / f"{name}.yaml"


def load_mapping(name_or_path: str | Path, departments_dir: Path | None = None):
    """A department's mapping by name (departments/NAME.yaml); a Path object may name a
    mapping file anywhere (tests, tools), a text never does."""
    if isinstance(name_or_path, Path) and name_or_path.suffix in (".yaml", ".yml"):
        path = name_or_path
    else:
        path = mapping_path(str(name_or_path), departments_dir)
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise MappingError(f"no mapping {path} (known departments: {', '.join(known)})")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as error:
        raise MappingError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    except yaml.YAMLError as error:  # a tab, an unclosed brace: where, in the YAML's words
        mark = getattr(error, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise MappingError(f"{path}: not valid YAML{at}: {problem}") from None
    return parse_mapping(document, path)


def parse_mapping(document: dict, path: Path | None = None) -> DepartmentMapping:
    where = str(path) if path else "mapping"
    keys.section(document, keys.TOP_KEYS, where)
    for required in ("department_id", "tables"):
        if required not in document:
            raise MappingError(f"{where}: missing top-level key '{required}'")
    department_id = str(document["department_id"])
    if not NAME_PATTERN.fullmatch(department_id):
        raise MappingError(f"{where}: department_id {department_id!r} must match [a-z0-9_]+")
    null_values = DEFAULT_NULL_VALUES
    if "null_values" in document:
        null_values = keys.text_list(document["null_values"], where, "null_values")
    study = keys.section(document.get("study") or {}, keys.STUDY_KEYS, f"{where}: study")
    start_on = keys.date_setting(study.get("start_on"), f"{where}: study.start_on")
    end_on = keys.date_setting(study.get("end_on"), f"{where}: study.end_on")
    if start_on and end_on and end_on < start_on:
        raise MappingError(f"{where}: study.end_on {end_on} is before study.start_on {start_on}")
    parse_settings = {
        key: document.get(key) for key in ("timezone", "null_values", "earliest_date")
    }
    tables = tuple(
        _parse_table(name, spec, null_values, where, parse_settings)
        for name, spec in keys.mapping_of(document["tables"], where, "tables").items()
    )
    defaults = keys.mapping_of(document.get("defaults"), where, "defaults")
    earliest = keys.date_setting(document.get("earliest_date"), f"{where}: earliest_date")
    return DepartmentMapping(
        department_id=department_id,
        description=str(document.get("description", "")),
        timezone=keys.timezone(document.get("timezone", "UTC"), where),
        study_start_on=start_on,
        study_end_on=end_on,
        tables=tables,
        path=path,
        defaults={str(k): str(v) for k, v in defaults.items()},
        earliest_date=earliest or DEFAULT_EARLIEST_DATE,
    )


def _mapping_sha256(spec: dict, parse_settings: dict) -> str:
    text = json.dumps({"table": spec, **parse_settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _parse_table(
    name: str, spec: dict, null_values: tuple[str, ...], where: str, parse_settings: dict
) -> TableMapping:
    if name not in RAW_TABLES:
        raise MappingError(f"{where}: unknown table '{name}' (known: {', '.join(RAW_TABLES)})")
    contract = RAW_TABLES[name]
    spec = keys.section(spec or {}, keys.TABLE_KEYS, f"{where}: table '{name}'")
    if not isinstance(spec.get("file"), str):
        raise MappingError(f"{where}: table '{name}' does not say which file feeds it")
    fields = []
    columns = keys.mapping_of(spec.get("columns"), f"{where}: table '{name}'", "columns")
    for field_name, source in columns.items():
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
    encoding, delimiter = keys.csv_settings(spec, file_format, table_where)
    if "null_values" in spec:
        null_values = keys.text_list(spec["null_values"], table_where, "null_values")
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
        encoding=encoding,
        delimiter=delimiter,
        null_values=null_values,
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
    if not isinstance(source, dict):
        return FieldMapping(field=name, column=keys.column_name(source, where))
    keys.section(source, keys.FIELD_KEYS, where)
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
        if set(source) != {"value"}:  # `value:` for `values:` would make the map a constant
            raise MappingError(f"{where}: a constant is `{{value: X}}` alone (a code map: values)")
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
    if "separator" in source:
        raise MappingError(f"{where}: 'separator' joins 'columns'; one 'column' takes none")
    values = keys.mapping_of(source.get("values"), where, "values")
    if values and any(isinstance(code, bool) for code in values):
        # YAML reads unquoted yes/no/on/off as booleans, not as the department's codes
        raise MappingError(f"{where}: quote the codes in 'values' (yes/no/on/off read as booleans)")
    return FieldMapping(
        field=name,
        column=keys.column_name(source["column"], where),
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
