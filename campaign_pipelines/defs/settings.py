"""Every setting this code location takes from the environment, read in one place, once.

``read_settings()`` is called when the definitions are loaded (the webserver, the daemon and
each run worker load them in their own process) and when a command starts; nothing reads the
environment at import. Secrets (Oracle credentials, the journey-config token,
``AIRTABLE_TOKEN``) are not here: they reach their resources only through ``dg.EnvVar``
(defs/resources.py, defs/sms/resources.py).

| Variable | Default | Meaning |
|---|---|---|
| ``CAMPAIGN_DATA_DIR`` | ``./data`` | this machine's files: DuckDB, the instance, outboxes |
| ``CAMPAIGN_DATA_URL`` | ``CAMPAIGN_DATA_DIR`` | shared files: landing zone, requests, assets; a |
| | | folder or ``s3://bucket/prefix`` (``AWS_ENDPOINT_URL``) |
| ``CAMPAIGN_WAREHOUSE`` | ``duckdb`` | ``duckdb`` (embedded) or ``oracle`` |
| ``CAMPAIGN_BLACKLIST_MAX_AGE_S`` | 3600 | oldest blacklist snapshot a campaign applies; 0: live |
| ``CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S`` | 120 | longest wait, in all, for another process's lock |
| ``CAMPAIGN_JOURNEY_CONFIG`` | ``file`` | streak journey config: ``file`` or ``http`` |
| ``CAMPAIGN_JOURNEY_CONFIG_PATH`` | packaged | the versioned YAML when the source is ``file`` |
| ``CAMPAIGN_JOURNEY_BACKEND`` | ``legacy`` | backend the config is linted for |
| ``DAGSTER_HOME`` | ``$CAMPAIGN_DATA_DIR/dagster_home`` | the instance commands record runs in |
| ``CAMPAIGN_EMAIL_PROVIDER`` | ``outbox`` | ``outbox`` (.eml files), ``resend`` or ``smtp`` |
| ``CAMPAIGN_SEQUENCE_TIMING`` | ``production`` | e-mail offsets: ``testing`` (minutes) or hours |
| ``CAMPAIGN_EMAIL_FROM`` | ``campaigns@example.com`` | the sequences' From address |
| ``CAMPAIGN_PUBLIC_URL`` | ``http://127.0.0.1:8000`` | the ingress as recipients reach it |
| ``CAMPAIGN_SMTP_HOST`` / ``_PORT`` | ``localhost`` / 587 | the SMTP server (STARTTLS) |
| ``CAMPAIGN_RESEND_BASE_URL`` | ``https://api.resend.com`` | the Resend API (or a proxy) |
| ``CAMPAIGN_SMS_PROVIDER`` | ``outbox`` | ``outbox`` (JSON lines) or ``twilio`` |
| ``CAMPAIGN_TWILIO_BASE_URL`` | ``https://api.twilio.com`` | the Twilio API (or a proxy) |
| ``CAMPAIGN_SMS_WINDOW`` / ``_ZONE`` | ``09:00-21:00`` / ``Asia/Almaty`` | sending hours |
| ``CAMPAIGN_SMS_MAX_SEGMENTS`` | 3 | longest message, in SMS segments |
| ``CAMPAIGN_SMS_STOP_HINT`` | ``Отказ: STOP`` | the opt-out text templates show |
| ``CAMPAIGN_SMS_KPI_SYNC`` (``SMS_KPI_SYNC``) | ``warehouse`` | also ``airtable``, ``none`` |
| ``CAMPAIGN_AIRTABLE_BASE_ID`` | none | the base the ``airtable`` KPI sync writes to (``app…``) |
| ``CAMPAIGN_AIRTABLE_TABLE`` | ``Campaigns`` | its table, by name or id (``tbl…``) |
| ``CAMPAIGN_AIRTABLE_BASE_URL`` | ``https://api.airtable.com`` | the Airtable API (or a proxy) |
| ``ORACLE_CLIENT_LIB_DIR`` | none (thin mode) | Oracle Instant Client directory: thick mode |

The three e-mail settings also answer to their bare names (``EMAIL_PROVIDER``,
``SEQUENCE_TIMING``, ``EMAIL_FROM``), the legacy service's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from campaign_pipelines.adapters.storage import DATA_URL_PATTERN, shared_root
from campaign_pipelines.adapters.warehouse.duckdb_lock import DEFAULT_LOCK_TIMEOUT_S
from campaign_pipelines.core.problems import ProblemsError
from campaign_pipelines.core.setting_values import (
    EMAIL_PROVIDER,
    SEQUENCE_TIMING,
    EmailProviderName,
    SequenceTiming,
    lowered,
    resolved,
)

ENV_PREFIX = "CAMPAIGN_"


class SettingError(ValueError):
    """An environment variable holds a value this project cannot use; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", env_ignore_empty=True
    )

    data_dir: Path = Path("data")
    # The files every process shares (adapters/storage.py); unset: data_dir.
    data_url: str | None = Field(default=None, pattern=DATA_URL_PATTERN)
    warehouse: Literal["duckdb", "oracle"] = "duckdb"
    blacklist_max_age_s: int = Field(default=3600, ge=0)
    duckdb_lock_timeout_s: float = Field(default=DEFAULT_LOCK_TIMEOUT_S, gt=0)
    journey_config: Literal["file", "http"] = "file"
    journey_config_path: Path | None = None
    journey_backend: str = "legacy"
    # Dagster's own variable: unset, the commands keep their instance in the data directory.
    dagster_home: Path | None = Field(default=None, validation_alias="DAGSTER_HOME")
    email_provider: EmailProviderName = EMAIL_PROVIDER
    sequence_timing: SequenceTiming = SEQUENCE_TIMING
    email_from: str = Field(default="campaigns@example.com",
                            validation_alias=AliasChoices("CAMPAIGN_EMAIL_FROM", "EMAIL_FROM"))
    public_url: str = "http://127.0.0.1:8000"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    resend_base_url: str = Field(default="https://api.resend.com", pattern=r"^https?://\S+$")
    sms_provider: Literal["outbox", "twilio"] = "outbox"
    twilio_base_url: str = Field(default="https://api.twilio.com", pattern=r"^https?://\S+$")
    sms_window: str = "09:00-21:00"
    sms_window_zone: str = "Asia/Almaty"
    sms_max_segments: int = Field(default=3, ge=1, le=10)
    sms_stop_hint: str = Field(default="Отказ: STOP", max_length=40)
    sms_kpi_sync: Literal["warehouse", "airtable", "none"] = Field(
        default="warehouse",
        validation_alias=AliasChoices("CAMPAIGN_SMS_KPI_SYNC", "SMS_KPI_SYNC"))
    airtable_base_id: str = Field(default="", pattern=r"^(app[A-Za-z0-9]{14})?$")
    airtable_table: str = Field(default="Campaigns", min_length=1, max_length=255)
    airtable_base_url: str = Field(default="https://api.airtable.com", pattern=r"^https?://\S+$")
    # Beside ORACLE_DSN/_USER/_PASSWORD, so unprefixed; a directory, not a secret.
    oracle_client_lib_dir: Path | None = Field(default=None,
                                               validation_alias="ORACLE_CLIENT_LIB_DIR")

    _lower = field_validator("warehouse", "journey_config", "email_provider", "sequence_timing",
                             "sms_provider", "sms_kpi_sync", mode="before")(lowered)
    _absolute = field_validator("data_dir", mode="after")(resolved)

    @field_validator("sms_window", "sms_window_zone", mode="after")
    @classmethod
    def _usable_window(cls, value: str, info: ValidationInfo) -> str:
        from campaign_pipelines.core.sms.quiet_hours import DEFAULT_WINDOW, quiet_hours

        try:
            if info.field_name == "sms_window":
                quiet_hours(window=value)
            else:
                quiet_hours(DEFAULT_WINDOW, zone=value)
        except ProblemsError as error:
            raise ValueError(error.problems[0]["problem"]) from None
        return value

    @property
    def shared_root(self) -> Path:
        """Where the landing zone, the stored requests and the asset files live: a local
        folder (a ``Path``) or an object store (a ``UPath``, adapters/storage.py)."""
        return shared_root(self.data_url, self.data_dir)

    @property
    def database(self) -> Path:
        """The embedded warehouse's file."""
        return self.data_dir / "warehouse.duckdb"

    @property
    def ops_state_available(self) -> bool:
        """Streak and sequence state (campaign_ops) live in the DuckDB warehouse in this
        version: with Oracle their schedules and sensors start stopped instead of failing
        every day."""
        return self.warehouse == "duckdb"


