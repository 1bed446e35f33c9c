"""Who may post to the ingress: a caller holding the bearer token or the signing secret.

Either header authenticates a request:
- ``Authorization: Bearer <INGRESS_TOKEN>``;
- ``X-Signature: sha256=<hex>`` with ``X-Timestamp: <unix seconds>``, where hex is the
  HMAC-SHA256 under ``INGRESS_HMAC_SECRET`` of ``<timestamp>.`` followed by the raw body. The
  timestamp is inside the MAC and must be within ``TOLERANCE_SECONDS`` of the server's clock,
  so a captured request cannot be replayed later.

Comparisons are constant-time (``hmac.compare_digest``). A refusal says what to send, never
which part of a secret was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from pydantic import SecretStr

TOLERANCE_SECONDS = 300
HOW = (
    "send 'Authorization: Bearer <INGRESS_TOKEN>', or 'X-Signature: sha256=<hex HMAC-SHA256 "
    "of \"<X-Timestamp>.<body>\" under INGRESS_HMAC_SECRET>' with 'X-Timestamp: <unix seconds>'"
)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Signature`` value for ``body`` sent at ``timestamp`` (callers and tests use it)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class Authenticator:
    def __init__(self, token: SecretStr | None, hmac_secret: SecretStr | None):
        self._token = token.get_secret_value().encode() if token else None
        self._secret = hmac_secret.get_secret_value() if hmac_secret else None

    def refusal(self, headers: Mapping[str, str], body: bytes, now: float | None = None) -> str:
        """Why the request is not authenticated; "" when it is."""
        bearer = headers.get("authorization")
        if bearer is not None and self._token is not None:
            scheme, _, given = bearer.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  self._token):
                return ""
            return "the bearer token is not the ingress's"
        signed = headers.get("x-signature")
        if signed is not None and self._secret is not None:
            stamp = headers.get("x-timestamp", "")
            if not (stamp.isascii() and stamp.isdigit()):  # "²" is a digit int() refuses
                return "X-Signature needs X-Timestamp, the unix time in whole seconds"
            if abs((time.time() if now is None else now) - int(stamp)) > TOLERANCE_SECONDS:
                return f"X-Timestamp is more than {TOLERANCE_SECONDS} s from the server's clock"
            given = signed.strip().lower().encode("latin-1", "replace")
            if hmac.compare_digest(given, signature(self._secret, stamp, body).encode()):
                return ""
            return "the signature does not match the body and timestamp"
        return f"authentication required: {HOW}"
