"""The ingress's settings, read from the environment once per worker, when its app is made.

| Variable | Default | Meaning |
|---|---|---|
| ``CAMPAIGN_DATA_DIR`` | ``./data`` | the landing zone is ``$CAMPAIGN_DATA_DIR/landing`` |
| ``CAMPAIGN_DATA_URL`` | unset | set: it is ``$CAMPAIGN_DATA_URL/landing`` (``s3://…``: each |
| | | journal batch one object, journal.py) |
| ``INGRESS_TOKEN`` | unset | bearer token a caller may send (``Authorization: Bearer …``) |
| ``INGRESS_HMAC_SECRET`` | unset | key of the ``X-Signature`` HMAC-SHA256 a caller may send |
| ``UNSUBSCRIBE_SECRET`` | unset | key of the unsubscribe tokens; unset: unsubscribe answers 503 |
| ``TWILIO_AUTH_TOKEN`` | unset | set: the SMS webhooks need ``X-Twilio-Signature`` (sms.py) |
| ``CAMPAIGN_PUBLIC_URL`` | ``http://127.0.0.1:8000`` | the ingress as Twilio calls it (sms.py) |
| ``CAMPAIGN_SEQUENCE_TIMING`` | ``production`` | shown on /health (also ``SEQUENCE_TIMING``) |
| ``CAMPAIGN_EMAIL_PROVIDER`` (or ``EMAIL_PROVIDER``) | ``outbox`` | shown on /health |
| ``ALERT_WEBHOOK_URL``, ``NOTION_TOKEN`` | unset | shown on /health as set or not |
| ``ORACLE_DSN``, ``ORACLE_USER``, ``ORACLE_PASSWORD`` | unset | Oracle login of campaigns reads |
| ``INGRESS_MAX_BODY_BYTES`` | 65536 | larger bodies get 413 |
| ``INGRESS_ROTATE_SECONDS`` | 1.0 | a journal holding lines is completed after this long |
| ``INGRESS_ROTATE_RECORDS`` | 10000 | … or once it holds this many |
| ``INGRESS_RECOVER_SECONDS`` | 10.0 | how often a worker looks for dead workers' journals |

At least one of ``INGRESS_TOKEN`` and ``INGRESS_HMAC_SECRET`` must be set: the ingress does not
start open to anyone. Secrets are ``SecretStr``: no repr, log or error message shows them, and
an error about one never quotes the value given.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from campaign_pipelines.adapters.storage import DATA_URL_PATTERN, shared_root
from campaign_pipelines.core.setting_values import (
    EMAIL_PROVIDER,
    SEQUENCE_TIMING,
    EmailProviderName,
    SequenceTiming,
    lowered,
    resolved,
)


class SettingError(ValueError):
    """An ingress variable is missing or unusable; the message names it (defs/settings.py's
    SettingError would load the warehouse driver into every worker, which the ingress never
    needs)."""


class IngressSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)

    data_dir: Path = Field(default=Path("data"), validation_alias="CAMPAIGN_DATA_DIR")
    # The shared files' root (defs/settings.py): the landing zone lives there when it is set.
    data_url: str | None = Field(default=None, validation_alias="CAMPAIGN_DATA_URL",
                                 pattern=DATA_URL_PATTERN)
    ingress_token: SecretStr | None = None
    ingress_hmac_secret: SecretStr | None = None
    unsubscribe_secret: SecretStr | None = None
    twilio_auth_token: SecretStr | None = None
    # The URL the SMS webhooks' signatures cover: scheme, host, port and any path prefix a
    # proxy strips, as the outside world calls the ingress.
    public_url: str = Field(default="http://127.0.0.1:8000",
                            validation_alias="CAMPAIGN_PUBLIC_URL", pattern=r"^https?://[^\s?#]+$")
    sequence_timing: SequenceTiming = SEQUENCE_TIMING
    email_provider: EmailProviderName = EMAIL_PROVIDER
    alert_webhook_url: SecretStr | None = None  # a Discord webhook URL holds its own token
    notion_token: SecretStr | None = None
    # The warehouse resource's login (defs/resources.py reads the same three as dg.EnvVar).
    oracle_dsn: str | None = None
    oracle_user: str | None = None
    oracle_password: SecretStr | None = None
    ingress_max_body_bytes: int = Field(default=64 * 1024, gt=0, le=16 * 1024 * 1024)
    ingress_rotate_seconds: float = Field(default=1.0, gt=0)
    ingress_rotate_records: int = Field(default=10_000, gt=0)
    ingress_recover_seconds: float = Field(default=10.0, gt=0)

    _lower = field_validator("sequence_timing", "email_provider", mode="before")(lowered)
    _absolute = field_validator("data_dir", mode="after")(resolved)

    @property
    def landing(self) -> Path:
        """``$CAMPAIGN_DATA_URL/landing`` (a folder or an object store), else the data dir's."""
        return shared_root(self.data_url, self.data_dir) / "landing"


def read_ingress_settings() -> IngressSettings:
    """The settings from the environment now; SettingError names each variable it cannot use
    (never quoting a secret's value), or the missing authentication."""
    try:
        settings = IngressSettings()
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            field = str(detail["loc"][0]) if detail["loc"] else "?"
            given = "" if _is_secret(field) else f"={detail.get('input')!r}"
            problems.append(f"{field.upper()}{given}: {detail['msg']}")
        raise SettingError("; ".join(problems)) from None
    if settings.ingress_token is None and settings.ingress_hmac_secret is None:
        raise SettingError(
            "neither INGRESS_TOKEN nor INGRESS_HMAC_SECRET is set: set one (or both) so that "
            "only callers holding it can post to the ingress"
        )
    return settings


def _is_secret(field: str) -> bool:
    """Whether ``field`` is a SecretStr: a secret added later is never quoted either."""
    info = IngressSettings.model_fields.get(field)
    return info is not None and SecretStr in get_args(info.annotation)
