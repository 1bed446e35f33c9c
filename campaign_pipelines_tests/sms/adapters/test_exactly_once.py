"""Exactly once across processes: a runner SIGKILLed between the provider's acceptance and
the ledger's record, and two runners started at once on one campaign."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from campaign_pipelines.adapters.sms_runner import run_campaign
from campaign_pipelines_tests.sms.adapters.fakes import (
    STOP_HINT,
    T0,
    FileProvider,
    create,
    phone,
    start,
    store_at,
)

NAME = "dec-cashback"
ROOT = Path(__file__).resolve().parents[3]
_RUNNER = """
import sys
from pathlib import Path
from campaign_pipelines.adapters.sms_runner import run_campaign
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines_tests.sms.adapters.fakes import STOP_HINT, T0, FileProvider
kill_at = int(sys.argv[3]) or None
delay_s = float(sys.argv[4])
if len(sys.argv) > 5:  # a barrier: start when both runners are ready
    import os, time
    barrier = Path(sys.argv[5])
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
store = SmsStore(DuckDBWarehouse(Path(sys.argv[1])))
provider = FileProvider(Path(sys.argv[2]), kill_at=kill_at, delay_s=delay_s,
                        watch=store.marker_folder / "dec-cashback.request")
report = run_campaign(store, provider, "dec-cashback", now=T0, quiet_hours=None,
                      stop_hint=STOP_HINT, log=lambda _: None)
print(report.sent, report.reconciled_sent, report.reconciled_requeued)
"""


def _runner(database: Path, outbox: Path, kill_at: int = 0, delay_s: float = 0.0,
            *barrier: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _RUNNER, str(database), str(outbox),
                             str(kill_at), str(delay_s), *map(str, barrier)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)


def _recipients(outbox: Path) -> Counter:
    return Counter(line["to"] for line in FileProvider(outbox).lines())


@pytest.mark.parametrize("journal_lost", [False, True])
def test_sigkill_after_acceptance_then_rerun_sends_everyone_exactly_once(
        tmp_path: Path, journal_lost: bool) -> None:
    database, outbox = tmp_path / "w.duckdb", tmp_path / "outbox.jsonl"
    store = store_at(database)
    create(store, NAME)
    start(store, NAME, 100)
    killed = _runner(database, outbox, kill_at=37)
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert sum(_recipients(outbox).values()) == 37
    # One batch of 100 claimed; nothing recorded yet, but the counters moved at 25.
    assert store.states(NAME) == {"sending": 100} and store.campaign(NAME)["sent"] == 25
    journals = list((store.journal_folder / NAME).glob("*.jsonl"))
    assert len(journals) == 1
    if journal_lost:  # another host's runner, say: every claimed row is asked about
        journals[0].unlink()
    report = run_campaign(store, FileProvider(outbox), NAME, now=T0, quiet_hours=None,
                          stop_hint=STOP_HINT, log=lambda _: None)
    decided = (report.reconciled_from_journal, report.reconciled_sent, report.reconciled_asked,
               report.reconciled_requeued)
    # With the journal: 36 outcomes it holds, the 37th (accepted, then killed) and the rest
    # of its 25 tried (38-50) asked about, 51-100 never tried: queued without asking.
    assert decided == ((0, 37, 100, 63) if journal_lost else (36, 1, 14, 63))
    assert report.sent == 63 and report.status == "Completed"
    recipients = _recipients(outbox)
    assert sorted(recipients) == sorted(phone(n) for n in range(100))
    assert set(recipients.values()) == {1}
    ledger = store.ledger(NAME)
    assert set(ledger["state"]) == {"sent"} and ledger["provider_message_id"].null_count() == 0
    assert not list((store.journal_folder / NAME).glob("*.jsonl"))  # all recorded: removed


def test_two_runners_at_once_send_each_message_once(tmp_path: Path) -> None:
    database, outbox = tmp_path / "w.duckdb", tmp_path / "outbox.jsonl"
    store = store_at(database)
    create(store, NAME)
    start(store, NAME, 600)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    # 2 ms a message, a fast provider's round trip: each runner leaves the file free while
    # it sends, so both get groups to claim.
    runners = [_runner(database, outbox, 0, 0.002, barrier) for _ in range(2)]
    outputs = [runner.communicate(timeout=300)[0] for runner in runners]
    assert [runner.returncode for runner in runners] == [0, 0], outputs
    sent = [int(output.split()[0]) for output in outputs]
    assert sum(sent) == 600 and min(sent) > 0, sent  # both sent, neither twice
    recipients = _recipients(outbox)
    assert len(recipients) == 600 and set(recipients.values()) == {1}
    assert store.states(NAME) == {"sent": 600} and store.status(NAME) == "Completed"


def test_a_pause_from_another_process_stops_a_fast_runner_within_10_sends(
        tmp_path: Path) -> None:
    database, outbox = tmp_path / "w.duckdb", tmp_path / "outbox.jsonl"
    store = store_at(database)
    create(store, NAME)
    start(store, NAME, 3000)
    runner = _runner(database, outbox)  # no delay: it reopens the file every few ms
    deadline = time.monotonic() + 60
    while sum(_recipients(outbox).values()) < 200 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert store.apply_command(NAME, "pause", T0) == ("Active", "Paused")
    runner.communicate(timeout=60)
    lines = FileProvider(outbox).lines()
    # Sent while the request marker was there (the provider looks at each send): at most
    # the 10 of one status check.
    after = sum(line["watched"] for line in lines)
    assert after <= 10 and len(lines) < 3000, after
    assert store.status(NAME) == "Paused" and store.states(NAME)["queued"] >= 2000
