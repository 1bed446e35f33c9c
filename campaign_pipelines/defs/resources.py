"""The resources every run receives, built from the one settings object (defs/settings.py).

The settings are read when the definitions load (the webserver, the daemon and each run worker
load them in their own process), never at import. Oracle credentials and the journey-config
service's URL and token reach their resources only through ``dg.EnvVar``; so do
``RESEND_API_KEY``, ``SMTP_USERNAME``/``SMTP_PASSWORD``, ``UNSUBSCRIBE_SECRET``,
``ALERT_WEBHOOK_URL`` (its path holds the webhook's token), ``NOTION_TOKEN`` and
``NOTION_EMAIL_SEQUENCE_DB_ID``, each only when it is set; ``TWILIO_ACCOUNT_SID`` and
``TWILIO_AUTH_TOKEN`` when the SMS provider is Twilio (defs/sms/resources.py).
"""

from abc import abstractmethod
from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.admission import RequestStore
from campaign_pipelines.adapters.alerts import AlertWebhook
from campaign_pipelines.adapters.email.protocol import EmailProvider
from campaign_pipelines.adapters.journey_config import (
    DEFAULT_CONFIG,
    FileJourneyConfig,
    HttpJourneyConfig,
)
from campaign_pipelines.adapters.landing import LandingZone
from campaign_pipelines.adapters.notion import NotionTracking
from campaign_pipelines.adapters.reference_config import (
    ReferenceConfig,
    default_config_path,
    load_reference_config,
)
from campaign_pipelines.adapters.sequence_sender import Sender
from campaign_pipelines.adapters.sequence_store import SequenceStore
from campaign_pipelines.adapters.sms_store import SmsStore
from campaign_pipelines.adapters.storage import storage_path
from campaign_pipelines.adapters.streak_store import StreakStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.adapters.warehouse.duckdb_lock import DEFAULT_LOCK_TIMEOUT_S
from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse
from campaign_pipelines.adapters.warehouse.oracle_connections import use_client_libraries
from campaign_pipelines.adapters.warehouse.protocol import Deployment, WarehouseReader
from campaign_pipelines.core.sequences.definition import SequenceDefinition
from campaign_pipelines.core.sequences.loading import load_sequences
from campaign_pipelines.core.sequences.render import default_folder
from campaign_pipelines.core.streaks.chains import Finding
from campaign_pipelines.core.streaks.config import JourneyConfig
from campaign_pipelines.core.streaks.lint import require_valid
from campaign_pipelines.defs.io_manager import ParquetIOManager
from campaign_pipelines.defs.secrets import optional_secret
from campaign_pipelines.defs.settings import Settings, read_settings
from campaign_pipelines.defs.sms.resources import sms_resource


class CampaignDataResource(dg.ConfigurableResource):
    """The data directory (this machine's files) and the shared root (``data_url``: the landing
    zone and accepted requests, a folder or an object store; empty: the data directory)."""

    data_dir: str
    data_url: str = ""
    # A landing file modified this recently may still be being written in place: it waits.
    landing_quiet_s: float = 5.0

    def root(self) -> Path:
        return Path(self.data_dir)

    def shared(self) -> Path:
        return storage_path(self.data_url) if self.data_url else self.root()

    def landing(self) -> LandingZone:
        return LandingZone(self.shared() / "landing")

    def requests(self) -> RequestStore:
        return RequestStore(self.shared() / "requests")

    def uploads_dir(self) -> Path:
        return self.landing().folder("uploads")


class WarehouseResource(dg.ConfigurableResource):
    """Where reference data is extracted from and campaigns are deployed to.

    ``blacklist_max_age_s``: a campaign applies the daily ``reference/blacklist`` snapshot only
    while it is younger than this many seconds (its age is the time since its latest
    materialization in the instance); older, the campaign extracts its blacklist sources live.
    0 means always live. ``CAMPAIGN_BLACKLIST_MAX_AGE_S`` sets it (default 3600).
    """

    reference_config_path: str
    blacklist_max_age_s: int = 3600

    def reference_config(self) -> ReferenceConfig:
        return load_reference_config(Path(self.reference_config_path))

    @abstractmethod
    def adapter(self) -> WarehouseReader:
        """Reading with SQL (adapters/warehouse/protocol.py)."""

    @abstractmethod
    def deployment(self) -> Deployment:
        """Replacing a campaign's rows, its codes, the registry (protocol.py)."""


