"""Waiting for the DuckDB file lock: bounded, said aloud while it lasts, and then a clear error.

DuckDB lets one process open a file for writing; every other open fails at once with "Could not
set lock on file ...: Conflicting lock is held in <program> (PID n)". One operation (a table
load, a code allocation with its retries) waits for that lock at most ``timeout_s`` in total,
however many times it opens the file, and logs who holds it every ``progress_s`` through the
``campaign_pipelines.warehouse`` logger (Dagster captures it when that logger is listed under
``python_logs.managed_python_loggers``). When the time is up it raises ``WarehouseLockedError``,
which is not transient: waiting longer is the user's decision, not a retry policy's.

This is a bounded wait for a lock, not a retry of failed work (the retry layer is the step's
Dagster ``RetryPolicy``, ``defs/retries.py``), and it stays a small hand loop rather than
``stamina``: stamina's ``timeout`` bounds one retry context, while this budget is shared by
every open of one operation (``LockWait`` carries what was already waited); the progress lines
fall on exact multiples of ``progress_s`` because each sleep is cut at the next report, which
stamina's jittered waits cannot do; and ``stamina.set_testing`` would silently turn the wait
off in tests that assert it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb

LOGGER = logging.getLogger("campaign_pipelines.warehouse")
LOCK_TIMEOUT_ENV = "CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S"
DEFAULT_LOCK_TIMEOUT_S = 120.0
FIX = f"stop the other process or raise {LOCK_TIMEOUT_ENV}"

_HOLDER = re.compile(r"held in (.+?) \(PID (\d+)\)")
T = TypeVar("T")


class WarehouseLockedError(RuntimeError):
    """Another process kept the DuckDB file locked for longer than the operation may wait."""

    def __init__(self, path: Path, holder: str, waited_s: float, timeout_s: float):
        self.path, self.holder = path, holder
        super().__init__(
            f"{path} is locked by {holder}: gave up after waiting {_seconds(waited_s)} s for "
            f"the DuckDB lock (limit {_seconds(timeout_s)} s). Fix: {FIX}"
        )


def lock_holder(error: BaseException) -> str:
    """"<program> (PID n)" from DuckDB's lock message, or a plain phrase if it names none."""
    found = _HOLDER.search(str(error))
    return f"{found.group(1)} (PID {found.group(2)})" if found else "another process"


def is_lock_conflict(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


@dataclass
class LockWait:
    """The lock budget of one operation, shared by every open the operation makes."""

    path: Path
    timeout_s: float
    progress_s: float
    waited_s: float = 0.0
    _next_report_s: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._next_report_s = self.progress_s

    def open(self, connect: Callable[[], T]) -> T:
        delay = 0.05
        while True:
            started = time.monotonic()
            try:
                return connect()
            except duckdb.IOException as error:
                if not is_lock_conflict(error):
                    raise
                holder = lock_holder(error)
                if self.waited_s >= self.timeout_s:
                    raise WarehouseLockedError(
                        self.path, holder, self.waited_s, self.timeout_s
                    ) from error
                room = min(self.timeout_s, self._next_report_s) - self.waited_s
                time.sleep(max(0.0, min(delay, room)))
                self.waited_s += time.monotonic() - started
                self._report(holder)
                delay = min(delay * 2, 1.0)

    def _report(self, holder: str) -> None:
        while self.waited_s >= self._next_report_s and self._next_report_s < self.timeout_s:
            LOGGER.warning(
                "waiting for the DuckDB lock on %s, held by %s for %s s of %s s",
                self.path,
                holder,
                _seconds(self._next_report_s),
                _seconds(self.timeout_s),
            )
            self._next_report_s += self.progress_s


def _seconds(value: float) -> str:
    return f"{round(value, 1):g}"
