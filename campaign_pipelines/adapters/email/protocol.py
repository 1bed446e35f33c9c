"""What every e-mail provider offers the sequences domain: send one message, exactly once.

A provider receives each message with its idempotency key (the ledger's, deterministic per
enrollment and e-mail number) and must not deliver a second message for a key it has already
accepted: the Resend API does that with its ``Idempotency-Key`` header; the outbox writes the
message under the key's file name; SMTP has no such thing, so a crash between the server's
acceptance and the ledger's record may send twice there (README, "Sequences").

Providers classify their failures and do not retry on their own: ``EmailRejected`` is final
for that message (the provider said no: a 4xx, a refused recipient), ``ProviderUnavailable``
may succeed later (5xx, 429, a timeout, a refused connection), with the wait the provider
asked for when it said one (``Retry-After``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    sender: str
    subject: str
    text: str
    html: str
    idempotency_key: str
    headers: dict[str, str] = field(default_factory=dict)  # List-Unsubscribe and the like


@dataclass(frozen=True)
class Accepted:
    """The provider took the message; its own id for it, for the ledger."""

    provider_message_id: str


class EmailRejected(Exception):
    """The provider refused this message for good; the message says what it said."""


class ProviderUnavailable(Exception):
    """The provider could not take the message now; ``retry_after_s`` if it said when."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EmailProvider(Protocol):
    name: str

    def send(self, email: OutgoingEmail) -> Accepted:
        """Accepted, or EmailRejected / ProviderUnavailable; never a second delivery for an
        idempotency key already accepted (where the provider offers that)."""
        ...
