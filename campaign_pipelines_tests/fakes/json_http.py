"""Loopback JSON servers for the fakes of HTTP services, and what their handlers share.

``JsonServer(route)`` serves every request on 127.0.0.1 and a free port through
``route(request) -> Answer``; ``requests`` keeps what arrived (method, path, headers, parsed
JSON body). A route returns ``Answer(status, body, headers)``, or ``DROP`` to close the
connection without an answer. It is enough for webhook-like services (alerts, Notion).

``FaultyJsonApi`` is the shared half of a strict fake API (Resend, Twilio): a loopback server
started by ``start()`` or ``with``, and faults queued per kind of call (``on``), each call
taking the next one before the API sees it: ``fail_next(n, status, retry_after)`` (answered
with the subclass's ``injected_error(status)`` and ``Retry-After``), ``hang_next(n, seconds)``
(answers late; ``close()`` wakes it and it answers nothing), ``Fault("drop")`` (closes the
connection unanswered, the call not handled) and ``Fault("drop_after")`` (handled, then
closed: the answer is lost, the effect is not). Its handlers subclass ``FaultyHandler`` and
pass each call through ``serve(on, handle)``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


DROP = Answer(status=-1)


class JsonHandler(BaseHTTPRequestHandler):
    owner: Any  # bound by _Loopback: the fake that answers
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs and httpx's pool expect

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every answer for 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        try:
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # a client that timed out before a late answer

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Loopback:
    """``handler`` bound to ``owner``, served on 127.0.0.1 and a free port once started."""

    def __init__(self, handler: type[JsonHandler], owner: object):
        bound = type("_Handler", (handler,), {"owner": owner})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class JsonServer:
    def __init__(self, route: Callable[[Request], Answer]):
        self.route = route
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._loopback = _Loopback(_RouteHandler, self)

    @property
    def url(self) -> str:
        return self._loopback.url

    def __enter__(self) -> JsonServer:
        self._loopback.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loopback.close()

    def answer(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            return self.route(request)


class _RouteHandler(JsonHandler):
    owner: JsonServer

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else None
        request = Request(self.command, self.path, dict(self.headers.items()), body)
        answer = self.owner.answer(request)
        if answer is DROP:
            return self.drop()
        self.answer(answer.status, answer.body, answer.headers)

    do_GET = do_POST = do_PATCH = _serve  # noqa: N815 - http.server's names


@dataclass(frozen=True)
class Fault:
    kind: str  # "status" | "hang" | "drop" | "drop_after"
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0


class FaultyJsonApi:
    def __init__(self, handler: type[FaultyHandler], kinds: tuple[str, ...] = ("send",)):
        self._handler = handler
        self._lock = threading.Lock()
        self._faults: dict[str, deque[Fault]] = {kind: deque() for kind in kinds}
        self._calls = dict.fromkeys(kinds, 0)  # every call, faults and refusals included
        self._closing = threading.Event()
        self._loopback: _Loopback | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        self._loopback = _Loopback(self._handler, self)
        self._loopback.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes every hanging handler, which then answers nothing
        if self._loopback is not None:
            self._loopback.close()
            self._loopback = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        assert self._loopback is not None, "start() the fake first"
        return self._loopback.url

    # -- what a test tells it --------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, retry_after: float | str | None = None,
                  on: str = "send") -> None:
        header = None if retry_after is None else str(retry_after)
        self._queue(on, n, Fault("status", status=status, retry_after=header))

    def hang_next(self, n: int = 1, seconds: float = 5.0, on: str = "send") -> None:
        self._queue(on, n, Fault("hang", seconds=seconds))

    def _queue(self, on: str, n: int, fault: Fault) -> None:
        with self._lock:
            self._faults[on].extend([fault] * n)

    # -- what the handler asks -------------------------------------------------------------
    def next_fault(self, on: str) -> Fault | None:
        with self._lock:
            self._calls[on] += 1
            return self._faults[on].popleft() if self._faults[on] else None

    def injected_error(self, status: int) -> tuple[int, Any]:
        """The answer to a ``fail_next`` fault: the API's own error body for ``status``."""
        raise NotImplementedError


class FaultyHandler(JsonHandler):
    owner: FaultyJsonApi

    def serve(self, on: str, handle: Callable[[], tuple[int, Any]],
              refusal: tuple[int, Any] | None = None) -> None:
        """Answers ``handle()`` through the next fault queued for ``on``; ``refusal`` (a
        failed login) is answered instead of ``handle()`` once past the faults, and then
        ``drop_after`` does not drop."""
        fault = self.owner.next_fault(on)
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return self.answer(*self.owner.injected_error(fault.status), headers)
        if fault is not None and fault.kind == "hang" and self.owner._closing.wait(fault.seconds):
            return self.drop()
        if fault is not None and fault.kind == "drop":
            return self.drop()
        if refusal is not None:
            return self.answer(*refusal)
        status, body = handle()
        if fault is not None and fault.kind == "drop_after":
            return self.drop()
        self.answer(status, body)
