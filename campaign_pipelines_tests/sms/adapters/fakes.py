"""Strict in-test SMS providers (the protocol of adapters/sms/protocol.py) and a campaign
builder: ``MemoryProvider`` keeps what it accepted in a list; ``FileProvider`` appends one
JSON line per accepted message to a file (flock, fsync), like the outbox, so that separate
processes share it and a killed one leaves what it accepted."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from campaign_pipelines.adapters.sms.protocol import SmsAccepted, SmsMessage, SmsRefused
from campaign_pipelines.adapters.sms_start import Prospects
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBWarehouse
from campaign_pipelines.core.sms.campaign import parse_campaign
from campaign_pipelines.core.sms.ledger import with_idempotency_keys
from campaign_pipelines.core.sms.quiet_hours import QuietHours

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 11:00 in Almaty: inside the window
STOP_HINT = "STOP: 7575"
NO_QUIET_HOURS: QuietHours | None = None


def phone(n: int) -> str:
    return f"+7701{n:07d}"


def store_at(path: Path) -> SmsStore:
    store = SmsStore(DuckDBWarehouse(path))
    store.ensure_tables()
    return store


def create(store: SmsStore, name: str = "dec-cashback", *, start_at: datetime = T0,
           end_at: datetime | None = None, throttle: float | None = None,
           template: str = "Hi {{ first_name }}, cashback awaits. {{ stop_hint }}",
           now: datetime = T0 - timedelta(hours=1)) -> str:
    lines = [f"name: {name}", f"template: {json.dumps(template)}", "sender: MyBank",
             f'start_at: "{start_at.isoformat()}"', "prospects:", "  campaign_code: C000000123"]
    if end_at is not None:
        lines.append(f'end_at: "{end_at.isoformat()}"')
    if throttle is not None:
        lines.append(f"throttle_per_second: {throttle}")
    parsed = parse_campaign("\n".join(lines).encode(), f"{name}.yaml", now=now,
                            stop_hint=STOP_HINT)
    return store.put_campaign(parsed, now)


def prospects(name: str, count: int, first: int = 0) -> Prospects:
    frame = pl.DataFrame({"phone_e164": [phone(n) for n in range(first, first + count)],
                          "first_name": [f"Ann{n}" for n in range(first, first + count)]})
    return Prospects(with_idempotency_keys(frame, name))


def start(store: SmsStore, name: str, count: int, now: datetime = T0) -> None:
    store.start(name, prospects(name, count).rows, now)


class MemoryProvider:
    name = "memory"

    def __init__(self, hook: Callable[[int, SmsMessage], None] | None = None,
                 refuse: dict[str, SmsRefused] | None = None):
        self.sent: list[SmsMessage] = []
        self.hook, self.refuse = hook, refuse or {}

    def send(self, message: SmsMessage) -> SmsAccepted:
        assert message.to.startswith("+") and message.body and message.idempotency_key
        if message.to in self.refuse:
            raise self.refuse[message.to]
        self.sent.append(message)
        if self.hook is not None:
            self.hook(len(self.sent), message)
        return SmsAccepted(f"SM{len(self.sent):08d}", "queued")

    def find_sent(self, message: SmsMessage, since: datetime) -> SmsAccepted | None:
        for n, sent in enumerate(self.sent, start=1):
            if (sent.to, sent.sender, sent.body) == (message.to, message.sender, message.body):
                return SmsAccepted(f"SM{n:08d}", "queued")
        return None

    def close(self) -> None:
        pass


class FileProvider:
    """Accepts by appending a line to ``path``; ``kill_at``: SIGKILLs its own process right
    after the Nth line is written and fsynced, before ``send`` returns; ``delay_s``: waits
    that long before each acceptance; ``watch``: a file whose presence at each send the
    line records (``watched``: a pause request marker, say)."""

    name = "file"

    def __init__(self, path: Path, kill_at: int | None = None, delay_s: float = 0.0,
                 watch: Path | None = None):
        self.path, self.kill_at, self.accepted_here = Path(path), kill_at, 0
        self.delay_s = delay_s  # a provider's round trip
        self.watch = watch

    def lines(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]

    def send(self, message: SmsMessage) -> SmsAccepted:
        time.sleep(self.delay_s)
        with open(self.path, "a+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            file.seek(0)
            count = sum(1 for _ in file)
            provider_id = f"SM{os.getpid()}x{count + 1}"
            file.write(json.dumps({"to": message.to, "body": message.body,
                                   "sender": message.sender, "campaign": message.campaign,
                                   "idempotency_key": message.idempotency_key,
                                   "provider_message_id": provider_id,
                                   "watched": self.watch is not None and self.watch.exists(),
                                   }) + "\n")
            file.flush()
            os.fsync(file.fileno())
        self.accepted_here += 1
        if self.kill_at is not None and self.accepted_here == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return SmsAccepted(provider_id, "queued")

    def find_sent(self, message: SmsMessage, since: datetime) -> SmsAccepted | None:
        for line in self.lines():
            if (line["to"], line["sender"], line["body"]) == (
                    message.to, message.sender, message.body):
                return SmsAccepted(line["provider_message_id"], "queued")
        return None

    def close(self) -> None:
        pass
