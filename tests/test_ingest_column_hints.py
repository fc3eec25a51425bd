"""A missing column's reject says how to fix the mapping: the header's exact spelling when only
the case differs, and the delimiter when the header reads as one column holding another one."""

from __future__ import annotations

from test_ingest_mapping_language import ROSTER, export, ingest, mapping_with, query

from middlestep.warehouse import Home


def roster_reasons(tmp_path, roster: str) -> list[str]:
    home = Home.resolve(tmp_path / "home")
    ingest(home, export(tmp_path / "x", roster=roster), mapping_with())
    return [
        reason
        for (reason,) in query(
            home, "select distinct reason from raw._rejects where table_name = 'officers'"
        )
    ]


def test_a_column_differing_only_in_case_names_the_headers_spelling(tmp_path):
    reasons = roster_reasons(tmp_path, ROSTER.replace("HIRED", "Hired"))
    assert reasons == [
        "missing column HIRED (the mapping expects it; did you mean 'Hired' for 'HIRED'?)"
    ]


def test_a_header_read_as_one_column_names_the_delimiter_it_holds(tmp_path):
    reasons = roster_reasons(tmp_path, ROSTER.replace(",", ";"))
    assert reasons == [
        "missing column EMP, HIRED (the mapping expects it; the header reads as one column "
        "'EMP;HIRED' split by ';': say delimiter: ';' in the mapping)"
    ]


def test_a_tab_separated_header_names_the_tab(tmp_path):
    reasons = roster_reasons(tmp_path, ROSTER.replace(",", "\t"))
    assert "say delimiter: '\\t' in the mapping" in reasons[0], reasons
