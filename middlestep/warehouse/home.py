"""The warehouse home: where the DuckDB file, the run log and the reports live.

Every command takes ``--home DIR`` (default ``$MIDDLESTEP_HOME``, else ``./.middlestep``), so
several warehouses live side by side and tests never touch a user's. :func:`connect` is the one
place that opens the DuckDB file.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from middlestep.errors import PipelineError

DEFAULT_HOME = Path(".middlestep")
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# another copy of the SQLMesh project (models/, audits/, sqlmesh.yaml) for build, run and sqlmesh
PROJECT_ENV = "MIDDLESTEP_PROJECT"


def project_root() -> Path:
    """The SQLMesh project the commands build: ``$MIDDLESTEP_PROJECT``, else this checkout."""
    chosen = os.environ.get(PROJECT_ENV)
    if not chosen:
        return PROJECT_ROOT
    root = Path(chosen).expanduser().resolve()
    if not (root / "sqlmesh.yaml").is_file():  # else SQLMesh's advice is about `sqlmesh -p`
        raise PipelineError(
            f"--project (or ${PROJECT_ENV}) {root}: "
            + ("no such directory" if not root.is_dir() else "no sqlmesh.yaml there")
            + ": point it at a copy of the project (its models/, macros/ and sqlmesh.yaml)"
        )
    return root


# DuckDB's memory cap for every connection (its syntax: "1GB", "512MB", "2GiB"; this DuckDB
# takes no percentage): past it DuckDB spills sorts, joins and aggregates to the temp directory
# beside the warehouse, so a step's memory stays flat as the department grows (DuckDB's own
# default is 80% of the machine)
MEMORY_LIMIT_ENV = "MIDDLESTEP_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "1GB"
# SQLMesh's DuckDB connection (sqlmesh.yaml) reads the same two settings from these variables:
# DuckDB refuses a second connection to a file with another configuration in one process
TEMP_DIRECTORY_ENV = "MIDDLESTEP_DUCKDB_TEMP_DIRECTORY"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, home: str | Path | None = None) -> Home:
        chosen = home or os.environ.get("MIDDLESTEP_HOME") or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    @property
    def data_docs_dir(self) -> Path:
        """Great Expectations' Data Docs of the latest gate that ran expectations."""
        return self.root / "gate" / "data_docs"

    @property
    def lock_file(self) -> Path:
        return self.root / "writer.lock"

    @property
    def run_log(self) -> Path:
        return self.root / "runs.jsonl"

    @property
    def analysis_cache(self) -> Path:
        """Memoized analysis steps (analysis/memo.py); safe to delete at any time."""
        return self.root / "cache" / "analysis"

    def ensure(self) -> Home:
        self.root.mkdir(parents=True, exist_ok=True)
        return self


def duckdb_settings(path: Path | str) -> dict[str, str]:
    """The configuration of every DuckDB connection to the warehouse file `path`: a memory cap
    (``$MIDDLESTEP_DUCKDB_MEMORY_LIMIT``, default 1 GB) and spilling to ``tmp/`` beside it."""
    path = Path(path).resolve()
    return {
        "memory_limit": _memory_limit(os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT),
        "temp_directory": str(path.parent / "tmp"),
    }


@functools.cache
def _memory_limit(value: str) -> str:
    """The memory cap as DuckDB reads it, checked by DuckDB itself on an empty database: a
    value it refuses is the operator's setting to fix, not a traceback."""
    try:
        duckdb.connect(":memory:", config={"memory_limit": value}).close()
    except duckdb.Error as error:
        reason = str(error).strip().splitlines()[0]
        raise PipelineError(
            f"{MEMORY_LIMIT_ENV}={value!r} is not a memory size DuckDB accepts ({reason}); "
            f"write e.g. 1GB or 512MB, or unset it for {DEFAULT_MEMORY_LIMIT}"
        ) from None
    return value


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `middlestep ingest` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only, config=duckdb_settings(path))
