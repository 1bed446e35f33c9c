"""Connections to the bank's Oracle (one pool per process, created on first use, never at
import) and how values bind on them.

The CLI, the ingress service and each Dagster step process build ``OracleWarehouse`` objects
freely (one per resource call); they all draw from the one pool this module holds per process
and per DSN and user. A unit of work takes one connection and gives it back at its end
(``pooled``). Creating the pool opens nothing (``min=0``); a connection is opened when a unit of
work first needs one, and an idle one is closed after ``timeout`` seconds, so a quiet process
holds no session on the bank's database.

Why these settings:

- ``tcp_connect_timeout`` 10 s: an unreachable listener fails the attempt in 10 s with DPY-6005,
  which ``errors.is_transient`` calls transient, so the step's RetryPolicy tries again.
- ``expire_time`` 2 (minutes): the driver probes an idle connection every 2 minutes, so a peer
  that died (or a firewall that dropped the session) is noticed instead of hanging a step.
- ``getmode`` TIMEDWAIT, ``wait_timeout`` 30 s: a unit of work waits at most 30 s for a free
  connection when ``max`` are busy in this process, then fails with DPY-4005. The wait is longer
  than ``tcp_connect_timeout``, so a database that cannot be reached surfaces as DPY-6005.
- ``ping_interval`` 60 s: a connection idle longer than that is pinged when taken from the pool
  and replaced if dead.

Thin mode unless ``use_client_libraries(lib_dir)`` was called (the Oracle resource does, when
``ORACLE_CLIENT_LIB_DIR`` is set): then the process's first pool first loads Oracle Client from
that directory (``oracledb.init_oracle_client``), once, under the pools' lock. python-oracledb
allows one mode per process and the switch only before any connection or pool exists, so this
happens here, where every pool is made, and never at import.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

import oracledb
import pyarrow as pa

CONNECT_OPTIONS: dict[str, Any] = {"tcp_connect_timeout": 10.0, "expire_time": 2}
POOL_OPTIONS: dict[str, Any] = {
    "min": 0,
    "max": 4,
    "increment": 1,
    "getmode": oracledb.POOL_GETMODE_TIMEDWAIT,
    "wait_timeout": 30_000,  # milliseconds
    "timeout": 300,  # seconds an idle connection above ``min`` is kept
    "ping_interval": 60,
}

# (process id, dsn, user, password) -> pool. The process id keeps a forked child from using its
# parent's sockets; the password makes a rotated one start a new pool instead of failing.
_POOLS: dict[tuple[int, str, str, str], Any] = {}
_LOCK = threading.Lock()
# The Oracle Client directory thick mode loads (None: thin), and the one it was loaded from.
_CLIENT: dict[str, str | None] = {"lib_dir": None, "loaded_from": None}
LIB_DIR_VARIABLE = "ORACLE_CLIENT_LIB_DIR"


def use_client_libraries(lib_dir: str | None) -> None:
    """Thick mode from ``lib_dir`` for this process's pools (None: thin mode); nothing is loaded
    until the first pool is made."""
    with _LOCK:
        _CLIENT["lib_dir"] = lib_dir or None


def _load_client_libraries() -> None:
    """Thick mode before the first pool, when asked for; called with ``_LOCK`` held."""
    lib_dir = _CLIENT["lib_dir"]
    if lib_dir is None or _CLIENT["loaded_from"] == lib_dir:
        return
    try:
        oracledb.init_oracle_client(lib_dir=lib_dir)
    except oracledb.Error as error:
        error.add_note(
            f"loading Oracle Client for thick mode from {LIB_DIR_VARIABLE}={lib_dir}: install "
            "Oracle Instant Client (Basic or Basic Light) in that directory, or point "
            f"{LIB_DIR_VARIABLE} at the one holding libclntsh, and on Linux also list it in "
            "LD_LIBRARY_PATH or ldconfig before the process starts; unset the variable to "
            "connect in thin mode (no Native Network Encryption). A process that already "
            "connected in thin mode cannot switch: restart it"
        )
        raise
    _CLIENT["loaded_from"] = lib_dir


def process_pool(dsn: str, user: str, password: str) -> Any:
    """This process's pool for ``dsn`` and ``user``, created on the first call."""
    key = (os.getpid(), dsn, user, password)
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            _load_client_libraries()
            pool = oracledb.create_pool(
                user=user, password=password, dsn=dsn, **CONNECT_OPTIONS, **POOL_OPTIONS
            )
            _POOLS[key] = pool
        return pool


@contextmanager
def pooled(dsn: str, user: str, password: str) -> Iterator[Any]:
    """One connection from this process's pool for one unit of work, released at its end."""
    pool = process_pool(dsn, user, password)
    try:
        connection = pool.acquire()
    except oracledb.Error as error:
        error.add_note(f"connecting to Oracle {dsn} as {user}")
        raise
    try:
        yield connection
    except BaseException:
        # A dead session may refuse the release; the driver drops it from the pool, and the
        # error worth raising (and classifying) is the unit of work's, not the release's.
        with suppress(oracledb.Error):
            pool.release(connection)
        raise
    pool.release(connection)


def bind_timestamps(cursor: Any, value: Any, arraysize: int) -> Any:
    """The connections' input type handler: a ``datetime`` binds as TIMESTAMP, keeping its
    microseconds (python-oracledb binds one as DATE); every other value as the driver would."""
    if isinstance(value, datetime):
        return cursor.var(oracledb.DB_TYPE_TIMESTAMP, arraysize=arraysize)
    return None


def arrow_binds(batch: pa.Table) -> pa.Table:
    """``batch`` with text as ``string``, which binds as VARCHAR2: polars hands text over as
    ``large_string`` (or ``string_view``), and python-oracledb binds ``large_string`` as LONG.
    Timestamps stay Arrow timestamps, which bind as TIMESTAMP with their microseconds."""
    text = (pa.types.is_large_string, pa.types.is_string_view)
    fields = [
        pa.field(f.name, pa.string(), f.nullable) if any(is_(f.type) for is_ in text) else f
        for f in batch.schema
    ]
    return batch.cast(pa.schema(fields))
