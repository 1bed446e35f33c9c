"""Streak state in the DuckDB warehouse: ``campaign_ops.user_streak_state`` (one row per user),
``campaign_ops.streak_audit`` (append-only) and reads of ``sources.user_activity``.

Tables are created idempotently by every unit of work, so a fresh warehouse needs no setup step.
A change is one transaction: the state rows of the changed users are deleted and inserted
again from an Arrow batch, and the audit rows appended, so a reader sees the day before or
the day after, never half a run. ``update`` reads the state inside that same transaction, so
two writers (the daily run, a manual file) cannot overwrite each other's moves. The audit is
never updated or deleted here. Every SQL text below is a constant of this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import duckdb
import polars as pl

from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse, transaction
from campaign_pipelines.adapters.warehouse.duckdb_read import present_tables
from campaign_pipelines.core.streaks.eligibility import ACTIVITY_SCHEMA, missing_columns
from campaign_pipelines.core.streaks.engine import AUDIT_SCHEMA, STATE_SCHEMA

STATE_TABLE = "campaign_ops.user_streak_state"
AUDIT_TABLE = "campaign_ops.streak_audit"
ACTIVITY_TABLE = "sources.user_activity"
_STATE_COLUMNS = ", ".join(STATE_SCHEMA.names())
_AUDIT_COLUMNS = ", ".join(AUDIT_SCHEMA.names())

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
_LATEST_ACTIVITY = (
    f"SELECT * FROM {ACTIVITY_TABLE} QUALIFY row_number() "  # noqa: S608
    "OVER (PARTITION BY user_id ORDER BY activity_date DESC) = 1"
)
_REPLACE_ACTIVITY = f"CREATE OR REPLACE TABLE {ACTIVITY_TABLE} AS SELECT * FROM _rows"  # noqa: S608
_SELECT_STATE = f"SELECT {_STATE_COLUMNS} FROM {STATE_TABLE}"  # noqa: S608
_CLEAR_STATE = f"DELETE FROM {STATE_TABLE}"  # noqa: S608
_DELETE_CHANGED = f"DELETE FROM {STATE_TABLE} WHERE user_id IN (SELECT user_id FROM _changed)"  # noqa: S608
_INSERT_STATE = f"INSERT INTO {STATE_TABLE} ({_STATE_COLUMNS}) SELECT {_STATE_COLUMNS} FROM _rows"  # noqa: S608
_INSERT_AUDIT = f"INSERT INTO {AUDIT_TABLE} ({_AUDIT_COLUMNS}) SELECT {_AUDIT_COLUMNS} FROM _rows"  # noqa: S608
_SELECT_AUDIT = f"SELECT {_AUDIT_COLUMNS} FROM {AUDIT_TABLE}"  # noqa: S608
_STATE_COUNTS = (
    f"SELECT streak_type, streak_status, count(*) AS users FROM {STATE_TABLE} "  # noqa: S608
    "GROUP BY ALL ORDER BY ALL"
)
# Rows beyond one per user, across all streaks (a user in two streaks counts here too).
_EXTRA_STATE_ROWS = f"SELECT count(*) - count(DISTINCT user_id) FROM {STATE_TABLE}"  # noqa: S608


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
            return _frame(connection.sql(_SELECT_STATE)).cast(STATE_SCHEMA)

    def read_activity(self) -> pl.DataFrame:
        """Each user's latest snapshot; StreakStoreError names what is missing."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            if ACTIVITY_TABLE not in present_tables(connection):
                raise StreakStoreError(
                    f"{ACTIVITY_TABLE} does not exist in {self.warehouse.path}: "
                    "run `campaigns demo-data` or load the activity table")
            frame = _frame(connection.sql(_LATEST_ACTIVITY))
        missing = missing_columns(frame)
        if missing:
            raise StreakStoreError(
                f"{ACTIVITY_TABLE} lacks columns {missing}; expected "
                f"{ACTIVITY_SCHEMA.names()} (core/streaks/eligibility.py)")
        return frame.select(ACTIVITY_SCHEMA.names()).cast(ACTIVITY_SCHEMA)

    def read_audit(self, run_id: str | None = None) -> pl.DataFrame:
        with self.warehouse.connect() as connection:
            _prepare(connection)
            relation = connection.sql(_SELECT_AUDIT)
            if run_id is not None:
                relation = relation.filter(duckdb.ColumnExpression("run_id")
                                           == duckdb.ConstantExpression(run_id))
            frame = _frame(relation.order("recorded_at, user_id"))
        return frame.cast(AUDIT_SCHEMA)

    def update(self, plan: Callable[[pl.DataFrame], T]) -> T:
        """Reads the state, lets ``plan`` decide, writes its updates and audit: one transaction.

        ``plan`` is pure computation; no network call or sleep happens while it holds the file.
        """
        with self.warehouse.connect() as connection:
            _prepare(connection)
            with transaction(connection):
                result = plan(_frame(connection.sql(_SELECT_STATE)).cast(STATE_SCHEMA))
                if result.updates.height:
                    _with_rows(connection, "_changed", result.updates.select("user_id"),
                               _DELETE_CHANGED)
                    _with_rows(connection, "_rows", result.updates.cast(STATE_SCHEMA),
                               _INSERT_STATE)
                if result.audit.height:
                    _with_rows(connection, "_rows", result.audit.cast(AUDIT_SCHEMA),
                               _INSERT_AUDIT)
        return result

    def replace_state(self, state: pl.DataFrame) -> None:
        """Replaces the whole state (demo data, tests); the audit is left as it is."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            with transaction(connection):
                connection.execute(_CLEAR_STATE)
                _with_rows(connection, "_rows", state.cast(STATE_SCHEMA), _INSERT_STATE)

    def replace_activity(self, activity: pl.DataFrame) -> None:
        with self.warehouse.connect() as connection:
            _prepare(connection)
            _with_rows(connection, "_rows", activity.cast(ACTIVITY_SCHEMA), _REPLACE_ACTIVITY)

    def state_counts(self) -> pl.DataFrame:
        with self.warehouse.connect() as connection:
            _prepare(connection)
            return _frame(connection.sql(_STATE_COUNTS))

    def extra_state_rows(self) -> int:
        """State rows beyond one per user: 0 unless something wrote a user twice."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            return int(connection.execute(_EXTRA_STATE_ROWS).fetchone()[0])


def _prepare(connection: duckdb.DuckDBPyConnection) -> None:
    # UTC so TIMESTAMPTZ comes back as it went in, whatever the host's zone.
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(_DDL)


def _frame(relation: duckdb.DuckDBPyRelation) -> pl.DataFrame:
    return pl.from_arrow(relation.to_arrow_table())


def _with_rows(connection: duckdb.DuckDBPyConnection, view: str, frame: pl.DataFrame,
               sql: str) -> None:
    """Runs ``sql`` with ``frame`` visible as ``view`` (Arrow, no per-row insert). The view
    lives until the connection closes at the end of the unit of work (registering the same
    name again replaces it); unregistering inside a failed transaction would hide its error."""
    connection.register(view, frame.to_arrow())
    connection.execute(sql)
