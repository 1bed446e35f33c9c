"""Sending what is due: claim → send (no connection open) → record, a batch at a time.

``send_due`` claims up to ``batch`` due ledger rows (``sending``, one transaction), renders
and sends each through the provider with the warehouse closed, then records the batch's
outcomes in one transaction. A batch stops taking new messages after ``BATCH_BUDGET_S`` (the
rest go back to ``queued`` untried), so no claim outlives ``SENDING_LEASE`` while its sender
is alive; the batch of 250 keeps the warehouse's share of a send well under a millisecond.
A crash between a provider's acceptance and that record leaves rows ``sending``; after
``SENDING_LEASE`` they are claimed again and sent with the same idempotency key, which the
provider answers without a second delivery (outbox, Resend).

The one retry layer for a send is here, per message, with stamina (``SendRetry.run``, which
the Twilio provider runs too): a ``ProviderUnavailable`` is tried again up to ``attempts``
times in all, waiting what the provider asked for (``Retry-After``) when it said so, else 1 s,
2 s, 4 s...; a Retry-After longer than ``retry_after_cap_s`` is not waited for in the run.
When a message is still unavailable after that, the provider is taken to be down: that message
and the batch's unsent rest go back to ``queued`` with the error in ``last_error``, and
``ProviderDown`` ends the run (a later tick tries again). ``EmailRejected`` fails that message
for good, with what the provider said (masked). Worst case per run: README, "Retries".

CRITICAL alerts are posted before the e-mails, each once per run; whether a failed post stays
``pending`` for a later run or fails is core/sequences/plan.py's ``alert_state_after_failure``
(up to ``ALERT_ATTEMPTS`` runs; a refusal, ``AlertRejected``, fails it at once); neither stops
a send.

The Notion mirror of the tracking table (``sync_tracking``, when ``NOTION_TOKEN`` is set) is
brought up to date after the sends, one upsert per changed enrollment, once each per run: a
failure leaves the row unsynced for the next run and never fails the e-mails (the warehouse
holds the record).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import quote

import polars as pl
import stamina

from campaign_pipelines.adapters.alerts import AlertRejected, AlertWebhook, SignupAlert
from campaign_pipelines.adapters.email.protocol import (
    EmailProvider,
    EmailRejected,
    OutgoingEmail,
    ProviderUnavailable,
)
from campaign_pipelines.adapters.http_errors import ServiceUnavailable
from campaign_pipelines.adapters.notion import TrackingRow
from campaign_pipelines.adapters.sequence_store import SequenceStore
from campaign_pipelines.core.masking import masked
from campaign_pipelines.core.sequences.definition import SequenceDefinition
from campaign_pipelines.core.sequences.plan import alert_state_after_failure, due_now
from campaign_pipelines.core.sequences.render import Recipient, render_email
from campaign_pipelines.core.sequences.unsubscribe import unsubscribe_token

BATCH = 250
BATCH_BUDGET_S = 300.0  # well inside SENDING_LEASE (15 min), even with one message's retries
ERROR_CHARS = 500
T = TypeVar("T")
# What a provider raises when it may take the message later: both say ``retry_after_s``.
Unavailable = TypeVar("Unavailable", bound=ProviderUnavailable | ServiceUnavailable)


@dataclass(frozen=True)
class SendRetry:
    attempts: int = 4  # per message, in all
    wait_initial_s: float = 1.0
    wait_max_s: float = 8.0
    retry_after_cap_s: float = 30.0

    def waits_s(self) -> list[float]:
        """The exponential waits without Retry-After (no jitter)."""
        return [min(self.wait_max_s, self.wait_initial_s * 2 ** n)
                for n in range(self.attempts - 1)]

    def worst_wait_s(self) -> float:
        """Longest waiting per message: every retry told to wait the cap."""
        return (self.attempts - 1) * max(self.retry_after_cap_s, self.wait_max_s)

    def run(self, call: Callable[[], T], unavailable: type[Unavailable],
            noticed: Callable[[Unavailable], None] | None = None) -> T:
        """``call()``, tried again while it raises ``unavailable``, ``attempts`` in all: after
        its ``retry_after_s`` when it gives one (longer than ``retry_after_cap_s``: not waited
        for, raised), else the exponential waits. ``noticed(error)`` hears each such error."""

        def backoff(error: Exception) -> bool | float:
            if not isinstance(error, unavailable):
                return False
            if noticed is not None:
                noticed(error)
            if error.retry_after_s is None:
                return True
            return error.retry_after_s if error.retry_after_s <= self.retry_after_cap_s else False

        for attempt in stamina.retry_context(
                on=backoff, attempts=self.attempts, timeout=None,
                wait_initial=self.wait_initial_s, wait_max=self.wait_max_s, wait_jitter=0.0):
            with attempt:
                return call()
        raise AssertionError("unreachable: stamina returns or raises")


class ProviderDown(RuntimeError):
    """The provider stayed unavailable for one message through its retries."""


@dataclass(frozen=True)
class Sender:
    """Who the e-mails come from and how unsubscribe links are made."""

    address: str
    unsubscribe_secret: str
    public_url: str

    def unsubscribe_url(self, email: str) -> str:
        token = unsubscribe_token(self.unsubscribe_secret, email)
        return f"{self.public_url.rstrip('/')}/unsubscribe?token={quote(token)}"


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    gave_up: int = 0
    released: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "suppressed": self.suppressed,
                "gave_up": self.gave_up, "released": self.released, "alerts": self.alerts,
                "errors": self.errors[:10]}


def outgoing(row: dict, definition: SequenceDefinition, sender: Sender) -> OutgoingEmail:
    url = sender.unsubscribe_url(row["email"])
    rendered = render_email(definition, row["email_number"], Recipient(
        first_name=row["first_name"] or "", business_name=row["business_name"] or "",
        segment=row["segment"], red_systems=row["red_systems"],
        orange_systems=row["orange_systems"], unsubscribe_url=url))
    return OutgoingEmail(
        to=row["email"], sender=sender.address, subject=rendered.subject, text=rendered.text,
        html=rendered.html, idempotency_key=row["idempotency_key"],
        headers={"List-Unsubscribe": f"<{url}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})


def send_with_retries(provider: EmailProvider, email: OutgoingEmail, retry: SendRetry,
                      log: Callable[[str], None]):
    return retry.run(lambda: provider.send(email), ProviderUnavailable,
                     lambda error: log(f"{provider.name}: {masked(str(error))}"))


def send_due(store: SequenceStore, provider: EmailProvider,
             definitions: dict[str, SequenceDefinition], sender: Sender, now: datetime,
             retry: SendRetry = SendRetry(), batch: int = BATCH,
             log: Callable[[str], None] = print) -> SendReport:
    """Every row due at ``now``; ProviderDown (after recording) when the provider is down."""
    report = SendReport()
    while True:
        claimed, due = store.claim_due(now, due_now, limit=batch)
        report.suppressed += due.suppress.height
        report.gave_up += due.give_up.height
        if claimed.height == 0:
            if due.suppress.height or due.give_up.height:
                continue  # a window of closed rows only: rows due after it are still to come
            return report
        results, down = _send_batch(claimed, provider, definitions, sender, retry, log, report)
        store.record_results(pl.DataFrame(results), now)
        if down:
            raise ProviderDown(down)


def _send_batch(claimed, provider, definitions, sender, retry, log, report):
    results: list[dict] = []
    rows = claimed.to_dicts()
    started = time.monotonic()
    for index, row in enumerate(rows):
        outcome = {"idempotency_key": row["idempotency_key"], "provider": provider.name,
                   "provider_message_id": None, "last_error": None, "sent_at": None}
        if index and time.monotonic() - started > BATCH_BUDGET_S:  # the rest: the next batch's
            rest = [{**outcome, "idempotency_key": r["idempotency_key"], "state": "queued"}
                    for r in rows[index:]]
            return results + rest, None
        try:
            email = outgoing(row, definitions[row["sequence"]], sender)
            accepted = send_with_retries(provider, email, retry, log)
        except EmailRejected as error:
            report.failed += 1
            results.append({**outcome, "state": "failed", "last_error": _short(error)})
            continue
        except ProviderUnavailable as error:
            down = f"{provider.name} unavailable after {retry.attempts} attempts: {_short(error)}"
            report.errors.append(down)
            rest = [{**outcome, "idempotency_key": r["idempotency_key"], "state": "queued",
                     "last_error": down} for r in rows[index:]]
            report.released += len(rest)
            return results + rest, down
        report.sent += 1
        results.append({**outcome, "state": "sent",
                        "provider_message_id": accepted.provider_message_id,
                        "sent_at": datetime.now(UTC)})
    return results, None


def post_alerts(store: SequenceStore, webhook: AlertWebhook | None, now: datetime,
                log: Callable[[str], None] = print) -> dict[str, int]:
    """Each pending CRITICAL alert posted once; no webhook (ALERT_WEBHOOK_URL unset): skipped."""
    pending = store.pending_alerts()
    if pending.height == 0:
        return {}
    results = []
    for alert in pending.to_dicts():
        outcome = {"enrollment_id": alert["enrollment_id"], "alert_state": "sent",
                   "alert_error": None}
        if webhook is None:
            outcome |= {"alert_state": "skipped", "alert_error": "ALERT_WEBHOOK_URL is not set"}
        else:
            try:
                webhook.alert_signup(SignupAlert(**{k: alert[k] for k in _ALERT_FIELDS}))
            except Exception as error:  # an alert never stops the e-mails
                log(f"alert for a CRITICAL signup failed: {_short(error)}")
                outcome |= {"alert_state": alert_state_after_failure(
                    isinstance(error, AlertRejected), alert["alert_attempts"]),
                    "alert_error": _short(error)}
        results.append(outcome)
    frame = pl.DataFrame(results, schema={"enrollment_id": pl.String, "alert_state": pl.String,
                                          "alert_error": pl.String})
    store.record_alerts(frame, now)
    return dict(frame.group_by("alert_state").len().iter_rows())


SYNC_CAP = 1000  # enrollments mirrored per run; the rest the next run's


def sync_tracking(store: SequenceStore, tracking, log: Callable[[str], None] = print
                  ) -> dict[str, int]:
    """Each changed tracking row upserted to ``tracking`` (NotionTracking), once this run."""
    if tracking is None:
        return {}
    rows = store.unsynced_tracking(SYNC_CAP)
    synced: list[dict] = []
    failed = 0
    for row in rows.to_dicts():
        sent = {n: row[f"email_{n}_sent_at"] for n in range(1, 8) if row[f"email_{n}_sent_at"]}
        try:
            tracking.upsert(TrackingRow(email=row["email"], segment=row["segment"], sent_at=sent))
        except Exception as error:  # the warehouse holds the record; the next run tries again
            failed += 1
            log(f"tracking sync failed: {_short(error)}")
            if failed >= 3 and not synced:
                break  # the mirror is down: do not spend the run on it
            continue
        synced.append({"enrollment_id": row["enrollment_id"], "synced_at": row["updated_at"]})
    if synced:
        store.record_synced(pl.DataFrame(synced))
    return {"synced": len(synced), "failed": failed, "left": rows.height - len(synced)}


_ALERT_FIELDS = ("email", "first_name", "business_name", "segment", "red_systems",
                 "orange_systems", "sequence", "signup_id")


def _short(error: BaseException) -> str:
    text = masked(f"{type(error).__name__}: {error}")
    return text[:ERROR_CHARS]
