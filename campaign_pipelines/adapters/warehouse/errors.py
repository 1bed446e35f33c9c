"""Which warehouse errors are worth retrying."""

import duckdb

from campaign_pipelines.adapters.warehouse import oracle_errors


def is_transient(error: BaseException) -> bool:
    """DuckDB: another process holds the file's lock, or a write-write conflict between
    transactions (other transaction errors, such as a commit with no transaction, are bugs
    and fail fast). Oracle: see ``oracle_errors.is_transient``."""
    if isinstance(error, duckdb.TransactionException) and "conflict" in str(error).lower():
        return True
    if isinstance(error, duckdb.IOException) and "lock" in str(error).lower():
        return True
    return oracle_errors.is_transient(error)
