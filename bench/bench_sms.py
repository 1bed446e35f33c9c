"""SMS engine benchmark: 100,000 queued messages of one campaign sent by the runner
(adapters/sms_runner.py: claim a batch → render → send with the warehouse closed, journalling
each outcome → counters every 25 messages → record the batch and claim the next) with the
throttle and quiet hours off, through each provider asked for:

- ``outbox``: the embedded default (one fsynced JSON line per message);
- ``http``: the Twilio provider against the loopback fake Twilio API (campaign_pipelines_tests/
  fakes/twilio_api.py: a real HTTP/1.1 server on 127.0.0.1, keep-alive);
- ``accepting``: an in-process provider that accepts at once (the engine alone).

Each provider runs on a fresh DuckDB file. The figures: messages/s over the whole run, and
the engine's overhead in messages/s, i.e. the run's time less the time spent inside
``provider.send`` (the fsync of the outbox line, the HTTP round trip and the fake server's
own work on the 2 shared cores): the issue's target is ≥ 1,000 messages/s of engine overhead.

A pause is issued at the half-way message, as the CLI would (``apply_command``: the request
marker, then the commit), right after the provider accepted it: the figure is how many
messages went out after it (target ≤ 10). The campaign is then resumed and finished, and the
ledger must hold every message once (the outbox's and the fake's counts are checked too).
Prints figures; asserts only that nothing was lost or sent twice.

    python bench/bench_sms.py [--messages 100000] [--providers outbox,http] [--batch 500]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from campaign_pipelines.adapters.sequence_sender import SendRetry
from campaign_pipelines.adapters.sms.outbox import SmsOutbox
from campaign_pipelines.adapters.sms.protocol import SmsAccepted, SmsMessage, SmsProvider
from campaign_pipelines.adapters.sms.twilio import TwilioProvider
from campaign_pipelines.adapters.sms_runner import BATCH, run_campaign
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.sms.campaign import parse_campaign
from campaign_pipelines.core.sms.ledger import with_idempotency_keys
from campaign_pipelines_tests.fakes.twilio_api import FakeTwilioApi

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
NAME = "bench-sms"
STOP_HINT = "STOP: 7575"
CAMPAIGN = f"""
name: {NAME}
template: "Hi {{{{ first_name }}}}, your December cashback is waiting. {{{{ stop_hint }}}}"
sender: MyBank
start_at: "2026-12-01T06:00:00+00:00"
prospects:
  campaign_code: C000000123
"""


class _Accepting:
    name = "accepting"

    def send(self, message: SmsMessage) -> SmsAccepted:
        return SmsAccepted(message.idempotency_key, "queued")

    def find_sent(self, message: SmsMessage, since: datetime) -> SmsAccepted | None:
        return None

    def close(self) -> None:
        pass


class _Timed:
    """Delegates to ``inner``, adds up the time spent in its ``send``, and pauses the
    campaign right after the ``pause_at``-th message was accepted."""

    def __init__(self, inner: SmsProvider, store: SmsStore, pause_at: int | None):
        self.inner, self.store, self.pause_at = inner, store, pause_at
        self.name = inner.name
        self.count, self.paused_after, self.send_s = 0, None, 0.0

    def send(self, message: SmsMessage) -> SmsAccepted:
        self.count += 1
        started = time.perf_counter()
        accepted = self.inner.send(message)
        self.send_s += time.perf_counter() - started
        if self.paused_after is not None:
            self.paused_after += 1
        if self.count == self.pause_at:
            self.store.apply_command(NAME, "pause", T0)
            self.paused_after = 0
        return accepted

    def find_sent(self, message: SmsMessage, since: datetime) -> SmsAccepted | None:
        return self.inner.find_sent(message, since)

    def close(self) -> None:
        pass


def _store(folder: Path, messages: int) -> SmsStore:
    store = SmsStore(DuckDBWarehouse(folder / "w.duckdb"))
    store.put_campaign(parse_campaign(CAMPAIGN.encode(), "bench.yaml", now=T0,
                                      stop_hint=STOP_HINT), T0)
    prospects = pl.DataFrame({"phone_e164": [f"+7701{n:07d}" for n in range(messages)],
                              "first_name": ["Айгерім"] * messages})
    store.start(NAME, with_idempotency_keys(prospects, NAME), T0)
    return store


def _provider(kind: str, folder: Path, stack: ExitStack
              ) -> tuple[SmsProvider, Callable[[], int | None]]:
    """The provider, and how many messages it holds at the end."""
    if kind == "outbox":
        outbox = SmsOutbox(folder / "outbox")
        stack.callback(outbox.close)
        path = outbox.path_for(NAME)
        return outbox, lambda: len({json.loads(line)["idempotency_key"]
                                    for line in path.read_text().splitlines()})
    if kind == "http":
        api = stack.enter_context(FakeTwilioApi())
        twilio = stack.enter_context(TwilioProvider(
            api.account_sid, api.auth_token, base_url=api.url, timeout=5.0,
            retry=SendRetry(attempts=2, wait_initial_s=0.01, wait_max_s=0.02)))
        return twilio, lambda: len(api.requests)
    if kind == "accepting":
        return _Accepting(), lambda: None
    raise SystemExit(f"--providers: {kind!r} is not outbox, http or accepting")


def bench(kind: str, messages: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        store = _store(Path(folder), messages)
        inner, held = _provider(kind, Path(folder), stack)
        provider = _Timed(inner, store, pause_at=messages // 2 + 3)  # mid-batch
        started = time.perf_counter()
        first = run_campaign(store, provider, NAME, now=T0, quiet_hours=None, stop_hint=STOP_HINT,
                             batch=batch, log=lambda _: None)
        after_pause = provider.paused_after
        store.apply_command(NAME, "resume", T0)
        provider.pause_at = None
        second = run_campaign(store, provider, NAME, now=T0, quiet_hours=None,
                              stop_hint=STOP_HINT, batch=batch, log=lambda _: None)
        seconds = time.perf_counter() - started
        sent, states, status = first.sent + second.sent, store.states(NAME), store.status(NAME)
        held_by_provider = held()
    assert states == {"sent": messages} and sent == messages, (states, sent)
    assert held_by_provider in (None, messages), held_by_provider
    engine_s = seconds - provider.send_s
    print(f"  {kind:>9}: {sent:>7,} sent in {seconds:6.1f} s = {sent / seconds:6,.0f} messages/s; "
          f"engine overhead {engine_s:5.1f} s = {sent / engine_s:6,.0f} messages/s "
          f"(in the provider: {provider.send_s:5.1f} s); pause at {messages // 2 + 3:,}: "
          f"{after_pause} sent after it ({first.stopped_because}); resumed: {second.sent:,} "
          f"({status})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--providers", default="outbox,http",
                        help="comma-separated: outbox, http (the loopback fake Twilio), "
                        "accepting (in-process)")
    parser.add_argument("--batch", type=int, default=BATCH,
                        help="rows claimed and recorded per warehouse transaction")
    args = parser.parse_args()
    print(f"Sending {args.messages:,} queued SMS, throttle and quiet hours off, batches of "
          f"{args.batch}, counters every 25 (target >= 1,000 messages/s of engine overhead, "
          "pause within 10):")
    for kind in args.providers.split(","):
        bench(kind.strip(), args.messages, args.batch)


if __name__ == "__main__":
    main()
