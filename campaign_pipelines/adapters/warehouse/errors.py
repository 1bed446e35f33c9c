"""Which warehouse errors are worth retrying: the one classification every caller uses.

Adapters only classify and raise; they never retry. The step that called them retries through
its Dagster ``RetryPolicy`` (``defs/retries.py``), and ``defs/failures.py`` turns every
error this function calls permanent into a ``dg.Failure`` that is not retried. The worst case of
every retried operation is in the README, "Retries: who retries what, and the worst case".

Transient (the same unit of work may well succeed a moment later):

- DuckDB: a write-write conflict between two transactions of one process, or a lock conflict
  on the file that escaped the bounded lock wait of ``duckdb_lock`` (that wait itself ends in
  ``WarehouseLockedError``, which is permanent: waiting longer is the user's decision);
- Oracle: an error python-oracledb marks ``isrecoverable`` (instance restarting, session
  killed...), and those of ``oracle_errors.TRANSIENT_CODES`` it does not mark: DPY-4011 (the
  network or the database closed the connection), DPY-6005 (thin mode could not connect),
  ORA-00060 (deadlock) and ORA-00054 (resource busy).

Everything else (a missing table, a value too wide, a duplicate key, a commit with no
transaction) fails the same way on every attempt.
"""

import duckdb
import oracledb

from campaign_pipelines.adapters.warehouse.oracle_errors import (
    TRANSIENT_CODES,
    error_details,
    full_code,
)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, duckdb.TransactionException):
        return "conflict" in str(error).lower()
    if isinstance(error, duckdb.IOException):
        return "lock" in str(error).lower()
    if isinstance(error, oracledb.Error):
        recoverable = bool(getattr(error_details(error), "isrecoverable", False))
        return recoverable or full_code(error) in TRANSIENT_CODES
    return False
