"""The SQL of adapters/sms_store.py and the bodies of its units of work: the four
``campaign_ops`` tables and the set operations over them, each function run on a connection
inside the store's transaction. Every statement that takes rows reads them from ``_rows``
(an Arrow batch registered by ``with_rows``); nothing here loops over rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import polars as pl

from campaign_pipelines.adapters.sms_store_events import decide_inbound, decide_receipts
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.sms.ledger import Counters, counters, run_result
from campaign_pipelines.core.sms.lifecycle import Status

CAMPAIGNS = "campaign_ops.sms_campaigns"
LEDGER = "campaign_ops.sms_ledger"
SUPPRESSIONS = "campaign_ops.sms_suppressions"
EVENTS = "campaign_ops.sms_events"

COUNTER_COLUMNS = ("total_queued", "sent", "delivered", "failed", "suppressed", "replies",
                   "opt_outs", "invalid_numbers", "duplicate_numbers")

DDL = f"""
CREATE SCHEMA IF NOT EXISTS campaign_ops;
CREATE TABLE IF NOT EXISTS {CAMPAIGNS} (
    name VARCHAR PRIMARY KEY, version VARCHAR NOT NULL, template VARCHAR NOT NULL,
    sender VARCHAR NOT NULL, start_at TIMESTAMPTZ NOT NULL, end_at TIMESTAMPTZ,
    status VARCHAR NOT NULL, throttle_per_second DOUBLE,
    prospects_kind VARCHAR NOT NULL, prospects_value VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, activated_at TIMESTAMPTZ, completed_at TIMESTAMPTZ,
    paused_at TIMESTAMPTZ, cancelled_at TIMESTAMPTZ, last_run_at TIMESTAMPTZ,
    last_run_result VARCHAR,
    {", ".join(f"{c} BIGINT NOT NULL DEFAULT 0" for c in COUNTER_COLUMNS)},
    delivery_rate DOUBLE NOT NULL DEFAULT 0, opt_out_rate DOUBLE NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS {LEDGER} (
    campaign VARCHAR NOT NULL, phone_e164 VARCHAR NOT NULL,
    idempotency_key VARCHAR NOT NULL UNIQUE, first_name VARCHAR, state VARCHAR NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, claimed_at TIMESTAMPTZ, claimed_by VARCHAR,
    provider_message_id VARCHAR, last_error VARCHAR, queued_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ, final_at TIMESTAMPTZ, PRIMARY KEY (campaign, phone_e164));
CREATE TABLE IF NOT EXISTS {SUPPRESSIONS} (
    phone_e164 VARCHAR PRIMARY KEY, reason VARCHAR NOT NULL, source VARCHAR,
    suppressed_at TIMESTAMPTZ NOT NULL);
CREATE TABLE IF NOT EXISTS {EVENTS} (
    event_id VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, provider_message_id VARCHAR,
    phone_e164 VARCHAR, body VARCHAR, status VARCHAR, received_at TIMESTAMPTZ NOT NULL,
    source_file VARCHAR, campaign VARCHAR, outcome VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL);
"""

CAMPAIGN_FIELDS = ("name", "version", "template", "sender", "start_at", "end_at",
                   "throttle_per_second", "prospects_kind", "prospects_value")
INSERT_CAMPAIGN = f"""
INSERT INTO {CAMPAIGNS} ({", ".join(CAMPAIGN_FIELDS)}, status, created_at, updated_at)
SELECT {", ".join(CAMPAIGN_FIELDS)}, 'Scheduled', $now, $now FROM _rows
"""  # noqa: S608
REPLACE_CAMPAIGN = f"""
UPDATE {CAMPAIGNS} SET {", ".join(f"{c} = r.{c}" for c in CAMPAIGN_FIELDS[1:])},
       updated_at = $now
FROM _rows r WHERE {CAMPAIGNS}.name = r.name
"""  # noqa: S608
CAMPAIGN = f"SELECT * FROM {CAMPAIGNS} WHERE name = $name"  # noqa: S608
ALL_CAMPAIGNS = f"SELECT * FROM {CAMPAIGNS} ORDER BY start_at, name"  # noqa: S608
STATUS = f"SELECT status, end_at, start_at FROM {CAMPAIGNS} WHERE name = $name"  # noqa: S608
# One statement per command: the column it stamps is the command's (see _STAMPS).
SET_STATUS = f"""
UPDATE {CAMPAIGNS} SET status = $status, updated_at = $now,
       activated_at = CASE WHEN $stamp = 'activated_at' THEN $now ELSE activated_at END,
       paused_at = CASE WHEN $stamp = 'paused_at' THEN $now ELSE paused_at END,
       completed_at = CASE WHEN $stamp = 'completed_at' THEN $now ELSE completed_at END,
       cancelled_at = CASE WHEN $stamp = 'cancelled_at' THEN $now ELSE cancelled_at END
WHERE name = $name
"""  # noqa: S608
EXPIRE = f"""
UPDATE {LEDGER} SET state = 'expired', final_at = $now,
       last_error = 'the campaign ended (end_at) before this message was sent'
WHERE campaign = $name AND state = 'queued'
"""  # noqa: S608

QUEUE = f"""
INSERT INTO {LEDGER} (campaign, phone_e164, idempotency_key, first_name, state, queued_at)
SELECT $name, r.phone_e164, r.idempotency_key, r.first_name, 'queued', $now FROM _rows r
WHERE NOT EXISTS (SELECT 1 FROM {LEDGER} l
                  WHERE l.campaign = $name AND l.phone_e164 = r.phone_e164)
"""  # noqa: S608
LEDGER_COUNT = f"SELECT count(*) FROM {LEDGER} WHERE campaign = $name"  # noqa: S608
SET_NUMBER_COUNTS = f"""
UPDATE {CAMPAIGNS} SET invalid_numbers = $invalid, duplicate_numbers = $duplicate
WHERE name = $name
"""  # noqa: S608

# The next queued rows in the order they were queued (DuckDB keeps insertion order without
# an ORDER BY, and a top-N sort over a 100,000-row campaign costs 8 ms a claim), with the
# suppression (if any) of their numbers: the send-time check.
CANDIDATES = f"""
WITH next AS (
  SELECT idempotency_key, phone_e164, first_name, row_number() OVER () AS position
  FROM (SELECT idempotency_key, phone_e164, first_name FROM {LEDGER}
        WHERE campaign = $name AND state = 'queued' LIMIT $n))
SELECT n.idempotency_key, n.phone_e164, n.first_name, s.reason AS suppressed_reason
FROM next n LEFT JOIN {SUPPRESSIONS} s USING (phone_e164) ORDER BY n.position
"""  # noqa: S608
CLAIM = f"""
UPDATE {LEDGER} SET state = 'sending', attempts = attempts + 1, claimed_at = $now,
       claimed_by = $claimer, last_error = NULL
FROM _rows r WHERE {LEDGER}.idempotency_key = r.idempotency_key AND {LEDGER}.state = 'queued'
"""  # noqa: S608
SUPPRESS_AT_CLAIM = f"""
UPDATE {LEDGER} SET state = 'suppressed', final_at = $now,
       last_error = 'the number is suppressed (' || r.suppressed_reason || ')'
FROM _rows r WHERE {LEDGER}.idempotency_key = r.idempotency_key AND {LEDGER}.state = 'queued'
"""  # noqa: S608
# A result lands only on the row its runner claimed: a row reconciled meanwhile is not undone.
RECORD = f"""
UPDATE {LEDGER} SET state = r.state, provider_message_id = r.provider_message_id,
       last_error = r.last_error, sent_at = r.sent_at,
       final_at = CASE WHEN r.state IN ('queued', 'sending') THEN NULL ELSE $now END,
       claimed_by = CASE WHEN r.state = 'queued' THEN NULL ELSE {LEDGER}.claimed_by END
FROM _rows r WHERE {LEDGER}.idempotency_key = r.idempotency_key
  AND {LEDGER}.state = 'sending' AND {LEDGER}.claimed_by = $claimer
"""  # noqa: S608
SUPPRESS = f"""
INSERT INTO {SUPPRESSIONS} (phone_e164, reason, source, suppressed_at)
SELECT phone_e164, any_value(reason), any_value(source), $now FROM _rows
WHERE phone_e164 NOT IN (SELECT phone_e164 FROM {SUPPRESSIONS}) GROUP BY phone_e164
"""  # noqa: S608
UNSUPPRESS = f"""
DELETE FROM {SUPPRESSIONS} WHERE phone_e164 IN (SELECT phone_e164 FROM _rows)
  AND list_contains($reasons, reason)
"""  # noqa: S608
SUPPRESSED_AMONG = f"""
SELECT s.phone_e164, s.reason FROM {SUPPRESSIONS} s
WHERE s.phone_e164 IN (SELECT phone_e164 FROM _rows)
"""  # noqa: S608
SUPPRESSION = f"SELECT * FROM {SUPPRESSIONS} WHERE phone_e164 = $phone"  # noqa: S608

SENDING = f"""
SELECT idempotency_key, phone_e164, first_name, claimed_at, claimed_by FROM {LEDGER}
WHERE campaign = $name AND state = 'sending' ORDER BY claimed_at, phone_e164
"""  # noqa: S608
STATES = f"SELECT state, count(*) FROM {LEDGER} WHERE campaign = $name GROUP BY state"  # noqa: S608
INBOUND_COUNTS = f"""
SELECT count(*) FILTER (WHERE outcome IN ('reply', 'opt_out', 'opt_in')),
       count(*) FILTER (WHERE outcome = 'opt_out')
FROM {EVENTS} WHERE campaign = $name AND kind = 'inbound'
"""  # noqa: S608
SET_COUNTERS = f"""
UPDATE {CAMPAIGNS} SET total_queued = $total_queued, sent = $sent, delivered = $delivered,
       failed = $failed, suppressed = $suppressed, replies = $replies, opt_outs = $opt_outs,
       delivery_rate = $delivery_rate, opt_out_rate = $opt_out_rate,
       last_run_at = coalesce($last_run_at, last_run_at),
       last_run_result = coalesce($last_run_result, last_run_result)
WHERE name = $name
"""  # noqa: S608

EVENT_COLUMNS = ("event_id", "kind", "provider_message_id", "phone_e164", "body", "status",
                 "received_at", "source_file")
NEW_EVENTS = f"SELECT * FROM _rows WHERE event_id NOT IN (SELECT event_id FROM {EVENTS})"  # noqa: S608
RECEIPT_ROWS = f"""
SELECT l.provider_message_id, l.campaign, l.state FROM {LEDGER} l
WHERE l.provider_message_id IN (SELECT provider_message_id FROM _rows)
"""  # noqa: S608
APPLY_RECEIPTS = f"""
UPDATE {LEDGER} SET state = r.state FROM _rows r
WHERE {LEDGER}.provider_message_id = r.provider_message_id
"""  # noqa: S608
# The campaign an inbound message answers: the latest accepted message to that number.
REPLY_CAMPAIGNS = f"""
SELECT r.event_id, arg_max(l.campaign, l.sent_at) AS campaign FROM _rows r
JOIN {LEDGER} l ON l.phone_e164 = r.phone_e164 AND l.sent_at <= r.received_at
WHERE l.state IN ('sent', 'delivered', 'undelivered') GROUP BY r.event_id
"""  # noqa: S608
INSERT_EVENTS = f"""
INSERT INTO {EVENTS} ({", ".join(EVENT_COLUMNS)}, campaign, outcome, recorded_at)
SELECT {", ".join(EVENT_COLUMNS)}, campaign, outcome, $now FROM _rows
"""  # noqa: S608
# Receipts that arrived before the runner recorded the message they are about.
WAITING_RECEIPTS = f"""
SELECT event_id, kind, provider_message_id, phone_e164, body, status, received_at, source_file
FROM {EVENTS} WHERE kind = 'status' AND outcome = 'unknown_message'
  AND provider_message_id IN (SELECT provider_message_id FROM _rows)
"""  # noqa: S608
MARK_APPLIED = f"""
UPDATE {EVENTS} SET outcome = r.outcome, campaign = r.campaign FROM _rows r
WHERE {EVENTS}.event_id = r.event_id
"""  # noqa: S608

RESULT_SCHEMA = pl.Schema({
    "idempotency_key": pl.String, "phone_e164": pl.String, "state": pl.String,
    "provider_message_id": pl.String, "last_error": pl.String,
    "sent_at": pl.Datetime("us", "UTC"), "suppress_reason": pl.String})
EVENT_SCHEMA = pl.Schema({
    "event_id": pl.String, "kind": pl.String, "provider_message_id": pl.String,
    "phone_e164": pl.String, "body": pl.String, "status": pl.String,
    "received_at": pl.Datetime("us", "UTC"), "source_file": pl.String})


@dataclass(frozen=True)
class Queued:
    queued: int  # rows added now
    already: int  # rows the ledger had (a rerun adds nothing)


TABLES = (CAMPAIGNS, LEDGER, SUPPRESSIONS, EVENTS)


def status_of(connection: duckdb.DuckDBPyConnection, name: str
            ) -> tuple[Status, datetime | None, datetime]:
    found = connection.execute(STATUS, {"name": name}).fetchall()
    if not found:
        raise ProblemsError([{"field": "name", "problem": f"no SMS campaign {name!r}",
                              "fix": "check the name with `campaigns sms list`"}])
    return Status(found[0][0]), found[0][1], found[0][2]


def queue_rows(connection: duckdb.DuckDBPyConnection, name: str, prospects: pl.DataFrame,
           now: datetime) -> Queued:
    rows = (prospects.select("phone_e164", "first_name", "idempotency_key")
            .unique("phone_e164", keep="first", maintain_order=True))
    before = connection.execute(LEDGER_COUNT, {"name": name}).fetchall()[0][0]
    with_rows(connection, rows, QUEUE, {"name": name, "now": now})
    after = connection.execute(LEDGER_COUNT, {"name": name}).fetchall()[0][0]
    return Queued(queued=after - before, already=rows.height - (after - before))


def claim_rows(connection: duckdb.DuckDBPyConnection, name: str, claimer: str, n: int,
           now: datetime) -> tuple[pl.DataFrame, int]:
    candidates = frame(connection.sql(CANDIDATES, params={"name": name, "n": n}))
    if candidates.height == 0:
        return candidates, 0
    blocked = pl.col("suppressed_reason").is_not_null()
    with_rows(connection, candidates.filter(blocked), SUPPRESS_AT_CLAIM, {"now": now})
    rows = candidates.filter(~blocked).drop("suppressed_reason")
    with_rows(connection, rows, CLAIM, {"now": now, "claimer": claimer})
    return rows, candidates.height - rows.height


def record_results(connection: duckdb.DuckDBPyConnection, results: pl.DataFrame, claimer: str,
            now: datetime) -> bool:
    """Records ``results``; True when a provider's opt-out suppressed a number."""
    if results.height == 0:
        return False
    results = results.select(RESULT_SCHEMA.names()).cast(RESULT_SCHEMA)
    with_rows(connection, results.drop("suppress_reason"), RECORD,
               {"now": now, "claimer": claimer})
    opted_out = suppress_opted_out(connection, results, now)
    accepted = results.filter(pl.col("provider_message_id").is_not_null())
    if accepted.height:
        waiting = frame_with(connection, accepted, WAITING_RECEIPTS)
        if waiting.height:
            decided = decide_events(connection, waiting.cast(EVENT_SCHEMA), now)
            with_rows(connection, decided, MARK_APPLIED)
    return opted_out


def suppress_opted_out(connection: duckdb.DuckDBPyConnection, results: pl.DataFrame,
                       now: datetime) -> bool:
    """The numbers of ``results`` the provider said opted out (21610) suppressed, once."""
    if results.height == 0:  # the usual case, and polars' empty filter costs 0.5 ms
        return False
    opted_out = results.filter(pl.col("suppress_reason").is_not_null()).select(
        "phone_e164", reason=pl.col("suppress_reason"),
        source=pl.lit("provider refusal of ") + pl.col("idempotency_key"))
    with_rows(connection, opted_out, SUPPRESS, {"now": now})
    return opted_out.height > 0


def decide_events(connection: duckdb.DuckDBPyConnection, events: pl.DataFrame,
                   now: datetime) -> pl.DataFrame:
    """``events`` with the campaign each concerns and its outcome, their effects applied."""
    receipts = events.filter(pl.col("kind") == "status")
    rows = frame_with(connection, receipts.select("provider_message_id").unique(),
                       RECEIPT_ROWS, schema={"provider_message_id": pl.String,
                                                 "campaign": pl.String, "state": pl.String})
    decided_receipts, changes = decide_receipts(receipts, rows)
    with_rows(connection, changes, APPLY_RECEIPTS)
    inbound = events.filter(pl.col("kind") == "inbound")
    campaigns = frame_with(connection, inbound, REPLY_CAMPAIGNS,
                            schema={"event_id": pl.String, "campaign": pl.String})
    decided_inbound, stops, starts = decide_inbound(inbound, campaigns)
    with_rows(connection, stops, SUPPRESS, {"now": now})
    with_rows(connection, starts, UNSUPPRESS, {"reasons": ["stop_reply", "provider_21610"]})
    return pl.concat([decided_receipts, decided_inbound], how="diagonal_relaxed")


def ledger_states(connection: duckdb.DuckDBPyConnection, name: str) -> dict[str, int]:
    return {state: int(n) for state, n in
            connection.execute(STATES, {"name": name}).fetchall()}


def write_counters(connection: duckdb.DuckDBPyConnection, name: str, now: datetime | None,
                    states: dict[str, int] | None = None) -> Counters:
    states = ledger_states(connection, name) if states is None else states
    replies, opt_outs = connection.execute(INBOUND_COUNTS, {"name": name}).fetchall()[0]
    written = counters(states, replies=int(replies), opt_outs=int(opt_outs))
    connection.execute(SET_COUNTERS, {
        "name": name, "total_queued": written.total, "sent": written.sent,
        "delivered": written.delivered, "failed": written.failed,
        "suppressed": states.get("suppressed", 0), "replies": written.replies,
        "opt_outs": written.opt_outs, "delivery_rate": written.delivery_rate,
        "opt_out_rate": written.opt_out_rate, "last_run_at": now,
        "last_run_result": run_result(states) if now is not None else None})
    return written


def count_changed(connection: duckdb.DuckDBPyConnection, table: str, change: Callable) -> int:
    count = f"SELECT count(*) FROM {table}"  # noqa: S608
    before = connection.execute(count).fetchall()[0][0]
    change()
    return abs(connection.execute(count).fetchall()[0][0] - before)


def dict_rows(connection: duckdb.DuckDBPyConnection, query: str, params: dict) -> list[dict]:
    return frame(connection.sql(query, params=params)).to_dicts()


def frame(relation) -> pl.DataFrame:
    return pl.from_arrow(relation.to_arrow_table())  # type: ignore[return-value]


def frame_with(connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame, query: str,
                schema: dict | None = None) -> pl.DataFrame:
    """``query``'s answer with ``rows`` visible as ``dict_rows``; empty ``rows``: no query."""
    if rows.height == 0:
        return pl.DataFrame(schema=schema or rows.schema)
    connection.register("_rows", rows.to_arrow())
    return frame(connection.sql(query))


def with_rows(connection: duckdb.DuckDBPyConnection, frame: pl.DataFrame, query: str,
               parameters: dict | None = None) -> None:
    """Runs ``query`` with ``frame`` visible as ``dict_rows`` (Arrow, no per-row insert)."""
    if frame.height:
        connection.register("_rows", frame.to_arrow())
        connection.execute(query, parameters or {})
