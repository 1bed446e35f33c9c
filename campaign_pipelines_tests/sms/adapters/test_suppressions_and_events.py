"""Suppressions hold in every campaign (manual, added mid-run, a 21610 refusal, a STOP
reply), and events are applied once and never lost (an unknown message id is kept)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import polars as pl

from campaign_pipelines.adapters.sms.protocol import SmsMessage, SmsRefused
from campaign_pipelines.adapters.sms_runner import run_campaign
from campaign_pipelines.adapters.sms_store import EVENT_SCHEMA
from campaign_pipelines.adapters.sms_store_events import decide_receipts
from campaign_pipelines.core.sms.ledger import RECEIPT_STATES, LedgerState, after_receipt
from campaign_pipelines_tests.sms.adapters.fakes import (
    STOP_HINT,
    T0,
    MemoryProvider,
    create,
    phone,
    start,
    store_at,
)


def _run(store, provider, name):
    return run_campaign(store, provider, name, now=T0, quiet_hours=None, stop_hint=STOP_HINT,
                        log=lambda _: None)


def _events(*rows: dict) -> pl.DataFrame:
    full = [{"provider_message_id": None, "phone_e164": None, "body": None, "status": None,
             "received_at": T0 + timedelta(minutes=5), "source_file": "events.jsonl"} | row
            for row in rows]
    return pl.DataFrame(full, schema=EVENT_SCHEMA)


def _two_campaigns(tmp_path: Path, count: int = 60):
    store = store_at(tmp_path / "w.duckdb")
    for name in ("first", "second"):
        create(store, name)
        start(store, name, count)
    return store


def test_a_manual_suppression_holds_in_every_campaign(tmp_path: Path) -> None:
    store = _two_campaigns(tmp_path)
    assert store.suppress([phone(3)], "manual", "cli", T0) == 1
    assert store.suppress([phone(3)], "stop_reply", "later", T0) == 0  # the first reason stays
    provider = MemoryProvider()
    for name in ("first", "second"):
        report = _run(store, provider, name)
        assert (report.sent, report.suppressed) == (59, 1)
        row = store.ledger(name).filter(pl.col("phone_e164") == phone(3))
        assert row["state"].item() == "suppressed" and "manual" in row["last_error"].item()
    assert phone(3) not in {message.to for message in provider.sent}
    assert store.suppression(phone(3))["reason"] == "manual"


def test_a_suppression_added_mid_run_is_never_sent_to(tmp_path: Path) -> None:
    store = _two_campaigns(tmp_path)

    def suppress(count: int, _: SmsMessage) -> None:
        if count == 2:  # in the group being sent: seen at the next check, before index 10
            store.suppress([phone(15)], "manual", "cli", T0)
        if count == 30:  # a later group: seen at its claim
            store.suppress([phone(55)], "manual", "cli", T0)

    provider = MemoryProvider(hook=suppress)
    _run(store, provider, "first")
    provider.hook = None
    _run(store, provider, "second")
    sent = [message.to for message in provider.sent]
    assert phone(15) not in sent and phone(55) not in sent and len(sent) == 2 * 58
    states = store.ledger("first").filter(pl.col("state") == "suppressed")["phone_e164"]
    assert sorted(states) == [phone(15), phone(55)]


def test_a_21610_refusal_suppresses_the_number_everywhere_and_21211_fails_the_row(
        tmp_path: Path) -> None:
    store = _two_campaigns(tmp_path, count=20)
    provider = MemoryProvider(refuse={
        phone(7): SmsRefused("21610", "Attempt to send to unsubscribed recipient",
                             suppressed=True),
        phone(8): SmsRefused("21211", "Invalid 'To' Phone Number")})
    report = _run(store, provider, "first")
    assert (report.sent, report.suppressed, report.failed) == (18, 1, 1)
    assert store.suppression(phone(7))["reason"] == "provider_21610"
    assert store.suppression(phone(8)) is None
    ledger = store.ledger("first")
    assert ledger.filter(pl.col("phone_e164") == phone(8))["state"].item() == "failed"
    del provider.refuse[phone(7)]  # the provider would take it now: the ledger must not ask
    second = _run(store, provider, "second")
    assert (second.sent, second.suppressed, second.failed) == (18, 1, 1)
    assert phone(7) not in {message.to for message in provider.sent}
    assert store.campaign("first")["last_run_result"] == "sent 18 of 20; 1 suppressed; 1 failed"


def test_stop_replies_suppress_start_lifts_and_replies_are_counted(tmp_path: Path) -> None:
    store = _two_campaigns(tmp_path, count=10)
    _run(store, MemoryProvider(), "first")
    report = store.apply_events(_events(
        {"event_id": "in-1", "kind": "inbound", "phone_e164": phone(1), "body": " стоп! "},
        {"event_id": "in-2", "kind": "inbound", "phone_e164": phone(2), "body": "STOP"},
        {"event_id": "in-3", "kind": "inbound", "phone_e164": phone(3), "body": "thanks!"},
    ), T0)
    assert report["outcomes"] == {"opt_out": 2, "reply": 1}
    assert store.suppression(phone(1))["reason"] == "stop_reply"
    campaign = store.campaign("first")
    assert (campaign["replies"], campaign["opt_outs"], campaign["opt_out_rate"]) == (3, 2, 20.0)
    later = _events({"event_id": "in-4", "kind": "inbound", "phone_e164": phone(2),
                     "body": "START", "received_at": T0 + timedelta(minutes=9)})
    assert store.apply_events(later, T0)["outcomes"] == {"opt_in": 1}
    assert store.suppression(phone(2)) is None and store.suppression(phone(1)) is not None
    assert store.apply_events(later, T0)["duplicates"] == 1  # a replayed file adds nothing
    provider = MemoryProvider()
    _run(store, provider, "second")
    assert phone(1) not in {m.to for m in provider.sent} and len(provider.sent) == 9


def test_receipts_move_the_ledger_forward_and_unknown_ids_are_kept_and_reported(
        tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, "first")
    start(store, "first", 3)

    def early_receipt(count: int, message: SmsMessage) -> None:
        if count == 3:  # the receipt overtakes the runner's record of the message
            store.apply_events(_events({"event_id": "st-early", "kind": "status",
                                        "provider_message_id": "SM00000003",
                                        "status": "delivered"}), T0)

    _run(store, MemoryProvider(hook=early_receipt), "first")
    report = store.apply_events(_events(
        {"event_id": "st-1", "kind": "status", "provider_message_id": "SM00000001",
         "status": "delivered"},
        {"event_id": "st-2", "kind": "status", "provider_message_id": "SM00000001",
         "status": "sent"},  # late and behind: changes nothing
        {"event_id": "st-3", "kind": "status", "provider_message_id": "SM00000002",
         "status": "undelivered"},
        {"event_id": "st-4", "kind": "status", "provider_message_id": "SMnobody",
         "status": "delivered"}), T0)
    assert report["unknown_message_ids"] == ["SMnobody"]
    assert report["outcomes"] == {"applied": 2, "unchanged": 1, "unknown_message": 1}
    states = dict(store.ledger("first").select("provider_message_id", "state").iter_rows())
    assert states == {"SM00000001": "delivered", "SM00000002": "undelivered",
                      "SM00000003": "delivered"}
    campaign = store.campaign("first")
    assert (campaign["delivered"], campaign["failed"], campaign["delivery_rate"]) == (
        2, 1, 66.67)
    with store.warehouse.connect() as connection:
        kept = dict(connection.execute(
            "SELECT event_id, outcome FROM campaign_ops.sms_events").fetchall())
    assert kept["st-4"] == "unknown_message" and kept["st-early"] == "applied"


def test_the_vectorised_receipt_rule_is_core_after_receipt() -> None:
    statuses = [*RECEIPT_STATES, "queued", "accepted", " Delivered "]
    pairs = list(itertools.product(list(LedgerState), statuses))
    receipts = pl.DataFrame({
        "provider_message_id": [f"m{n}" for n in range(len(pairs))],
        "status": [status for _, status in pairs],
        "received_at": [T0] * len(pairs)}, schema_overrides={"received_at": pl.Datetime(
            "us", "UTC")})
    rows = pl.DataFrame({"provider_message_id": receipts["provider_message_id"],
                         "campaign": "c", "state": [str(state) for state, _ in pairs]})
    decided, changes = decide_receipts(receipts, rows)
    moved = dict(changes.iter_rows())
    for n, (state, status) in enumerate(pairs):
        expected = after_receipt(state, status)
        assert moved.get(f"m{n}") == (None if expected is None else str(expected)), (state, status)
