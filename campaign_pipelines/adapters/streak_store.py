"""Streak state in the DuckDB warehouse: ``campaign_ops.user_streak_state`` (one row per user),
``campaign_ops.streak_audit`` (append-only) and reads of ``sources.user_activity``.

Tables are created idempotently by every unit of work, so a fresh warehouse needs no setup step.
A change is one transaction: the state rows of the changed users are deleted and inserted
again from an Arrow batch, and the audit rows appended, so a reader sees the day before or
the day after, never half a run. ``update`` reads the state inside that same transaction, so
two writers (the daily run, a manual file) cannot overwrite each other's moves. The audit is
never updated or deleted here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import duckdb
import polars as pl

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.streaks.eligibility import ACTIVITY_SCHEMA, missing_columns
from campaign_pipelines.core.streaks.engine import AUDIT_SCHEMA, STATE_SCHEMA

STATE_TABLE = "campaign_ops.user_streak_state"
AUDIT_TABLE = "campaign_ops.streak_audit"
ACTIVITY_TABLE = "sources.user_activity"

_DDL = f"""
CREATE SCHEMA IF NOT EXISTS campaign_ops;
CREATE SCHEMA IF NOT EXISTS sources;
CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
    user_id BIGINT NOT NULL, streak_type VARCHAR NOT NULL, assign_next_streak_type VARCHAR,
    next_eligible_streak_type VARCHAR, streak_status VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
    user_id BIGINT NOT NULL, from_streak VARCHAR NOT NULL, to_streak VARCHAR NOT NULL,
    action VARCHAR NOT NULL, rule VARCHAR, reason VARCHAR, source VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL, recorded_at TIMESTAMPTZ NOT NULL);
"""
_STATE_COLUMNS = ", ".join(STATE_SCHEMA.names())
_AUDIT_COLUMNS = ", ".join(AUDIT_SCHEMA.names())


class StreakStoreError(RuntimeError):
    pass


class Changes(Protocol):
    updates: pl.DataFrame
    audit: pl.DataFrame


T = TypeVar("T", bound=Changes)


@dataclass(frozen=True)
class StreakStore:
    warehouse: DuckDBWarehouse

    def ensure_tables(self) -> None:
        with self.warehouse.connect() as connection:
            _prepare(connection)

    def read_state(self) -> pl.DataFrame:
        with self.warehouse.connect() as connection:
            _prepare(connection)
            return _state(connection)

    def read_activity(self) -> pl.DataFrame:
        """Each user's latest snapshot; StreakStoreError names what is missing."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            exists = connection.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'sources' AND table_name = 'user_activity'"
            ).fetchall()[0][0]
            if not exists:
                raise StreakStoreError(
                    f"{ACTIVITY_TABLE} does not exist in {self.warehouse.path}:"
                    " run `campaigns demo-data` or load the activity table"
                )
            frame = _frame(
                connection.sql(
                    f"SELECT * FROM {ACTIVITY_TABLE} QUALIFY row_number() OVER "  # noqa: S608
                    "(PARTITION BY user_id ORDER BY activity_date DESC) = 1"
                )
            )
        missing = missing_columns(frame)
        if missing:
            raise StreakStoreError(
                f"{ACTIVITY_TABLE} lacks columns {missing}; expected "
                f"{ACTIVITY_SCHEMA.names()} (core/streaks/eligibility.py)"
            )
        return frame.select(ACTIVITY_SCHEMA.names()).cast(ACTIVITY_SCHEMA)

    def read_audit(self, run_id: str | None = None) -> pl.DataFrame:
        where, params = ("WHERE run_id = $run_id", {"run_id": run_id}) if run_id else ("", {})
        with self.warehouse.connect() as connection:
            _prepare(connection)
            sql = f"SELECT {_AUDIT_COLUMNS} FROM {AUDIT_TABLE} {where}"  # noqa: S608
            relation = connection.sql(f"{sql} ORDER BY recorded_at, user_id", params=params or None)
            return _frame(relation).cast(AUDIT_SCHEMA)

    def update(self, plan: Callable[[pl.DataFrame], T]) -> T:
        """Reads the state, lets ``plan`` decide, writes its updates and audit: one transaction.

        ``plan`` is pure computation; no network call or sleep happens while it holds the file.
        """
        with self.warehouse.connect() as connection:
            _prepare(connection)
            connection.begin()
            try:
                result = plan(_state(connection))
                _write(connection, result.updates, result.audit)
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
        return result

    def replace_state(self, state: pl.DataFrame) -> None:
        """Replaces the whole state (demo data, tests); the audit is left as it is."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            connection.begin()
            try:
                connection.execute(f"DELETE FROM {STATE_TABLE}")  # noqa: S608
                _insert(connection, STATE_TABLE, _STATE_COLUMNS, state.cast(STATE_SCHEMA))
                connection.commit()
            except BaseException:
                connection.rollback()
                raise

    def replace_activity(self, activity: pl.DataFrame) -> None:
        with self.warehouse.connect() as connection:
            _prepare(connection)
            connection.register("_activity", activity.cast(ACTIVITY_SCHEMA).to_arrow())
            connection.execute(
                f"CREATE OR REPLACE TABLE {ACTIVITY_TABLE} AS SELECT * FROM _activity"
            )  # noqa: S608
            connection.unregister("_activity")

    def state_counts(self) -> pl.DataFrame:
        with self.warehouse.connect() as connection:
            _prepare(connection)
            return _frame(
                connection.sql(
                    f"SELECT streak_type, streak_status, count(*) AS users, "  # noqa: S608
                    f"count(DISTINCT user_id) AS distinct_users FROM {STATE_TABLE} "
                    "GROUP BY ALL ORDER BY ALL"
                )
            )


def _prepare(connection: duckdb.DuckDBPyConnection) -> None:
    # UTC so TIMESTAMPTZ comes back as it went in, whatever the host's zone.
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(_DDL)


def _frame(relation: duckdb.DuckDBPyRelation) -> pl.DataFrame:
    return pl.from_arrow(relation.to_arrow_table())


def _state(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return _frame(connection.sql(f"SELECT {_STATE_COLUMNS} FROM {STATE_TABLE}")).cast(STATE_SCHEMA)  # noqa: S608


def _write(
    connection: duckdb.DuckDBPyConnection, updates: pl.DataFrame, audit: pl.DataFrame
) -> None:
    if updates.height:
        connection.register("_changed", updates.select("user_id").to_arrow())
        connection.execute(
            f"DELETE FROM {STATE_TABLE} WHERE user_id IN (SELECT user_id FROM _changed)"
        )  # noqa: S608
        connection.unregister("_changed")
        _insert(connection, STATE_TABLE, _STATE_COLUMNS, updates.cast(STATE_SCHEMA))
    if audit.height:
        _insert(connection, AUDIT_TABLE, _AUDIT_COLUMNS, audit.cast(AUDIT_SCHEMA))


def _insert(
    connection: duckdb.DuckDBPyConnection, table: str, columns: str, frame: pl.DataFrame
) -> None:
    """Bulk insert from Arrow; ``table`` and ``columns`` are constants of this module."""
    connection.register("_rows", frame.select(columns.split(", ")).to_arrow())
    connection.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _rows")  # noqa: S608
    connection.unregister("_rows")
