"""The bank's Oracle warehouse through python-oracledb in thin mode (no Oracle client needed).

Statements come only from ``statements`` and ``core.deployment`` and use named binds (``:code``),
never string formatting of values. A connection is taken from this process's pool
(``oracle_connections``) for one unit of work and given back, and each unit is one transaction:
committed at its end, rolled back on any error.

Binds keep their precision: a Python ``datetime`` binds as TIMESTAMP (python-oracledb would bind
it as DATE, dropping the fraction of a second), and Arrow text binds as ``string`` (polars'
``large_string`` would bind as LONG). An empty frame is never handed to ``executemany``.

Nothing here retries. An error goes up as python-oracledb raised it (with a note saying what
was being done); ``adapters.warehouse.errors.is_transient`` says whether it is worth another
attempt, and the step's Dagster ``RetryPolicy`` (``defs/retries.py``) makes that attempt, so a
transient error costs at most the policy's attempts, never attempts multiplied by a loop here.
Code allocation needs no retry either: it starts by locking the registry (``LOCK_REGISTRY``),
so concurrent allocators queue instead of racing for the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import oracledb
import polars as pl
import pyarrow as pa

from campaign_pipelines.adapters.warehouse import statements
from campaign_pipelines.adapters.warehouse.extract import (
    EXTRACT_BATCH_ROWS,
    Extracted,
    Transform,
    write_batches,
)
from campaign_pipelines.adapters.warehouse.oracle_connections import (
    arrow_binds,
    bind_timestamps,
    pooled,
)
from campaign_pipelines.adapters.warehouse.oracle_errors import (
    DuplicateRowsError,
    duplicate_rows,
    is_unique_violation,
)
from campaign_pipelines.adapters.warehouse.oracle_schema import (
    SchemaMismatchError,
    TableReport,
    create_table,
    table_report,
)
from campaign_pipelines.core.codes import CampaignCodes
from campaign_pipelines.core.deployment import (
    CAMPAIGN_DEPLOYMENTS,
    CAMPAIGN_REGISTRY,
    DEPLOYMENT_TABLES,
    PROJECT_TABLES,
    Table,
    polars_schema,
)
from campaign_pipelines.core.metrics.rollup import KPI_DAILY, KPI_SCHEMA
from campaign_pipelines.core.requests import CampaignRequest

__all__ = [
    "DuplicateRowsError",
    "MissingTablesError",
    "OracleDeployment",
    "OracleWarehouse",
    "SchemaMismatchError",
]

T = TypeVar("T")

# The tables this adapter needs, as Oracle's catalog names them (owners bound by name).
_OWNERS = {schema: schema.upper() for schema in sorted({t.schema for t in PROJECT_TABLES})}
_OWNER_BINDS = ", ".join(f":{schema}" for schema in _OWNERS)
TABLES_PRESENT = f"SELECT owner, table_name FROM all_tables WHERE owner IN ({_OWNER_BINDS})"  # noqa: S608


class MissingTablesError(RuntimeError):
    """Tables deployment needs are missing; they are created on purpose, never implicitly."""

    def __init__(self, missing: list[str], warehouse: str):
        self.missing = missing
        verb = "does not exist" if len(missing) == 1 else "do not exist"
        super().__init__(
            f"{', '.join(missing)} {verb} in the Oracle warehouse ({warehouse}): run "
            "`campaigns db init` (or apply `campaigns db ddl --dialect oracle`)"
        )


@dataclass(frozen=True)
class OracleWarehouse:
    dsn: str
    user: str
    password: str = field(repr=False)
    # A stand-in's ``connect(user=, password=, dsn=)`` (tests); None: this process's pool.
    connect_fn: Callable[..., Any] | None = None
    # Rows per round trip and per Parquet row group of ``extract``.
    extract_batch_rows: int = EXTRACT_BATCH_ROWS

    def describe(self) -> str:
        return f"Oracle {self.dsn} as {self.user}"

    @contextmanager
    def connect(self) -> Iterator[Any]:
        if self.connect_fn is None:
            with pooled(self.dsn, self.user, self.password) as connection:
                connection.inputtypehandler = bind_timestamps
                yield connection
            return
        connection = self.connect_fn(user=self.user, password=self.password, dsn=self.dsn)
        connection.inputtypehandler = bind_timestamps
        try:
            yield connection
        finally:
            connection.close()

    def fetch(self, sql: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Column names as Oracle reports them (upper case unless quoted)."""
        with self.connect() as connection:
            frame = connection.fetch_df_all(statement=sql, parameters=params or {})
            return cast(pl.DataFrame, pl.from_arrow(pa.table(frame)))

    def extract(
        self,
        sql: str,
        path: Path,
        params: dict[str, Any] | None = None,
        transform: Transform | None = None,
    ) -> Extracted:
        """The query's rows streamed into the Parquet file ``path`` (``extract``):
        ``fetch_df_batches`` of ``extract_batch_rows``, one round trip and one row group each."""
        with self.connect() as connection:
            batches = connection.fetch_df_batches(
                statement=sql, parameters=params or {}, size=self.extract_batch_rows
            )
            return write_batches(batches, path, transform=transform)

    def in_transaction(self, work: Callable[[Any], T], what: str) -> T:
        """``work(connection)`` as one transaction on a fresh connection.

        Rolled back explicitly rather than left to the close, so a session that outlives us (a
        pool, a proxy) never carries half a unit of work into the next one."""
        with self.connect() as connection:
            try:
                result = work(connection)
                connection.commit()
                return result
            except BaseException as error:
                with suppress(oracledb.Error):  # a dead session has nothing to roll back
                    connection.rollback()
                if isinstance(error, oracledb.Error):
                    error.add_note(f"{what}: the transaction was rolled back")
                raise


