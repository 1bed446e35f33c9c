"""The config-service client against a real HTTP server on loopback. The client sends each GET
once and classifies its failure; ``with_get_retries`` (for the CLI) is the only loop, and the
step's RetryPolicy retries inside runs (campaign_pipelines_tests/test_retries.py)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from campaign_pipelines.adapters.journey_config import (
    GET_ATTEMPTS,
    ConfigServiceError,
    FileJourneyConfig,
    HttpJourneyConfig,
    JourneyConfigUnavailable,
    registration_body,
    with_get_retries,
)
from campaign_pipelines.core.streaks.chains import with_campaign
from campaign_pipelines.core.streaks.config import Campaign

TOKEN = "test-token"


class Handler(BaseHTTPRequestHandler):
    server: ConfigService

    def log_message(self, *args):  # keep test output quiet
        pass

    def _answer(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        try:
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left, as the timeout tests intend

    def do_GET(self):
        service = self.server
        service.gets += 1
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(401, {"error": "no token"})
        if service.get_failures > 0:
            service.get_failures -= 1
            return self._answer(503, {"error": "busy"})
        time.sleep(service.get_delay)
        self._answer(200, service.document)

    def do_POST(self):
        service = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        service.posts.append((body, self.headers.get("Idempotency-Key")))
        mode = service.post_mode
        if mode == "conflict":
            return self._answer(409, {"error": "stale base_version"})
        if mode in ("ok", "error_after_store", "slow_after_store"):
            service.document = {**service.document,
                                "version": service.document["version"] + 1,
                                "campaigns": [*service.document["campaigns"], body["campaign"]],
                                "rules": [*service.document["rules"], *body["rules"]]}
        if mode == "slow_after_store":
            time.sleep(1.0)
        if mode in ("error", "error_after_store"):
            return self._answer(500, {"error": "boom"})
        self._answer(201, {"version": service.document["version"]})


class ConfigService(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, document: dict):
        super().__init__(("127.0.0.1", 0), Handler)
        self.document = document
        self.gets, self.posts = 0, []
        self.get_failures, self.get_delay, self.post_mode = 0, 0.0, "ok"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[ConfigService]:
        """Served on a thread of its own until the block ends. The loop looks for shutdown every
        50 ms (the standard library's 0.5 s was half a second of every test's teardown)."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()


@pytest.fixture
def service(config):
    with ConfigService(config.to_document()).running() as server:
        yield server


def client(service, **options) -> HttpJourneyConfig:
    return HttpJourneyConfig(url=service.url, token=TOKEN, **{"timeout_s": 2.0, **options})


def fresh() -> Campaign:
    return Campaign(name="fresh_streak", id="900", type="streak", next="NA")


def test_get_reads_the_config(service, config):
    assert client(service).load() == config


def test_a_5xx_get_is_transient_and_the_client_itself_does_not_retry(service, config):
    service.get_failures = 1
    with pytest.raises(JourneyConfigUnavailable, match="answered HTTP 503; nothing was changed"):
        client(service).load()
    assert service.gets == 1
    assert client(service).load() == config


def test_outside_a_step_one_503_costs_one_retry(service, config):
    service.get_failures = 1
    assert with_get_retries(client(service).load) == config
    assert service.gets == 2


def test_outside_a_step_a_persistent_503_gives_up_after_3_gets_with_a_clear_error(service):
    service.get_failures = 10
    started = time.monotonic()
    with pytest.raises(JourneyConfigUnavailable, match=r"answered HTTP 503 \(3 attempts\); "
                       "nothing was changed"):
        with_get_retries(client(service).load)
    assert service.gets == GET_ATTEMPTS == 3
    assert time.monotonic() - started >= 0.5 + 1.0  # stamina's waits, no jitter


def test_a_refused_get_is_permanent_and_not_retried(service):
    refused = HttpJourneyConfig(url=service.url, token="wrong", timeout_s=2.0)  # noqa: S106
    with pytest.raises(ConfigServiceError, match="HTTP 401") as raised:
        with_get_retries(refused.load)
    assert not isinstance(raised.value, JourneyConfigUnavailable)
    assert service.gets == 1


def test_get_timeout(service):
    service.get_delay = 0.5
    with pytest.raises(JourneyConfigUnavailable, match="timed out after 0.2s"):
        client(service, timeout_s=0.2).load()
    assert service.gets == 1


def test_unreachable_service():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = HttpJourneyConfig(url=f"http://127.0.0.1:{port}")
    with pytest.raises(JourneyConfigUnavailable, match="unreachable"):
        dead.load()
    existing = fresh()
    with pytest.raises(ConfigServiceError, match="unreachable.*nothing was posted"):
        dead.register(_config_stub(), existing, with_campaign(_config_stub(), existing))


def _config_stub():
    from campaign_pipelines.adapters.journey_config import DEFAULT_CONFIG, load_config_file

    return load_config_file(DEFAULT_CONFIG)


def test_post_sends_one_request_with_campaign_and_rules(service, config):
    proposed = with_campaign(config, fresh())
    answer = client(service).register(config, fresh(), proposed)
    assert answer == {"version": config.version + 1}
    [(body, key)] = service.posts
    assert body == json.loads(json.dumps(registration_body(config, fresh(), proposed)))
    assert body["base_version"] == config.version and len(body["rules"]) == 1
    assert key and len(key) == 64
    assert client(service).load().campaign("fresh_streak") is not None


def test_post_5xx_is_not_retried_and_nothing_is_half_posted(service, config):
    service.post_mode = "error"
    with pytest.raises(ConfigServiceError, match="HTTP 500; reading back shows 'fresh_streak' "
                       "is not registered: nothing was changed, it is safe to retry"):
        client(service).register(config, fresh(), with_campaign(config, fresh()))
    assert len(service.posts) == 1
    assert client(service).load() == config


def test_post_5xx_after_the_service_stored_it_is_confirmed_by_reading_back(service, config):
    service.post_mode = "error_after_store"
    answer = client(service).register(config, fresh(), with_campaign(config, fresh()))
    assert answer["confirmed_by_reading_back"] is True
    assert len(service.posts) == 1


def test_post_timeout_reads_back_instead_of_posting_again(service, config):
    service.post_mode = "slow_after_store"
    answer = client(service, timeout_s=0.3).register(config, fresh(),
                                                     with_campaign(config, fresh()))
    assert answer["confirmed_by_reading_back"] is True and "ReadTimeout" in answer["warning"]
    assert len(service.posts) == 1


def test_post_conflict_is_reported(service, config):
    service.post_mode = "conflict"
    with pytest.raises(ConfigServiceError, match="409.*nothing was registered.*run the "
                       "registration again"):
        client(service).register(config, fresh(), with_campaign(config, fresh()))


def test_file_store_registers_atomically_and_detects_a_stale_read(tmp_path, config):
    import yaml

    path = tmp_path / "journeys.yaml"
    path.write_text(yaml.safe_dump(config.to_document()), encoding="utf-8")
    store = FileJourneyConfig(path)
    existing = store.load()
    store.register(existing, fresh(), with_campaign(existing, fresh()))
    assert store.load().version == config.version + 1
    with pytest.raises(ConfigServiceError, match="changed .* nothing written"):
        store.register(existing, fresh(), with_campaign(existing, fresh()))
    assert [p.name for p in tmp_path.iterdir()] == ["journeys.yaml"]


def test_the_token_never_shows_in_the_client_repr(service):
    assert TOKEN not in repr(client(service))
