"""Sending due e-mails on real DuckDB files: the outbox, the loopback Resend fake, faults and a
sender killed between the provider's acceptance and the ledger's record. No Dagster here."""

import email
from datetime import timedelta
from email import policy

import polars as pl
import pytest

from campaign_pipelines.adapters.alerts import AlertRejected, AlertUnavailable
from campaign_pipelines.adapters.email.outbox import OutboxProvider
from campaign_pipelines.adapters.email.resend import ResendProvider
from campaign_pipelines.adapters.sequence_sender import (
    ProviderDown,
    Sender,
    SendRetry,
    post_alerts,
    send_due,
)
from campaign_pipelines.adapters.sequence_store import ENROLLMENTS, LEDGER, TRACKING
from campaign_pipelines.core.sequences.plan import SENDING_LEASE
from campaign_pipelines_tests.fakes.email_api import FakeEmailApi
from campaign_pipelines_tests.sequences.test_core import DEFINITIONS, T0, record
from campaign_pipelines_tests.sequences.test_store import admit, store

SENDER = Sender("drip@example.com", "test-secret", "http://127.0.0.1:8000")
FAST = SendRetry(attempts=4, wait_initial_s=0.01, wait_max_s=0.02, retry_after_cap_s=0.5)
AT_7 = T0 + timedelta(minutes=7)


def quiet(_: str) -> None:
    pass


def enrolled(tmp_path):
    s = store(tmp_path)
    admit(s, record("crit@x.org", T0, red=2), record("urg@x.org", T0, red=1),
          record("opt@x.org", T0, orange=1), record("gone@x.org", T0),
          record("CRIT@x.org", T0 + timedelta(seconds=1)))
    s.suppress(pl.DataFrame({"address_key": ["gone@x.org"], "reason": ["unsubscribed"],
                             "source": ["link"], "received_at": [T0]}), T0)
    return s


def test_seven_emails_each_in_order_with_the_segments_template(tmp_path):
    s = enrolled(tmp_path)
    outbox = OutboxProvider(tmp_path / "outbox")
    report = send_due(s, outbox, DEFINITIONS, SENDER, AT_7, FAST, batch=5, log=quiet)
    assert report.sent == 21
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 21
    messages = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    per_address: dict[str, list] = {}
    for message in messages:
        per_address.setdefault(message["To"], []).append(message)
    assert sorted(per_address) == ["crit@x.org", "opt@x.org", "urg@x.org"]
    for address, got in per_address.items():
        assert len(got) == 7
        tag = f"[{address.split('@')[0][:3]}"
        for message in got:
            assert message.get_body(("plain",)).get_content().count(tag) == 1
            assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/unsub")
    ledger = s.table(LEDGER).sort("sent_at")
    sent = ledger.filter(pl.col("state") == "sent")
    for address in per_address:
        numbers = sent.filter(pl.col("address_key") == address)["email_number"].to_list()
        assert numbers == list(range(1, 8))  # sent in order
    tracking = s.table(TRACKING)
    assert tracking.filter(pl.col("address_key") != "gone@x.org")[
        [f"email_{n}_sent_at" for n in range(1, 8)]].null_count().sum_horizontal()[0] == 0
    again = send_due(s, outbox, DEFINITIONS, SENDER, AT_7 + timedelta(days=30), FAST, log=quiet)
    assert again.sent == 0 and len(list((tmp_path / "outbox").glob("*.eml"))) == 21


def test_tracking_fills_as_emails_are_sent(tmp_path):
    s = store(tmp_path)
    admit(s, record("a@x.org", T0))
    outbox = OutboxProvider(tmp_path / "outbox")
    for minute in range(7):
        send_due(s, outbox, DEFINITIONS, SENDER, T0 + timedelta(minutes=minute, seconds=1),
                 FAST, log=quiet)
        row = s.table(TRACKING).row(0, named=True)
        filled = [row[f"email_{n}_sent_at"] is not None for n in range(1, 8)]
        assert filled == [n <= minute for n in range(7)]


class KilledAfterAcceptance(BaseException):
    """What a SIGKILL looks like to the code after it: nothing more runs."""


class DiesAfter:
    def __init__(self, provider, sends: int):
        self.provider, self.left, self.name = provider, sends, provider.name

    def send(self, message):
        accepted = self.provider.send(message)
        self.left -= 1
        if self.left == 0:
            raise KilledAfterAcceptance
        return accepted


