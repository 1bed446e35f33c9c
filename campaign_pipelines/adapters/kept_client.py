"""One httpx client per outgoing adapter, made on first use and kept across its calls (its
connections and TLS context), closed by ``close()`` or at the end of a ``with`` block."""

from __future__ import annotations

import threading
from typing import Self

import httpx


class KeptClient:
    """Base of the HTTP adapters: ``_new_client`` says how their client is made. Subclasses
    call ``super().__init__()``."""

    def __init__(self) -> None:
        self._client: httpx.Client | None = None
        # Guards making and closing this adapter's client; the client itself is thread-safe.
        self._client_lock = threading.Lock()

    def _new_client(self) -> httpx.Client:
        raise NotImplementedError

    def _http(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = self._new_client()
            return self._client

    def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
