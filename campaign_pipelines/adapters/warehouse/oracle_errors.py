"""Telling python-oracledb errors apart, and retrying the ones worth retrying.

A dropped connection or a database that is restarting says nothing about our data, so such a
unit of work is simply run again after a pause; everything else (a missing table, a value too
wide, a privilege) would fail the same way on every attempt and is raised at once with the
database's own message. Every unit of work here is idempotent (replace by campaign code, codes
kept by campaign key), so replaying one whose commit may or may not have landed is safe.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import oracledb

T = TypeVar("T")

UNIQUE_VIOLATION = 1  # ORA-00001: unique constraint violated
NAME_ALREADY_USED = 955  # ORA-00955: name is already used by an existing object
CONNECTION_CLOSED = "DPY-4011"  # the database or network closed the connection

_CONSTRAINT = re.compile(r"unique constraint \(([^)]+)\)", re.IGNORECASE)


class DuplicateRowsError(ValueError):
    """Rows a table's unique constraint refuses: retrying cannot help, the rows must change."""

    def __init__(self, table: str, constraint: str, database_message: str):
        self.table = table
        self.constraint = constraint
        super().__init__(
            f"{table}: the rows repeat a key that unique constraint {constraint} allows only "
            f"once, so nothing was written (the transaction was rolled back). Fix: remove the "
            f"duplicates from the rows, or the conflicting rows from {table}. "
            f"Database said: {database_message}"
        )


def error_details(error: BaseException) -> Any:
    """python-oracledb's own error object (``code``, ``message``, ``isrecoverable``), which it
    passes as the exception's first argument; None for anything else."""
    args = getattr(error, "args", ())
    return args[0] if args and hasattr(args[0], "isrecoverable") else None


def ora_code(error: BaseException) -> int | None:
    """The ORA number (1 for ORA-00001), or None for driver (DPY) and foreign errors."""
    code = getattr(error_details(error), "code", 0)
    return code or None


def is_transient(error: BaseException) -> bool:
    if not isinstance(error, oracledb.Error):
        return False
    if getattr(error_details(error), "isrecoverable", False):
        return True
    return CONNECTION_CLOSED in str(error)


def is_unique_violation(error: BaseException) -> bool:
    return isinstance(error, oracledb.Error) and ora_code(error) == UNIQUE_VIOLATION


def database_message(error: BaseException) -> str:
    """The ORA/DPY line(s) without the help-portal link python-oracledb appends."""
    lines = [line for line in str(error).strip().splitlines() if not line.startswith("Help: ")]
    return " ".join(lines)


def duplicate_rows(error: BaseException, table: str) -> DuplicateRowsError:
    match = _CONSTRAINT.search(str(error))
    constraint = match.group(1) if match else "(not named in the message)"
    return DuplicateRowsError(table, constraint, database_message(error))


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff: ``attempts`` tries, pausing ``first_delay_s``, then twice
    that, and so on. ``sleep`` is injectable so tests need not wait."""

    attempts: int = 4
    first_delay_s: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def run(self, work: Callable[[], T], what: str) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return work()
            except oracledb.Error as error:
                if not is_transient(error):
                    raise
                if attempt == self.attempts:
                    error.add_note(
                        f"{what}: still failing after {self.attempts} attempts with a transient "
                        "error; check the database and network, the run can be retried as is"
                    )
                    raise
                self.sleep(self.first_delay_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable: the loop returns or raises")
