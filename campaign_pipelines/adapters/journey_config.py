"""Where the journey config lives: a versioned YAML file (embedded default) or the config
service over HTTP.

Config service protocol (JSON, bearer token):

- ``GET  {url}/journey-config`` → 200 ``{version, campaigns, rules}`` (rules in legacy shape);
- ``POST {url}/journey-config/campaigns`` with ``{base_version, campaign, rules}`` → 201
  ``{version}``; 409 when ``base_version`` is stale (someone registered in between), 422 when
  the service refuses the body. An ``Idempotency-Key`` header (hash of the body) lets the
  service recognise a repeat.

A GET is sent once here: a transport error, a timeout, 429 or 5xx raises
``JourneyConfigUnavailable`` (transient), anything else wrong ``ConfigServiceError`` (permanent).
Who retries a transient GET depends on the caller: inside a Dagster step the step's
``RetryPolicy`` (``defs/retries.py``); outside one (the ``campaigns streaks`` commands)
``with_get_retries``, the one stamina helper, 3 attempts. The client uses that helper itself in
one place: the read-back after a POST whose outcome is unknown, which no caller could retry
without sending the POST again (``register`` runs only from the command line). A POST is sent
once and never retried (it is not idempotent), only after the caller validated the whole
registration, and carries the campaign and its rules together, so there is never half a
registration on the service. When a POST's outcome is unknown (timeout, 5xx, dropped
connection) the client reads the config back and reports whether the campaign is there instead
of posting again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import stamina
import yaml

from campaign_pipelines.adapters.atomic_write import write_atomic_with
from campaign_pipelines.adapters.http_errors import is_transient_status, service_said
from campaign_pipelines.core.streaks.config import Campaign, JourneyConfig, parse_config

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config" / "journeys"
DEFAULT_CONFIG = CONFIG_DIR / "journey_config.yaml"
# Outside a step: GET attempts in all and stamina's first wait (then doubled, no jitter).
GET_ATTEMPTS = 3
GET_WAIT_INITIAL_S = 0.5
T = TypeVar("T")


class ConfigServiceError(RuntimeError):
    """The config could not be read or written; the message says whether anything changed."""


class JourneyConfigUnavailable(ConfigServiceError):
    """A GET met a transport error, a timeout, 429 or 5xx: transient, worth another attempt."""

    def __init__(self, target: str, problem: str, attempts: int = 1):
        self.target, self.problem, self.attempts = target, problem, attempts
        tried = f" ({attempts} attempts)" if attempts > 1 else ""
        super().__init__(
            f"{target}: {problem}{tried}; nothing was changed. Check the service and "
            "JOURNEY_CONFIG_URL, then retry"
        )


def with_get_retries(load: Callable[[], T], attempts: int = GET_ATTEMPTS) -> T:
    """``load()`` (GETs only: never a POST), tried up to ``attempts`` times while it raises
    ``JourneyConfigUnavailable``, waiting 0.5 s then 1 s. For callers outside a Dagster step;
    inside one, the step's RetryPolicy retries and this must not be stacked under it."""
    try:
        for attempt in stamina.retry_context(
            on=JourneyConfigUnavailable,
            attempts=attempts,
            timeout=None,
            wait_initial=GET_WAIT_INITIAL_S,
            wait_jitter=0.0,
        ):
            with attempt:
                return load()
    except JourneyConfigUnavailable as error:
        raise JourneyConfigUnavailable(error.target, error.problem, attempts) from None
    raise AssertionError("unreachable: stamina returns or raises")


