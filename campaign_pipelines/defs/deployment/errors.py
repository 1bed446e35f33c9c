"""How a warehouse error becomes a step outcome, for every step that writes or reads the
warehouse (deployment, streaks).

Transient errors (``adapters.warehouse.errors.is_transient``) propagate unchanged, so the step's
``WAREHOUSE_RETRY`` (``defs/retries.py``) runs it again: that policy is the only retry layer.
Permanent ones (a missing table, a duplicate key, the DuckDB lock still held after its budget)
fail at once with the database's own message and ``allow_retries=False``, so the policy does
not repeat what would fail the same way. A ``dg.Failure`` the work raised itself goes up as is.
"""

from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from campaign_pipelines.adapters.warehouse.errors import is_transient
from campaign_pipelines.adapters.warehouse.oracle_errors import database_message, ora_code

INVALID_IDENTIFIER = 904  # ORA-00904: a column the statement names is not in the table

T = TypeVar("T")


def deploy_or_fail(table: str, work: Callable[[], T]) -> T:
    """``work()``; ``table`` (or what the work is about) prefixes a permanent failure."""
    try:
        return work()
    except dg.Failure:
        raise
    except Exception as error:
        if is_transient(error):
            raise
        message = f"{database_message(error)}{_hint(error)}"
        raise dg.Failure(
            description=f"{table}: {message}",
            metadata={"table": table, "error": type(error).__name__, "message": message},
            allow_retries=False,
        ) from error


def _hint(error: Exception) -> str:
    text = str(error)
    if "does not exist" in text and "Table with name" in text:
        return " (create the tables with `campaigns db init`)"
    if ora_code(error) == INVALID_IDENTIFIER:
        return (
            " (the table predates a column this version writes: add the missing column as "
            "`campaigns db ddl --dialect oracle` prints it)"
        )
    return ""
