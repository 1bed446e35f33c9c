"""One SMS run's parts (adapters/sms_runner.py sends with them): why it stopped, what it
reports, who claims (claimer ids a rerun can judge dead), the run's context (store, provider,
clock, throttles, quiet hours, journal folder), the outcome rows it records, and the dry run."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl

from campaign_pipelines.adapters.processes import process_gone, process_start
from campaign_pipelines.adapters.sms.protocol import SmsMessage, SmsProvider
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.sms_store_sql import RESULT_SCHEMA
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.sms.lifecycle import Status
from campaign_pipelines.core.sms.phones import recipient_time_zone
from campaign_pipelines.core.sms.quiet_hours import QuietHours
from campaign_pipelines.core.sms.template import MessageError, render_message
from campaign_pipelines.core.sms.throttle import TokenBucket

ERROR_CHARS = 500
DRY_RUN_CAP = 100_000


class Stop(StrEnum):
    COMPLETED = "completed"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    LIMIT = "limit"
    QUIET_HOURS = "quiet_hours"
    PROVIDER_DOWN = "provider_down"
    ENDED = "ended"
    NOT_ACTIVE = "not_active"  # Scheduled: not started yet
    OTHERS_SENDING = "others_sending"  # nothing queued; another runner holds the last claims
    DRY_RUN = "dry_run"


@dataclass
class RunReport:
    campaign: str
    sent: int = 0
    failed: int = 0
    suppressed: int = 0  # at the claim (suppressed numbers) and by the provider (21610)
    attempted: int = 0  # messages given to the provider or failed rendering: what --limit counts
    left_queued: int = 0
    stopped_because: Stop | None = None
    next_opening: datetime | None = None  # with quiet_hours
    status: Status | None = None  # after the run
    reconciled_sent: int = 0  # a dead runner's rows the provider had (find_sent)
    reconciled_requeued: int = 0  # ... it had not, or that were never tried: queued again
    reconciled_from_journal: int = 0  # ... whose outcome the dead runner's journal held
    reconciled_asked: int = 0  # find_sent calls made
    would_send: int = 0  # dry runs
    errors: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {"campaign": self.campaign, "sent": self.sent, "failed": self.failed,
                "suppressed": self.suppressed, "left_queued": self.left_queued,
                "stopped_because": str(self.stopped_because),
                "next_opening": self.next_opening.isoformat() if self.next_opening else None,
                "status": str(self.status), "reconciled_sent": self.reconciled_sent,
                "reconciled_requeued": self.reconciled_requeued,
                "reconciled_from_journal": self.reconciled_from_journal,
                "would_send": self.would_send, "errors": self.errors[:10]}


def claimer_id() -> str:
    """host/pid/start/run: who holds a claim, so that a rerun can tell a dead runner's claims
    (``start``, the process's start time, tells a reused pid apart; ``-`` where unknown)."""
    started = process_start(os.getpid()) or "-"
    return f"{socket.gethostname()}/{os.getpid()}/{started}/{uuid.uuid4().hex[:12]}"


def claimer_is_dead(claimer: str | None) -> bool:
    """True when ``claimer`` ran on this host and its process is gone (or its pid now names
    another process); claims from other hosts wait for LEASE. A claimer written without a
    start time (host/pid/run) counts as alive while its pid is."""
    parts = (claimer or "").split("/")
    if len(parts) not in (3, 4) or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    started = parts[2] if len(parts) == 4 and parts[2] != "-" else None
    return process_gone(int(parts[1]), started)


@dataclass
class Run:
    store: SmsStore
    provider: SmsProvider
    campaign: dict
    report: RunReport
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    monotonic: Callable[[], float]
    quiet_hours: QuietHours | None
    buckets: list[TokenBucket]
    stop_hint: str
    max_segments: int
    status_callback: str | None
    log: Callable[[str], None]
    claimer: str = field(default_factory=claimer_id)
    stamp: str | None = None  # the suppressions stamp when the batch was claimed

    @property
    def name(self) -> str:
        return self.campaign["name"]

    def message(self, row: dict) -> SmsMessage:
        text = render_message(self.campaign["template"], first_name=row["first_name"],
                              campaign=self.name, stop_hint=self.stop_hint,
                              max_segments=self.max_segments).text
        return SmsMessage(to=row["phone_e164"], body=text, sender=self.campaign["sender"],
                          campaign=self.name, idempotency_key=row["idempotency_key"],
                          status_callback=self.status_callback)

    def closed_until(self, phone: str, now: datetime) -> datetime | None:
        """None when ``phone`` may be texted at ``now``, else the window's next opening."""
        if self.quiet_hours is None:
            return None
        window = _window(self.quiet_hours, recipient_time_zone(phone, str(self.quiet_hours.zone)))
        return None if window.is_open(now) else window.next_opening(now)


@lru_cache(maxsize=64)
def _window(hours: QuietHours, zone: str) -> QuietHours:
    return hours if zone == str(hours.zone) else replace(hours, zone=ZoneInfo(zone))


def released(rows: list[dict], error: str | None) -> list[dict]:
    """``rows`` as outcomes that put them back to ``queued`` (with ``error``, if any)."""
    return [{"idempotency_key": r["idempotency_key"], "phone_e164": r["phone_e164"],
             "state": "queued", "provider_message_id": None, "last_error": error,
             "sent_at": None, "suppress_reason": None} for r in rows]


def frame(outcomes: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(outcomes, schema=RESULT_SCHEMA)


def short(error: BaseException) -> str:
    return masked(f"{type(error).__name__}: {error}")[:ERROR_CHARS]


def dry_run(run: Run) -> RunReport:
    """Renders and counts what a run would send now; changes nothing."""
    report = run.report
    report.stopped_because, report.status = Stop.DRY_RUN, run.store.status(report.campaign)
    queued = run.store.queued(report.campaign, DRY_RUN_CAP)
    report.left_queued = queued.height
    for row in queued.to_dicts():
        if row["suppressed_reason"] is not None:
            report.suppressed += 1
            continue
        try:
            run.message(row)
        except MessageError as error:
            report.failed += 1
            if len(report.errors) < 10:
                report.errors.append(short(error))
            continue
        report.would_send += 1
    return report
