"""Unsubscribe tokens: who may be suppressed through a link, without a login.

A token is the recipient's address with an HMAC-SHA256 of it under the unsubscribe secret
(``UNSUBSCRIBE_SECRET``): ``<address, base64url>.<mac, base64url>``. Anyone holding the link
from an e-mail can unsubscribe that recipient (RFC 8058 one-click), and no one can make a token
for another address without the secret. The address is the recipient key (lower-cased), so a
token works whatever case the signup was typed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pydantic import AwareDatetime, BaseModel, ConfigDict

from campaign_pipelines.core.sequences.signups import address_key


class UnsubscribeLine(BaseModel):
    """One line of ``landing/unsubscribes``: the ingress writes it, intake reads it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address_key: str
    received_at: AwareDatetime
    source: str  # "link" or "one-click"

    def line(self) -> bytes:
        return self.model_dump_json().encode() + b"\n"


class BadToken(ValueError):
    """The token was not made with this secret, or is not a token at all."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, key: str) -> bytes:
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).digest()


def unsubscribe_token(secret: str, email: str) -> str:
    key = address_key(email)
    return f"{_b64(key.encode())}.{_b64(_mac(secret, key))}"


def address_of(secret: str, token: str) -> str:
    """The recipient key a token stands for; BadToken if this secret did not make it."""
    try:
        encoded, mac = token.split(".", 1)
        key = _unb64(encoded).decode()
        given = _unb64(mac)
    except (ValueError, UnicodeDecodeError):
        raise BadToken("not an unsubscribe token") from None
    if not hmac.compare_digest(given, _mac(secret, key)):
        raise BadToken("the token does not match its address")
    return key
