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
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class _Fault:
    kind: str  # "status" | "hang" | "drop" | "drop_after"
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0


class FakeEmailApi:
    def __init__(self, api_key: str = "re_test_key"):
        self.api_key = api_key
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self._answers: dict[str, tuple[str, dict[str, Any]]] = {}  # key → (body hash, answer)
        self._in_progress: set[str] = set()
        self._delivered: list[dict[str, Any]] = []
        self._requested: list[str | None] = []
        self._on_delivery: Callable[[dict[str, Any]], None] | None = None
        self._rejected: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self.calls = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeEmailApi:
        handler = type("_Handler", (_Handler,), {"api": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes every hanging handler, which then answers nothing
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeEmailApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    # -- what a test tells it --------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, retry_after: float | str | None = None):
        header = None if retry_after is None else str(retry_after)
        self._queue(n, _Fault("status", status=status, retry_after=header))

    def hang_next(self, n: int = 1, seconds: float = 5.0) -> None:
        self._queue(n, _Fault("hang", seconds=seconds))

    def drop_next(self, n: int = 1, after_delivery: bool = False) -> None:
        self._queue(n, _Fault("drop_after" if after_delivery else "drop"))

    def reject(self, address: str, message: str | None = None) -> None:
        """Every later message to ``address`` is refused with 422 and ``message``."""
        with self._lock:
            self._rejected[address.lower()] = message or f"Invalid `to` field: {address}"

    def when_delivered(self, callback: Callable[[dict[str, Any]], None] | None) -> None:
        """``callback(message)`` after each new delivery is stored, before it is answered."""
        self._on_delivery = callback

    def _queue(self, n: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * n)

    # -- what a test reads -----------------------------------------------------------------
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
    def _next_fault(self) -> _Fault | None:
        with self._lock:
            self.calls += 1
            return self._faults.popleft() if self._faults else None

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


class _Handler(BaseHTTPRequestHandler):
    api: FakeEmailApi
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API and httpx's pool expect

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every answer for 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/emails":
            return self._answer(404, _error(404, "not_found", "No such endpoint"))
        fault = self.api._next_fault()
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            name = "rate_limit_exceeded" if fault.status == 429 else "internal_server_error"
            return self._answer(fault.status, _error(fault.status, name, "Injected fault"), headers)
        if fault is not None and fault.kind == "hang" and self.api._closing.wait(fault.seconds):
            return self._drop()
        if fault is not None and fault.kind == "drop":
            return self._drop()
        authorization = self.headers.get("Authorization") or ""
        token = authorization[7:] if authorization.startswith("Bearer ") else None
        status, answer = self.api.handle_send(token, self.headers.get("Idempotency-Key"), raw)
        if fault is not None and fault.kind == "drop_after":
            return self._drop()
        self._answer(status, answer)

    def _answer(self, status: int, body: dict[str, Any], headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # a client that timed out before a late answer

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
