"""Units of work on the DuckDB warehouse file for a writer that makes many of them a second: the
file ATTACHed, for one unit, to an in-memory DuckDB engine built once per process, and
DETACHed when the unit ends. The SMS store uses it (its runner makes about forty units a
second). The other stores' units (``DuckDBWarehouse.connect``) attach the file to the engine of
``duckdb_engine`` instead, whose DETACH checkpoints as closing a connection did; this engine
turns that off for all its units (below), so the two are kept apart: DuckDB refuses to attach
one file to both engines of a process at once, so they never hold it side by side.

Why an engine and not ``duckdb.connect`` per unit: ``duckdb_engine`` says (a new instance
costs 12-14 ms of catalog, an ATTACH well under a millisecond here); DETACH releases the file
lock, so another process opens the file as soon as the unit ends, as DESIGN §3 asks (a unit
never spans a send, a sleep or a network call).

Checkpoints: DETACH does not checkpoint (``checkpoint_on_detach`` disabled); a unit ends with
an explicit CHECKPOINT unless it asks not to (``checkpoint=False``: the runner's progress
units, a counters update every 25 messages). A checkpoint rewrites every changed column of
the ledger's row group (10-30 ms for 100,000 rows), so a unit that changed only the counters
leaves its few hundred WAL bytes to the next unit that checkpoints; a WAL left to grow costs
more than it saves (every ATTACH replays it: measured, a 1 MiB threshold ran at 40% of the
speed of 256 KiB).

One unit at a time per process (``_LOCK``): DuckDB refuses a second attach of one file in a
process ("Unique file handle conflict") instead of waiting for it. Another process's lock is
waited for as ``DuckDBWarehouse.connect`` waits (its ``LockWait``). The engine is
``duckdb_engine``'s ``process_engine("sms_units")``: built lazily, dropped when a DETACH fails
(so a failed unit never keeps the file locked), built anew in the child of a fork.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import duckdb

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.adapters.warehouse.duckdb_engine import (
    attach_sql,
    drop_process_engine,
    process_engine,
)

ALIAS = "warehouse_file"
ENGINE = "sms_units"
_SETTINGS = ("SET GLOBAL checkpoint_on_detach = 'DISABLED'", "SET GLOBAL TimeZone = 'UTC'",
             "SET enable_progress_bar = false")
_LOCK = threading.RLock()
_ATTACHED: list[str] = []  # the alias while a unit holds the file (under _LOCK)


def _engine() -> duckdb.DuckDBPyConnection:
    return process_engine(ENGINE, _SETTINGS)


def _after_fork() -> None:
    """A child of a fork starts with a free lock (a thread of the parent may have held it at
    the fork) and nothing attached; duckdb_engine gives it a new engine."""
    global _LOCK
    _LOCK = threading.RLock()
    _ATTACHED.clear()


os.register_at_fork(after_in_child=_after_fork)


class Attached:
    """``with Attached(warehouse, ddl, tables) as connection:`` the engine's session with the
    warehouse file as its default database, in UTC, ``ddl`` run when one of ``tables`` is
    missing."""

    def __init__(self, warehouse: DuckDBWarehouse, ddl: str, tables: tuple[str, ...], *,
                 checkpoint: bool = True):
        self.warehouse, self.ddl, self.tables = warehouse, ddl, tables
        self.checkpoint = checkpoint
        self.cursor: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        _LOCK.acquire()
        try:
            return self._attach()
        except BaseException:
            self._release()
            raise

    def _attach(self) -> duckdb.DuckDBPyConnection:
        path = self.warehouse.path
        if not self.warehouse.read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        if _ATTACHED:
            raise RuntimeError("a unit of work on the warehouse file inside another one")
        cursor = _engine()  # units are one at a time: the engine's own session serves them
        self.warehouse.lock_wait().open(
            lambda: cursor.execute(attach_sql(path, ALIAS, self.warehouse.read_only)))
        self.cursor = cursor
        _ATTACHED.append(ALIAS)
        cursor.execute(f"USE {ALIAS}")
        try:  # binds, reads nothing: 0.25 ms where duckdb_tables() took 0.55
            cursor.execute(f"SELECT NULL FROM {', '.join(self.tables)} LIMIT 0").fetchall()  # noqa: S608
        except duckdb.CatalogException:
            if self.warehouse.read_only:
                raise
            cursor.execute(self.ddl)
        return cursor

    def __exit__(self, kind: Any, *exc: Any) -> None:
        try:
            if kind is None and self.checkpoint and not self.warehouse.read_only:
                self.cursor.execute("CHECKPOINT")  # type: ignore[union-attr]
        finally:
            self._release()

    def _release(self) -> None:
        cursor, self.cursor = self.cursor, None
        try:
            if cursor is not None:
                _ATTACHED.clear()
                try:
                    cursor.execute("USE memory")
                    cursor.execute(f"DETACH {ALIAS}")
                except BaseException:
                    drop_process_engine(ENGINE)
                    raise
        finally:
            _LOCK.release()
