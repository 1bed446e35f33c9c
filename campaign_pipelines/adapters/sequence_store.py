"""Sequence state in the DuckDB warehouse (``campaign_ops``):

- ``signups``: append-only, every signup with its arrival and outcome (enrolled | duplicate);
- ``enrollments``: one per address_key × sequence: segment, status (active | cancelled), the
  CRITICAL alert's state (none | pending | sent | skipped | failed);
- ``email_ledger``: one row per enrollment × e-mail number, idempotency_key, due_at, state
  queued → sending → sent | failed | suppressed, attempts, provider_message_id, last_error;
- ``email_suppressions``: addresses that get no further e-mail, with why;
- ``email_sequences``: the tracking table, per enrollment its segment and email_1..7_sent_at,
  and ``synced_at``: the ``updated_at`` last copied to the optional Notion mirror.

Each method is one unit of work on its own connection, and every change one transaction of
set operations over Arrow batches (``_with_rows``); nothing here holds a connection across a
send, which happens between ``claim_due`` and ``record_results``. ``claim_due`` marks rows
``sending`` in the transaction that decided them, so two overlapping runs never claim one row.

The due marker (``next_due.json`` beside the warehouse): sensors must not open the warehouse,
so each write leaves the earliest moment something will be due (a queued row, a claim whose
lease runs out, a pending alert). A new enrollment lowers it before its COMMIT and every
change writes the exact value after it: a crash in between leaves it early, never late.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from campaign_pipelines.adapters.atomic_write import write_bytes_atomic
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse, transaction
from campaign_pipelines.core.sequences.plan import (
    ADDRESS_SUPPRESSED,
    ENROLLMENT_CLOSED,
    ENROLLMENT_SCHEMA,
    LEDGER_SCHEMA,
    SENDING_LEASE,
    SIGNUP_SCHEMA,
    Due,
    Enrolment,
)

SIGNUPS = "campaign_ops.signups"
ENROLLMENTS = "campaign_ops.enrollments"
LEDGER = "campaign_ops.email_ledger"
SUPPRESSIONS = "campaign_ops.email_suppressions"
TRACKING = "campaign_ops.email_sequences"
_SENT_COLUMNS = ", ".join(f"email_{n}_sent_at TIMESTAMPTZ" for n in range(1, 8))

DDL = f"""
CREATE SCHEMA IF NOT EXISTS campaign_ops;
CREATE TABLE IF NOT EXISTS {SIGNUPS} (
    signup_id VARCHAR PRIMARY KEY, received_at TIMESTAMPTZ NOT NULL, sequence VARCHAR NOT NULL,
    address_key VARCHAR NOT NULL, email VARCHAR NOT NULL, first_name VARCHAR,
    business_name VARCHAR, red_systems INTEGER, orange_systems INTEGER, segment VARCHAR,
    assessment VARCHAR, source_file VARCHAR, arrival VARCHAR, outcome VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS {ENROLLMENTS} (
    enrollment_id VARCHAR PRIMARY KEY, sequence VARCHAR NOT NULL, address_key VARCHAR NOT NULL,
    email VARCHAR NOT NULL, first_name VARCHAR, business_name VARCHAR,
    segment VARCHAR NOT NULL, red_systems INTEGER, orange_systems INTEGER,
    signup_id VARCHAR NOT NULL, enrolled_at TIMESTAMPTZ NOT NULL, timing VARCHAR NOT NULL,
    status VARCHAR NOT NULL, alert_state VARCHAR NOT NULL, alert_attempts INTEGER NOT NULL,
    alert_error VARCHAR, updated_at TIMESTAMPTZ NOT NULL, UNIQUE (sequence, address_key));
CREATE TABLE IF NOT EXISTS {LEDGER} (
    idempotency_key VARCHAR PRIMARY KEY, enrollment_id VARCHAR NOT NULL,
    sequence VARCHAR NOT NULL, address_key VARCHAR NOT NULL, email_number INTEGER NOT NULL,
    due_at TIMESTAMPTZ NOT NULL, state VARCHAR NOT NULL, attempts INTEGER NOT NULL,
    provider VARCHAR, provider_message_id VARCHAR, last_error VARCHAR,
    claimed_at TIMESTAMPTZ, sent_at TIMESTAMPTZ, created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL, UNIQUE (enrollment_id, email_number));
CREATE TABLE IF NOT EXISTS {SUPPRESSIONS} (
    address_key VARCHAR PRIMARY KEY, reason VARCHAR NOT NULL, source VARCHAR,
    received_at TIMESTAMPTZ, recorded_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS {TRACKING} (
    enrollment_id VARCHAR PRIMARY KEY, sequence VARCHAR NOT NULL, address_key VARCHAR NOT NULL,
    segment VARCHAR NOT NULL, {_SENT_COLUMNS}, updated_at TIMESTAMPTZ NOT NULL);
ALTER TABLE {TRACKING} ADD COLUMN IF NOT EXISTS synced_at TIMESTAMPTZ;
"""
PREVIEW_CAP = 100_000  # rows a dry run lists at most
_SIGNUP_COLUMNS = ", ".join(SIGNUP_SCHEMA.names())
_ENROLLMENT_COLUMNS = ", ".join(ENROLLMENT_SCHEMA.names())
_LEDGER_COLUMNS = ", ".join(LEDGER_SCHEMA.names())

_NEW_SIGNUPS = f"SELECT * FROM _rows WHERE signup_id NOT IN (SELECT signup_id FROM {SIGNUPS})"  # noqa: S608
_ENROLLED_PAIRS = (
    f"SELECT e.sequence, e.address_key FROM {ENROLLMENTS} e "  # noqa: S608
    "JOIN (SELECT DISTINCT sequence, address_key FROM _rows) r USING (sequence, address_key)")
_INSERT_SIGNUPS = f"INSERT INTO {SIGNUPS} ({_SIGNUP_COLUMNS}) SELECT {_SIGNUP_COLUMNS} FROM _rows"  # noqa: S608
_INSERT_ENROLLMENTS = (
    f"INSERT INTO {ENROLLMENTS} ({_ENROLLMENT_COLUMNS}) "  # noqa: S608
    f"SELECT {_ENROLLMENT_COLUMNS} FROM _rows")
_INSERT_LEDGER = f"INSERT INTO {LEDGER} ({_LEDGER_COLUMNS}) SELECT {_LEDGER_COLUMNS} FROM _rows"  # noqa: S608
_INSERT_TRACKING = (
    f"INSERT INTO {TRACKING} (enrollment_id, sequence, address_key, segment, updated_at) "  # noqa: S608
    "SELECT enrollment_id, sequence, address_key, segment, updated_at FROM _rows")
_CANDIDATES = f"""
SELECT l.idempotency_key, l.enrollment_id, l.email_number, l.state, l.due_at, l.claimed_at,
       l.attempts, e.status AS enrollment_status, s.address_key IS NOT NULL AS suppressed,
       l.sequence, e.email, e.first_name, e.business_name, e.segment, e.red_systems,
       e.orange_systems, l.address_key
FROM {LEDGER} l JOIN {ENROLLMENTS} e USING (enrollment_id)
LEFT JOIN {SUPPRESSIONS} s ON s.address_key = l.address_key
WHERE l.due_at <= $now
  AND (l.state = 'queued' OR (l.state = 'sending' AND l.claimed_at <= $now - $lease))
ORDER BY l.due_at, l.enrollment_id, l.email_number LIMIT $cap
"""  # noqa: S608
_CLOSE = f"""
UPDATE {LEDGER} SET state = $state, last_error = r.last_error, updated_at = $now
FROM _rows r WHERE {LEDGER}.idempotency_key = r.idempotency_key
"""  # noqa: S608
_CLAIM = f"""
UPDATE {LEDGER} SET state = 'sending', attempts = attempts + 1, claimed_at = $now,
       updated_at = $now
FROM _rows r WHERE {LEDGER}.idempotency_key = r.idempotency_key
"""  # noqa: S608
# A result never undoes a ``sent`` (a second sender of a retaken claim reports the same key).
_RECORD = f"""
UPDATE {LEDGER} SET state = r.state, provider = r.provider,
       provider_message_id = coalesce(r.provider_message_id, {LEDGER}.provider_message_id),
       last_error = r.last_error, sent_at = r.sent_at, updated_at = $now
FROM _rows r WHERE {LEDGER}.idempotency_key = r.idempotency_key AND {LEDGER}.state <> 'sent'
"""  # noqa: S608
_TRACK = f"""
UPDATE {TRACKING} t SET {", ".join(
    f"email_{n}_sent_at = coalesce(t.email_{n}_sent_at, (SELECT min(l.sent_at) FROM {LEDGER} l "
    f"WHERE l.enrollment_id = t.enrollment_id AND l.email_number = {n} AND l.state = 'sent'))"
    for n in range(1, 8))}, updated_at = now()
WHERE t.enrollment_id IN (SELECT DISTINCT enrollment_id FROM {LEDGER} l
                          JOIN _rows r USING (idempotency_key))
"""  # noqa: S608
_NEXT_DUE = f"""
SELECT min(moment) FROM (
  SELECT min(due_at) AS moment FROM {LEDGER} WHERE state = 'queued'
  UNION ALL SELECT min(claimed_at) + $lease FROM {LEDGER} WHERE state = 'sending'
  UNION ALL SELECT min(updated_at) FROM {ENROLLMENTS} WHERE alert_state = 'pending') AS due
"""  # noqa: S608
_SUPPRESS = f"""
INSERT INTO {SUPPRESSIONS} (address_key, reason, source, received_at, recorded_at)
SELECT address_key, any_value(reason), any_value(source), min(received_at), $now FROM _rows
WHERE address_key NOT IN (SELECT address_key FROM {SUPPRESSIONS}) GROUP BY address_key
"""  # noqa: S608
_SUPPRESS_LEDGER = f"""
UPDATE {LEDGER} SET state = 'suppressed', last_error = $reason, updated_at = $now
WHERE state = 'queued' AND address_key IN (SELECT address_key FROM {SUPPRESSIONS})
"""  # noqa: S608
_CANCEL = f"""
UPDATE {ENROLLMENTS} SET status = 'cancelled', updated_at = $now
WHERE address_key = $key AND status = 'active' RETURNING enrollment_id
"""  # noqa: S608
_CANCEL_LEDGER = f"""
UPDATE {LEDGER} SET state = 'suppressed', last_error = $reason, updated_at = $now
WHERE address_key = $key AND state = 'queued'
"""  # noqa: S608
_PENDING_ALERTS = (
    f"SELECT enrollment_id, sequence, address_key, email, first_name, business_name, "  # noqa: S608
    f"segment, red_systems, orange_systems, signup_id, alert_attempts FROM {ENROLLMENTS} "
    "WHERE alert_state = 'pending' ORDER BY enrolled_at")
_RECORD_ALERTS = f"""
UPDATE {ENROLLMENTS} SET alert_state = r.alert_state, alert_error = r.alert_error,
       alert_attempts = alert_attempts + 1, updated_at = $now
FROM _rows r WHERE {ENROLLMENTS}.enrollment_id = r.enrollment_id
"""  # noqa: S608
_UNSYNCED = (
    f"SELECT t.*, e.email FROM {TRACKING} t JOIN {ENROLLMENTS} e USING (enrollment_id) "  # noqa: S608
    "WHERE t.synced_at IS NULL OR t.synced_at < t.updated_at ORDER BY t.updated_at LIMIT $cap")
_SYNCED = f"""
UPDATE {TRACKING} SET synced_at = r.synced_at FROM _rows r
WHERE {TRACKING}.enrollment_id = r.enrollment_id
"""  # noqa: S608
_TRACKED = f"""
SELECT count(*), {", ".join(f"count(email_{n}_sent_at)" for n in range(1, 8))} FROM {TRACKING}
"""  # noqa: S608
_RESULT_SCHEMA = pl.Schema({
    "idempotency_key": pl.String, "state": pl.String, "provider": pl.String,
    "provider_message_id": pl.String, "last_error": pl.String,
    "sent_at": LEDGER_SCHEMA["sent_at"]})


@dataclass(frozen=True)
class SequenceStore:
    warehouse: DuckDBWarehouse
    marker: Path | None = None  # next_due.json; None: not kept (tests of the tables alone)

    def ensure_tables(self) -> None:
        with self.warehouse.connect() as connection:
            _prepare(connection)

    def admit(self, signups: pl.DataFrame,
              plan: Callable[[pl.DataFrame, pl.DataFrame], Enrolment]) -> Enrolment:
        """Signups not recorded before (by signup_id: a rerun of a file adds nothing) are
        decided by ``plan(new_signups, enrolled_pairs)`` and written, in one transaction."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            with transaction(connection):
                connection.register("_rows", signups.cast(SIGNUP_SCHEMA).to_arrow())
                new = _frame(connection.sql(_NEW_SIGNUPS)).cast(SIGNUP_SCHEMA)
                connection.register("_rows", new.to_arrow())
                result = plan(new, _frame(connection.sql(_ENROLLED_PAIRS)))
                _with_rows(connection, result.signups, _INSERT_SIGNUPS)
                _with_rows(connection, result.enrollments, _INSERT_ENROLLMENTS)
                _with_rows(connection, result.ledger, _INSERT_LEDGER)
                _with_rows(connection, result.enrollments, _INSERT_TRACKING)
                if result.ledger.height:
                    self._lower_marker(result.ledger["due_at"].min())
            self._write_marker(connection)
        return result

    def claim_due(self, now: datetime, decide: Callable[[pl.DataFrame, datetime], Due],
                  limit: int) -> tuple[pl.DataFrame, Due]:
        """Up to ``limit`` due rows marked ``sending`` (returned with their recipients), the
        suppressed and given-up ones closed: one transaction."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            with transaction(connection):
                due = decide(_candidates(connection, now, cap=limit * 4), now)
                claimed = due.send.head(limit)
                _with_rows(connection, claimed.select("idempotency_key"), _CLAIM, {"now": now})
                _with_rows(connection, due.suppress, _CLOSE, {"now": now, "state": "suppressed"})
                _with_rows(connection, due.give_up, _CLOSE, {"now": now, "state": "failed"})
            self._write_marker(connection)
        return claimed, due

    def preview_due(self, now: datetime, decide: Callable[[pl.DataFrame, datetime], Due]) -> Due:
        with self.warehouse.connect() as connection:
            _prepare(connection)
            return decide(_candidates(connection, now, cap=PREVIEW_CAP), now)

    def record_results(self, results: pl.DataFrame, now: datetime) -> None:
        """Each sent, failed or released (back to ``queued``) row, and the tracking table."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            with transaction(connection):
                rows = results.select(_RESULT_SCHEMA.names()).cast(_RESULT_SCHEMA)
                _with_rows(connection, rows, _RECORD, {"now": now})
                # updated_at is the clock's, not ``now``: a rerun at the same --now still
                # marks the row changed for the tracking mirror.
                _with_rows(connection, rows.filter(pl.col("state") == "sent"), _TRACK)
            self._write_marker(connection)

    def suppress(self, rows: pl.DataFrame, now: datetime) -> int:
        """address_key, reason, source, received_at: addresses that get no further e-mail;
        their queued rows are suppressed at once (``status`` shows it)."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            with transaction(connection):
                before = connection.execute(f"SELECT count(*) FROM {SUPPRESSIONS}").fetchall()[0]  # noqa: S608
                _with_rows(connection, rows, _SUPPRESS, {"now": now})
                after = connection.execute(f"SELECT count(*) FROM {SUPPRESSIONS}").fetchall()[0]  # noqa: S608
                connection.execute(_SUPPRESS_LEDGER, {"now": now, "reason": ADDRESS_SUPPRESSED})
            self._write_marker(connection)
        return int(after[0]) - int(before[0])

    def cancel(self, key: str, now: datetime) -> int:
        """Cancels the address's active enrollments; their queued e-mails are suppressed."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            with transaction(connection):
                cancelled = connection.execute(_CANCEL, {"key": key, "now": now}).fetchall()
                connection.execute(_CANCEL_LEDGER, {"key": key, "now": now,
                                                    "reason": ENROLLMENT_CLOSED + "cancelled"})
            self._write_marker(connection)
        return len(cancelled)

    def pending_alerts(self) -> pl.DataFrame:
        with self.warehouse.connect() as connection:
            _prepare(connection)
            return _frame(connection.sql(_PENDING_ALERTS))

    def record_alerts(self, results: pl.DataFrame, now: datetime) -> None:
        """enrollment_id, alert_state, alert_error for each alert tried."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            with transaction(connection):
                _with_rows(connection, results, _RECORD_ALERTS, {"now": now})
            self._write_marker(connection)

    def unsynced_tracking(self, cap: int) -> pl.DataFrame:
        """Tracking rows changed since they were last mirrored, oldest change first."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            return _frame(connection.sql(_UNSYNCED, params={"cap": cap}))

    def record_synced(self, rows: pl.DataFrame) -> None:
        """enrollment_id, synced_at (the updated_at that was copied)."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            _with_rows(connection, rows, _SYNCED)

    def table(self, name: str, address_key: str | None = None) -> pl.DataFrame:
        """One of this module's tables, whole or one address's rows (status, tests)."""
        if name not in (SIGNUPS, ENROLLMENTS, LEDGER, SUPPRESSIONS, TRACKING):
            raise ValueError(f"not a sequences table: {name}")
        with self.warehouse.connect() as connection:
            _prepare(connection)
            relation = connection.sql(f"SELECT * FROM {name}")  # noqa: S608
            if address_key is not None:
                relation = relation.filter(duckdb.ColumnExpression("address_key")
                                           == duckdb.ConstantExpression(address_key))
            return _frame(relation)

    def counts(self) -> dict:
        """What the UI shows: enrollments per segment and status, ledger rows per state."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            segments = connection.execute(
                f"SELECT segment, status, count(*) FROM {ENROLLMENTS} GROUP BY ALL ORDER BY ALL"  # noqa: S608
            ).fetchall()
            states = connection.execute(
                f"SELECT state, count(*) FROM {LEDGER} GROUP BY ALL ORDER BY ALL").fetchall()  # noqa: S608
        return {"enrollments": {f"{s}/{st}": n for s, st, n in segments},
                "ledger": dict(states)}

    def tracking_counts(self) -> tuple[int, dict[str, int]]:
        """Enrollments tracked, and per e-mail (``email_1`` …) how many of them were sent."""
        with self.warehouse.connect() as connection:
            _prepare(connection)
            total, *sent = connection.execute(_TRACKED).fetchall()[0]
        return int(total), {f"email_{n}": int(c) for n, c in enumerate(sent, start=1)}

    def next_due(self) -> datetime | None:
        """From the marker file (no warehouse): None when nothing will ever be due."""
        if self.marker is None or not self.marker.exists():
            return None
        at = json.loads(self.marker.read_text())["next_due"]
        return datetime.fromisoformat(at) if at else None

    def _write_marker(self, connection: duckdb.DuckDBPyConnection) -> None:
        # Written while the connection (and so DuckDB's file lock) is still held: two writers'
        # markers then land in their commits' order, and a stale value never overwrites
        # a newer one (which could leave the marker late).
        if self.marker is not None:
            at = connection.execute(_NEXT_DUE, {"lease": SENDING_LEASE}).fetchall()[0][0]  # type: ignore[index]
            self._marker_at(at)

    def _lower_marker(self, at: datetime) -> None:
        if self.marker is not None:
            current = self.next_due()
            self._marker_at(min(at, current) if current else at)

    def _marker_at(self, at: datetime | None) -> None:
        assert self.marker is not None
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        body = {"next_due": at.isoformat() if at else None}
        write_bytes_atomic(self.marker, json.dumps(body).encode(), mode=0o644)


def _candidates(connection: duckdb.DuckDBPyConnection, now: datetime, cap: int) -> pl.DataFrame:
    """The first ``cap`` rows that may be due (the core decides which are): a backlog is
    read a batch at a time, not whole for every batch."""
    return _frame(connection.sql(_CANDIDATES, params={"now": now, "lease": SENDING_LEASE,
                                                      "cap": cap}))


def _prepare(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(DDL)


def _frame(relation) -> pl.DataFrame:
    return pl.from_arrow(relation.to_arrow_table())  # type: ignore[return-value]


def _with_rows(connection: duckdb.DuckDBPyConnection, frame: pl.DataFrame, sql: str,
               parameters: dict | None = None) -> None:
    """Runs ``sql`` with ``frame`` visible as ``_rows`` (Arrow, no per-row insert)."""
    if frame.height:
        connection.register("_rows", frame.to_arrow())
        connection.execute(sql, parameters or {})