class DuckDBWarehouseResource(WarehouseResource):
    """The embedded warehouse: one DuckDB file."""

    database: str
    # How long one operation waits for another process's lock on the file, in all.
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S

    def adapter(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(Path(self.database), lock_timeout_s=self.lock_timeout_s)

    def deployment(self) -> DuckDBDeployment:
        return DuckDBDeployment(self.adapter())


class OracleWarehouseResource(WarehouseResource):
    """The bank's Oracle; ``client_lib_dir`` (``ORACLE_CLIENT_LIB_DIR``) switches this process's
    connections to thick mode, loading Oracle Client from there (empty: thin mode)."""

    dsn: str
    user: str
    password: str
    client_lib_dir: str = ""

    def adapter(self) -> OracleWarehouse:
        use_client_libraries(self.client_lib_dir or None)
        return OracleWarehouse(dsn=self.dsn, user=self.user, password=self.password)

    def deployment(self) -> OracleDeployment:
        return OracleDeployment(self.adapter())


def warehouse_resource(settings: Settings) -> WarehouseResource:
    """The warehouse ``settings`` choose."""
    if settings.warehouse == "oracle":
        return OracleWarehouseResource(
            dsn=dg.EnvVar("ORACLE_DSN"),
            user=dg.EnvVar("ORACLE_USER"),
            password=dg.EnvVar("ORACLE_PASSWORD"),
            reference_config_path=str(default_config_path("oracle")),
            blacklist_max_age_s=settings.blacklist_max_age_s,
            client_lib_dir=str(settings.oracle_client_lib_dir or ""),
        )
    return DuckDBWarehouseResource(
        database=str(settings.database),
        reference_config_path=str(default_config_path("duckdb")),
        lock_timeout_s=settings.duckdb_lock_timeout_s,
        blacklist_max_age_s=settings.blacklist_max_age_s,
    )


class JourneyConfigResource(dg.ConfigurableResource):
    """Where the journey config is read from and registrations are written to."""

    source: str = "file"  # file | http
    path: str = str(DEFAULT_CONFIG)
    url: str = ""
    token: str = ""
    timeout_s: float = 10.0
    target_backend: str = "legacy"

    def store(self) -> FileJourneyConfig | HttpJourneyConfig:
        if self.source == "file":
            return FileJourneyConfig(Path(self.path))
        if self.source == "http":
            if not self.url:
                raise ValueError("journey_config source is http but JOURNEY_CONFIG_URL is empty")
            return HttpJourneyConfig(url=self.url, token=self.token, timeout_s=self.timeout_s)
        raise ValueError(f"journey_config source {self.source!r}: use 'file' or 'http'")

    def load(self) -> tuple[JourneyConfig, list[Finding]]:
        """The config and its lint warnings; ConfigError if lint finds an error."""
        store = self.store()
        config = store.load()
        return config, require_valid(config, self.target_backend, store.describe())


def _embedded(warehouse: WarehouseResource, state: str) -> DuckDBWarehouse:
    """The DuckDB warehouse, where ``state`` lives in this version; a Failure with Oracle."""
    adapter = warehouse.adapter()
    if not isinstance(adapter, DuckDBWarehouse):
        raise dg.Failure(description=f"{state} state lives in the DuckDB warehouse in this "
                         "version; run with CAMPAIGN_WAREHOUSE=duckdb", allow_retries=False)
    return adapter


def streak_store(warehouse: WarehouseResource) -> StreakStore:
    return StreakStore(_embedded(warehouse, "streak"))


def sms_store(warehouse: WarehouseResource) -> SmsStore:
    return SmsStore(_embedded(warehouse, "SMS"))


def journey_config_resource(settings: Settings) -> JourneyConfigResource:
    backend = settings.journey_backend
    if settings.journey_config == "http":
        return JourneyConfigResource(source="http", url=dg.EnvVar("JOURNEY_CONFIG_URL"),
                                     token=dg.EnvVar("JOURNEY_CONFIG_TOKEN"),
                                     target_backend=backend)
    path = settings.journey_config_path or DEFAULT_CONFIG
    return JourneyConfigResource(source="file", path=str(path), target_backend=backend)


class EmailProviderResource(dg.ConfigurableResource):
    """The e-mail provider the settings choose (``CAMPAIGN_EMAIL_PROVIDER``)."""

    kind: str = "outbox"  # outbox | resend | smtp
    outbox_dir: str = ""
    resend_api_key: str = ""
    resend_base_url: str = "https://api.resend.com"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    timeout_s: float = 10.0

    def provider(self) -> EmailProvider:
        if self.kind == "outbox":
            from campaign_pipelines.adapters.email.outbox import OutboxProvider

            return OutboxProvider(Path(self.outbox_dir))
        if self.kind == "resend":
            from campaign_pipelines.adapters.email.resend import ResendProvider

            return ResendProvider(self.resend_api_key, base_url=self.resend_base_url,
                                  timeout=self.timeout_s)
        from campaign_pipelines.adapters.email.smtp import SmtpProvider

        return SmtpProvider(self.smtp_host, self.smtp_port, self.smtp_username or None,
                            self.smtp_password or None, timeout=self.timeout_s)


class SequencesResource(dg.ConfigurableResource):
    """The sequence definitions, their timing, and who the e-mails come from."""

    timing: str = "production"
    email_from: str = "campaigns@example.com"
    public_url: str = "http://127.0.0.1:8000"
    unsubscribe_secret: str = ""
    definitions_dir: str = str(default_folder())

    def definitions(self) -> dict[str, SequenceDefinition]:
        return load_sequences(Path(self.definitions_dir))

    def sender(self) -> Sender:
        if not self.unsubscribe_secret:
            raise dg.Failure(description="UNSUBSCRIBE_SECRET is not set: every e-mail carries "
                             "a signed unsubscribe link; set it (the ingress checks links with "
                             "the same secret) and run again", allow_retries=False)
        return Sender(self.email_from, self.unsubscribe_secret, self.public_url)


class AlertsResource(dg.ConfigurableResource):
    """Where CRITICAL signups are announced; no URL: no alerts (recorded as skipped)."""

    webhook_url: str = ""

    def webhook(self) -> AlertWebhook | None:
        return AlertWebhook(self.webhook_url) if self.webhook_url else None


class TrackingResource(dg.ConfigurableResource):
    """The optional Notion mirror of campaign_ops.email_sequences: on when NOTION_TOKEN and
    NOTION_EMAIL_SEQUENCE_DB_ID are both set."""

    token: str = ""
    database_id: str = ""
    base_url: str = "https://api.notion.com"

    def tracking(self) -> NotionTracking | None:
        if not (self.token and self.database_id):
            return None
        return NotionTracking(self.token, self.database_id, base_url=self.base_url)


def sequence_store(warehouse: WarehouseResource, campaign_data: CampaignDataResource
                   ) -> SequenceStore:
    return SequenceStore(_embedded(warehouse, "sequence"),
                         campaign_data.root() / "sequences" / "next_due.json")


def email_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    provider = EmailProviderResource(
        kind=settings.email_provider, outbox_dir=str(settings.data_dir / "outbox"),
        smtp_host=settings.smtp_host, smtp_port=settings.smtp_port,
        **({"resend_api_key": dg.EnvVar("RESEND_API_KEY"),
            "resend_base_url": settings.resend_base_url}
           if settings.email_provider == "resend" else {}),
        **({"smtp_username": optional_secret("SMTP_USERNAME"),
            "smtp_password": optional_secret("SMTP_PASSWORD")}
           if settings.email_provider == "smtp" else {}))
    return {
        "email_provider": provider,
        "sequences": SequencesResource(
            timing=settings.sequence_timing, email_from=settings.email_from,
            public_url=settings.public_url,
            unsubscribe_secret=optional_secret("UNSUBSCRIBE_SECRET")),
        "alerts": AlertsResource(webhook_url=optional_secret("ALERT_WEBHOOK_URL")),
        "tracking": TrackingResource(token=optional_secret("NOTION_TOKEN"),
                                     database_id=optional_secret("NOTION_EMAIL_SEQUENCE_DB_ID")),
    }


def build_resources(
    directory: Path | None = None, settings: Settings | None = None
) -> dict[str, object]:
    """The resources ``settings`` (default: read now) describe; ``directory`` stands in for
    their data directory, as tests and benchmarks use it."""
    settings = settings or read_settings()
    if directory is not None:
        settings = settings.model_copy(update={"data_dir": directory.resolve()})
    return {
        "warehouse": warehouse_resource(settings),
        "campaign_data": CampaignDataResource(data_dir=str(settings.data_dir),
                                              data_url=_shared_url(settings)),
        "io_manager": ParquetIOManager(base_dir=str(settings.shared_root / "assets")),
        "journey_config": journey_config_resource(settings),
        **email_resources(settings),
        "sms": sms_resource(settings),
    }


def _shared_url(settings: Settings) -> str:
    """``CAMPAIGN_DATA_URL`` as the resources carry it; empty when it is the data directory."""
    return "" if settings.data_url is None else str(settings.shared_root)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
