"""Twilio's Messages REST API over httpx: send one SMS, find one already sent.

``POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json``, form-encoded ``To``, ``From`` (or
``MessagingServiceSid`` when the sender starts with ``MG``), ``Body`` and ``StatusCallback``,
HTTP basic auth ``sid:token``; the answer is the message as JSON (``sid``, ``status``). An
error is JSON ``{code, message, more_info, status}``.

Twilio has no idempotency key, so this is the one retry layer for an SMS send (README,
"Retries"; the caller must not retry ``SmsProviderDown`` on top of it), the e-mail one's own
(``SendRetry.run``: stamina, 4 attempts, waits 1, 2, 4 s, no jitter). A 429, a 503 or a
refused connection took nothing: the next attempt posts again. A timeout after the request
went out, a dropped answer or another 5xx may have been taken: the next attempt first looks
for it (``find_sent`` since the first attempt) and posts only when Twilio has none.
``Retry-After`` is waited when given, up to ``retry_after_cap_s`` (longer: ``SmsProviderDown``
at once). After the last attempt: ``SmsProviderDown``, with ``maybe_taken`` set when Twilio
may hold the message, so the caller looks it up (``find_sent``) before ever sending it again.

Final answers:

- 21610 (the recipient replied STOP to this sender) → ``SmsRefused(suppressed=True)``;
- 21211 (not a valid number), 21614 (not a mobile) and every other 4xx with a code →
  ``SmsRefused(suppressed=False)``, Twilio's message quoted masked;
- 401/403 (20003: the account sid or auth token is wrong) and the sender codes (21212, 21606,
  21659, 21660: this From cannot send) → ``TwilioSetupRefused``, an ``SmsProviderDown``: the
  message is not at fault and must not fail, but nothing will get through until a person
  fixes TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN or the campaign's sender, so the run stops.

Error texts name the base URL and the idempotency key, never the token, the account sid or a
whole phone number (``masked``).

``find_sent``: ``GET .../Messages.json?To=..&From=..&DateSent>=YYYY-MM-DD`` (``From`` left out
for a messaging service, whose messages are then matched on ``messaging_service_sid``), every
page through ``next_page_uri``, matching the exact body and ``date_created`` at or after
``since`` less ``CLOCK_SKEW`` (60 s: this host's clock and Twilio's may differ, and an identical
message to the same number a minute earlier is a duplicate anyway; Twilio's dates are whole
seconds). Twilio sets ``date_sent`` only when a message
leaves its queue, so a message it still holds is not in a ``DateSent`` list: when that finds
nothing, the same list without the date is read for messages with no ``date_sent``, up to
``UNSENT_SCAN_PAGES`` pages (beyond: ``SmsProviderDown``, rather than a guess that could send
twice).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpx

from campaign_pipelines.adapters.http_errors import (
    ServiceUnavailable,
    is_transient_status,
    json_object,
    retry_after_s,
    service_said,
    transport_problem,
)
from campaign_pipelines.adapters.kept_client import KeptClient
from campaign_pipelines.adapters.sequence_sender import SendRetry
from campaign_pipelines.adapters.sms.protocol import (
    SmsAccepted,
    SmsMessage,
    SmsProviderDown,
    SmsRefused,
)
from campaign_pipelines.core.masking import masked

DEFAULT_BASE_URL = "https://api.twilio.com"
API_PREFIX = "/2010-04-01/"
SUPPRESSING_CODES = frozenset({21610})
SENDER_CODES = frozenset({21212, 21606, 21659, 21660})
CLOCK_SKEW = timedelta(seconds=60)  # between this host's clock and Twilio's date_created
PAGE_SIZE = 1000  # Twilio's maximum
UNSENT_SCAN_PAGES = 10
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class TwilioSetupRefused(SmsProviderDown):
    """Twilio refused the account's credentials or the sender: no message can go until a
    person fixes the configuration. Not retried."""


class _MaybeTaken(ServiceUnavailable):
    """Transient, and Twilio may have stored the message before the answer was lost."""


class TwilioProvider(KeptClient):
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, base_url: str = DEFAULT_BASE_URL,
                 timeout: float = 10.0, retry: SendRetry | None = None):
        super().__init__()
        self._account_sid = account_sid  # with the token, kept out of repr and messages
        self._auth_token = auth_token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or SendRetry()

    def __repr__(self) -> str:
        return f"TwilioProvider(base_url={self.base_url!r}, timeout={self.timeout})"

    def _new_client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(self.timeout),
                            auth=httpx.BasicAuth(self._account_sid, self._auth_token))

    @property
    def _messages_path(self) -> str:
        return f"{API_PREFIX}Accounts/{self._account_sid}/Messages.json"

    # -- send ------------------------------------------------------------------------------
    def send(self, message: SmsMessage) -> SmsAccepted:
        where = f"twilio {self.base_url}, message {message.idempotency_key}"
        form = {"To": message.to, "Body": message.body}
        form["MessagingServiceSid" if _is_service(message.sender) else "From"] = message.sender
        if message.status_callback:
            form["StatusCallback"] = message.status_callback
        first_tried = datetime.now(UTC)
        maybe_taken = False

        def attempt() -> SmsAccepted:
            nonlocal maybe_taken
            if maybe_taken:
                found = self._find(message, first_tried, where)
                if found is not None:
                    return found
            try:
                return self._post(form, where)
            except _MaybeTaken:
                maybe_taken = True
                raise

        try:
            return self.retry.run(attempt, ServiceUnavailable)
        except ServiceUnavailable as error:
            taken = " Twilio may have taken it: look it up (find_sent) before sending again" \
                if maybe_taken else ""
            raise SmsProviderDown(f"{error} (after {self.retry.attempts} attempts).{taken}",
                                  maybe_taken=maybe_taken) from None

    def _post(self, form: dict[str, str], where: str) -> SmsAccepted:
        try:
            response = self._http().post(self._messages_path, data=form)
        except _NOT_SENT as error:
            raise ServiceUnavailable(f"{where}: {self._transport(error)}") from None
        except httpx.TransportError as error:
            raise _MaybeTaken(f"{where}: {self._transport(error)}") from None
        status = response.status_code
        if 200 <= status < 300:
            body = json_object(response)
            sid, state = body.get("sid"), body.get("status")
            if not isinstance(sid, str) or not sid:
                raise _MaybeTaken(f"{where}: HTTP {status} without a message sid")
            return SmsAccepted(sid, state if isinstance(state, str) else "queued")
        self._raise_refusal(response, where)

    def _raise_refusal(self, response: httpx.Response, where: str) -> NoReturn:
        status = response.status_code
        code = json_object(response).get("code")
        said = f"HTTP {status}{f', Twilio {code}' if code else ''}: {service_said(response)}"
        if status in (401, 403):
            raise TwilioSetupRefused(
                f"{where}: {said}; Twilio refused the credentials: fix TWILIO_ACCOUNT_SID and "
                "TWILIO_AUTH_TOKEN (the messages stay queued for the next run)")
        if is_transient_status(status):
            wait = retry_after_s(response.headers.get("Retry-After"))
            kind = ServiceUnavailable if status in (429, 503) else _MaybeTaken
            raise kind(f"{where}: {said}", wait)
        if code in SENDER_CODES:
            raise TwilioSetupRefused(
                f"{where}: {said}; this sender cannot send: fix the campaign's sender or the "
                "Twilio number (the messages stay queued)")
        raise SmsRefused(str(code or f"http-{status}"), masked(said),
                         suppressed=code in SUPPRESSING_CODES)

    # -- find_sent -------------------------------------------------------------------------
    def find_sent(self, message: SmsMessage, since: datetime) -> SmsAccepted | None:
        where = f"twilio {self.base_url}, looking up message {message.idempotency_key}"
        try:
            return self.retry.run(lambda: self._find(message, since, where), ServiceUnavailable)
        except ServiceUnavailable as error:
            raise SmsProviderDown(f"{error} (after {self.retry.attempts} attempts)") from None

    def _find(self, message: SmsMessage, since: datetime, where: str) -> SmsAccepted | None:
        if since.tzinfo is None:
            raise ValueError("find_sent needs a timezone-aware since")
        since = since.astimezone(UTC).replace(microsecond=0) - CLOCK_SKEW
        query = {"To": message.to, "PageSize": str(PAGE_SIZE)}
        if not _is_service(message.sender):
            query["From"] = message.sender
        dated = {**query, "DateSent>": since.date().isoformat()}  # on the wire: DateSent>=...
        for page in self._pages(dated, where, max_pages=None):
            found = _matching(page, message, since, unsent_only=False)
            if found is not None:
                return found
        for page in self._pages(query, where, max_pages=UNSENT_SCAN_PAGES):
            found = _matching(page, message, since, unsent_only=True)
            if found is not None:
                return found
        return None

    def _pages(self, query: dict[str, str], where: str, max_pages: int | None
               ) -> Iterator[list[dict[str, Any]]]:
        url: str | None = self._messages_path
        params: dict[str, str] | None = query
        read = 0
        while url:
            if max_pages is not None and read == max_pages:
                raise ServiceUnavailable(
                    f"{where}: more than {max_pages * PAGE_SIZE} messages to this number to "
                    "look through; check in the Twilio console whether it was sent")
            if not url.startswith(API_PREFIX):
                raise ServiceUnavailable(f"{where}: Twilio gave a next page outside the API")
            try:
                response = self._http().get(url, params=params)
            except httpx.TransportError as error:
                raise ServiceUnavailable(f"{where}: {self._transport(error)}") from None
            if response.status_code != 200:
                self._raise_list_refusal(response, where)
            body = json_object(response)
            messages = body.get("messages")
            yield [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
            next_uri = body.get("next_page_uri")
            url, params, read = (next_uri if isinstance(next_uri, str) else None), None, read + 1

    def _raise_list_refusal(self, response: httpx.Response, where: str) -> NoReturn:
        try:
            self._raise_refusal(response, where)
        except SmsRefused as error:  # a list cannot refuse a message: a broken request
            raise SmsProviderDown(f"{where}: the message list was refused: {error}") from None

    # -- shared ----------------------------------------------------------------------------
    def _transport(self, error: httpx.TransportError) -> str:
        return transport_problem(error, self.timeout, secret_url=self._account_sid,
                                 shown_as="<account>")


def _is_service(sender: str) -> bool:
    return sender.startswith("MG")


def _matching(page: list[dict[str, Any]], message: SmsMessage, since: datetime,
              unsent_only: bool) -> SmsAccepted | None:
    service = _is_service(message.sender)
    for found in page:
        if unsent_only and found.get("date_sent"):
            continue
        if (found.get("to") != message.to or found.get("body") != message.body
                or not str(found.get("direction", "")).startswith("outbound")):
            continue
        if (found.get("messaging_service_sid") if service else found.get("from")) != message.sender:
            continue
        created = _twilio_date(found.get("date_created"))
        if created is not None and created >= since and isinstance(found.get("sid"), str):
            return SmsAccepted(found["sid"], str(found.get("status") or "queued"))
    return None


def _twilio_date(value: Any) -> datetime | None:
    """Twilio's RFC 2822 dates (``Mon, 30 Nov 2026 03:55:24 +0000``)."""
    if not isinstance(value, str):
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError, IndexError):
        return None
