"""The single-writer lock of a warehouse home, and the shared lock of its readers."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from middlestep.warehouse.home import Home


class WarehouseBusy(RuntimeError):
    """Another middlestep process holds the warehouse for writing."""


# the locks this process holds: lock file -> [mode, depth] (flock locks are per open file, so a
# second flock by the same process would wait for itself; nested steps reuse the outer lock)
_HELD: dict[Path, list] = {}


@contextlib.contextmanager
def writer_lock(home: Home, timeout_s: float = 0.0) -> Iterator[None]:
    """Hold the single-writer lock of a warehouse home.

    DuckDB allows one writing process per file; this lock turns DuckDB's raw lock error into a
    clear wait-or-refuse. The lock is an flock, so it is released if the holder is killed. It is
    re-entrant within a process: the nightly run holds it while its steps take it again.
    """
    with _flock(home, fcntl.LOCK_EX, timeout_s):
        yield


@contextlib.contextmanager
def reader_lock(home: Home, timeout_s: float = 0.0) -> Iterator[None]:
    """Hold a shared lock while reading: readers wait for (or refuse during) a write, and a
    writer waits for readers, since DuckDB cannot open a file for writing while another process
    has it open read-only. Inside a process that holds the writer lock this is a no-op."""
    if not home.root.exists():
        yield
        return
    with _flock(home, fcntl.LOCK_SH, timeout_s):
        yield


def _open_lock_file(home: Home, mode: int):
    """The lock file: a writer creates it; a reader only opens it for reading (flock needs no
    write access), so a read-only home can be read. None: no lock file and none can be made
    (a read-only home no writer has used), so there is no writer to wait for."""
    if mode == fcntl.LOCK_EX:
        home.ensure()
        return open(home.lock_file, "a+")
    try:
        return open(home.lock_file)
    except FileNotFoundError:
        try:
            return open(home.lock_file, "a+")
        except OSError:
            return None


@contextlib.contextmanager
def _flock(home: Home, mode: int, timeout_s: float) -> Iterator[None]:
    key = home.lock_file
    held = _HELD.get(key)
    if held is not None and (held[0] == fcntl.LOCK_EX or mode == fcntl.LOCK_SH):
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
        return
    if held is not None:
        raise WarehouseBusy(f"this process reads {home.root} and cannot also write to it")
    handle = _open_lock_file(home, mode)
    if handle is None:
        yield
        return
    with handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(_busy_message(home, mode, timeout_s)) from None
                time.sleep(0.5)
        _HELD[key] = [mode, 1]
        try:
            if mode == fcntl.LOCK_EX:  # the holder's pid, for someone looking at the lock file
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()}\n")
                handle.flush()
            yield
        finally:
            del _HELD[key]
            fcntl.flock(handle, fcntl.LOCK_UN)


def _busy_message(home: Home, mode: int, timeout_s: float) -> str:
    waited = f" (waited {timeout_s:g} s)" if timeout_s else ""
    if mode == fcntl.LOCK_EX:
        return (
            f"another middlestep command is using {home.root}{waited}: one writer at a time, "
            "and not while a report or analysis reads it; try again later or pass a longer --wait"
        )
    return (
        f"another middlestep command is writing to {home.root}{waited}: try again when it has "
        "finished, or pass --wait SECONDS"
    )


def is_lock_error(error: BaseException) -> bool:
    """DuckDB's own error for a file another process holds (a writer outside middlestep)."""
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()