def load_config_file(path: Path) -> JourneyConfig:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigServiceError(
            f"{path}: journey config file not found; "
            f"point the journey_config resource at a YAML file"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigServiceError(f"{path}: not valid YAML: {error}") from None
    return parse_config(document, str(path))


def registration_body(
    existing: JourneyConfig, campaign: Campaign, proposed: JourneyConfig
) -> dict[str, Any]:
    """Exactly what is posted: the campaign and the rules it adds, against a base version."""
    added = proposed.rules[len(existing.rules) :]
    return {
        "base_version": existing.version,
        "campaign": campaign.model_dump(),
        "rules": [rule.to_legacy() for rule in added],
    }


@dataclass(frozen=True)
class FileJourneyConfig:
    path: Path

    def describe(self) -> str:
        return f"file {self.path}"

    def load(self) -> JourneyConfig:
        return load_config_file(self.path)

    def register(
        self, existing: JourneyConfig, campaign: Campaign, proposed: JourneyConfig
    ) -> dict[str, Any]:
        """Rewrites the file with the proposed config, all or nothing (temp file + rename)."""
        current = self.load()
        if current.version != existing.version:
            raise ConfigServiceError(
                f"{self.path} changed (version {existing.version} → {current.version}) since it "
                "was read; nothing written: run the registration again"
            )
        text = yaml.safe_dump(proposed.to_document(), sort_keys=False, allow_unicode=True)
        write_atomic_with(self.path, lambda temp: temp.write_text(text, encoding="utf-8"))
        return {"version": proposed.version, "written": str(self.path)}


@dataclass(frozen=True)
class HttpJourneyConfig:
    url: str
    token: str = field(default="", repr=False)  # a secret: never in logs or tracebacks
    timeout_s: float = 10.0

    def describe(self) -> str:
        return f"config service {self.url}"

    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(
            base_url=self.url.rstrip("/"), headers=headers, timeout=httpx.Timeout(self.timeout_s)
        )

    def load(self) -> JourneyConfig:
        document = self._get_json("/journey-config")
        return parse_config(document, f"{self.url}/journey-config")

    def _get_json(self, path: str) -> Any:
        """One GET; ``JourneyConfigUnavailable`` when the failure is transient."""
        target = f"GET {self.url}{path}"
        with self._client() as client:
            try:
                response = client.get(path)
            except httpx.TimeoutException:
                problem = f"timed out after {self.timeout_s}s"
                raise JourneyConfigUnavailable(target, problem) from None
            except httpx.TransportError as error:
                problem = f"unreachable ({type(error).__name__}: {error})"
                raise JourneyConfigUnavailable(target, problem) from None
        if is_transient_status(response.status_code):
            raise JourneyConfigUnavailable(target, f"answered HTTP {response.status_code}")
        return _json_or_raise(response, target)

    def register(
        self, existing: JourneyConfig, campaign: Campaign, proposed: JourneyConfig
    ) -> dict[str, Any]:
        body = registration_body(existing, campaign, proposed)
        raw = json.dumps(body, sort_keys=True).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": hashlib.sha256(raw).hexdigest(),
        }
        target = f"POST {self.url}/journey-config/campaigns"
        with self._client() as client:
            try:
                response = client.post("/journey-config/campaigns", content=raw, headers=headers)
            except httpx.ConnectError as error:
                raise ConfigServiceError(
                    f"{target}: service unreachable ({error}); nothing was "
                    "posted. Retry when it is up"
                ) from None
            except httpx.TransportError as error:
                return self._confirm(campaign, f"{target}: {type(error).__name__} ({error})")
        if response.status_code >= 500:
            return self._confirm(campaign, f"{target}: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise ConfigServiceError(
                f"{target}: refused with HTTP {response.status_code}: {service_said(response)}; "
                "nothing was registered"
                + (
                    " (the config changed since it was read: run the registration again)"
                    if response.status_code == 409
                    else ""
                )
            )
        return _json_or_raise(response, target)

    def _confirm(self, campaign: Campaign, failure: str) -> dict[str, Any]:
        """After a POST with an unknown outcome, read back (GETs, retried) instead of posting
        again."""
        try:
            present = with_get_retries(self.load).campaign(campaign.name)
        except (ConfigServiceError, ValueError) as error:
            raise ConfigServiceError(
                f"{failure}; the outcome is unknown and reading the config back failed too "
                f"({error}). Check GET {self.url}/journey-config for {campaign.name!r} before "
                "retrying"
            ) from None
        if present is not None and present.id == campaign.id:
            return {
                "confirmed_by_reading_back": True,
                "campaign": campaign.name,
                "warning": f"{failure}, but the campaign is registered",
            }
        raise ConfigServiceError(
            f"{failure}; reading back shows {campaign.name!r} is not "
            "registered: nothing was changed, it is safe to retry"
        )


def _json_or_raise(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise ConfigServiceError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
    try:
        return response.json()
    except ValueError:
        raise ConfigServiceError(
            f"{what}: the answer is not JSON: {response.text[:200]!r}"
        ) from None
