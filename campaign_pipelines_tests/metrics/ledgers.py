"""A tiny world in a real DuckDB warehouse for the metrics adapter, asset and CLI tests: the
deployment ledger, the streak audit, the e-mail and SMS ledgers and events, written in each
domain's own tables (their stores create them), spread over Almaty days with rows on both sides
of the 19:00 UTC day boundary; and a deployed campaign with a control group, its request and
client events with known conversions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from campaign_pipelines.adapters import sms_store_sql
from campaign_pipelines.adapters.admission import RequestStore
from campaign_pipelines.adapters.sequence_store import SequenceStore
from campaign_pipelines.adapters.streak_store import StreakStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.core.requests import CampaignRequest, request_version

FIRST = date(2026, 3, 1)  # Almaty days FIRST .. FIRST + DAYS - 1 carry activity
DAYS = 3
CODE, NO_CONTROL_CODE = "C000000101", "C000000102"
KEY, NO_CONTROL_KEY = "spring_loans", "spring_plain"
ACTION = "loan_opened"
TARGET_USERS, CONTROL_USERS = 100, 50
TARGET_CONVERTED, CONTROL_CONVERTED = 12, 4  # 12 % and 8 %


def utc(day: date, hour: int) -> datetime:
    """``hour`` UTC on ``day``: 19:00 and later is already the next Almaty day."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def warehouse(directory: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(directory / "warehouse.duckdb")


def build_ledgers(store: DuckDBWarehouse) -> None:
    """Per day d: a deployment, streak moves, e-mails and SMS with states that vary by day."""
    DuckDBDeployment(store).init_schema()
    StreakStore(store).ensure_tables()
    SequenceStore(store).ensure_tables()
    with store.connect() as connection:
        connection.execute(sms_store_sql.DDL)
        connection.execute("SET TimeZone = 'UTC'")
        for n in range(DAYS):
            _day(connection, FIRST + timedelta(days=n), n)


