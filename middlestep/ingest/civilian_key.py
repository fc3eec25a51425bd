"""The key that turns civilian identifiers into keyed hashes (HMAC-SHA256).

The key is what keeps hashed civilians unlinkable: a short or empty key lets anyone re-identify
them by hashing the id space, and a different key on a later night gives the same civilian two
hashes. So a key is refused unless it has at least ``MIN_KEY_BYTES`` bytes, and the warehouse
keeps a keyed fingerprint of the key it was loaded with (an HMAC of a constant, never the key)
and refuses any other.

Where the key comes from, first match wins:

1. ``MIDDLESTEP_HASH_KEY`` (the key itself);
2. ``MIDDLESTEP_HASH_KEY_FILE`` (a file holding it): missing, unreadable, empty or short is an
   error, never a reason to make a new key;
3. ``<home>/civilian_hash.key``: made (mode 0600) only for a warehouse that has no key yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
from pathlib import Path

import duckdb
import pyarrow as pa

MIN_KEY_BYTES = 32
MIN_DISTINCT_BYTES = 8  # "aaaa..." has 32 bytes but no entropy
HOME_KEY_NAME = "civilian_hash.key"
FINGERPRINT_MESSAGE = b"middlestep civilian hash key fingerprint v1"
FINGERPRINT_TABLE = "meta.civilian_hash_key"


class HashKeyError(RuntimeError):
    """No usable civilian hash key: the message is one line saying which and what to do."""


def home_key_path(home_root: Path) -> Path:
    return home_root / HOME_KEY_NAME


def configured_key_path(home_root: Path) -> Path:
    configured = os.environ.get("MIDDLESTEP_HASH_KEY_FILE")
    return Path(configured).expanduser() if configured else home_key_path(home_root)


def validate(key: bytes, where: str) -> bytes:
    key = key.strip()
    if not key:
        raise HashKeyError(f"the civilian hash key in {where} is empty; {_HOW}")
    if len(key) < MIN_KEY_BYTES:
        raise HashKeyError(
            f"the civilian hash key in {where} has {len(key)} bytes, fewer than the "
            f"{MIN_KEY_BYTES} needed to keep hashed civilians unlinkable; {_HOW}"
        )
    if len(set(key)) < MIN_DISTINCT_BYTES:
        raise HashKeyError(f"the civilian hash key in {where} is not random enough; {_HOW}")
    return key


_HOW = "make one with `middlestep key init`"


def read_key_file(path: Path) -> bytes:
    try:
        return validate(path.read_bytes(), str(path))
    except FileNotFoundError:
        raise HashKeyError(
            f"the civilian hash key file {path} does not exist (an unmounted volume?); "
            "restore it from its backup, or for a new warehouse `middlestep key init --file "
            f"{path}`"
        ) from None
    except IsADirectoryError:
        raise HashKeyError(f"the civilian hash key file {path} is a directory") from None
    except PermissionError:
        raise HashKeyError(f"the civilian hash key file {path} is not readable") from None
    except OSError as error:
        raise HashKeyError(f"the civilian hash key file {path} cannot be read: {error}") from None


def load_key(home_root: Path, *, fresh_warehouse: bool) -> tuple[bytes, str | None]:
    """The key and, if one was just made under the home, a warning saying so."""
    if "MIDDLESTEP_HASH_KEY" in os.environ:
        return validate(os.environ["MIDDLESTEP_HASH_KEY"].encode(), "MIDDLESTEP_HASH_KEY"), None
    if os.environ.get("MIDDLESTEP_HASH_KEY_FILE"):
        return read_key_file(configured_key_path(home_root)), None
    path = home_key_path(home_root)
    if path.exists() or not fresh_warehouse:
        return read_key_file(path), None
    create_key_file(path)
    return read_key_file(path), (
        f"made a civilian hash key at {path} for this new warehouse: back it up apart from "
        "the warehouse (README: the civilian hash key)"
    )


def create_key_file(path: Path) -> Path:
    """A new random key (64 hex digits = 32 bytes of entropy), mode 0600; never overwrites."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise HashKeyError(f"{path} exists already: a key is never overwritten") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path


def fingerprint(key: bytes) -> str:
    """A keyed fingerprint: tells keys apart, reveals nothing that helps to find the key."""
    return hmac.new(key, FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()


# Python's str.strip() whitespace: identifiers are hashed trimmed exactly as they always were
WHITESPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
HMAC_BLOCK = 64  # bytes, SHA-256's block size


def hash_array(key: bytes, values: pa.Array, null_values: tuple[str, ...] = ()) -> pa.Array:
    """HMAC-SHA256 (hex) of each identifier, trimmed; NULL for a null or a null token.

    Vectorised in an in-memory DuckDB (never the warehouse's connection, so no raw identifier
    reaches the warehouse file): HMAC(K, m) = SHA256((K ^ opad) || SHA256((K ^ ipad) || m)),
    the same hex digests as ``hash_values``."""
    block = hashlib.sha256(key).digest() if len(key) > HMAC_BLOCK else key
    block = block.ljust(HMAC_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in block).hex()
    outer = bytes(b ^ 0x5C for b in block).hex()
    tokens = list(null_values) or [None]
    with duckdb.connect() as connection:
        connection.register("identifiers", pa.table({"v": values.cast(pa.string())}))
        hashed = connection.execute(
            "select case when t is null or t = any(?) then null else "
            "sha256(unhex(?) || unhex(sha256(unhex(?) || encode(t)))) end "
            "from (select trim(v, ?) as t from identifiers)",
            [tokens, outer, inner, WHITESPACE],
        ).arrow()
    column = hashed.column(0) if isinstance(hashed, pa.Table) else hashed.read_all().column(0)
    return column.combine_chunks().cast(pa.string())


def hash_values(key: bytes, values: list[str | None]) -> list[str | None]:
    return [
        None if value is None else hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
        for value in values
    ]


def recorded_fingerprint(connection: duckdb.DuckDBPyConnection) -> str | None:
    exists = connection.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'meta' and table_name = 'civilian_hash_key'"
    ).fetchone()[0]
    if not exists:
        return None
    row = connection.execute(f"select fingerprint from {FINGERPRINT_TABLE} limit 1").fetchone()
    return row[0] if row else None


def check_fingerprint(recorded: str | None, key: bytes) -> None:
    """Refuse a key other than the one this warehouse's civilian hashes were made with."""
    if recorded is not None and not hmac.compare_digest(recorded, fingerprint(key)):
        raise HashKeyError(
            "the civilian hash key differs from the one this warehouse was loaded with (same "
            "civilian, two hashes): use the original key, or rotate (README: the civilian hash key)"
        )


def record_fingerprint(connection: duckdb.DuckDBPyConnection, key: bytes) -> None:
    if recorded_fingerprint(connection) is not None:
        return
    connection.execute("create schema if not exists meta")
    connection.execute(
        f"create table if not exists {FINGERPRINT_TABLE} (fingerprint TEXT, recorded_at TIMESTAMP)"
    )
    connection.execute(
        f"insert into {FINGERPRINT_TABLE} values (?, ?)",
        [fingerprint(key), dt.datetime.now(dt.UTC).replace(tzinfo=None)],
    )