_HINTS = {
    "warehouse": "use 'duckdb' or 'oracle'",
    "blacklist_max_age_s": "use a whole number of seconds (0: always extract the blacklist "
    "live; unset: 3600)",
    "data_url": "use a folder or s3://bucket/prefix (the endpoint of an S3-compatible store in "
    "AWS_ENDPOINT_URL, its keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
    "duckdb_lock_timeout_s": "use a number of seconds above 0, e.g. 300 (unset: 120)",
    "journey_config": "use 'file' or 'http'",
    "email_provider": "use 'outbox', 'resend' or 'smtp'",
    "resend_base_url": "use the API's http(s) URL, e.g. https://api.resend.com",
    "sms_provider": "use 'outbox' or 'twilio'",
    "sms_window": "write the sending hours as HH:MM-HH:MM, e.g. 09:00-21:00",
    "sms_window_zone": "use an IANA time zone name, e.g. Asia/Almaty",
    "twilio_base_url": "use the API's http(s) URL, e.g. https://api.twilio.com",
    "sms_max_segments": "use a whole number from 1 to 10",
    "sms_stop_hint": "use at most 40 characters, e.g. 'Отказ: STOP'",
    "sms_kpi_sync": "use 'warehouse', 'airtable' or 'none'",
    "airtable_base_id": "use the base's id, 'app' and 14 letters or digits, from its URL",
    "airtable_table": "use the table's name or id (tbl...), e.g. Campaigns",
    "airtable_base_url": "use the API's http(s) URL, e.g. https://api.airtable.com",
    "sequence_timing": "use 'testing' (offsets in minutes) or 'production' (hours)",
}


def read_settings() -> Settings:
    """The settings from the environment now; SettingError names each variable it cannot use
    and says what it takes."""
    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            field = str(detail["loc"][0]) if detail["loc"] else "?"
            # A field read under an alias is located by that alias (CAMPAIGN_SEQUENCE_TIMING).
            name = field if field.isupper() else f"{ENV_PREFIX}{field.upper()}"
            hint = _HINTS.get(field.removeprefix(ENV_PREFIX).lower(), detail["msg"])
            problems.append(f"{name}={detail.get('input')!r}: {hint}")
        raise SettingError("; ".join(problems)) from None
