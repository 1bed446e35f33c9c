"""The send engine against real DuckDB files and an in-test provider: the seed's lifecycle,
limit, pause and resume, progress, dry run, quiet hours and the end of a campaign."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campaign_pipelines.adapters.sms.protocol import SmsMessage, SmsProviderDown
from campaign_pipelines.adapters.sms_run import Stop
from campaign_pipelines.adapters.sms_runner import run_campaign
from campaign_pipelines.adapters.sms_start import start_due_campaigns
from campaign_pipelines.core.sms.lifecycle import Status
from campaign_pipelines.core.sms.quiet_hours import quiet_hours
from campaign_pipelines_tests.sms.adapters.fakes import (
    STOP_HINT,
    T0,
    MemoryProvider,
    create,
    phone,
    prospects,
    start,
    store_at,
)

NAME = "dec-cashback"


def _run(store, provider, **options):
    options.setdefault("now", T0)
    options.setdefault("quiet_hours", None)
    options.setdefault("stop_hint", STOP_HINT)
    return run_campaign(store, provider, NAME, log=lambda _: None, **options)


def _once_each(provider: MemoryProvider, count: int) -> None:
    sent = Counter(message.to for message in provider.sent)
    assert sorted(sent) == sorted(phone(n) for n in range(count))
    assert set(sent.values()) == {1}


def test_starts_at_its_start_time_and_not_before(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME, start_at=T0)
    resolve = lambda campaign: prospects(campaign["name"], 30)  # noqa: E731
    assert not start_due_campaigns(store, T0 - timedelta(seconds=1), resolve, log=print).commands
    assert store.status(NAME) == Status.SCHEDULED and store.states(NAME) == {}
    assert start_due_campaigns(store, T0, resolve, log=print).commands == {NAME: "start"}
    assert store.status(NAME) == Status.ACTIVE
    assert store.states(NAME) == {"queued": 30}
    assert start_due_campaigns(store, T0, resolve, log=print).commands == {}  # queued once


def test_scheduled_active_completed_with_result_and_counters(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start_due_campaigns(store, T0, lambda c: prospects(c["name"], 30), log=print)
    provider = MemoryProvider()
    report = _run(store, provider)
    assert (report.sent, report.stopped_because, report.status) == (
        30, Stop.COMPLETED, Status.COMPLETED)
    campaign = store.campaign(NAME)
    assert campaign["completed_at"] is not None and campaign["last_run_at"] is not None
    assert campaign["last_run_result"] == "sent 30 of 30"
    assert (campaign["sent"], campaign["total_queued"]) == (30, 30)
    assert provider.sent[0].body == "Hi Ann0, cashback awaits. STOP: 7575"
    assert _run(store, provider).sent == 0  # nothing after Completed
    _once_each(provider, 30)


def test_limit_50_of_120_leaves_70_queued(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 120)
    report = _run(store, MemoryProvider(), limit=50)
    assert (report.sent, report.left_queued, report.stopped_because) == (50, 70, Stop.LIMIT)
    assert store.states(NAME) == {"sent": 50, "queued": 70}
    assert store.status(NAME) == Status.ACTIVE


def test_pause_while_1000_are_sent_stops_within_10_and_resume_sends_exactly_the_rest(
        tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 1000)
    paused_at: list[int] = []

    def pause(count: int, _: SmsMessage) -> None:
        if count == 437:
            store.apply_command(NAME, "pause", T0)
            paused_at.append(count)

    provider = MemoryProvider(hook=pause)
    report = _run(store, provider)
    assert report.stopped_because == Stop.PAUSED and report.status == Status.PAUSED
    assert 437 <= len(provider.sent) <= 437 + 10
    assert store.states(NAME) == {"sent": len(provider.sent), "queued": 1000 - len(provider.sent)}
    assert _run(store, provider).sent == 0  # Paused: nothing
    store.apply_command(NAME, "resume", T0)
    provider.hook = None
    resumed = _run(store, provider)
    assert resumed.sent == 1000 - report.sent and resumed.status == Status.COMPLETED
    _once_each(provider, 1000)


def test_cancel_mid_run_stops_within_10_and_nothing_is_sent_after(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 200)

    def cancel(count: int, _: SmsMessage) -> None:
        if count == 33:
            store.apply_command(NAME, "cancel", T0)

    provider = MemoryProvider(hook=cancel)
    report = _run(store, provider)
    assert report.stopped_because == Stop.CANCELLED and 33 <= report.sent <= 43
    provider.hook = None
    assert _run(store, provider).sent == 0
    assert _run(store, provider, limit=5).stopped_because == Stop.CANCELLED
    assert len(provider.sent) == report.sent
    assert store.status(NAME) == Status.CANCELLED


def test_progress_counters_move_at_least_every_25(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 120)
    lags: list[int] = []

    def look(count: int, _: SmsMessage) -> None:
        lags.append(count - 1 - store.campaign(NAME)["sent"])

    _run(store, MemoryProvider(hook=look))
    assert max(lags) <= 25 and min(lags) >= 0
    assert store.campaign(NAME)["sent"] == 120


def test_dry_run_sends_nothing_and_changes_nothing(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 40)
    store.suppress([phone(2)], "manual", "test", T0)
    before = (store.ledger(NAME), store.campaign(NAME))
    provider = MemoryProvider()
    report = _run(store, provider, dry_run=True)
    assert (report.would_send, report.suppressed, report.sent) == (39, 1, 0)
    assert provider.sent == []
    assert store.ledger(NAME).equals(before[0]) and store.campaign(NAME) == before[1]


def test_quiet_hours_stop_at_21_and_resume_next_morning(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 60)
    # 20:59:30 in Almaty (+05): 30 one-second sends fit before 21:00.
    clock = [datetime(2026, 12, 1, 15, 59, 30, tzinfo=UTC)]

    def tick(_: int, __: SmsMessage) -> None:
        clock[0] += timedelta(seconds=1)

    provider = MemoryProvider(hook=tick)
    window = quiet_hours("09:00-21:00", "Asia/Almaty")
    report = _run(store, provider, now=clock[0], quiet_hours=window, clock=lambda: clock[0])
    assert report.stopped_because == Stop.QUIET_HOURS and report.sent == 30
    assert report.next_opening == datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # 09:00 +05
    assert store.states(NAME) == {"sent": 30, "queued": 30}
    night = _run(store, provider, now=clock[0] + timedelta(hours=3), quiet_hours=window)
    assert night.sent == 0 and night.stopped_because == Stop.QUIET_HOURS
    morning = report.next_opening
    resumed = _run(store, provider, now=morning, quiet_hours=window, clock=lambda: morning)
    assert resumed.sent == 30 and resumed.status == Status.COMPLETED
    _once_each(provider, 60)


def test_an_ended_campaign_completes_and_its_unsent_rows_expire(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME, end_at=T0 + timedelta(hours=1))
    start(store, NAME, 20)
    assert _run(store, MemoryProvider(), limit=5).sent == 5
    assert start_due_campaigns(store, T0 + timedelta(hours=1), lambda c: None,
                               log=print).commands == {NAME: "end"}
    assert store.status(NAME) == Status.COMPLETED
    assert store.states(NAME) == {"sent": 5, "expired": 15}
    assert store.campaign(NAME)["last_run_result"] == "sent 5 of 20; 15 expired"
    assert _run(store, MemoryProvider(), now=T0 + timedelta(hours=2)).sent == 0


def test_provider_down_puts_the_rest_back_to_queued_with_the_error(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 30)

    def down(count: int, _: SmsMessage) -> None:
        if count == 8:
            raise SmsProviderDown("503 after 4 attempts")

    provider = MemoryProvider(hook=down)
    report = _run(store, provider)
    assert report.stopped_because == Stop.PROVIDER_DOWN
    ledger = store.ledger(NAME)
    # The 8th was taken by the fake before it raised: a real provider raises before accepting.
    assert ledger.filter(ledger["state"] == "sent").height == 7
    requeued = ledger.filter(ledger["state"] == "queued")
    assert requeued.height == 23
    assert requeued["last_error"].drop_nulls().str.contains("503").sum() >= 1


@pytest.mark.parametrize("first_name", ["Ann", "А" * 400])
def test_a_message_over_its_segments_fails_that_row_only(tmp_path: Path,
                                                          first_name: str) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    rows = prospects(NAME, 3).rows
    store.start(NAME, rows.with_columns(first_name=rows["first_name"].scatter(1, first_name)), T0)
    report = _run(store, MemoryProvider())
    long = len(first_name) > 100
    assert (report.sent, report.failed) == ((2, 1) if long else (3, 0))


def test_a_slow_throttle_keeps_each_group_inside_the_claim_lease(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME, throttle=0.005)  # one message every 200 s: 5 messages in 1,000 s
    start(store, NAME, 12)
    elapsed = [0.0]
    claimed: list[int] = []

    def sleep(seconds: float) -> None:
        elapsed[0] += seconds

    def look(_: int, __: SmsMessage) -> None:
        claimed.append(store.states(NAME).get("sending", 0))

    report = _run(store, MemoryProvider(hook=look), sleep=sleep, monotonic=lambda: elapsed[0])
    assert report.sent == 12 and max(claimed) == 1  # LEASE 10 min: half is 300 s, 1 message
    assert elapsed[0] == pytest.approx(11 * 200)


def test_a_campaign_whose_prospects_are_refused_stays_scheduled_and_the_others_start(tmp_path):
    from campaign_pipelines.core.problems import ProblemsError

    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    create(store, "other-sms")

    def resolve(campaign):
        if campaign["name"] == NAME:
            raise ProblemsError([{"field": "row 2: phone", "problem": "no phone column near "
                                  "+77011234567", "fix": "name it phone"}])
        return prospects(campaign["name"], 3)

    said: list[str] = []
    started = start_due_campaigns(store, T0, resolve, log=said.append)
    assert not any("+77011234567" in line for line in said)  # the number is masked
    assert any(f"{NAME} cannot start" in line for line in said)
    assert started.commands == {"other-sms": "start"}
    assert started.refused[NAME][0]["problem"] == "no phone column near +77011234567"
    assert store.status(NAME) == Status.SCHEDULED
    assert store.status("other-sms") == Status.ACTIVE
    only = start_due_campaigns(store, T0, resolve, only="other-sms", log=print)
    assert only.commands == {} and only.refused == {}  # the refused one is not looked at


def test_a_message_the_provider_may_have_taken_is_left_to_reconciliation(tmp_path: Path) -> None:
    store = store_at(tmp_path / "w.duckdb")
    create(store, NAME)
    start(store, NAME, 30)

    def lost_answer(count: int, _: SmsMessage) -> None:
        if count == 8:
            raise SmsProviderDown("timed out after it was sent", maybe_taken=True)

    provider = MemoryProvider(hook=lost_answer)
    report = _run(store, provider)
    assert report.stopped_because == Stop.PROVIDER_DOWN
    ledger = store.ledger(NAME)
    assert ledger.filter(ledger["state"] == "sent").height == 7
    assert ledger.filter(ledger["state"] == "sending").height == 1  # asked about, never resent
    assert ledger.filter(ledger["state"] == "queued").height == 22
    assert len(list((store.journal_folder / NAME).glob("*.jsonl"))) == 1  # kept for it
    provider.hook = None
    later = _run(store, provider, now=T0 + timedelta(minutes=11))  # past the claims' lease
    assert (later.reconciled_asked, later.reconciled_sent, later.sent) == (1, 1, 22)
    _once_each(provider, 30)
    assert not list((store.journal_folder / NAME).glob("*.jsonl"))