def test_a_sender_killed_before_recording_resends_with_the_same_key_delivered_once(tmp_path):
    s = store(tmp_path)
    admit(s, record("a@x.org", T0))
    with FakeEmailApi() as api, ResendProvider(api.api_key, base_url=api.url) as resend:
        with pytest.raises(KilledAfterAcceptance):
            send_due(s, DiesAfter(resend, 3), DEFINITIONS, SENDER, AT_7, FAST, log=quiet)
        assert set(s.table(LEDGER)["state"]) == {"sending"}  # the batch was claimed
        assert len(api.delivered) == 3
        send_due(s, resend, DEFINITIONS, SENDER, AT_7 + timedelta(minutes=1), FAST, log=quiet)
        assert len(api.delivered) == 3  # within the lease: the claims are not taken again
        report = send_due(s, resend, DEFINITIONS, SENDER, AT_7 + SENDING_LEASE, FAST,
                          log=quiet)
        keys = [m["idempotency_key"] for m in api.delivered]
        assert report.sent == 7 and len(keys) == 7 == len(set(keys))
        assert api.calls == 10  # three sent twice, delivered once
    assert set(s.table(LEDGER)["state"]) == {"sent"}


def test_provider_faults_lose_nothing_and_duplicate_nothing(tmp_path):
    s = store(tmp_path)
    admit(s, record("a@x.org", T0), record("b@x.org", T0, red=3))
    with FakeEmailApi() as api:
        resend = ResendProvider(api.api_key, base_url=api.url, timeout=0.3)
        api.fail_next(2, 500)
        api.fail_next(1, 429, retry_after=0.05)
        api.hang_next(1, seconds=0.6)  # the client times out; the fake delivers anyway
        api.drop_next(1)
        api.drop_next(1, after_delivery=True)
        api.reject("b@x.org", "recipient refused")
        # The first message meets all six faults; the waits outlast the hung request (until it
        # ends, its key is "in progress"): it is delivered 0.3 s after the client gave up, and
        # the key is next looked at two 0.3 s waits later (the drop in between looks at none).
        patient = SendRetry(attempts=8, wait_initial_s=0.05, wait_max_s=0.3, retry_after_cap_s=1)
        report = send_due(s, resend, DEFINITIONS, SENDER, AT_7, patient, log=quiet)
        assert (report.sent, report.failed) == (7, 7)
        failed = s.table(LEDGER, "b@x.org")
        assert set(failed["state"]) == {"failed"}
        assert all("recipient refused" in e for e in failed["last_error"])
        keys = [m["idempotency_key"] for m in api.delivered]
        assert len(keys) == 7 == len(set(keys))
        resend.close()


def test_a_provider_that_stays_down_releases_the_batch_with_its_error(tmp_path):
    s = store(tmp_path)
    admit(s, record("a@x.org", T0))
    refused = ResendProvider("re_key", base_url="http://127.0.0.1:9", timeout=0.2)
    with pytest.raises(ProviderDown, match="unavailable after 4 attempts"):
        send_due(s, refused, DEFINITIONS, SENDER, AT_7, FAST, log=quiet)
    ledger = s.table(LEDGER)
    assert set(ledger["state"]) == {"queued"}
    assert all("unavailable" in e for e in ledger["last_error"])
    outbox = OutboxProvider(tmp_path / "outbox")
    assert send_due(s, outbox, DEFINITIONS, SENDER, AT_7, FAST, log=quiet).sent == 7


class Webhook:
    def __init__(self, *failures: Exception):
        self.failures = list(failures)
        self.posted: list = []

    def alert_signup(self, alert):
        if self.failures:
            raise self.failures.pop(0)
        self.posted.append(alert)


def test_critical_alerts_are_posted_once_and_a_failure_is_retried_later(tmp_path):
    s = store(tmp_path)
    admit(s, record("a@x.org", T0, red=2), record("b@x.org", T0))
    webhook = Webhook(AlertUnavailable("webhook down"))
    assert post_alerts(s, webhook, T0, log=quiet) == {"pending": 1}
    assert post_alerts(s, webhook, T0, log=quiet) == {"sent": 1}
    assert post_alerts(s, webhook, T0, log=quiet) == {}
    assert [(a.email, a.segment) for a in webhook.posted] == [("a@x.org", "CRITICAL")]
    row = s.table(ENROLLMENTS, "a@x.org").row(0, named=True)
    assert (row["alert_state"], row["alert_attempts"]) == ("sent", 2)
    admit(s, record("c@x.org", T0, red=5))
    assert post_alerts(s, Webhook(AlertRejected("404")), T0, log=quiet) == {"failed": 1}
    admit(s, record("d@x.org", T0, red=5))
    assert post_alerts(s, None, T0, log=quiet) == {"skipped": 1}


