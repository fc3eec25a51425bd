"""The civilian hash computed vectorised (DuckDB's sha256 over an Arrow column) gives exactly
the HMAC-SHA256 of the reference implementation: hashes already in a warehouse stay valid."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pytest

from middlestep.ingest.civilian_key import hash_array, hash_values

IDENTIFIERS = [
    " CIV-1 ",
    "\tCIV-2\n",
    "\u3000civ\u2003",  # ideographic and em spaces: Python's strip() trims them
    "e\u200b",  # a zero-width space is not whitespace: kept
    None,
    "NA",
    "",
    "   ",
    "漢字 ",
    "x" * 5000,
    "it's; drop table raw.force_reports; --",
    "NULL ",
]


@pytest.mark.parametrize("key", [b"\x01" * 32, bytes(range(64)), b"k" * 100])
def test_vectorised_hashes_equal_the_reference_hmac(key):
    null_values = ("", "NA", "NULL")
    expected = [
        None
        if value is None or value.strip() in null_values
        else hmac.new(key, value.strip().encode(), hashlib.sha256).hexdigest()
        for value in IDENTIFIERS
    ]
    assert hash_array(key, pa.array(IDENTIFIERS), null_values).to_pylist() == expected
    assert expected[0] == hash_values(key, ["CIV-1"])[0]


def test_numbers_are_hashed_as_their_text():
    key = b"\x02" * 32
    assert hash_array(key, pa.array([12, None])).to_pylist() == hash_values(key, ["12", None])
