"""SMS engine benchmark: 100,000 queued messages of one campaign sent by the runner
(adapters/sms_runner.py: claim a group → render → send with the warehouse closed → record
the group, read the status and claim the next, one transaction) through an in-process
provider that accepts at once, with the throttle and quiet hours off: the engine's own
overhead (target ≥ 1,000 messages/s on 2 cores).

A pause is issued from inside the provider at the half-way message (``apply_command``, as
the CLI would: it announces itself with the request marker, then commits): the figure is how
many messages went after it (target ≤ 10). The campaign is then resumed and finished.

Each group size (``--progress-every``: the messages per warehouse transaction, and so how
often the counters move) runs on a fresh DuckDB file. Prints figures; asserts nothing.

    python bench/bench_sms.py [--messages 100000] [--progress-every 25,100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from campaign_pipelines.adapters.sms.protocol import SmsAccepted, SmsMessage
from campaign_pipelines.adapters.sms_runner import run_campaign
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.sms.campaign import parse_campaign
from campaign_pipelines.core.sms.ledger import with_idempotency_keys

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
    """Accepts at once; optionally pauses the campaign at one message."""

    name = "accepting"

    def __init__(self, store: SmsStore, pause_at: int | None):
        self.store, self.pause_at, self.count, self.paused_after = store, pause_at, 0, None

    def send(self, message: SmsMessage) -> SmsAccepted:
        self.count += 1
        if self.paused_after is not None:
            self.paused_after += 1
        if self.count == self.pause_at:
            self.store.apply_command(NAME, "pause", T0)
            self.paused_after = 0
        return SmsAccepted(message.idempotency_key, "queued")

    def find_sent(self, message: SmsMessage, since: datetime) -> SmsAccepted | None:
        return None

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


def _run(store: SmsStore, provider: _Accepting, progress_every: int):
    started = time.perf_counter()
    report = run_campaign(store, provider, NAME, now=T0, quiet_hours=None, throttle=None,
                          stop_hint=STOP_HINT, progress_every=progress_every,
                          log=lambda _: None)
    return report, time.perf_counter() - started


def bench(messages: int, progress_every: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = _store(Path(folder), messages)
        provider = _Accepting(store, pause_at=messages // 2 + 3)  # mid-group
        first, first_s = _run(store, provider, progress_every)
        after_pause = provider.paused_after
        store.apply_command(NAME, "resume", T0)
        provider.pause_at = None
        second, second_s = _run(store, provider, progress_every)
        sent, seconds = first.sent + second.sent, first_s + second_s
        states = store.states(NAME)
    print(f"  groups of {progress_every:>3} (counters every {progress_every}): "
          f"{sent:>7,} sent in {seconds:6.1f} s  {sent / seconds:6,.0f} messages/s   "
          f"pause at {messages // 2 + 3:,}: {after_pause} sent after it ({first.stopped_because}); "
          f"resumed: {second.sent:,} ({second.status}); ledger {states}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--progress-every", default="25,100",
                        help="group sizes to run, comma-separated (the default is 25)")
    args = parser.parse_args()
    print(f"Sending {args.messages:,} queued SMS through a provider that accepts at once, "
          "throttle and quiet hours off (target >= 1,000 messages/s, pause within 10):")
    for size in (int(part) for part in args.progress_every.split(",")):
        bench(args.messages, size)


if __name__ == "__main__":
    main()
