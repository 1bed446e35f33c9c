"""A sender killed for real: `campaigns sequences send-due` in a child process, SIGKILLed by
the loopback Resend fake after it stored an e-mail and before it answered, so before the
ledger could record it. The rerun after SENDING_LEASE sends that e-mail again with the same
Idempotency-Key and the fake, as Resend does, answers it without a second delivery. The rerun
is the same command run in the test process: it only has to find what the killed one left.

The lease itself (no rerun within it) is test_sending.py's in-process test."""

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from campaign_pipelines.adapters.sequence_store import LEDGER
from campaign_pipelines.core.sequences.plan import SENDING_LEASE
from campaign_pipelines.defs.resources import build_resources, sequence_store
from campaign_pipelines_tests.fakes.email_api import FakeEmailApi
from campaign_pipelines_tests.sequences.test_core import T0, record
from campaign_pipelines_tests.sequences.test_store import admit
from campaign_pipelines_tests.templates import campaigns_here

ADDRESSES = {"crit@x.org": {"red": 2}, "urg@x.org": {"red": 1}, "opt@x.org": {"orange": 1}}
KILL_AT = 10  # of the 21 deliveries: the sender has recorded nothing (one batch of 250)
AT_7 = T0 + timedelta(minutes=7)
CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))

class KillOnDelivery:
    """The fake's hook: SIGKILL the child on the ``at``-th delivery, before it is answered."""

    def __init__(self, at: int):
        self.at, self.count = at, 0
        self.child: subprocess.Popen | None = None
        self.killed: dict | None = None

    def __call__(self, message: dict) -> None:
        self.count += 1
        if self.count == self.at and self.child is not None:
            self.killed = message
            os.kill(self.child.pid, signal.SIGKILL)
            self.child.wait(timeout=30)  # dead before the answer goes out


def send_due(now, api: FakeEmailApi, killer: KillOnDelivery | None = None):
    child = subprocess.Popen(
        [CAMPAIGNS, "sequences", "send-due", "--now", now.isoformat()],
        env={**os.environ, "CAMPAIGN_RESEND_BASE_URL": api.url}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    if killer is not None:
        killer.child = child
    out, err = child.communicate(timeout=60)
    return child.returncode, out, err


@pytest.fixture
def enrolled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Three addresses enrolled in the DuckDB file the command opens (the same settings)."""
    monkeypatch.setenv("CAMPAIGN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CAMPAIGN_EMAIL_PROVIDER", "resend")
    monkeypatch.setenv("RESEND_API_KEY", "re_killed_key")
    monkeypatch.setenv("UNSUBSCRIBE_SECRET", "test-secret")
    resources = build_resources()
    store = sequence_store(resources["warehouse"], resources["campaign_data"])
    admit(store, *(record(address, T0, **systems) for address, systems in ADDRESSES.items()))
    return store


def send_due_here(now, api: FakeEmailApi, monkeypatch, capsys):
    """``campaigns sequences send-due`` in this process: its exit code, stdout and stderr."""
    monkeypatch.setenv("CAMPAIGN_RESEND_BASE_URL", api.url)
    return campaigns_here(capsys, "sequences", "send-due", "--now", now.isoformat())


@pytest.mark.long_pole(seconds=6)
def test_a_sender_killed_after_acceptance_resends_with_the_same_key_delivered_once(
    enrolled, monkeypatch, capsys
):
    with FakeEmailApi(api_key="re_killed_key") as api:
        killer = KillOnDelivery(KILL_AT)
        api.when_delivered(killer)
        code, _, err = send_due(AT_7, api, killer)
        assert code == -signal.SIGKILL, err
        killed = killer.killed
        assert killed is not None and len(api.delivered) == KILL_AT
        key = killed["idempotency_key"]
        ledger = enrolled.table(LEDGER)
        killed_row = ledger.filter(pl.col("idempotency_key") == key).row(0, named=True)
        assert (killed_row["state"], killed_row["sent_at"]) == ("sending", None)
        assert set(ledger["state"]) == {"sending"}  # claimed, none recorded

        api.when_delivered(None)
        code, out, err = send_due_here(AT_7 + SENDING_LEASE, api, monkeypatch, capsys)
        assert code == 0, err
        assert json.loads(out[out.index("{"):])["sent"] == 21
        assert "killed or crashed" in err  # the dead run was marked failed by the rerun

        delivered = api.delivered
        per_address = Counter(m["to"][0] for m in delivered)
        assert per_address == dict.fromkeys(ADDRESSES, 7)
        assert len({m["idempotency_key"] for m in delivered}) == 21
        assert api.requested_keys.count(key) == 2
        assert [m["id"] for m in delivered if m["idempotency_key"] == key] == [killed["id"]]
    ledger = enrolled.table(LEDGER)
    assert set(ledger["state"]) == {"sent"}
    recorded = ledger.filter(pl.col("idempotency_key") == key).row(0, named=True)
    assert recorded["provider_message_id"] == killed["id"]  # the first answer, replayed
