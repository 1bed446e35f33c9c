"""SMTP submission (smtplib): one connection per message, STARTTLS when asked, then AUTH.

SMTP has no idempotency key. If the process dies after the server accepted a message and
before the ledger recorded it, the rerun sends it again and the recipient may get it twice.
To limit the harm, the Message-ID is derived from the idempotency key (``message.message_id``),
so both copies carry the same Message-ID and a receiving system (or a person) can recognise
the second as a duplicate. Prefer the Resend provider where exactly-once matters.

Classification (the caller's one retry layer decides the rest):

- a 4xx reply (greylisting, a full mailbox, a busy server), a refused or dropped connection,
  a timeout, a TLS failure, a server without STARTTLS when it was asked for →
  ``ProviderUnavailable``;
- an authentication refusal (530, 534, 535) → ``ProviderUnavailable`` too, naming the
  settings to fix: the message itself is not at fault and must not be failed for good;
- any other 5xx reply (an unknown recipient, a refused sender or content) →
  ``EmailRejected`` with the server's reply, masked.

A failure of the closing QUIT after the server took the message changes nothing: the
message was accepted.
"""

from __future__ import annotations

import smtplib
import ssl
from email.utils import parseaddr

from campaign_pipelines.adapters.email.message import build_message, message_id
from campaign_pipelines.adapters.email.protocol import (
    Accepted,
    EmailRejected,
    OutgoingEmail,
    ProviderUnavailable,
)
from campaign_pipelines.core.masking import masked

_AUTH_CODES = frozenset({530, 534, 535})


class SmtpProvider:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        envelope_sender: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ):
        """``envelope_sender`` is the MAIL FROM (bounce) address; by default the message's
        From. ``ssl_context`` defaults to the system's trust store with hostname checks."""
        self.host, self.port = host, port
        self.username = username
        self._password = password  # a secret: kept out of repr and messages
        self.starttls = starttls
        self.envelope_sender = envelope_sender
        self.timeout = timeout
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"SmtpProvider(host={self.host!r}, port={self.port}, starttls={self.starttls})"

    def send(self, email: OutgoingEmail) -> Accepted:
        message = build_message(email)  # EmailRejected for a message that cannot be built
        where = f"smtp {self.host}:{self.port}, message {email.idempotency_key}"
        client: smtplib.SMTP | None = None
        try:
            # Host given to the constructor, not to connect(): STARTTLS checks the
            # certificate against the constructor's host.
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            client.ehlo()
            if self.starttls:
                client.starttls(context=self._ssl_context or ssl.create_default_context())
                client.ehlo()
            if self.username:
                client.login(self.username, self._password or "")
            sender = self.envelope_sender or parseaddr(email.sender)[1]
            client.send_message(message, from_addr=sender, to_addrs=[email.to])
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = min(error.recipients.values(), key=lambda answer: answer[0])
            raise _classified(where, code, reply) from None
        except smtplib.SMTPNotSupportedError as error:
            raise ProviderUnavailable(
                masked(f"{where}: {error}; the server offers no STARTTLS or AUTH: "
                       "check SMTP_HOST, SMTP_PORT and the starttls setting")
            ) from None
        except (smtplib.SMTPConnectError, smtplib.SMTPHeloError) as error:
            raise ProviderUnavailable(
                masked(f"{where}: the server refused the session ({error.smtp_code}): "
                       f"{_text(error.smtp_error)}")
            ) from None
        except smtplib.SMTPResponseException as error:
            raise _classified(where, error.smtp_code, error.smtp_error) from None
        except (smtplib.SMTPException, OSError) as error:  # timeouts, TLS, refused, dropped
            raise ProviderUnavailable(
                masked(f"{where}: {type(error).__name__}: {error}")
            ) from None
        finally:
            if client is not None:
                _quit(client)
        return Accepted(provider_message_id=message_id(email))


def _classified(where: str, code: int, reply: bytes | str) -> Exception:
    said = f"{where}: the server answered {code} {_text(reply)}"
    if code in _AUTH_CODES:
        return ProviderUnavailable(
            masked(f"{said}; the login was refused: fix SMTP_USERNAME / SMTP_PASSWORD, the "
                   "message itself is kept for the next attempt")
        )
    if 400 <= code < 500:
        return ProviderUnavailable(masked(said))
    return EmailRejected(masked(said))


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:300]


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
