"""DuckDB's CSV reader (middlestep/ingest/fast_csv.py) gives exactly the cells and line numbers of
the line-by-line reader on every file it accepts, and declines the files only the line-by-line
reader can account for line by line."""

from __future__ import annotations

import pytest

from middlestep.ingest.fast_csv import duckdb_csv_cells
from middlestep.ingest.stage import MAX_CELL_CHARS, _csv_cells, _fields_by_column
from middlestep.mapping import parse_mapping

HEADER = "RPT,EMP,WHEN,NOTE\n"
ACCEPTED = {
    "plain": HEADER + "R1,A1,07/04/2024 14:30,x\nR2,A2,07/05/2024 10:00,y\n",
    "no final newline": HEADER + "R1,A1,07/04/2024 14:30,x\nR2,A2,,y",
    "crlf": HEADER.replace("\n", "\r\n") + "R1,A1,07/04/2024 14:30,x\r\nR2,A2,x,y\r\n",
    "quotes and commas": HEADER + 'R1,"A,1","say ""hi""",""\nR2," A2 ",  ,NA\n',
    "byte order mark": "\ufeff" + HEADER + "R1,A1,t,x\n",
    "unicode": HEADER + "R1,Ä1,漢字,é\n",
    "padded header": " RPT , EMP ,WHEN,NOTE\nR1,A1,t,x\n",
}
DECLINED = {
    "quoted line break": HEADER + 'R1,A1,"07/04/2024\n14:30",x\nR2,A2,t,y\n',
    "blank line": HEADER + "R1,A1,t,x\n\nR2,A2,t,y\n",
    "trailing blank line": HEADER + "R1,A1,t,x\n\n",
    "lone carriage return": HEADER + "R1,A1,t,x\rR2,A2,t,y\n",
    "short line": HEADER + "R1,A1,t\nR2,A2,t,y\n",
    "long line": HEADER + "R1,A1,t,x,extra\n",
    "missing column": "RPT,EMP,NOTE\nR1,A1,x\n",
    "duplicate column": "RPT,EMP,WHEN,WHEN\nR1,A1,t,t\n",
    "NUL": HEADER + "R1,A\x001,t,x\n",
    "header only": HEADER,
    "oversized cell": HEADER + f"R1,A1,{'t' * (MAX_CELL_CHARS + 1)},x\n",
}


def table_mapping(extra_header_rows: int = 0):
    document = {
        "department_id": "tiny",
        "tables": {
            "force_reports": {
                "file": "force.csv",
                "extra_header_rows": extra_header_rows,
                "columns": {"report_id": "RPT", "officer_id": "EMP", "occurred_at": "WHEN"},
            }
        },
    }
    return parse_mapping(document).tables[0]


def fast_only(text: str, extra_header_rows: int = 0):
    mapping = table_mapping(extra_header_rows)
    columns = sorted(set(mapping.source_columns))
    names = {column: f"c{index}" for index, column in enumerate(columns)}
    return duckdb_csv_cells(text.encode("utf-8"), mapping, columns, names, MAX_CELL_CHARS)


def both(text: str, extra_header_rows: int = 0):
    mapping = table_mapping(extra_header_rows)
    columns = sorted(set(mapping.source_columns))
    names = {column: f"c{index}" for index, column in enumerate(columns)}
    data = text.encode("utf-8")
    fast = fast_only(text, extra_header_rows)
    reference, problems, nulled = _csv_cells(
        data, mapping, columns, names, _fields_by_column(mapping), frozenset()
    )
    return fast, reference, problems


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_duckdb_reads_a_clean_file_as_the_line_reader_does(name):
    fast, reference, problems = both(ACCEPTED[name])
    assert problems == []
    assert fast is not None, name
    assert fast.to_pylist() == reference.to_pylist()


def test_extra_header_rows_keep_the_line_numbers():
    text = HEADER + "RptNo,Badge,Occurred,Note\nR1,A1,t,x\nR2,A2,t,y\n"
    fast, reference, _ = both(text, extra_header_rows=1)
    assert fast.to_pylist() == reference.to_pylist()
    assert fast.column("_source_line").to_pylist() == [3, 4]


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_duckdb_declines_what_only_the_line_reader_accounts_for(name):
    assert fast_only(DECLINED[name]) is None


def test_a_record_with_a_quoted_line_break_is_numbered_by_its_first_line():
    """The record starting on line 2 spans lines 2-3: it is line 2, the next record line 4 (a
    CSV user reads the start of a record; the fast reader declines such files, so only the
    line reader numbers them)."""
    text = DECLINED["quoted line break"]
    fast, reference, problems = both(text)
    assert fast is None and problems == []
    assert reference.column("_source_line").to_pylist() == [2, 4]
    _, _, problems = both(HEADER + 'R1,A1,"a\nb",x\nR2,A2,t\nR3,A3,t,y\n')
    assert [(p.line_number, p.reason) for p in problems] == [
        (4, "expected 4 fields, found 3 (truncated or malformed line)")
    ]
