"""A loopback fake of Twilio's Messages API, for the tests and the send benchmark.

A real HTTP/1.1 server (keep-alive, one thread per connection) on 127.0.0.1 and a free port,
serving ``/2010-04-01/Accounts/{sid}/Messages.json``, strict where Twilio is strict:

- ``requests`` keeps the form or query of every call that got past the faults and the login,
  ``calls`` counts every call;
- HTTP basic auth must be the fake's ``account_sid:auth_token`` and the path's account that
  sid (else 401, code 20003 ``Authenticate``);
- POST (form-encoded) needs ``To`` (21604), ``Body`` (21602) and ``From`` or
  ``MessagingServiceSid`` (21603); ``To`` must look like E.164 (21211); a number told to
  ``refuse(number, code)`` is refused with that code (21610 unsubscribed, 21211, 21614...);
  the answer is 201 with the stored message (``sid`` ``SM...``, ``status`` ``queued``, or
  ``accepted`` through a messaging service), ``date_created`` in Twilio's RFC 2822 form and
  ``date_sent`` empty until ``advance(sid, "sent")``;
- GET lists the messages newest first (not yet sent ones first), filtered by ``To``, ``From``,
  ``DateSent``, ``DateSent>`` and ``DateSent<`` (on ``date_sent``'s UTC date, as Twilio),
  ``PageSize`` pages (default 50, at most 1000) linked by ``next_page_uri``.

Faults are queued per kind of call (``on="send"`` or ``"list"``) and each call takes the next:
``fail_next(n, status, retry_after)`` (500, 503, 429 with ``Retry-After``), ``hang_next(n,
seconds)`` (answers late; a send is still stored, as a slow Twilio would), ``drop_next(n)``
(closes the connection, nothing stored) and ``drop_next(n, after_accept=True)`` (stored,
then closed: the answer is lost, the message is not).

``when_accepted(callback)`` runs ``callback(message)`` after a message is stored and before
its answer goes out (a test kills a runner there). ``send_status_callback(sid, status)``
POSTs Twilio's status callback form to the message's ``StatusCallback`` (or a given URL),
signed with ``X-Twilio-Signature``; ``send_inbound(url, from_, to, body)`` posts a signed
inbound SMS (a STOP reply).
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from campaign_pipelines.adapters.sms.twilio_signature import SIGNATURE_HEADER, twilio_signature
from campaign_pipelines_tests.fakes.json_http import Fault, FaultyHandler, FaultyJsonApi

_E164 = re.compile(r"\+[1-9]\d{6,14}")
REFUSALS = {
    21610: "Attempt to send to unsubscribed recipient",
    21211: "The 'To' number {to} is not a valid phone number.",
    21614: "'To' number is not a valid mobile number",
}


class FakeTwilioApi(FaultyJsonApi):
    def __init__(self, account_sid: str = "AC" + "0f" * 16, auth_token: str = "fake-auth-token"):
        super().__init__(_Handler, kinds=("send", "list"))
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._messages: list[dict[str, Any]] = []
        self._refusals: dict[str, int] = {}
        self._on_accept: Callable[[dict[str, Any]], None] | None = None
        self._ids = itertools.count(1)
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, form

    @property
    def messages_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    # -- what a test tells it (and fail_next, hang_next) -----------------------------------
    def drop_next(self, n: int = 1, after_accept: bool = False, on: str = "send") -> None:
        self._queue(on, n, Fault("drop_after" if after_accept else "drop"))

    def refuse(self, number: str, code: int) -> None:
        """Every later message to ``number`` is refused with Twilio error ``code``."""
        with self._lock:
            self._refusals[number] = code

    def when_accepted(self, callback: Callable[[dict[str, Any]], None] | None) -> None:
        """``callback(message)`` after each message is stored, before it is answered."""
        self._on_accept = callback

    def advance(self, sid: str, status: str, error_code: int | None = None) -> dict[str, Any]:
        """Moves a message on (``sent``, ``delivered``, ``undelivered``...); a status past the
        queue sets ``date_sent``."""
        with self._lock:
            message = next(m for m in self._messages if m["sid"] == sid)
            message["status"], message["error_code"] = status, error_code
            if status not in ("accepted", "queued", "scheduled") and not message["date_sent"]:
                message["date_sent"] = format_datetime(self.clock(), usegmt=False)
            return dict(message)

    # -- what a test reads -----------------------------------------------------------------
    @property
    def calls(self) -> dict[str, int]:
        """Every call by kind (``send``, ``list``), faults and refused logins included."""
        with self._lock:
            return dict(self._calls)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Every stored message, oldest first, as Twilio would show it."""
        with self._lock:
            return [dict(m) for m in self._messages]

    def sends(self) -> list[dict[str, str]]:
        """The form of every POST that got past the faults, in arrival order."""
        with self._lock:
            return [form for method, _, form in self.requests if method == "POST"]

    # -- callbacks to the project's ingress ------------------------------------------------
    def send_status_callback(self, sid: str, status: str, url: str | None = None,
                             error_code: int | None = None) -> httpx.Response:
        message = self.advance(sid, status, error_code)
        target = url or message["status_callback"]
        assert target, f"message {sid} has no StatusCallback: pass url="
        form = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01",
                "MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                "To": message["to"], "From": message["from"] or ""}
        if message["messaging_service_sid"]:
            form["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return self.post_signed(target, form)

    def send_inbound(self, url: str, from_: str, to: str, body: str) -> httpx.Response:
        sid = f"SM{next(self._ids):032x}"
        return self.post_signed(url, {
            "AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "MessageSid": sid,
            "SmsSid": sid, "SmsMessageSid": sid, "From": from_, "To": to, "Body": body,
            "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received"})

    def post_signed(self, url: str, form: dict[str, str]) -> httpx.Response:
        signature = twilio_signature(self.auth_token, url, form)
        return httpx.post(url, data=form, headers={SIGNATURE_HEADER: signature}, timeout=10)

    # -- the API ---------------------------------------------------------------------------
    def injected_error(self, status: int) -> tuple[int, dict[str, Any]]:
        return _error(status, 20429 if status == 429 else 20500, "Injected fault")

    def authorised(self, user: str | None, password: str | None, path_sid: str) -> bool:
        return (user, password, path_sid) == (self.account_sid, self.auth_token, self.account_sid)

    def create(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(("POST", self.messages_path, form))
        to, body = form.get("To", ""), form.get("Body", "")
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if not sender and not service:
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required")
        if service and not service.startswith("MG"):
            return _error(400, 21701, "The Messaging Service Sid is invalid.")
        with self._lock:
            code = self._refusals.get(to)
        if code is None and not _E164.fullmatch(to):
            code = 21211
        if code is not None:
            text = REFUSALS.get(code, "Refused by the fake").format(to=to)
            return _error(400, code, text)
        sid = f"SM{next(self._ids):032x}"
        message = {
            "sid": sid, "account_sid": self.account_sid, "api_version": "2010-04-01",
            "to": to, "from": sender if not service else None, "body": body,
            "messaging_service_sid": service, "status": "accepted" if service else "queued",
            "direction": "outbound-api", "num_segments": "1", "num_media": "0",
            "date_created": format_datetime(self.clock(), usegmt=False),
            "date_updated": format_datetime(self.clock(), usegmt=False), "date_sent": None,
            "error_code": None, "error_message": None, "price": None, "price_unit": "USD",
            "status_callback": form.get("StatusCallback"),
            "uri": f"{self.messages_path[:-5]}/{sid}.json",
        }
        with self._lock:
            self._messages.append(message)
        if self._on_accept is not None:
            self._on_accept(dict(message))
        return 201, {k: v for k, v in message.items() if k != "status_callback"}

    def list(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(("GET", self.messages_path, query))
            found = [dict(m) for m in self._messages if _passes(m, query)]
        found.sort(key=_newest_first)
        size = min(int(query.get("PageSize", "50")), 1000)
        page = int(query.get("Page", "0"))
        shown = found[page * size:(page + 1) * size]
        more = len(found) > (page + 1) * size
        link = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}
        next_uri = None
        if more:
            link |= {"PageSize": str(size), "Page": str(page + 1),
                     "PageToken": "PA" + shown[-1]["sid"]}
            next_uri = f"{self.messages_path}?{urlencode(link)}"
        for message in shown:
            message.pop("status_callback", None)
        return 200, {"messages": shown, "page": page, "page_size": size,
                     "next_page_uri": next_uri, "uri": self.messages_path,
                     "first_page_uri": f"{self.messages_path}?PageSize={size}&Page=0",
                     "previous_page_uri": None, "start": page * size,
                     "end": page * size + max(len(shown) - 1, 0)}


def _passes(message: dict[str, Any], query: dict[str, str]) -> bool:
    if "To" in query and message["to"] != query["To"]:
        return False
    if "From" in query and message["from"] != query["From"]:
        return False
    dated = {k: date.fromisoformat(v) for k, v in query.items() if k.startswith("DateSent")}
    if not dated:
        return True
    if not message["date_sent"]:
        return False
    sent = parsedate_to_datetime(message["date_sent"]).astimezone(UTC).date()
    return (sent == dated.get("DateSent", sent) and sent >= dated.get("DateSent>", sent)
            and sent <= dated.get("DateSent<", sent))


def _newest_first(message: dict[str, Any]) -> tuple[int, float, int]:
    created = -int(message["sid"][2:], 16)  # sids count up: a later message first on a tie
    if not message["date_sent"]:
        return 0, 0.0, created
    return 1, -parsedate_to_datetime(message["date_sent"]).timestamp(), created


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "message": message, "status": status,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}"}


class _Handler(FaultyHandler):
    owner: FakeTwilioApi

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._serve("send", lambda: self.owner.create(_form(raw.decode())))

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        query = urlsplit(self.path).query
        self._serve("list", lambda: self.owner.list(_form(query)))

    def _serve(self, on: str, handle: Callable[[], tuple[int, dict[str, Any]]]) -> None:
        match = re.fullmatch(r"/2010-04-01/Accounts/([^/]+)/Messages\.json",
                             urlsplit(self.path).path)
        if match is None:
            return self.answer(*_error(404, 20404, "The requested resource was not found"))
        login = _basic_auth(self.headers.get("Authorization"))
        refusal = None
        if not self.owner.authorised(*login, match.group(1)):
            refusal = _error(401, 20003, "Authenticate")
        self.serve(on, handle, refusal)


def _form(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True))


def _basic_auth(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.startswith("Basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None, None
    return user, password
