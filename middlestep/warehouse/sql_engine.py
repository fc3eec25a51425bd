"""The warehouse as a SQLAlchemy database (duckdb_engine), for Great Expectations' SQL data
source: the gate's expectations run as queries inside DuckDB, so no mart is read into memory.

duckdb_engine shares one DuckDB connection between a connection and its cursors, and SQLAlchemy
rolls back a connection's implicit transaction when it is returned to the pool: a result read
after that (as Great Expectations reads its metrics' results) comes back empty. The dialect here
(``duckdb+middlestep``) therefore fetches every result as soon as its statement has run. Great
Expectations' metric queries return aggregates and at most a few unexpected values, so that
costs no memory. Its connections are read-only and opened by :func:`connect`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from middlestep.warehouse.home import connect

DIALECT = "duckdb.middlestep"


def gx_sql_connection(warehouse: Path) -> tuple[str, dict[str, Any]]:
    """(connection string, create_engine keyword arguments) of a read-only connection to the
    warehouse file with the memory settings of every middlestep connection."""
    _register_dialect()
    return f"duckdb+middlestep:///{Path(warehouse).resolve()}", {}


def _register_dialect() -> None:
    from sqlalchemy.dialects import registry

    registry.register(DIALECT, __name__, "BufferedDuckDBDialect")


def __getattr__(name: str):
    # the dialect class is built on first use: duckdb_engine and SQLAlchemy load only with the gate
    if name == "BufferedDuckDBDialect":
        return _buffered_dialect()
    raise AttributeError(name)


@functools.cache
def _buffered_dialect():
    import duckdb_engine
    from sqlalchemy.engine.cursor import FullyBufferedCursorFetchStrategy

    class BufferedExecutionContext(duckdb_engine.Dialect.execution_ctx_cls):
        def post_exec(self) -> None:
            super().post_exec()
            if self.cursor.description is not None:  # a statement with rows: fetch them now
                self.cursor_fetch_strategy = FullyBufferedCursorFetchStrategy(
                    self.cursor, self.cursor.description, self.cursor.fetchall()
                )

    class BufferedDuckDBDialect(duckdb_engine.Dialect):
        execution_ctx_cls = BufferedExecutionContext
        supports_statement_cache = False  # as duckdb_engine (SQLAlchemy warns if unset)

        def connect(self, *cargs: Any, **cparams: Any):
            # read-only, through the one opener of the warehouse file: the same configuration
            # as every middlestep connection (DuckDB refuses another one to the same file)
            return duckdb_engine.ConnectionWrapper(connect(cparams["database"], read_only=True))

    return BufferedDuckDBDialect
