"""The warehouse layer: the home directory, its locks, the one place that opens DuckDB, the
warehouse's own tables, the build ledger, the run log and the readers of the marts.

The names most callers need are importable from here.
"""

from middlestep.warehouse.home import (
    DEFAULT_HOME,
    PROJECT_ENV,
    PROJECT_ROOT,
    Home,
    connect,
    project_root,
)
from middlestep.warehouse.locks import WarehouseBusy, is_lock_error, reader_lock, writer_lock
from middlestep.warehouse.schema import init_warehouse

__all__ = [
    "DEFAULT_HOME",
    "PROJECT_ENV",
    "PROJECT_ROOT",
    "Home",
    "WarehouseBusy",
    "connect",
    "init_warehouse",
    "is_lock_error",
    "project_root",
    "reader_lock",
    "writer_lock",
]
