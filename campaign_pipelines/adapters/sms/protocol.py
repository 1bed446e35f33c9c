"""What every SMS provider offers the sms domain: send one message, and find it again.

A provider receives each message with the ledger's idempotency key (deterministic per
campaign and recipient). The outbox refuses a second acceptance for a key it has seen; Twilio
has no idempotency key, so after a crash between the provider's acceptance and the ledger's
record the runner asks ``find_sent`` before sending again: a message to the same number, from
the same sender, with exactly the same body, accepted at or after the time the ledger claimed
the row.

Providers classify their failures: ``SmsRefused`` is final for that one message (the provider
said no; ``suppressed`` when the recipient has opted out, so the number joins the global
suppressions), ``SmsProviderDown`` is what is left after the provider's own retries (429, 5xx,
timeouts, refused connections) and means "stop this run and try later", not "this message
failed".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164, e.g. +77011234567
    body: str
    sender: str  # a phone number, alphanumeric sender id, or a Twilio MG... service sid
    campaign: str
    idempotency_key: str
    status_callback: str | None = None


@dataclass(frozen=True)
class SmsAccepted:
    """The provider took the message: its own id for it and its own status ("queued")."""

    provider_message_id: str
    status: str


class SmsRefused(Exception):
    """The provider refused this one message for good.

    ``code`` is the provider's error code (Twilio's "21610"), ``message`` its text with phone
    numbers masked, ``suppressed`` True when the recipient opted out (Twilio 21610).
    """

    def __init__(self, code: str, message: str, *, suppressed: bool = False):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.suppressed = suppressed


class SmsProviderDown(Exception):
    """The provider could not take messages now, after its own retries; try the run later.

    ``maybe_taken``: the last attempt's answer was lost (a timeout, a dropped connection, a
    5xx) and the provider could not be asked whether it kept the message, so before this
    message is sent again it must be looked up with ``find_sent``.
    """

    def __init__(self, message: str, *, maybe_taken: bool = False):
        super().__init__(message)
        self.maybe_taken = maybe_taken


class SmsProvider(Protocol):
    name: str

    def send(self, message: SmsMessage) -> SmsAccepted:
        """Accepted, or SmsRefused / SmsProviderDown."""
        ...

    def find_sent(self, message: SmsMessage, since: datetime) -> SmsAccepted | None:
        """A message to ``message.to`` from ``message.sender`` with exactly ``message.body``
        accepted at or after ``since`` (timezone-aware); None if there is none."""
        ...

    def close(self) -> None: ...
