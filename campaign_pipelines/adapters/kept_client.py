"""One httpx client per outgoing adapter, made on first use and kept across its calls (its
connections and TLS context), closed by ``close()`` or at the end of a ``with`` block."""

from __future__ import annotations

import threading
from typing import Self

import httpx


class KeptClient:
    """Base of the HTTP adapters: ``_new_client`` says how their client is made."""

    _client: httpx.Client | None = None
    _client_lock = threading.Lock()  # making the client; the client itself is thread-safe

    def _new_client(self) -> httpx.Client:
        raise NotImplementedError

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
