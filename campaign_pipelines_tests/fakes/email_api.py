"""A loopback fake of Resend's ``POST /emails``, for the tests and the send benchmark.

A real HTTP/1.1 server (keep-alive, one thread per connection) on 127.0.0.1 and a free port,
strict where the real API is strict:

- the bearer token must be the fake's ``api_key`` (none: 401 ``missing_api_key``; another:
  403 ``invalid_api_key``);
- the body must be JSON with ``from``, ``to``, ``subject`` and ``html`` or ``text`` (422
  ``validation_error`` naming the field); a recipient told to ``reject`` gets 422 too;
- an ``Idempotency-Key`` already answered with 200 is answered with that same answer and
  nothing is stored again; the same key with another body is 409
  ``invalid_idempotent_request``; the same key while its first request is still being handled
  is 409 ``concurrent_idempotent_requests``.

Faults are queued and each call takes the next one: ``fail_next(n, status, retry_after)``
(500, 503, 429 with ``Retry-After``...), ``hang_next(n, seconds)`` (answers late; the client
times out, the message is still delivered, as a slow real server would), ``drop_next(n)``
(closes the connection without an answer; nothing delivered) and ``drop_next(n,
after_delivery=True)`` (delivers, then closes: the answer is lost, the message is not). A
fault is taken before idempotency is looked at, as a failing edge in front of the API would.

``when_delivered(callback)`` runs ``callback(message)`` after each new message is stored and
before its answer goes out: a test kills the sender there, between the provider's acceptance
and the sender's record of it. ``requested_keys`` lists the ``Idempotency-Key`` of every call
that got past the faults, replays included.

Usage::

    with FakeEmailApi() as api:
        provider = ResendProvider(api.api_key, base_url=api.url)
        ...
        assert [m["to"] for m in api.delivered] == [["a@example.com"]]
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from typing import Any

from campaign_pipelines_tests.fakes.json_http import Fault, FaultyHandler, FaultyJsonApi


class FakeEmailApi(FaultyJsonApi):
    def __init__(self, api_key: str = "re_test_key"):
        super().__init__(_Handler)
        self.api_key = api_key
        self._answers: dict[str, tuple[str, dict[str, Any]]] = {}  # key → (body hash, answer)
        self._in_progress: set[str] = set()
        self._delivered: list[dict[str, Any]] = []
        self._requested: list[str | None] = []
        self._on_delivery: Callable[[dict[str, Any]], None] | None = None
        self._rejected: dict[str, str] = {}
        self._ids = itertools.count(1)

    # -- what a test tells it (and fail_next, hang_next) -----------------------------------
    def drop_next(self, n: int = 1, after_delivery: bool = False) -> None:
        self._queue("send", n, Fault("drop_after" if after_delivery else "drop"))

    def reject(self, address: str, message: str | None = None) -> None:
        """Every later message to ``address`` is refused with 422 and ``message``."""
        with self._lock:
            self._rejected[address.lower()] = message or f"Invalid `to` field: {address}"

    def when_delivered(self, callback: Callable[[dict[str, Any]], None] | None) -> None:
        """``callback(message)`` after each new delivery is stored, before it is answered."""
        self._on_delivery = callback

    # -- what a test reads -----------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Every call to ``/emails``, faults and refusals included."""
        with self._lock:
            return self._calls["send"]

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Every stored message, in arrival order: the JSON body plus ``id`` and
        ``idempotency_key``."""
        with self._lock:
            return list(self._delivered)

    @property
    def requested_keys(self) -> list[str | None]:
        """The ``Idempotency-Key`` of every call past the faults, in arrival order."""
        with self._lock:
            return list(self._requested)

    # -- the API ---------------------------------------------------------------------------
    def injected_error(self, status: int) -> tuple[int, dict[str, Any]]:
        name = "rate_limit_exceeded" if status == 429 else "internal_server_error"
        return status, _error(status, name, "Injected fault")

    def handle_send(self, token: str | None, key: str | None, raw: bytes) -> tuple[int, dict]:
        with self._lock:
            self._requested.append(key)
        if token is None:
            return 401, _error(401, "missing_api_key", "Missing API key in the authorization")
        if token != self.api_key:
            return 403, _error(403, "invalid_api_key", "API key is invalid")
        try:
            body = json.loads(raw)
        except ValueError:
            return 422, _error(422, "validation_error", "The body is not valid JSON")
        problem = _validation_problem(body)
        if problem:
            return 422, _error(422, "validation_error", problem)
        digest = hashlib.sha256(raw).hexdigest()
        if key is None:
            return self._store(body, None)
        with self._lock:
            if key in self._answers:
                first_digest, answer = self._answers[key]
                if first_digest != digest:
                    return 409, _error(409, "invalid_idempotent_request",
                                       "Same idempotency key used with a different request payload")
                return 200, answer
            if key in self._in_progress:
                return 409, _error(409, "concurrent_idempotent_requests",
                                   "Same idempotency key used while the first request is ongoing")
            self._in_progress.add(key)
        try:
            status, answer = self._store(body, key)
            if status == 200:
                with self._lock:
                    self._answers[key] = (digest, answer)
            return status, answer
        finally:
            with self._lock:
                self._in_progress.discard(key)

    def _store(self, body: dict[str, Any], key: str | None) -> tuple[int, dict]:
        recipients = body["to"] if isinstance(body["to"], list) else [body["to"]]
        with self._lock:
            for recipient in map(str, recipients):
                if recipient.lower() in self._rejected:
                    return 422, _error(422, "validation_error", self._rejected[recipient.lower()])
            message_id = f"fake-{next(self._ids):08d}"
            message = {**body, "id": message_id, "idempotency_key": key}
            self._delivered.append(message)
        if self._on_delivery is not None:
            self._on_delivery(message)
        return 200, {"id": message_id}


def _validation_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The body must be a JSON object"
    for field in ("from", "to", "subject"):
        if not body.get(field):
            return f"Missing `{field}` field"
    if not (body.get("html") or body.get("text")):
        return "Missing `html` or `text` field"
    headers = body.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return "`headers` must be an object of strings"
    return None


def _error(status: int, name: str, message: str) -> dict[str, Any]:
    return {"statusCode": status, "name": name, "message": message}


class _Handler(FaultyHandler):
    owner: FakeEmailApi

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/emails":
            return self.answer(404, _error(404, "not_found", "No such endpoint"))
        authorization = self.headers.get("Authorization") or ""
        token = authorization[7:] if authorization.startswith("Bearer ") else None
        key = self.headers.get("Idempotency-Key")
        self.serve("send", lambda: self.owner.handle_send(token, key, raw))
