"""The warehouse fingerprint: equal content, equal hash, whatever the row order or load time."""

from __future__ import annotations

import duckdb

from middlestep.fingerprint import differences, table_fingerprints


def make_warehouse(path, rows, loaded_at) -> None:
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema raw")
        connection.execute("create schema marts")
        connection.execute("create table raw.t (id text, x double, loaded_at timestamp)")
        connection.executemany(
            "insert into raw.t values (?, ?, ?)", [(*r, loaded_at) for r in rows]
        )
        connection.execute(
            "create view marts.v as select id, sum(x) as total from raw.t group by 1"
        )
        connection.execute("create table other (secret text)")  # not in a fingerprinted schema


def test_row_order_and_load_times_do_not_change_a_fingerprint_content_does(tmp_path):
    rows = [("a", 0.1), ("b", 0.2), ("a", 0.3)]
    make_warehouse(tmp_path / "one.duckdb", rows, "2026-01-01")
    make_warehouse(tmp_path / "two.duckdb", rows[::-1], "2026-02-02")
    make_warehouse(tmp_path / "three.duckdb", [*rows, ("b", 0.2)], "2026-01-01")
    one, two, three = (
        table_fingerprints(tmp_path / f"{n}.duckdb") for n in ("one", "two", "three")
    )
    assert set(one) == {"raw.t", "marts.v"}
    assert differences(one, two) == []
    # a repeated row changes the hash: a sum of row hashes, not an XOR that would cancel it
    assert differences(one, three) == ["marts.v", "raw.t"]
