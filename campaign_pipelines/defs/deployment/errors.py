"""How a warehouse error becomes a step outcome: transient ones propagate so the asset's retry
policy tries again with backoff; permanent ones fail at once with the database's own message."""

from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from campaign_pipelines.adapters.warehouse.errors import is_transient
from campaign_pipelines.adapters.warehouse.oracle_errors import database_message, ora_code

INVALID_IDENTIFIER = 904  # ORA-00904: a column the statement names is not in the table

T = TypeVar("T")


def deploy_or_fail(table: str, work: Callable[[], T]) -> T:
    try:
        return work()
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
