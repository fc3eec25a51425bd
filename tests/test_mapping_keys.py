"""A mapping's misspelt key or unusable setting is refused up front, naming the key and the fix:
before, `timezon:` read the export in UTC, `delimeter:` with commas and `fromat:` without the
format, silently; a YAML syntax error was a Python traceback."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from test_ingest import MAPPING, write_export

from middlestep.cli import main
from middlestep.mapping import DEPARTMENTS_DIR, MappingError, load_mapping, parse_mapping


def _officers(document: dict) -> dict:
    return document["tables"]["officers"]


def _rename(section: dict, old: str, new: str) -> None:
    section[new] = section.pop(old)


MISTAKES = {
    "top-level": (
        lambda d: _rename(d, "timezone", "timezon"),
        "'timezon' (did you mean 'timezone'",
    ),
    "study": (lambda d: _rename(d["study"], "start_on", "start"), "did you mean 'start_on'"),
    "table": (lambda d: _officers(d).update(delimeter=";"), "did you mean 'delimiter'"),
    "policy": (lambda d: _officers(d).update(repeated_key="last"), "did you mean 'repeated_keys'"),
    "field": (
        lambda d: _officers(d)["columns"].update(appointed_on={"column": "HIRED", "fromat": "%Y"}),
        "officers.appointed_on: unknown key 'fromat' (did you mean 'format'",
    ),
    "value for values": (
        lambda d: _officers(d)["columns"].update(sex={"column": "SEX", "value": {"M": "male"}}),
        "a constant is `{value: X}` alone",
    ),
    "time zone": (
        lambda d: d.update(timezone="America/New_Yrok"),
        "not an IANA time zone (did you mean 'America/New_York'",
    ),
    "study date": (lambda d: d["study"].update(start_on="2024-13-01"), "is not a date"),
    "study order": (lambda d: d["study"].update(end_on="2023-12-31"), "is before study.start_on"),
    "encoding": (lambda d: _officers(d).update(encoding="latin-99"), "encoding 'latin-99'"),
    "delimiter": (lambda d: _officers(d).update(delimiter=";;"), "must be one character"),
    "file format": (lambda d: _officers(d).update(format="xlsx"), "format 'xlsx' (one of csv"),
    "null_values text": (lambda d: d.update(null_values="NA"), "null_values takes a list"),
    "columns list": (lambda d: _officers(d).update(columns=["EMP"]), "columns takes a mapping"),
    "values list": (
        lambda d: _officers(d)["columns"].update(sex={"column": "SEX", "values": ["M"]}),
        "values takes a mapping",
    ),
    "unquoted OFF": (
        lambda d: _officers(d)["columns"].update(officer_id=False),
        "reads as False in YAML: quote it",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_misspelt_key_or_unusable_setting_is_refused_with_the_fix(mistake):
    mutate, message = MISTAKES[mistake]
    document = copy.deepcopy(MAPPING)
    parse_mapping(copy.deepcopy(document))  # the unchanged mapping loads
    mutate(document)
    with pytest.raises(MappingError) as refused:
        parse_mapping(document)
    assert message in str(refused.value)


def test_every_shipped_mapping_still_loads():
    for path in sorted(DEPARTMENTS_DIR.glob("*.yaml")):
        assert load_mapping(path).department_id == path.stem


def test_invalid_yaml_is_a_message_with_its_line_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("department_id: bad\ntables:\n  officers:\n    file: x.csv\n\tcolumns: {}\n")
    with pytest.raises(MappingError, match=r"bad.yaml: not valid YAML at line 5, column 1"):
        load_mapping(path)


def test_the_cli_refuses_a_misspelt_mapping_before_loading_anything(tmp_path, monkeypatch, capsys):
    departments = tmp_path / "departments"
    departments.mkdir()
    document = copy.deepcopy(MAPPING)
    _officers(document)["delimeter"] = ";"
    import yaml

    (departments / "tiny.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.setattr("middlestep.mapping.DEPARTMENTS_DIR", departments)
    export = write_export(tmp_path / "export")
    home = tmp_path / "home"
    assert main(["ingest", str(export), "--department", "tiny", "--home", str(home)]) == 1
    error = capsys.readouterr().err
    assert "unknown key 'delimeter' (did you mean 'delimiter'?" in error
    assert "Traceback" not in error
    assert not (home / "warehouse.duckdb").exists()
    assert Path(departments / "tiny.yaml").exists()
