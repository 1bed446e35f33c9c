"""Units of work on a DuckDB file through one in-memory engine per process: the file is
ATTACHed while at least one unit of the process uses it and DETACHed when the last one ends.

Why not ``duckdb.connect(path)`` per unit: building a database instance fills its catalog with
every built-in function, 12-14 ms of CPU on a 2-core host whatever the file (":memory:" too),
paid by every read and write of every store, the ingress's reads included. ATTACH of the file
to an engine already built costs about 2 ms with its USE and DETACH, takes the same file lock
(shared with READ_ONLY, exclusive without), and DETACH checkpoints the file as closing the last
connection did and releases the lock: another process opens the file as soon as the last unit
ends, as DESIGN §3 asks. Nothing is kept attached between units.

Units of one process on one file share its attachment (the ingress's request threads, the
daemon's sensor threads, a unit inside another); each gets a cursor of its own, so its own
transaction, settings and temporary objects, with the file as its default database. The first
unit waits for another process's lock with the caller's ``LockWait`` (duckdb_lock); the units
that join it do not wait. A file attached read-only and asked for read-write in the same
process (or the other way round) is refused, as DuckDB refused a second connection with another
configuration. ``duckdb_attached`` (the SMS runner's units, whose checkpoints it chooses) keeps
an engine of its own; DuckDB refuses to attach one file to two engines of a process at once
("Unique file handle conflict"), so the two never write the file side by side.

Engines (``process_engine``: this one, and duckdb_attached's) are built lazily in the process
that uses them (never at import), dropped when a DETACH fails (closing one releases whatever it
held), and built anew in the child of a fork, which leaves the parent's unclosed (their threads
stayed in the parent).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from campaign_pipelines.adapters.warehouse.duckdb_lock import LockWait

UNITS = "units"  # the engine of ``unit``; duckdb_attached has one of its own
_GUARD = threading.Lock()  # guards the tables below, never held across a wait
_ENGINES: dict[str, duckdb.DuckDBPyConnection] = {}  # this process's, by name (_after_fork)
_FILES: dict[str, _Attachment] = {}  # file path → its attachment in the UNITS engine
_INHERITED: list[duckdb.DuckDBPyConnection] = []  # a parent's engines, kept from the collector


class AttachedInAnotherModeError(RuntimeError):
    """A unit asked for a file this process has attached in the other mode."""


@dataclass
class _Attachment:
    alias: str
    read_only: bool = False
    units: int = 0
    engine: duckdb.DuckDBPyConnection | None = None  # the engine it is attached to
    lock: threading.Lock = field(default_factory=threading.Lock)  # held while it (de)attaches


@contextmanager
def unit(path: Path, read_only: bool, wait: LockWait) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor of the engine with ``path`` as its default database, for one unit of work."""
    attachment = _join(path, read_only, wait)
    try:
        cursor = process_engine(UNITS).cursor()
        try:
            cursor.execute(f"USE {attachment.alias}")
            cursor.execute("SET enable_progress_bar = false")  # a session's own setting
            yield cursor
        finally:
            cursor.close()
    finally:
        _leave(attachment)


def _join(path: Path, read_only: bool, wait: LockWait) -> _Attachment:
    key = str(path)
    with _GUARD:
        attachment = _FILES.setdefault(key, _Attachment(alias=_alias(key)))
    with attachment.lock:
        if attachment.units == 0:
            wait.open(lambda: _run(attach_sql(path, attachment.alias, read_only)))
            attachment.read_only, attachment.engine = read_only, process_engine(UNITS)
        elif attachment.read_only != read_only:
            held = "read-only" if attachment.read_only else "read-write"
            raise AttachedInAnotherModeError(
                f"{path} is open {held} in this process: a unit that wants it "
                f"{'read-only' if read_only else 'read-write'} must wait for that one to end")
        attachment.units += 1
    return attachment


def _leave(attachment: _Attachment) -> None:
    with attachment.lock:
        attachment.units -= 1
        if attachment.units == 0 and attachment.engine is _ENGINES.get(UNITS):
            try:  # (an engine dropped meanwhile took the attachment with it)
                _run(f"DETACH {attachment.alias}")
            except BaseException:
                drop_process_engine(UNITS)
                raise


def _run(sql: str) -> None:
    """One statement on a cursor of its own: the engine's connection is shared by threads."""
    cursor = process_engine(UNITS).cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def attach_sql(path: Path, alias: str, read_only: bool) -> str:
    """The ATTACH of ``path`` as ``alias`` (a path is a literal there: DuckDB binds none)."""
    quoted = str(path).replace("'", "''")
    return f"ATTACH '{quoted}' AS {alias}{' (READ_ONLY)' if read_only else ''}"


def _alias(key: str) -> str:
    return "warehouse_" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]


def process_engine(name: str, settings: tuple[str, ...] = ()) -> duckdb.DuckDBPyConnection:
    """This process's in-memory engine ``name``, built on first use with ``settings`` run on
    it once."""
    with _GUARD:
        engine = _ENGINES.get(name)
        if engine is None:
            engine = duckdb.connect(":memory:")
            for statement in settings:
                engine.execute(statement)
            _ENGINES[name] = engine
        return engine


def drop_process_engine(name: str) -> None:
    """Closes this process's engine ``name``, which detaches whatever it held: the file locks go
    with it."""
    with _GUARD:
        engine = _ENGINES.pop(name, None)
        if name == UNITS:
            _FILES.clear()  # units still open leave their attachments, gone with the engine
    if engine is not None:
        engine.close()


def _after_fork() -> None:
    """A child of a fork starts with no engine and nothing attached (a thread of the parent may
    have held a lock at the fork)."""
    global _GUARD
    _GUARD = threading.Lock()
    _INHERITED.extend(_ENGINES.values())  # never closed here: their threads stayed in the parent
    _ENGINES.clear()
    _FILES.clear()


os.register_at_fork(after_in_child=_after_fork)
