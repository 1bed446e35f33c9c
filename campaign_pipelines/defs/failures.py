"""How a step fails: one ``dg.Failure`` shape for bad input in every domain (STYLE.md rule 8),
and one split of the warehouse's errors for every step that reads or writes it.

Transient errors (``adapters.warehouse.errors.is_transient``: a dropped connection, a write
conflict) propagate unchanged, so the step's ``WAREHOUSE_RETRY`` (``defs/retries.py``) runs it
again: that policy is the only retry layer. Everything else (a missing table, a duplicate key,
a reference query of the wrong shape, the DuckDB lock still held after its budget) fails at
once with its own message and ``allow_retries=False``: it would fail the same way again.
"""

from collections.abc import Callable
from typing import TypeVar

import dagster as dg

from campaign_pipelines.adapters.warehouse.errors import is_transient
from campaign_pipelines.adapters.warehouse.oracle_errors import database_message, ora_code

INVALID_IDENTIFIER = 904  # ORA-00904: a column the statement names is not in the table

T = TypeVar("T")


def fail(problem: str, problems: list | None = None) -> dg.Failure:
    """A failure that names the problem and is not retried (the same input fails the same
    way); ``problems`` (field, problem, fix) go into the run's metadata as JSON."""
    metadata = {"problems": dg.MetadataValue.json(problems)} if problems else None
    return dg.Failure(description=problem, metadata=metadata, allow_retries=False)


def warehouse_work(what: str, work: Callable[[], T]) -> T:
    """``work()``, its permanent errors turned into a Failure without retries that ``what``
    (a table, a dataset) prefixes; a ``dg.Failure`` the work raised itself goes up as is."""
    try:
        return work()
    except dg.Failure:
        raise
    except Exception as error:
        if is_transient(error):
            raise
        message = f"{database_message(error)}{_hint(error)}"
        raise dg.Failure(
            description=f"{what}: {message}",
            metadata={"table": what, "error": type(error).__name__, "message": message},
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
