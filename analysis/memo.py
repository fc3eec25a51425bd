"""An on-disk memo for slow, deterministic analysis steps (the power simulations).

`cached_call(directory, function, *args, **kwargs)` returns `function(*args, **kwargs)`, read
from `directory` when the same call was made before. The key is a sha256 of

* the function's module and qualified name,
* its arguments, bound to its signature with the defaults filled in and written as canonical
  JSON (dataclasses field by field, floats exactly by their repr, arrays by their bytes),
* the source file of the module that defines it (a code change invalidates its entries), and
* the versions of numpy, pandas and scipy (random streams and pickles depend on them).

So a memoized function must depend only on its arguments and on its own module's code. Entries
are pickles written atomically (a temporary file, then `os.replace`), so a killed process never
leaves half an entry; an entry that cannot be read is recomputed and rewritten. The memo never
fails the analysis: if the directory cannot be written the value is returned uncached.
The directory is trusted like the warehouse beside it (unpickling runs code).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

log = logging.getLogger(__name__)

T = TypeVar("T")
SUFFIX = ".pickle"


def cached_call(directory: Path | None, function: Callable[..., T], /, *args, **kwargs) -> T:
    """`function(*args, **kwargs)`, from the memo in `directory` if there (None: no memo)."""
    if directory is None:
        return function(*args, **kwargs)
    key = call_key(function, *args, **kwargs)
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
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        fields = {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return ["dataclass", f"{kind.__module__}.{kind.__qualname__}", fields]
    raise TypeError(f"cannot key a memo on an argument of type {type(value).__name__}")


def _source_hash(function: Callable) -> str:
    # read every time (a few kB): a file edited while the process runs still invalidates
    module = sys.modules.get(function.__module__)
    path = inspect.getsourcefile(module) if module is not None else None
    if path is None:
        raise TypeError(f"no source file for {function.__module__}: cannot memoize it")
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.cache
def _library_versions() -> dict[str, str]:
    import pandas
    import scipy

    return {"numpy": np.__version__, "pandas": pandas.__version__, "scipy": scipy.__version__}


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


def entry_path(directory: Path, function: Callable, /, *args, **kwargs) -> Path:
    """Where the memo of this call lives in `directory` (for tests and inspection)."""
    return Path(directory) / f"{call_key(function, *args, **kwargs)}{SUFFIX}"
