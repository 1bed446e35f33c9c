"""Reading python-oracledb errors: their ORA number, their message without the help link, and
a unique-constraint violation as an error that says which rows to fix.

Nothing here retries. Whether an error is transient is decided in one place,
``adapters.warehouse.errors.is_transient``; the step that called the adapter retries through
its Dagster ``RetryPolicy``. Every unit of work is idempotent (replace by campaign code, codes
kept by campaign key), so a step that replays one whose commit may or may not have landed is
safe.
"""

from __future__ import annotations

import re
from typing import Any

import oracledb

UNIQUE_VIOLATION = 1  # ORA-00001: unique constraint violated
NAME_ALREADY_USED = 955  # ORA-00955: name is already used by an existing object
COLUMNS_ALREADY_INDEXED = 1408  # ORA-01408: such column list already indexed
CONNECTION_CLOSED = "DPY-4011"  # the database or network closed the connection
# Worth another attempt although python-oracledb does not mark them ``isrecoverable``:
TRANSIENT_CODES = frozenset({
    CONNECTION_CLOSED,
    "DPY-6005",  # thin mode could not connect (refused, timed out, unreachable)
    "ORA-00060",  # deadlock detected: Oracle rolled back our statement, not our transaction
    "ORA-00054",  # resource busy (a NOWAIT or DDL lock): another session holds the rows
})

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


def full_code(error: BaseException) -> str:
    """``"ORA-00060"``, ``"DPY-6005"``: the code python-oracledb puts first in the message
    (an ORA error it translates carries its DPY code); "" for anything else."""
    return str(getattr(error_details(error), "full_code", "") or "")


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
