"""How the outgoing HTTP adapters (Resend, the alert webhook, Notion) read a failed answer.

One classification for all of them (README, "Retries"): a transport error, a timeout, 408,
429 and every 5xx may succeed later (the caller's one retry layer decides whether and when);
any other 4xx is the service saying no, for good. ``Retry-After`` is read in either of its
forms (seconds, or an HTTP date). What a service said is quoted masked and bounded, since it
may repeat the address it refused.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from campaign_pipelines.core.masking import masked

_QUOTED_CHARS = 300


class ServiceUnavailable(Exception):
    """The service could not take the request now; ``retry_after_s`` if it said when."""

    def __init__(self, message: str, retry_after_s: float | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


def is_transient_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` in seconds (never negative), or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's body as a JSON object; empty when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def service_said(response: httpx.Response) -> str:
    """The service's own message (a JSON ``message``/``error`` field, else the body), masked."""
    body = json_object(response)
    found = body.get("message") or body.get("error") or body.get("name")
    text = found if isinstance(found, str) else ""
    if not text:
        text = response.text.strip() or response.reason_phrase
    text = " ".join(text.split())
    if len(text) > _QUOTED_CHARS:
        text = text[:_QUOTED_CHARS] + "…"
    return masked(text)


def transport_problem(
    error: httpx.TransportError, timeout_s: float, *, secret_url: str = "", shown_as: str = ""
) -> str:
    """A transport failure in words fit for a log: no URL query, no body, no address.

    ``secret_url`` (a URL that holds a token) is replaced by ``shown_as`` before masking, since
    masking rewrites its digit runs and a replacement after it would no longer find it.
    """
    if isinstance(error, httpx.TimeoutException):
        return f"no answer within {timeout_s:g} s ({type(error).__name__})"
    text = str(error).replace(secret_url, shown_as) if secret_url else str(error)
    return masked(f"unreachable ({type(error).__name__}: {text})")
