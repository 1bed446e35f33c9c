"""Twilio's ``X-Twilio-Signature``: one implementation for the fake that signs callbacks and
the ingress that checks them.

The documented scheme (twilio.com/docs/usage/webhooks/webhooks-security): take the full URL
Twilio called (scheme, host, port if any, path and query string, exactly as configured), append
every POST parameter sorted by name as name + value with no separators, HMAC-SHA1 the UTF-8
bytes with the account's auth token as key, and base64 the digest. A parameter sent more than
once contributes each value, sorted, as Twilio's own helpers do.

``valid_signature`` compares in constant time and, as Twilio's helpers do, also accepts the
signature over the URL with the default port added or removed (``https://h/x`` and
``https://h:443/x``): proxies differ in which form they pass on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Twilio-Signature"
_DEFAULT_PORTS = {"https": 443, "http": 80}

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def twilio_signature(auth_token: str, url: str, params: Params = ()) -> str:
    """The base64 HMAC-SHA1 Twilio sends for a POST of ``params`` (form fields) to ``url``."""
    pairs = params.items() if isinstance(params, Mapping) else params
    signed = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_signature(auth_token: str, url: str, params: Params, signature: str | None) -> bool:
    """Whether ``signature`` (the header's value) is Twilio's for this request."""
    if not signature or not auth_token or not signature.isascii():
        return False  # compare_digest takes no other text
    pairs = list(params.items() if isinstance(params, Mapping) else params)
    return any(hmac.compare_digest(twilio_signature(auth_token, form, pairs), signature)
               for form in _url_forms(url))


def _url_forms(url: str) -> list[str]:
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if default is None or not host or parts.username or parts.password:
        return [url]
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    if parts.port is None:
        other = parts._replace(netloc=f"{host}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=host)
    else:
        return [url]
    return [url, urlunsplit(other)]
