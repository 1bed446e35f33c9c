"""Which warehouse errors are worth retrying."""

import duckdb


def is_transient(error: BaseException) -> bool:
    """DuckDB: another process holds the file's lock, or a write-write conflict between
    transactions. Oracle: errors python-oracledb marks recoverable, or a dropped connection
    (DPY-4011)."""
    if isinstance(error, duckdb.TransactionException):
        return True
    if isinstance(error, duckdb.IOException) and "lock" in str(error).lower():
        return True
    error_obj = getattr(error, "args", [None])[0] if getattr(error, "args", None) else None
    if getattr(error_obj, "isrecoverable", False):
        return True
    return "DPY-4011" in str(error)
