"""A real ingress for the tests: `campaigns serve` in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from campaign_pipelines.ingress.journal_files import COMPLETE_SUFFIX, TEMP_PREFIX, TEMP_SUFFIX
from campaign_pipelines_tests.ports import free_port

TOKEN = "test-ingress-token-0123456789"
HMAC_SECRET = "test-hmac-secret-abcdef"
UNSUBSCRIBE_SECRET = "test-unsubscribe-secret"
SIGNUP = {"email": "Ada.Lovelace@Example.COM", "first_name": "Ada", "red_systems": 2}


class Ingress:
    """``campaigns serve --workers N`` over ``data_dir``, its output (the access log) in ``log``
    (beside ``data_dir`` unless given). The rest of the environment is this process's, with the
    test secrets and ``env`` over it; ``start_s`` bounds the wait for /health."""

    def __init__(self, data_dir: Path, workers: int = 1, log: Path | None = None,
                 start_s: float = 20, **env: str):
        self.data_dir = data_dir
        self.landing = data_dir / "landing"
        self.base = f"http://127.0.0.1:{free_port()}"
        self.log = log or data_dir.parent / f"ingress-{self.base.rsplit(':', 1)[1]}.log"
        settings = {
            "CAMPAIGN_DATA_DIR": str(data_dir),
            "INGRESS_TOKEN": TOKEN,
            "INGRESS_HMAC_SECRET": HMAC_SECRET,
            "UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
            "INGRESS_ROTATE_SECONDS": "0.2",
            "SEQUENCE_TIMING": "testing",
            **env,
        }
        command = [sys.executable, "-m", "campaign_pipelines.cli", "serve", "--port",
                   self.base.rsplit(":", 1)[1], "--workers", str(workers)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, env={**os.environ, **settings},
                                            stdout=log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.base, timeout=30)
        self._wait_until_up(start_s)

    def _wait_until_up(self, limit_s: float = 20) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the ingress exited: {self.log.read_text()[-2000:]}")
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise TimeoutError(f"the ingress did not answer in {limit_s} s")

    def post_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def post(self, path: str = "/webhooks/signups", body: object = SIGNUP, **kwargs):
        headers = {**self.post_headers(), **kwargs.pop("headers", {})}
        if "content" in kwargs:
            return self.client.post(path, headers=headers, **kwargs)
        return self.client.post(path, headers=headers, json=body, **kwargs)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """An authorized request with a JSON body (or none): its status and body."""
        answer = self.client.request(method, path, content=body, headers={
            **self.post_headers(), "Content-Type": "application/json"})
        return answer.status_code, answer.content

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """``sig`` to the server, killed if it has not ended 20 s later."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def complete_lines(folder: Path) -> list[bytes]:
    """Every line of every complete landing file (the names a reader takes)."""
    lines: list[bytes] = []
    for path in sorted(folder.glob(f"*{COMPLETE_SUFFIX}")):
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"{path.name} ends in a torn line"
        lines += data.splitlines()
    return lines


def wait_for_lines(folder: Path, count: int, limit_s: float = 5) -> list[bytes]:
    """The complete lines once there are ``count`` of them (rotation takes ~0.2 s here)."""
    deadline = time.monotonic() + limit_s
    while True:
        lines = complete_lines(folder)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def settled_bytes(folder: Path, limit_s: float = 5) -> int:
    """``bytes_in`` once no journal holding lines is still open: whatever was written before is
    complete (rotation takes ~0.2 s here), so completing it, which links the complete name
    before removing the temp one, cannot pass for a new write. A refused request that wrote
    anyway leaves an open journal with lines: it is waited for, and counted."""
    deadline = time.monotonic() + limit_s
    while _open_journal_with_lines(folder) and time.monotonic() < deadline:
        time.sleep(0.02)
    return bytes_in(folder)


def _open_journal_with_lines(folder: Path) -> bool:
    for path in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        try:
            if path.stat().st_size:
                return True
        except FileNotFoundError:  # completed meanwhile
            continue
    return False


def bytes_in(folder: Path) -> int:
    """Bytes in every file of the folder, temp journals included."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.exists() else 0
