"""The one place where the environment picks implementations.

``CAMPAIGN_WAREHOUSE`` chooses the warehouse (``duckdb``, the default, or ``oracle``);
``CAMPAIGN_DATA_DIR`` (default ``./data``) holds the DuckDB file, the landing zone, accepted
requests and the Parquet files between assets. Oracle credentials come only through EnvVar.
``CAMPAIGN_BLACKLIST_MAX_AGE_S`` (default 3600, 0: always live) is how old the daily blacklist
snapshot may be before a campaign extracts its blacklists live. ``CAMPAIGN_DUCKDB_LOCK_TIMEOUT_S``
(default 120) bounds how long one warehouse operation waits for another process's DuckDB lock.

``CAMPAIGN_JOURNEY_CONFIG`` picks the streak journey config source: ``file`` (default: the
versioned YAML at ``CAMPAIGN_JOURNEY_CONFIG_PATH``, else
campaign_pipelines/config/journeys/journey_config.yaml) or ``http`` (the config service at
``JOURNEY_CONFIG_URL`` with ``JOURNEY_CONFIG_TOKEN``, both through ``dg.EnvVar``).
``CAMPAIGN_JOURNEY_BACKEND`` names the backend the config is meant for (``legacy``, the
default, or ``campaign_pipelines``): lint warns about operators it lacks.
"""

import os
from pathlib import Path

import dagster as dg

from campaign_pipelines.adapters.admission import RequestStore
from campaign_pipelines.adapters.journey_config import (
    DEFAULT_CONFIG,
    FileJourneyConfig,
    HttpJourneyConfig,
)
from campaign_pipelines.adapters.landing import LandingZone
from campaign_pipelines.adapters.reference_config import (
    ReferenceConfig,
    default_config_path,
    load_reference_config,
)
from campaign_pipelines.adapters.streak_store import StreakStore
from campaign_pipelines.adapters.warehouse.duckdb import DuckDBDeployment, DuckDBWarehouse
from campaign_pipelines.adapters.warehouse.duckdb_lock import (
    DEFAULT_LOCK_TIMEOUT_S,
    LOCK_TIMEOUT_ENV,
    parse_lock_timeout,
)
from campaign_pipelines.adapters.warehouse.oracle import OracleDeployment, OracleWarehouse
from campaign_pipelines.core.streaks.chains import Finding
from campaign_pipelines.core.streaks.config import JourneyConfig
from campaign_pipelines.core.streaks.lint import require_valid
from campaign_pipelines.defs.io_manager import ParquetIOManager


class CampaignDataResource(dg.ConfigurableResource):
    """The data directory: landing zone and accepted requests. Unset means
    ``$CAMPAIGN_DATA_DIR`` (default ``./data``) read when a run uses it."""

    data_dir: str | None = None
    # A landing file modified this recently may still be being written in place: it waits.
    landing_quiet_s: float = 5.0

    def root(self) -> Path:
        return Path(self.data_dir) if self.data_dir else data_dir()

    def landing(self) -> LandingZone:
        return LandingZone(self.root() / "landing")

    def requests(self) -> RequestStore:
        return RequestStore(self.root() / "requests")

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

    def adapter(self) -> DuckDBWarehouse | OracleWarehouse:
        raise NotImplementedError

    def deployment(self) -> DuckDBDeployment | OracleDeployment:
        """Replacing a campaign's rows, its codes, the registry."""
        raise NotImplementedError


class DuckDBWarehouseResource(WarehouseResource):
    """Unset ``database`` means ``$CAMPAIGN_DATA_DIR/warehouse.duckdb`` at run time."""

    database: str | None = None
    # How long one operation waits for another process's lock on the file, in all.
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S

    def adapter(self) -> DuckDBWarehouse:
        path = Path(self.database) if self.database else default_database()
        return DuckDBWarehouse(path, lock_timeout_s=self.lock_timeout_s)

    def deployment(self) -> DuckDBDeployment:
        return DuckDBDeployment(self.adapter())


