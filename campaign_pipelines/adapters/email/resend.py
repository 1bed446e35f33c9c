"""Resend's HTTP API: ``POST {base_url}/emails``, once per call, never retried here.

The message's idempotency key goes in the ``Idempotency-Key`` header, so when an answer is
lost (a timeout, a dropped connection) the sending step may send again with the same key and
Resend answers with its first answer instead of delivering a second message.

Classification (``adapters/http_errors``; the caller's one retry layer decides the rest):

- 2xx → ``Accepted`` with Resend's id;
- 429 → ``ProviderUnavailable`` with ``retry_after_s`` from ``Retry-After``;
- 5xx, 408, timeouts, refused or dropped connections → ``ProviderUnavailable``;
- 401 and 403 (no or a wrong API key) → ``ProviderUnavailable`` too: the message is not at
  fault, and failing it for good would lose it for a configuration mistake; the text says to
  fix ``RESEND_API_KEY``;
- 409 ``concurrent_idempotent_requests`` (the same key still being handled) →
  ``ProviderUnavailable``;
- any other 4xx (422 validation, 409 key reused with another body...) → ``EmailRejected``
  with what Resend said, masked.

Resend remembers a key for 24 hours: a message whose answer was lost must be sent again
within that window (the sending step retries within minutes). Keys are at most 256 characters.

One ``httpx.Client`` per provider, made on the first send, keeps connections alive across
sends and threads; ``close()`` it, or use the provider as a context manager.
"""

from __future__ import annotations

from typing import Any

import httpx

from campaign_pipelines.adapters.email.protocol import (
    Accepted,
    EmailRejected,
    OutgoingEmail,
    ProviderUnavailable,
)
from campaign_pipelines.adapters.http_errors import (
    is_transient_status,
    json_object,
    retry_after_s,
    service_said,
    transport_problem,
)
from campaign_pipelines.adapters.kept_client import KeptClient

DEFAULT_BASE_URL = "https://api.resend.com"


class ResendProvider(KeptClient):
    name = "resend"

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0):
        super().__init__()
        self._api_key = api_key  # a secret: kept out of repr, logs and messages
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ResendProvider(base_url={self.base_url!r}, timeout={self.timeout})"

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self._api_key}"},
            timeout=httpx.Timeout(self.timeout),
        )

    def send(self, email: OutgoingEmail) -> Accepted:
        body: dict[str, Any] = {
            "from": email.sender,
            "to": [email.to],
            "subject": email.subject,
            "html": email.html,
            "text": email.text,
        }
        if email.headers:
            body["headers"] = dict(email.headers)
        where = f"resend {self.base_url}/emails, message {email.idempotency_key}"
        try:
            response = self._http().post(
                "/emails", json=body, headers={"Idempotency-Key": email.idempotency_key}
            )
        except httpx.TransportError as error:
            raise ProviderUnavailable(
                f"{where}: {transport_problem(error, self.timeout)}; Resend may or may not "
                "have taken it: send again with the same idempotency key"
            ) from None
        return _classified(response, where)


def _classified(response: httpx.Response, where: str) -> Accepted:
    status = response.status_code
    if 200 <= status < 300:
        found = json_object(response).get("id")
        if not isinstance(found, str) or not found:
            raise ProviderUnavailable(f"{where}: HTTP {status} without a message id")
        return Accepted(provider_message_id=found)
    said = service_said(response)
    if is_transient_status(status) or _still_in_progress(response):
        raise ProviderUnavailable(
            f"{where}: HTTP {status}: {said}",
            retry_after_s(response.headers.get("Retry-After")),
        )
    if status in (401, 403):
        raise ProviderUnavailable(
            f"{where}: HTTP {status}: {said}; the API key was refused: fix RESEND_API_KEY, "
            "the message itself is kept for the next attempt"
        )
    raise EmailRejected(f"{where}: refused with HTTP {status}: {said}")


def _still_in_progress(response: httpx.Response) -> bool:
    return (response.status_code == 409
            and json_object(response).get("name") == "concurrent_idempotent_requests")