class OracleDeployment:
    """Deployment and registry operations on the bank's Oracle (see ``statements``); the same
    methods and meaning as ``DuckDBDeployment``."""

    def __init__(self, warehouse: OracleWarehouse, batch_size: int = 50_000):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.warehouse = warehouse
        self.batch_size = batch_size
        self._tables_present = False

    def require_tables(self) -> None:
        """Checks once per adapter, in ALL_TABLES, that every table deployment uses exists;
        MissingTablesError names the missing ones. Nothing is ever created implicitly here."""
        if self._tables_present:
            return
        found = self.warehouse.fetch(TABLES_PRESENT, _OWNERS)
        present = {f"{owner}.{name}".lower() for owner, name in found.iter_rows()}
        missing = [t.qualified for t in PROJECT_TABLES if t.qualified not in present]
        if missing:
            raise MissingTablesError(missing, self.warehouse.describe())
        self._tables_present = True

    def init_schema(self) -> None:
        """Creates the deployment tables, the registry and the ledger; existing ones are left
        alone once their columns match the DDL (else SchemaMismatchError lists the
        differences). The schemas (Oracle users) dssb_ocds, spss and campaign_ops must exist
        already. Oracle commits each CREATE on its own, so this is no transaction: rerunning it
        is the remedy."""
        with self.warehouse.connect() as connection:
            cursor = connection.cursor()
            existing = [t for t in PROJECT_TABLES if create_table(cursor, t)]
            self._require_matching(cursor, existing)

    def check_schema(self, tables: tuple[Table, ...] = (*PROJECT_TABLES, KPI_DAILY)) -> list[
            TableReport]:
        """Each table's columns in ALL_TAB_COLUMNS against the DDL; creates nothing."""
        with self.warehouse.connect() as connection:
            cursor = connection.cursor()
            return [table_report(cursor, table) for table in tables]

    def _require_matching(self, cursor: Any, tables: list[Table]) -> None:
        reports = [table_report(cursor, table) for table in tables]
        if any(report.differences for report in reports):
            raise SchemaMismatchError(reports, self.warehouse.describe())

    def allocate_codes(self, key: str, request: CampaignRequest) -> CampaignCodes:
        """The campaign's codes, in one transaction that first locks the registry: another
        allocator waits for our commit, so the highest code it then reads includes ours.
        Queries still read the registry meanwhile. A unique violation is therefore a real
        conflict (a row written outside this adapter), raised as ``DuplicateRowsError``."""
        self.require_tables()
        now = datetime.now(UTC).replace(tzinfo=None)

        def allocate(connection: Any) -> CampaignCodes:
            run = _runner(connection)
            run(statements.LOCK_REGISTRY, {})
            return statements.allocate_codes(run, key, request, now)

        try:
            return self.warehouse.in_transaction(allocate, f"allocating codes for {key!r}")
        except oracledb.IntegrityError as error:
            if is_unique_violation(error):
                raise duplicate_rows(error, CAMPAIGN_REGISTRY.qualified) from error
            raise

    def preview_codes(self, campaign_type: str) -> CampaignCodes:
        self.require_tables()
        return self.warehouse.in_transaction(
            lambda connection: statements.preview_codes(_runner(connection), campaign_type),
            "previewing the next codes",
        )

    def replace_campaign_rows(
        self,
        table: Table,
        campaign_code: str,
        rows: pl.DataFrame,
        request_version: str | None = None,
    ) -> int:
        """Deletes the campaign's rows and inserts ``rows`` in one transaction, in Arrow batches
        of ``batch_size``, and records the load in the ledger in that transaction; on any error
        the campaign's previous rows and ledger row stay as they were."""
        self.require_tables()
        arrow_rows = rows.select(table.column_names).to_arrow()
        total = arrow_rows.num_rows

        def replace(connection: Any) -> None:
            cursor = connection.cursor()
            cursor.execute(statements.delete_campaign_rows(table), {"campaign_code": campaign_code})
            self._insert(cursor, table, arrow_rows, f" for campaign {campaign_code}")
            now = datetime.now(UTC).replace(tzinfo=None)
            run = _runner(connection)
            statements.record_load(run, table, campaign_code, request_version, total, now)

        what = f"replacing campaign {campaign_code}'s rows in {table.qualified}"
        try:
            self.warehouse.in_transaction(replace, what)
        except oracledb.IntegrityError as error:
            if is_unique_violation(error):
                raise duplicate_rows(error, table.qualified) from error
            raise
        return total

    def off_limit_iins(
        self, window_from: date, window_to: date, own_code: str | None
    ) -> pl.DataFrame:
        self.require_tables()
        params = {
            "window_from": window_from,
            "window_to": window_to,
            "own_code": own_code,
        }
        frame = self.warehouse.fetch(statements.OFF_LIMIT_IINS, params)
        return frame.rename(str.lower).select(pl.col("iin").cast(pl.String))

    def registry(self) -> pl.DataFrame:
        """Lower-case names and DuckDB's types: Oracle reports unquoted names in upper case and
        its DATE columns as timestamps."""
        self.require_tables()
        frame = self.warehouse.fetch(statements.REGISTRY_ALL).rename(str.lower)
        return frame.cast(pl.Schema(polars_schema(CAMPAIGN_REGISTRY)))

    def deployments(self) -> pl.DataFrame:
        """The deployment ledger, with the registry's conventions."""
        self.require_tables()
        frame = self.warehouse.fetch(statements.LEDGER_ALL).rename(str.lower)
        return frame.cast(pl.Schema(polars_schema(CAMPAIGN_DEPLOYMENTS)))

    def delete_campaign(self, campaign_code: str) -> dict[str, int]:
        """Removes the campaign's rows from all six tables and its ledger rows, and marks it
        deleted, atomically; the counts are the rows each table's DELETE removed."""
        self.require_tables()
        binds = {"campaign_code": campaign_code}

        def delete(connection: Any) -> dict[str, int]:
            cursor = connection.cursor()
            removed = {}
            for table in DEPLOYMENT_TABLES:
                cursor.execute(statements.delete_campaign_rows(table), binds)
                removed[table.qualified] = cursor.rowcount
            cursor.execute(statements.LEDGER_CLEAR, binds)
            now = datetime.now(UTC).replace(tzinfo=None)
            cursor.execute(statements.REGISTRY_MARK_DELETED, {**binds, "now": now})
            return removed

        return self.warehouse.in_transaction(delete, f"deleting campaign {campaign_code}")

    def init_kpi_table(self) -> None:
        """Creates campaign_ops.kpi_daily; an existing one is left alone (not a transaction:
        Oracle commits a CREATE on its own)."""
        with self.warehouse.connect() as connection:
            cursor = connection.cursor()
            if create_table(cursor, KPI_DAILY):
                self._require_matching(cursor, [KPI_DAILY])

    def replace_kpi_days(self, first: date, last: date, rows: pl.DataFrame) -> int:
        """The days' rows deleted and ``rows`` inserted in Arrow batches, one transaction; on
        any error the days keep their previous rows. The table is never created here."""
        statements.kpi_rows_within(rows, first, last)
        # One chunk: python-oracledb's Arrow import reads a many-chunk table's columns once per
        # chunk, so its binds would no longer match the statement's (the rollup concatenates).
        arrow_rows = rows.select(KPI_DAILY.column_names).rechunk().to_arrow()

        def replace(connection: Any) -> None:
            cursor = connection.cursor()
            cursor.execute(statements.KPI_DELETE_DAYS, {"first": first, "last": last})
            self._insert(cursor, KPI_DAILY, arrow_rows, f" of {first}..{last}")

        what = f"replacing {KPI_DAILY.qualified}'s rows of {first}..{last}"
        try:
            self.warehouse.in_transaction(replace, what)
        except oracledb.IntegrityError as error:
            if is_unique_violation(error):
                raise duplicate_rows(error, KPI_DAILY.qualified) from error
            raise
        return arrow_rows.num_rows

    def _insert(self, cursor: Any, table: Table, rows: pa.Table, whose: str) -> None:
        """``rows`` inserted in batches of ``batch_size``; no rows, no call: python-oracledb's
        import of an Arrow table without rows fails. Columns bind in order (the statement's
        binds carry the same names); a failed batch's error names its rows."""
        insert = statements.insert_rows(table)
        for offset in range(0, rows.num_rows, self.batch_size):
            batch = arrow_binds(rows.slice(offset, self.batch_size))
            try:
                cursor.executemany(insert, batch, batch_size=self.batch_size)
            except oracledb.Error as error:
                error.add_note(
                    f"{table.qualified}: inserting rows {offset + 1}-{offset + batch.num_rows}"
                    f" of {rows.num_rows}{whose} failed"
                )
                raise

    def kpi_rows(self, first: date, last: date, campaign: str | None = None) -> pl.DataFrame:
        """Lower-case names and KPI_SCHEMA's types (Oracle's DATE reads as a timestamp)."""
        sql = statements.kpi_select(KPI_SCHEMA.names())
        frame = self.warehouse.fetch(sql, {"first": first, "last": last, "campaign": campaign})
        return frame.rename(str.lower).cast(KPI_SCHEMA)  # type: ignore[arg-type]


def _runner(connection: Any) -> statements.Run:
    """The ``run(sql, params) -> rows`` callable ``statements`` works through."""
    cursor = connection.cursor()

    def run(sql: str, params: dict[str, Any]) -> list[tuple]:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    return run
