"""An on-disk memo for slow, deterministic analysis steps.

A nightly run refits every estimate, but most of them read data the night did not change: the
encounters when no new codings came, the officer-months of the trial's comparison window once
the data has moved past it, the pre-period baseline of the power simulations. Those estimates
are read from the memo instead of refitted.

`cached_call(directory, function, *args, **kwargs)` returns `function(*args, **kwargs)`, read
from `directory` when the same call was made before. Functions decorated `@memoized` do that in
the directory set by `with memo_directory(path):` (outside one they just run). The key is a
sha256 of

* the function's module and qualified name,
* its arguments, bound to its signature with the defaults filled in and written as canonical
  JSON (dataclasses field by field, floats exactly by their repr, arrays by their bytes, data
  frames and series by their columns, dtypes and a hash of every row and index value),
* the source of every module of the package that defines it (a code change anywhere in
  `analysis/` invalidates its entries, since estimators call each other's helpers), and
* the versions of numpy, pandas, scipy and statsmodels (random streams, fits and pickles
  depend on them).

So a memoized function must depend only on its arguments and on its package's code. Entries
are pickles written atomically (a temporary file, then `os.replace`), so a killed process never
leaves half an entry; an entry that cannot be read is recomputed and rewritten. A hit touches
its entry, and `prune` removes entries unused for a month. The memo never fails the analysis:
if the directory cannot be written the value is returned uncached. The directory is trusted
like the warehouse beside it (unpickling runs code).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import functools
import hashlib
import inspect
import json
import logging
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

T = TypeVar("T")
SUFFIX = ".pickle"
UNUSED_DAYS = 30  # `prune` removes entries no call has read or written for this long

_directory: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "memo_directory", default=None
)


@contextlib.contextmanager
def memo_directory(directory: Path | None) -> Iterator[None]:
    """`@memoized` functions called inside use the memo in `directory` (None: no memo)."""
    token = _directory.set(Path(directory) if directory is not None else None)
    try:
        yield
    finally:
        _directory.reset(token)


def memoized(function: Callable[..., T]) -> Callable[..., T]:
    """`function`, read from the memo of the enclosing `memo_directory` when there is one."""

    @functools.wraps(function)
    def from_memo(*args, **kwargs) -> T:
        return cached_call(_directory.get(), function, *args, **kwargs)

    return from_memo


def cached_call(directory: Path | None, function: Callable[..., T], /, *args, **kwargs) -> T:
    """`function(*args, **kwargs)`, from the memo in `directory` if there (None: no memo)."""
    if directory is None:
        return function(*args, **kwargs)
    try:
        key = call_key(function, *args, **kwargs)
    except TypeError as error:  # an argument the memo cannot key: computed, not memoized
        log.warning("%s not memoized: %s", function.__qualname__, error)
        return function(*args, **kwargs)
    path = Path(directory) / f"{key}{SUFFIX}"
    found, value = _read(path, key)
    if found:
        return value
    value = function(*args, **kwargs)
    _write(path, key, value)
    return value


def call_key(function: Callable, /, *args, **kwargs) -> str:
    """The memo key (hex sha256) of calling `function` with these arguments."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    document = {
        "function": f"{function.__module__}.{function.__qualname__}",
        "arguments": {name: _canonical(value) for name, value in bound.arguments.items()},
        "source": _source_hash(function),
        "libraries": _library_versions(),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """A JSON-able, type-tagged form of an argument; unknown types are refused rather than keyed
    by a repr that may hold a memory address."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", repr(value)]  # exact: repr round-trips, and covers nan and inf
    if isinstance(value, list | tuple):
        return [type(value).__name__, [_canonical(item) for item in value]]
    if isinstance(value, dict):
        pairs = [[_canonical(k), _canonical(v)] for k, v in value.items()]
        return ["dict", sorted(pairs, key=lambda pair: json.dumps(pair, sort_keys=True))]
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        digest = hashlib.sha256(data.tobytes()).hexdigest()
        return ["ndarray", str(data.dtype), list(data.shape), digest]
    if isinstance(value, dt.date | dt.datetime):  # pandas Timestamps too
        return [type(value).__name__, value.isoformat()]
    if isinstance(value, pd.DataFrame | pd.Series):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        rows = pd.util.hash_pandas_object(frame, index=True).to_numpy()
        return [
            type(value).__name__,
            [str(name) for name in frame.columns],
            [str(dtype) for dtype in frame.dtypes],
            hashlib.sha256(rows.tobytes()).hexdigest(),
        ]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        fields = {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return ["dataclass", f"{kind.__module__}.{kind.__qualname__}", fields]
    raise TypeError(f"cannot key a memo on an argument of type {type(value).__name__}")


def _source_hash(function: Callable) -> str:
    """A hash of the sources of the package defining `function` (of its module if it is in
    none). Files are stat-ed every call, so a file edited while the process runs invalidates."""
    top = sys.modules.get(function.__module__.partition(".")[0])
    module = sys.modules.get(function.__module__)
    if top is not None and getattr(top, "__path__", None):
        files = sorted(Path(top.__path__[0]).rglob("*.py"))
    else:
        path = inspect.getsourcefile(module) if module is not None else None
        if path is None:
            raise TypeError(f"no source file for {function.__module__}: cannot memoize it")
        files = [Path(path)]
    stats = tuple((str(path), path.stat().st_mtime_ns, path.stat().st_size) for path in files)
    return _hash_files(stats)


@functools.lru_cache(maxsize=64)
def _hash_files(stats: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, _, _ in stats:
        digest.update(path.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _library_versions() -> dict[str, str]:
    import scipy
    import statsmodels

    return {
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
    }


def _read(path: Path, key: str) -> tuple[bool, Any]:
    try:
        with open(path, "rb") as handle:
            stored_key, value = pickle.load(handle)
    except FileNotFoundError:
        return False, None
    except Exception as error:  # noqa: BLE001 - a damaged entry is recomputed, whatever it holds
        log.warning("memo entry %s unreadable (%s): recomputing", path.name, error)
        return False, None
    if stored_key != key:
        log.warning("memo entry %s holds another key: recomputing", path.name)
        return False, None
    with contextlib.suppress(OSError):  # a used entry is kept by `prune`
        os.utime(path)
    return True, value


def _write(path: Path, key: str, value: Any) -> None:
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "wb", dir=path.parent, prefix=f".{path.stem[:16]}-", suffix=".tmp", delete=False
        ) as handle:
            temporary = Path(handle.name)
            pickle.dump((key, value), handle, protocol=pickle.HIGHEST_PROTOCOL)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        temporary = None
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as error:  # unpicklable
        log.warning("memo entry %s not written (%s)", path.name, error)
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def prune(directory: Path | None, *, unused_days: float = UNUSED_DAYS) -> int:
    """Remove the entries of `directory` unused for `unused_days`: how many were removed."""
    if directory is None or not Path(directory).is_dir():
        return 0
    cutoff = time.time() - unused_days * 86400
    removed = 0
    for path in Path(directory).glob(f"*{SUFFIX}"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def entry_path(directory: Path, function: Callable, /, *args, **kwargs) -> Path:
    """Where the memo of this call lives in `directory` (for tests and inspection)."""
    return Path(directory) / f"{call_key(function, *args, **kwargs)}{SUFFIX}"