def _day(connection: duckdb.DuckDBPyConnection, day: date, n: int) -> None:
    code = f"C00000090{n}"
    for table, rows in (("dssb_ocds.mb22_local_target", 100 + n),
                        ("dssb_ocds.mb21_local_control", 10 + n)):
        connection.execute("INSERT INTO campaign_ops.campaign_deployments VALUES "
                           "(?, ?, 'v', ?, ?)", [code, table, rows, utc(day, 4)])
    for user, (action, source, hour) in enumerate(
            [("assigned", "batch", 2), ("assigned", "batch", 3), ("assigned", "manual", 5),
             ("blocked", "manual", 6), ("released", "manual", 7), ("assigned", "chain", 20)]):
        connection.execute(
            "INSERT INTO campaign_ops.streak_audit VALUES (?, 'none', 'welcome', ?, NULL, "
            "NULL, ?, 'run', ?)", [user, action, source, utc(day, hour)])
    states = ["sent", "sent", "failed", "queued", "suppressed", "sent"][: 4 + n]
    for number, state in enumerate(states):
        address = f"a{n}-{number}"
        _enroll(connection, address, day)
        connection.execute(
            "INSERT INTO campaign_ops.email_ledger (idempotency_key, enrollment_id, sequence, "
            "address_key, email_number, due_at, state, attempts, created_at, updated_at) "
            "VALUES (?, ?, 'drip', ?, 1, ?, ?, 0, ?, ?)",
            [f"k{n}-{number}", f"e-{address}", address, utc(day, 8 + number), state,
             utc(day, 1), utc(day, 1)])
    connection.execute("INSERT INTO campaign_ops.email_suppressions VALUES "
                       "(?, 'unsubscribed', 'link', ?, ?)", [f"a{n}-0", utc(day, 12), utc(day, 12)])
    sms_states = ["delivered", "delivered", "undelivered", "failed", "sent", "suppressed",
                  "queued"][: 5 + n]
    for number, state in enumerate(sms_states):
        phone = f"+7701000{n}{number:03d}"
        connection.execute(
            "INSERT INTO campaign_ops.sms_ledger (campaign, phone_e164, idempotency_key, state, "
            "queued_at) VALUES ('promo', ?, ?, ?, ?)", [phone, f"s{n}-{number}", state,
                                                        utc(day, 5)])
    for event, (kind, outcome, campaign) in enumerate(
            [("inbound", "reply", "promo"), ("inbound", "opt_out", "promo"),
             ("status", "applied", "promo"), ("inbound", "reply", None)]):
        connection.execute(
            "INSERT INTO campaign_ops.sms_events (event_id, kind, received_at, campaign, "
            "outcome, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            [f"ev{n}-{event}", kind, utc(day, 6 + event), campaign, outcome, utc(day, 6)])


def _enroll(connection: duckdb.DuckDBPyConnection, address: str, day: date) -> None:
    connection.execute(
        "INSERT INTO campaign_ops.enrollments (enrollment_id, sequence, address_key, email, "
        "segment, signup_id, enrolled_at, timing, status, alert_state, alert_attempts, "
        "updated_at) VALUES (?, 'drip', ?, 'x@example.com', 'GREEN', 's', ?, 'production', "
        "'active', 'none', 0, ?)", [f"e-{address}", address, utc(day, 1), utc(day, 1)])


def request(control_share: float | None, target_action: str | None = ACTION) -> CampaignRequest:
    body: dict = {"campaign_type": "RB1", "user_iins": ["000000000001"], "metadata": {
        "campaign_name": "Spring loans", "date_start": "2026-03-02", "date_end": "2026-03-15",
        "target_action": target_action}}
    if control_share:
        body["control_group"] = {"share": control_share}
    return CampaignRequest.model_validate(body)


def iins(first: int, count: int) -> list[str]:
    return [f"{first + n:012d}" for n in range(count)]


def deploy_campaign(store: DuckDBWarehouse, requests: RequestStore, key: str, code: str,
                    campaign: CampaignRequest, target: list[str], control: list[str]) -> None:
    """The registry row, the request version it names and the deployed groups."""
    DuckDBDeployment(store).init_schema()
    requests.admit(key, campaign, f"{key}.json")
    meta = campaign.metadata
    with store.connect() as connection:
        connection.execute(
            "INSERT INTO campaign_ops.campaign_registry (campaign_key, campaign_code, "
            "campaign_type, campaign_name, date_start, date_end, user_count, control_count, "
            "created_at, updated_at, request_version) VALUES (?, ?, 'RB1', ?, ?, ?, ?, ?, "
            "now(), now(), ?)",
            [key, code, meta.campaign_name, meta.date_start, meta.date_end, len(target),
             len(control), request_version(campaign)])
        for table, members in (("mb22_local_target", target), ("mb21_local_control", control)):
            connection.register("frame", pl.DataFrame({"CAMPAIGNCODE": code, "IIN": members}))
            connection.execute(f"INSERT INTO dssb_ocds.{table} (CAMPAIGNCODE, IIN) "  # noqa: S608
                               "SELECT CAMPAIGNCODE, IIN FROM frame")


def outcome_world(store: DuckDBWarehouse, requests: RequestStore) -> None:
    """Campaign KEY (target 12 of 100 convert, control 4 of 50; events outside the period or
    of another action that must not count) and NO_CONTROL_KEY (no control group)."""
    target, control = iins(10_000, TARGET_USERS), iins(20_000, CONTROL_USERS)
    deploy_campaign(store, requests, KEY, CODE, request(1 / 3), target, control)
    deploy_campaign(store, requests, NO_CONTROL_KEY, NO_CONTROL_CODE, request(None),
                    iins(30_000, 40), [])
    converted = target[:TARGET_CONVERTED] + control[:CONTROL_CONVERTED]
    events = pl.DataFrame({
        "iin": [*converted, *converted[:3], target[50], target[51], control[40]],
        "event": [ACTION] * len(converted) + [ACTION] * 3 + [ACTION, "card_opened", ACTION],
        "event_date": [date(2026, 3, 5)] * len(converted) + [date(2026, 3, 9)] * 3
        + [date(2026, 3, 16), date(2026, 3, 5), date(2026, 3, 1)],
    })
    with store.connect() as connection:
        connection.register("events", events)
        connection.execute("INSERT INTO sources.client_events SELECT * FROM events")
