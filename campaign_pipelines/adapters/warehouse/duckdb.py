"""The embedded warehouse: one DuckDB file.

DuckDB lets one process write a file at a time, and Dagster runs each run, the daemon and the
webserver in their own processes. So the file is held for one unit of work: ``connect()``
attaches it (waiting, within one bounded budget per operation, while another process holds the
lock: see ``duckdb_lock``) to the process's engine, the caller does its work on a cursor of its
own, and the file is detached (``duckdb_engine`` says why an engine and not a connection per
unit, and what units of one process share). Nothing here keeps the file between calls.

A reader that must never write (the ingress) opens the file with ``read_only=True``: DuckDB
gives it a shared lock, so readers run side by side, but a writer and a reader still exclude
each other, and the bounded lock wait applies to both. Such a reader creates nothing: no
file, no table; a file without any of the project's tables reads as an empty warehouse.

Nothing here retries failed work either: errors go up, ``adapters.warehouse.errors`` says which
are transient, and the calling step's Dagster ``RetryPolicy`` tries again. The bounded lock wait
is a wait for the file, not a retry. Code allocation is race-free without retries: across
processes the file lock lets one process write at a time, and within a process
``_ALLOCATION_LOCK`` lets one thread allocate at a time, so the highest code read is still the
highest at the insert and a ``ConstraintException`` is a real error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import duckdb
import polars as pl

from campaign_pipelines.adapters.warehouse import duckdb_engine, statements
from campaign_pipelines.adapters.warehouse.ddl import column_type, ddl
from campaign_pipelines.adapters.warehouse.duckdb_lock import (
    DEFAULT_LOCK_TIMEOUT_S,
    LockWait,
    WarehouseLockedError,
)
from campaign_pipelines.adapters.warehouse.duckdb_read import (
    IncompleteWarehouseError,
    WarehouseMissingError,
    present_tables,
    project_tables_absent,
)
from campaign_pipelines.adapters.warehouse.extract import (
    EXTRACT_BATCH_ROWS,
    Extracted,
    Transform,
    write_batches,
)
from campaign_pipelines.core.codes import CampaignCodes
from campaign_pipelines.core.deployment import (
    CAMPAIGN_REGISTRY,
    DEPLOYMENT_TABLES,
    PROJECT_TABLES,
    Table,
)
from campaign_pipelines.core.metrics.rollup import KPI_DAILY, KPI_SCHEMA
from campaign_pipelines.core.requests import CampaignRequest

__all__ = [
    "DuckDBDeployment",
    "DuckDBWarehouse",
    "IncompleteWarehouseError",
    "WarehouseLockedError",
    "WarehouseMissingError",
    "transaction",
]

_SOURCES_DDL = Path(__file__).with_name("duckdb_sources.sql")


@dataclass(frozen=True)
class DuckDBWarehouse:
    """``lock_timeout_s``: how long one operation may wait, in total, for another process to
    release the file (``CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S``); ``lock_progress_s``: how often the
    wait is logged; ``read_only``: open the file for reading only (it must exist)."""

    path: Path
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
    lock_progress_s: float = 10.0
    read_only: bool = False

    def describe(self) -> str:
        return f"DuckDB {self.path}"

    def lock_wait(self) -> LockWait:
        """A fresh lock budget: pass one to every ``connect`` of a multi-step operation."""
        return LockWait(self.path, self.lock_timeout_s, self.lock_progress_s)

    @contextmanager
    def connect(self, wait: LockWait | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.read_only and not self.path.is_file():
            raise WarehouseMissingError(self.path)
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb_engine.unit(self.path, self.read_only, wait or self.lock_wait()) as connection:
            yield connection

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Named binds as the interface takes them (``:name``; ``$name`` is left as it is)."""
        with self.connect() as connection:
            relation = connection.sql(statements.as_dollar_binds(sql), params=params or None)
            return _frame(relation.to_arrow_table())

    def extract(
        self,
        sql: str,
        path: Path,
        params: dict[str, Any] | None = None,
        transform: Transform | None = None,
    ) -> Extracted:
        """The query's rows streamed into the Parquet file ``path`` (``extract``) through an
        Arrow reader of ``EXTRACT_BATCH_ROWS``-row batches, one row group each. The reader is
        closed before the file is detached, also on failure: a reader left open (in the
        traceback of a failed step, say) keeps the file attached, and locked, until collected."""
        with self.connect() as connection:
            with connection.sql(statements.as_dollar_binds(sql),
                                params=params or None).to_arrow_reader(
                EXTRACT_BATCH_ROWS
            ) as reader:
                return write_batches(reader, path, schema=reader.schema, transform=transform)

    def init_sources(self) -> None:
        """Creates the schemas and the empty reference-source tables (idempotent)."""
        with self.connect() as connection:
            connection.execute(_SOURCES_DDL.read_text(encoding="utf-8"))


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN, then COMMIT if the block succeeds, else ROLLBACK, and the block's error goes up.

    When COMMIT itself fails (a write-write conflict), DuckDB has already ended the
    transaction and ROLLBACK would raise "no transaction is active", hiding the real cause:
    that second error is suppressed.
    """
    connection.execute("BEGIN TRANSACTION")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):
            connection.execute("ROLLBACK")
        raise


class DuckDBDeployment:
    """Deployment and registry operations on the embedded warehouse (see ``statements``)."""

    def __init__(self, warehouse: DuckDBWarehouse):
        self.warehouse = warehouse

    def init_schema(self) -> None:
        self.warehouse.init_sources()
        with self.warehouse.connect() as connection:
            _create_project_tables(connection)

    def allocate_codes(self, key: str, request: CampaignRequest) -> CampaignCodes:
        """One allocation at a time per process (``_ALLOCATION_LOCK``) and per file (DuckDB's
        own lock on it), so no retry is needed; any error goes up."""
        now = datetime.now(UTC).replace(tzinfo=None)
        with _ALLOCATION_LOCK, self._transaction() as run:
            return statements.allocate_codes(run, key, request, now)

    def preview_codes(self, campaign_type: str) -> CampaignCodes:
        with self._transaction() as run:
            return statements.preview_codes(run, campaign_type)

    def replace_campaign_rows(
        self,
        table: Table,
        campaign_code: str,
        rows: pl.DataFrame,
        request_version: str | None = None,
    ) -> int:
        """Deletes the campaign's rows and inserts ``rows`` in one transaction, which also
        records the load (``request_version``, row count) in the deployment ledger."""
        arrow_rows = rows.select(table.column_names).to_arrow()
        with self._connect() as connection, transaction(connection):
            run = _runner(connection)
            run(statements.delete_campaign_rows(table), {"campaign_code": campaign_code})
            connection.register("campaign_rows", arrow_rows)
            connection.execute(
                f"INSERT INTO {table.qualified} BY NAME SELECT * FROM campaign_rows"  # noqa: S608
            )
            statements.record_load(
                run, table, campaign_code, request_version, rows.height, _now()
            )
        return rows.height

    def off_limit_iins(
        self, window_from: date, window_to: date, own_code: str | None
    ) -> pl.DataFrame:
        return self._fetch(
            statements.OFF_LIMIT_IINS,
            {"window_from": window_from, "window_to": window_to, "own_code": own_code},
        )

    def registry(self) -> pl.DataFrame:
        return self._fetch(statements.REGISTRY_ALL)

    def deployments(self) -> pl.DataFrame:
        """The deployment ledger: which request version each table holds for each campaign."""
        return self._fetch(statements.LEDGER_ALL)

    def delete_campaign(self, campaign_code: str) -> dict[str, int]:
        """Removes the campaign's rows from all six tables and its ledger rows, and marks it
        Deleted, atomically; the counts are the rows removed from each of the six tables."""
        removed = {}
        with self._transaction() as run:
            for table in DEPLOYMENT_TABLES:
                count = run(
                    f"SELECT COUNT(*) FROM {table.qualified} "  # noqa: S608
                    "WHERE CAMPAIGNCODE = :campaign_code",
                    {"campaign_code": campaign_code},
                )
                run(statements.delete_campaign_rows(table), {"campaign_code": campaign_code})
                removed[table.qualified] = count[0][0]
            run(statements.LEDGER_CLEAR, {"campaign_code": campaign_code})
            run(statements.REGISTRY_MARK_DELETED, {"campaign_code": campaign_code, "now": _now()})
        return removed

    def init_kpi_table(self) -> None:
        with self._connect() as connection:
            connection.execute(ddl(KPI_DAILY, "duckdb"))

    def replace_kpi_days(self, first: date, last: date, rows: pl.DataFrame) -> int:
        """The days' rows deleted and ``rows`` inserted in one transaction (table created
        where missing, as the deployment tables are on first use)."""
        statements.kpi_rows_within(rows, first, last)
        arrow_rows = rows.select(KPI_DAILY.column_names).to_arrow()
        with self._connect() as connection:
            connection.execute(ddl(KPI_DAILY, "duckdb"))
            with transaction(connection):
                _runner(connection)(statements.KPI_DELETE_DAYS, {"first": first, "last": last})
                connection.register("kpi_rows", arrow_rows)
                connection.execute(
                    f"INSERT INTO {KPI_DAILY.qualified} BY NAME SELECT * FROM kpi_rows"  # noqa: S608
                )
        return rows.height

    def kpi_rows(self, first: date, last: date, campaign: str | None = None) -> pl.DataFrame:
        """No kpi_daily table yet reads as no rows."""
        with self._connect() as connection:
            if KPI_DAILY.qualified not in present_tables(connection):
                return KPI_SCHEMA.to_frame()
            relation = connection.sql(
                statements.as_dollar_binds(statements.kpi_select(KPI_SCHEMA.names())),
                params={"first": first, "last": last, "campaign": campaign},
            )
            return _frame(relation.to_arrow_table()).cast(KPI_SCHEMA)  # type: ignore[arg-type]

    @contextmanager
    def _connect(self, wait: LockWait | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.warehouse.connect(wait) as connection:
            if not self.warehouse.read_only:
                _ensure_project_tables(connection, self.warehouse.path)
            elif project_tables_absent(connection, self.warehouse.path):
                # No project table at all: nothing was deployed yet, which reads as empty.
                with duckdb.connect(":memory:") as empty:
                    _create_project_tables(empty)
                    yield empty
                    return
            yield connection

    @contextmanager
    def _transaction(self, wait: LockWait | None = None) -> Iterator[statements.Run]:
        with self._connect(wait) as connection, transaction(connection):
            yield _runner(connection)

    def _fetch(self, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        with self._connect() as connection:
            relation = connection.sql(statements.as_dollar_binds(sql), params=params or None)
            return _frame(relation.to_arrow_table())


def _runner(connection: duckdb.DuckDBPyConnection) -> statements.Run:
    """The ``run(sql, params) -> rows`` callable ``statements`` works through."""

    def run(sql: str, params: dict[str, Any]) -> list[tuple]:
        cursor = connection.execute(statements.as_dollar_binds(sql), params)
        return cursor.fetchall() if cursor.description else []

    return run


# Code allocations in this process, one at a time: its threads share each file's database.
_ALLOCATION_LOCK = threading.Lock()
# Warehouse files (path, device, inode) whose project tables this process has ensured.
_READY: set[tuple[str, int, int]] = set()
_READY_LOCK = threading.Lock()


def _ensure_project_tables(connection: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A fresh embedded warehouse works the first time: the first use of a file in a process
    creates the schemas and tables deployment needs, if missing (the reference sources are the
    user's data and are left alone). Later uses cost one stat of the file."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_dev, stat.st_ino)
    if key in _READY:
        return
    with _READY_LOCK:
        if key not in _READY:
            _create_project_tables(connection)
            _READY.add(key)


def _create_project_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """The schemas, deployment tables, registry and ledger, where missing (idempotent); a
    registry from before the ledger gains its two columns."""
    for schema in sorted({table.schema for table in PROJECT_TABLES}):
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for table in PROJECT_TABLES:
        connection.execute(ddl(table, "duckdb"))
    kinds = dict(CAMPAIGN_REGISTRY.columns)
    for column in ("request_version", "deploy_tables"):
        kind = kinds[column]
        connection.execute(
            f"ALTER TABLE {CAMPAIGN_REGISTRY.qualified} "
            f"ADD COLUMN IF NOT EXISTS {column} {column_type(kind, 'duckdb')}"
        )


def _frame(table: Any) -> pl.DataFrame:
    """An Arrow table as a frame (``pl.from_arrow`` is typed to allow a Series too)."""
    return cast(pl.DataFrame, pl.from_arrow(table))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