class OracleWarehouseResource(WarehouseResource):
    dsn: str
    user: str
    password: str

    def adapter(self) -> OracleWarehouse:
        return OracleWarehouse(dsn=self.dsn, user=self.user, password=self.password)

    def deployment(self) -> OracleDeployment:
        return OracleDeployment(self.adapter())


def data_dir() -> Path:
    return Path(os.environ.get("CAMPAIGN_DATA_DIR", "data")).resolve()


def default_database() -> Path:
    return data_dir() / "warehouse.duckdb"


def warehouse_kind() -> str:
    """``CAMPAIGN_WAREHOUSE``: ``duckdb`` (the default) or ``oracle``."""
    return os.environ.get("CAMPAIGN_WAREHOUSE", "duckdb").lower()


class SettingError(ValueError):
    """An environment variable holds a value this project cannot use; the message names it."""


def _lock_timeout() -> float:
    try:
        return parse_lock_timeout(os.environ.get(LOCK_TIMEOUT_ENV))
    except ValueError as error:
        raise SettingError(str(error)) from None


def warehouse_resource(directory: Path | None = None) -> WarehouseResource:
    kind = warehouse_kind()
    settings = {}
    max_age = os.environ.get("CAMPAIGN_BLACKLIST_MAX_AGE_S")
    if max_age is not None:
        if not max_age.strip().isdigit():
            raise SettingError(
                f"CAMPAIGN_BLACKLIST_MAX_AGE_S={max_age!r}: use a whole number of seconds "
                "(0: always extract the blacklist live; unset: 3600)"
            )
        settings["blacklist_max_age_s"] = int(max_age)
    if kind == "duckdb":
        return DuckDBWarehouseResource(
            database=str(directory / "warehouse.duckdb") if directory else None,
            reference_config_path=str(default_config_path("duckdb")),
            lock_timeout_s=_lock_timeout(),
            **settings,
        )
    if kind == "oracle":
        return OracleWarehouseResource(
            dsn=dg.EnvVar("ORACLE_DSN"),
            user=dg.EnvVar("ORACLE_USER"),
            password=dg.EnvVar("ORACLE_PASSWORD"),
            reference_config_path=str(default_config_path("oracle")),
            **settings,
        )
    raise SettingError(f"CAMPAIGN_WAREHOUSE={kind!r}: use 'duckdb' or 'oracle'")


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


def streak_state_available() -> bool:
    """Streak state lives in the DuckDB warehouse in this version: with Oracle the streak
    schedule and sensor start stopped instead of failing every day."""
    return warehouse_kind() == "duckdb"


def streak_store(warehouse: WarehouseResource) -> StreakStore:
    adapter = warehouse.adapter()
    if not isinstance(adapter, DuckDBWarehouse):
        raise dg.Failure(description="streak state lives in the DuckDB warehouse in this version;"
                         " run with CAMPAIGN_WAREHOUSE=duckdb", allow_retries=False)
    return StreakStore(adapter)


def journey_config_resource() -> JourneyConfigResource:
    source = os.environ.get("CAMPAIGN_JOURNEY_CONFIG", "file").lower()
    backend = os.environ.get("CAMPAIGN_JOURNEY_BACKEND", "legacy")
    if source == "http":
        return JourneyConfigResource(source="http", url=dg.EnvVar("JOURNEY_CONFIG_URL"),
                                     token=dg.EnvVar("JOURNEY_CONFIG_TOKEN"),
                                     target_backend=backend)
    if source == "file":
        path = os.environ.get("CAMPAIGN_JOURNEY_CONFIG_PATH") or str(DEFAULT_CONFIG)
        return JourneyConfigResource(source="file", path=path, target_backend=backend)
    raise SettingError(f"CAMPAIGN_JOURNEY_CONFIG={source!r}: use 'file' or 'http'")


def build_resources(directory: Path | None = None) -> dict[str, object]:
    """Resources over ``directory``, or over ``$CAMPAIGN_DATA_DIR`` as each run finds it."""
    return {
        "warehouse": warehouse_resource(directory),
        "campaign_data": CampaignDataResource(data_dir=str(directory) if directory else None),
        "io_manager": ParquetIOManager(base_dir=str(directory / "assets") if directory else None),
        "journey_config": journey_config_resource(),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
