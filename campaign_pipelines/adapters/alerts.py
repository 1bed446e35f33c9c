"""Alerts to a Discord-compatible webhook (``ALERT_WEBHOOK_URL``): one POST per alert.

The body is Discord's: ``content`` (a line a phone notification shows), one embed with the
details, and ``allowed_mentions`` empty, so a business name such as "@everyone" pings no
one. The recipient's address appears masked (``core.masking``); names are escaped for
Discord's markdown and cut to Discord's limits. The webhook URL holds the webhook's token, so
messages name only its host.

Posted once per call and never retried here (README, "Retries"): a transport error, a
timeout, 408, 429 (with Discord's ``Retry-After`` or its body's ``retry_after``) and 5xx raise
``AlertUnavailable``; any other 4xx (a deleted webhook: 404, a malformed body: 400) raises
``AlertRejected``. A webhook has no idempotency key: a retry after a lost answer may post the
alert twice, which is why the alert names its signup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from campaign_pipelines.adapters.http_errors import (
    ServiceUnavailable,
    is_transient_status,
    json_object,
    retry_after_s,
    service_said,
    transport_problem,
)
from campaign_pipelines.core.masking import masked

# Discord's markdown, mentions and links; the masked address's *** would render as bold.
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]()@<:])")


class AlertUnavailable(ServiceUnavailable):
    """The webhook could not take the alert now; ``retry_after_s`` if it said when."""


class AlertRejected(Exception):
    """The webhook refused the alert for good (wrong URL, deleted webhook, bad body)."""


@dataclass(frozen=True)
class SignupAlert:
    email: str
    first_name: str
    business_name: str
    segment: str
    red_systems: int
    orange_systems: int
    sequence: str
    signup_id: str = ""


def signup_alert_body(alert: SignupAlert) -> dict[str, Any]:
    who = f"{_plain(alert.first_name, 80)} ({_plain(alert.business_name, 120)})"
    content = f"🚨 {alert.segment} signup: {who}, {_plain(alert.email, 254)}"
    fields = [
        ("Red systems", str(alert.red_systems)),
        ("Orange systems", str(alert.orange_systems)),
        ("Sequence", _plain(alert.sequence, 100)),
        ("Signup", _plain(alert.signup_id, 100) or "n/a"),
    ]
    return {
        "content": content[:2000],
        "embeds": [{
            "title": f"{alert.segment} signup"[:256],
            "description": who[:4096],
            "color": 0xE74C3C,
            "fields": [{"name": name, "value": value, "inline": True} for name, value in fields],
        }],
        "allowed_mentions": {"parse": []},
    }


def _plain(text: object, limit: int) -> str:
    """``text`` on one line, masked, cut to ``limit`` and escaped for Discord's markdown."""
    flat = masked(" ".join(("" if text is None else str(text)).split()))  # NULL columns
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return _MARKDOWN.sub(r"\\\1", flat)


class AlertWebhook:
    def __init__(self, url: str, timeout: float = 10.0):
        self._url = url  # holds the webhook's token: never in repr or messages
        self.timeout = timeout
        self.host = urlsplit(url).netloc

    def __repr__(self) -> str:
        return f"AlertWebhook(host={self.host!r})"

    def alert_signup(self, alert: SignupAlert) -> None:
        self.post(signup_alert_body(alert))

    def post(self, body: dict[str, Any]) -> None:
        where = f"alert webhook {self.host}"
        try:
            response = httpx.post(self._url, json=body, timeout=self.timeout)
        except httpx.TransportError as error:
            problem = transport_problem(
                error, self.timeout, secret_url=self._url, shown_as=self.host
            )
            raise AlertUnavailable(f"{where}: {problem}") from None
        if 200 <= response.status_code < 300:
            return
        said = service_said(response)
        if is_transient_status(response.status_code):
            raise AlertUnavailable(
                f"{where}: HTTP {response.status_code}: {said}", _wait(response)
            )
        raise AlertRejected(
            f"{where}: refused with HTTP {response.status_code}: {said}; check ALERT_WEBHOOK_URL"
        )


def _wait(response: httpx.Response) -> float | None:
    header = retry_after_s(response.headers.get("Retry-After"))
    if header is not None:
        return header
    found = json_object(response).get("retry_after")
    return float(found) if isinstance(found, int | float) else None
