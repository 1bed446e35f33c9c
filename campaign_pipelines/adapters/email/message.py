"""One ``OutgoingEmail`` as an RFC 5322 message: the outbox writes it, SMTP sends it.

multipart/alternative with the plain-text part first and the HTML part last (the one a client
prefers), the caller's extra headers (List-Unsubscribe and the like), and a Message-ID derived
from the idempotency key, so the same key always makes the same Message-ID and a receiving
system can recognise a second delivery (SMTP has no idempotency of its own). Headers that
would carry a line break are refused (header injection): that message can never be sent as
is, so it is ``EmailRejected``.
"""

from __future__ import annotations

import hashlib
import re
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from campaign_pipelines.adapters.email.protocol import EmailRejected, OutgoingEmail
from campaign_pipelines.core.masking import masked

# Keys made of these are used as they are (file names, Message-ID local parts); any other is
# replaced by its hash, so a key can never name a path outside the outbox.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]{0,127}")
# Set by build_message itself: a caller's header of these names would make a second one.
_OWN_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version",
     "content-type", "content-transfer-encoding"}
)


def key_token(idempotency_key: str) -> str:
    """The key itself when it is safe in a file name and a Message-ID, else ``k-<sha256>``."""
    if _PLAIN_KEY.fullmatch(idempotency_key) and ".." not in idempotency_key:
        return idempotency_key
    return "k-" + hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]


def message_id(email: OutgoingEmail) -> str:
    domain = parseaddr(email.sender)[1].rpartition("@")[2] or "campaign-pipelines.invalid"
    return f"<{key_token(email.idempotency_key)}@{domain}>"


def build_message(email: OutgoingEmail) -> EmailMessage:
    message = EmailMessage()
    try:
        message["From"] = email.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(email)
        for name, value in email.headers.items():
            if name.lower() in _OWN_HEADERS:
                raise ValueError(f"header {name} is set by the provider, not by the caller")
            message[name] = value
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
    except ValueError as error:
        raise EmailRejected(
            masked(f"message {email.idempotency_key} cannot be built: {error}")
        ) from None
    return message


def wire_policy(email: OutgoingEmail) -> policy.Policy:
    """CRLF lines; raw UTF-8 headers only when an address needs them (RFC 6531/6532)."""
    return policy.SMTP if (email.to + email.sender).isascii() else policy.SMTPUTF8


def message_bytes(email: OutgoingEmail) -> bytes:
    return build_message(email).as_bytes(policy=wire_policy(email))
