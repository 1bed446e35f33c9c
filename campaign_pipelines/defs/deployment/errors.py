"""How a warehouse error becomes a step outcome: transient ones propagate so the asset's retry
policy tries again with backoff; permanent ones fail at once with the database's own message."""

from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from campaign_pipelines.adapters.warehouse.errors import is_transient

T = TypeVar("T")


def deploy_or_fail(table: str, work: Callable[[], T]) -> T:
    try:
        return work()
    except Exception as error:
        if is_transient(error):
            raise
        hint = " (create the tables with `campaigns db init`)" if _missing_table(error) else ""
        raise dg.Failure(
            description=f"{table}: {str(error).strip()}{hint}",
            metadata={"table": table, "error": type(error).__name__},
            allow_retries=False,
        ) from error


def _missing_table(error: Exception) -> bool:
    text = str(error)
    return "does not exist" in text and "Table with name" in text