def test_the_readme_retries_table_states_the_send_numbers():
    from campaign_pipelines.core.sequences.plan import ALERT_ATTEMPTS, MAX_ATTEMPTS
    from campaign_pipelines_tests.test_retries import _row, _seconds, readme_table

    table, retry = readme_table(), SendRetry()
    send = _row(table, "E-mail send, one message")
    assert int(send["attempts"]) == retry.attempts
    assert _seconds(send["waits (s)"]) == retry.waits_s()
    assert f"up to {retry.retry_after_cap_s:g} s" in send["worst case"]
    assert f"at most {retry.worst_wait_s():g} s of waits" in send["worst case"]
    assert int(_row(table, "E-mail ledger row")["attempts"]) == MAX_ATTEMPTS
    assert f"{SENDING_LEASE.total_seconds() / 60:g} min" in _row(
        table, "E-mail ledger row")["worst case"]
    assert int(_row(table, "CRITICAL alert")["attempts"]) == ALERT_ATTEMPTS


def test_a_batch_past_its_time_budget_hands_its_rest_to_the_next_batch(tmp_path, monkeypatch):
    from campaign_pipelines.adapters import sequence_sender

    monkeypatch.setattr(sequence_sender, "BATCH_BUDGET_S", 0.0)  # one message per batch
    s = store(tmp_path)
    admit(s, record("a@x.org", T0))
    batches = []
    record_results = type(s).record_results
    monkeypatch.setattr(type(s), "record_results", lambda self, results, now: (
        batches.append(results["state"].to_list()), record_results(self, results, now))[1])
    report = send_due(s, OutboxProvider(tmp_path / "outbox"), DEFINITIONS, SENDER, AT_7, FAST,
                      log=quiet)
    assert report.sent == 7 and set(s.table(LEDGER)["state"]) == {"sent"}
    assert batches[0] == ["sent"] + ["queued"] * 6 and len(batches) == 7


class Mirror:
    def __init__(self, fail: bool = False):
        self.fail = fail
        self.rows: list = []

    def upsert(self, row):
        if self.fail:
            raise ConnectionError("notion down")
        self.rows.append(row)
        return "page"


def test_the_tracking_mirror_gets_each_changed_enrollment_once(tmp_path):
    from campaign_pipelines.adapters.sequence_sender import sync_tracking

    s = store(tmp_path)
    admit(s, record("a@x.org", T0, red=1))
    outbox = OutboxProvider(tmp_path / "outbox")
    send_due(s, outbox, DEFINITIONS, SENDER, T0 + timedelta(minutes=2, seconds=1), FAST,
             log=quiet)
    assert sync_tracking(s, Mirror(fail=True), log=quiet) == {"synced": 0, "failed": 1,
                                                              "left": 1}
    mirror = Mirror()
    assert sync_tracking(s, mirror, log=quiet)["synced"] == 1
    assert (mirror.rows[0].segment, sorted(mirror.rows[0].sent_at)) == ("URGENT", [1, 2, 3])
    assert sync_tracking(s, mirror, log=quiet)["synced"] == 0  # nothing changed since
    send_due(s, outbox, DEFINITIONS, SENDER, AT_7, FAST, log=quiet)
    sync_tracking(s, mirror, log=quiet)
    assert sorted(mirror.rows[-1].sent_at) == list(range(1, 8))
    assert sync_tracking(s, None, log=quiet) == {}


def test_a_window_of_rows_given_up_on_does_not_end_the_run_before_the_rows_behind_it(tmp_path):
    from campaign_pipelines.core.sequences.plan import MAX_ATTEMPTS

    s = store(tmp_path)
    admit(s, record("a@x.org", T0), record("b@x.org", T0 + timedelta(minutes=10)))
    with s.warehouse.connect() as connection:
        connection.execute(f"UPDATE {LEDGER} SET attempts = {MAX_ATTEMPTS} "  # noqa: S608
                           "WHERE address_key = 'a@x.org'")
    # batch=1 reads 4 candidates at a time: the first window holds only a's exhausted rows.
    report = send_due(s, OutboxProvider(tmp_path / "outbox"), DEFINITIONS, SENDER,
                      T0 + timedelta(minutes=20), FAST, batch=1, log=quiet)
    assert (report.sent, report.gave_up) == (7, 7)
